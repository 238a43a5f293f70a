//! `ocipull serve` from outside the process: the real binary, its first stdout lines, the
//! control API and the registry over HTTP, the JSON log file, and the README's shell and
//! Python examples run as they are written.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use ocipull_spec::Bytes;
use ocipull_spec::fixtures::Image;

mod serve_support;

const BIN: &str = env!("CARGO_BIN_EXE_ocipull");
/// Generous bound for the binary to start or a record to arrive on a busy machine.
const PATIENCE: Duration = Duration::from_secs(30);

/// A layout with one image tagged `v1`.
/// The e2e image: one layer, tagged `v1`.
fn layout(dir: &Path) -> Image {
    let image = serve_support::image(5);
    serve_support::write_layout(dir, &image);
    image
}

struct Running {
    child: Child,
    registry: String,
    control: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str]) -> Running {
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let registry = lines.next().unwrap().unwrap();
    let control = lines.next().unwrap().unwrap();
    std::thread::spawn(move || for _ in lines {});
    Running {
        child,
        registry: format!("http://{registry}"),
        control: format!("http://{}", control.strip_prefix("control ").unwrap()),
    }
}

async fn call(method: &str, url: &str, body: &str) -> (u16, Bytes) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = http::Request::builder()
        .method(method)
        .uri(url)
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let r = client.request(request).await.unwrap();
    let status = r.status().as_u16();
    (status, r.into_body().collect().await.unwrap().to_bytes())
}

#[tokio::test]
async fn the_control_api_drives_a_running_registry() {
    let dir = tempfile::tempdir().unwrap();
    layout(&dir.path().join("img"));
    let log_path = dir.path().join("requests.jsonl");
    let ready = dir.path().join("ready");
    let img = format!("app={}", dir.path().join("img").display());
    let s = start(&[
        "--listen",
        "127.0.0.1:0",
        "--control",
        "127.0.0.1:0",
        "--layout",
        &img,
        "--log-file",
        log_path.to_str().unwrap(),
        "--ready-file",
        ready.to_str().unwrap(),
    ]);
    let deadline = Instant::now() + PATIENCE;
    while !ready.exists() {
        assert!(Instant::now() < deadline, "no ready file");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        format!("http://{}", std::fs::read_to_string(&ready).unwrap().trim()),
        s.registry
    );

    assert_eq!(
        call("GET", &format!("{}/health", s.control), "").await.0,
        200
    );
    let (status, body) = call(
        "POST",
        &format!("{}/faults", s.control),
        r#"{"path": "/manifests/", "nth": 1, "faults": [{"status": 503}]}"#,
    )
    .await;
    assert_eq!(status, 201);
    let id = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["id"]
        .as_u64()
        .unwrap();
    let manifest = format!("{}/v2/app/manifests/v1", s.registry);
    assert_eq!(call("GET", &manifest, "").await.0, 503);
    assert_eq!(call("GET", &manifest, "").await.0, 200);
    assert_eq!(
        call("DELETE", &format!("{}/faults/{id}", s.control), "")
            .await
            .0,
        200
    );
    let (status, body) = call(
        "POST",
        &format!("{}/shaping", s.control),
        r#"{"latency_ms": 1}"#,
    )
    .await;
    assert_eq!(status, 201, "{body:?}");
    let (status, body) = call(
        "POST",
        &format!("{}/faults", s.control),
        r#"{"faults":[{"nope":1}]}"#,
    )
    .await;
    assert_eq!(status, 400);
    assert!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["error"].is_string());
    let (status, body) = call("GET", &format!("{}/v2/_catalog", s.registry), "").await;
    assert_eq!(
        (status, &body[..]),
        (200, &br#"{"repositories":["app"]}"#[..])
    );

    // The log: through the control API and the file, with bytes and statuses.
    let deadline = Instant::now() + PATIENCE;
    let records = loop {
        let (_, body) = call("GET", &format!("{}/log", s.control), "").await;
        let records: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
        if records.len() >= 3 {
            break records;
        }
        assert!(Instant::now() < deadline, "records: {records:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let statuses: Vec<_> = records
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [503, 200, 200]);
    assert!(records[1]["bytes_sent"].as_u64().unwrap() > 0);
    assert_eq!(records[1]["authorization"], false);
    assert!(records[1]["time"].as_str().unwrap().ends_with('Z'));
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if text.lines().count() >= 3 {
            let first: serde_json::Value =
                serde_json::from_str(text.lines().next().unwrap()).unwrap();
            assert_eq!(
                (first["event"].as_str(), first["status"].as_u64()),
                (Some("request"), Some(503))
            );
            break;
        }
        assert!(Instant::now() < deadline, "log file: {text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        call("DELETE", &format!("{}/log", s.control), "").await.0,
        200
    );

    // A layout and a tag added at run time are served at once.
    let other = layout(&dir.path().join("other"));
    let body = serde_json::json!({"name": "team/other", "path": dir.path().join("other")});
    let (status, answer) = call("POST", &format!("{}/layouts", s.control), &body.to_string()).await;
    assert_eq!(status, 201, "{answer:?}");
    let digest = other.manifest().digest().to_string();
    let tag = serde_json::json!({"repository": "team/other", "tag": "stable", "digest": digest});
    let (status, answer) = call("PUT", &format!("{}/tags", s.control), &tag.to_string()).await;
    assert_eq!(status, 200, "{answer:?}");
    let (status, served) = call(
        "GET",
        &format!("{}/v2/team/other/manifests/stable", s.registry),
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(&served[..], other.manifest().bytes());
}

/// Without the control API the log file's lines are written straight from each request's
/// record: they must be the same objects, one per request, as with it.
#[tokio::test]
async fn the_log_file_alone_has_one_whole_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    layout(&dir.path().join("img"));
    let log_path = dir.path().join("requests.jsonl");
    let img = format!("app={}", dir.path().join("img").display());
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--layout", &img])
        .arg("--log-file")
        .arg(&log_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let registry = format!("http://{}", lines.next().unwrap().unwrap());
    std::thread::spawn(move || for _ in lines {});
    let s = Running {
        child,
        registry,
        control: String::new(),
    };
    let manifest = format!("{}/v2/app/manifests/v1", s.registry);
    assert_eq!(call("GET", &manifest, "").await.0, 200);
    assert_eq!(
        call("GET", &format!("{}/v2/app/manifests/nope", s.registry), "")
            .await
            .0,
        404
    );
    let deadline = Instant::now() + PATIENCE;
    let records: Vec<serde_json::Value> = loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if text.lines().count() >= 2 {
            break text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
                .collect();
        }
        assert!(Instant::now() < deadline, "log file: {text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(records.len(), 2, "{records:?}");
    let keys: Vec<&str> = records[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = [
        "accept",
        "authorization",
        "bytes_sent",
        "duration_ms",
        "event",
        "method",
        "origin",
        "path",
        "range",
        "status",
        "time",
        "user_agent",
    ];
    expected.sort_unstable();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(keys, expected);
    let r = &records[0];
    assert_eq!(
        (
            r["event"].as_str(),
            r["method"].as_str(),
            r["origin"].as_str()
        ),
        (Some("request"), Some("GET"), Some("registry"))
    );
    assert_eq!(r["path"], "/v2/app/manifests/v1");
    assert_eq!(
        (r["status"].as_u64(), r["authorization"].as_bool()),
        (Some(200), Some(false))
    );
    assert!(r["bytes_sent"].as_u64().unwrap() > 0);
    assert!(r["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(records[1]["status"], 404);
    drop(s);
}

#[test]
fn the_control_api_never_shares_the_registry_port() {
    let out = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:5999",
            "--control",
            "127.0.0.1:5999",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot share the registry's port"));
}

/// The text between `<!-- NAME:start -->` and `<!-- NAME:end -->` in the README, without
/// the code fence.
fn readme_example(name: &str) -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let start = readme.find(&format!("<!-- {name}:start -->")).unwrap();
    let end = readme.find(&format!("<!-- {name}:end -->")).unwrap();
    let block = &readme[start..end];
    let body = block
        .split_once("```")
        .unwrap()
        .1
        .split_once('\n')
        .unwrap()
        .1;
    body.rsplit_once("```").unwrap().0.to_owned()
}

fn run_example(program: &str, ext: &str, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    layout(&dir.path().join("img"));
    let script = dir.path().join(format!("example.{ext}"));
    std::fs::write(&script, readme_example(name)).unwrap();
    let out = Command::new(program)
        .arg(&script)
        .current_dir(dir.path())
        .env("OCIPULL", BIN)
        .env("LAYOUT", dir.path().join("img"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("ok"),
        "{name}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_readme_shell_example_runs() {
    if Command::new("curl").arg("--version").output().is_err() {
        eprintln!("curl is not installed; skipping");
        return;
    }
    run_example("bash", "sh", "serve-shell-example");
}

#[test]
fn the_readme_python_example_runs() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("python3 is not installed; skipping");
        return;
    }
    run_example("python3", "py", "serve-python-example");
}
