//! Killing `ocipull pull` (the real process) at a random moment and running it again
//! completes the pull: blobs verified on disk before a run are not fetched again, a partial
//! download is resumed with `Range` from where it stopped, and no unverified file is ever
//! visible as a blob.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ocipull_server::{FaultRule, Server, TestServer};
use ocipull_spec::Digest;
use ocipull_spec::fixtures::Image;

const REPO: &str = "kill/app";
/// Layer sizes (raw layers, exactly these bytes): big enough that a download is still under way when the process dies.
const LAYERS: [usize; 4] = [2 << 20, 3 << 20, 2 << 20, (3 << 20) + 777];
/// Where each blob body pauses: past the layout writer's 1 MiB write buffer, so a partial
/// download has bytes on disk while it waits.
const PAUSE_AT: u64 = 1536 * 1024;
/// How long each blob body pauses there: the window the kills aim at.
const PAUSE: Duration = Duration::from_millis(600);
/// Kill-and-rerun rounds before the last, uninterrupted run.
const KILLS: usize = 3;
/// Generous bound for one run of the binary on a busy two-core machine.
const PATIENCE: Duration = Duration::from_secs(60);

/// Files in `dir/blobs/sha256` (digest → size); each must hash to its name.
fn verified_blobs(dir: &Path) -> BTreeMap<Digest, u64> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir.join("blobs").join("sha256")) else {
        return out;
    };
    for e in entries {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let digest: Digest = format!("sha256:{name}")
            .parse()
            .unwrap_or_else(|_| panic!("a stray file in blobs/sha256: {name}"));
        let bytes = std::fs::read(e.path()).unwrap();
        assert_eq!(Digest::sha256(&bytes), digest, "{name} is corrupt");
        out.insert(digest, bytes.len() as u64);
    }
    out
}

/// Partial downloads (digest → bytes on disk), from the layout's `.ocipull-partial`.
fn partials(dir: &Path) -> BTreeMap<Digest, u64> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir.join(".ocipull-partial")) else {
        return out;
    };
    for e in entries {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(hex) = name.strip_prefix("sha256-") {
            if let Ok(d) = format!("sha256:{hex}").parse() {
                out.insert(d, e.metadata().unwrap().len());
            }
        }
    }
    out
}

fn pull_command(running: &TestServer, dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ocipull"));
    c.args(["pull", "--insecure-http", "--jobs", "2"])
        .arg(format!("{}/{REPO}:v1", running.host()))
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// A reproducible random delay in `0..max`.
fn random_delay(state: &mut u64, max: Duration) -> Duration {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    max.mul_f64((*state % 1000) as f64 / 1000.0)
}

/// What the server was asked for each blob in one run: the `Range` of every GET.
fn blob_gets(running: &TestServer, digest: &Digest) -> Vec<Option<String>> {
    running
        .request_log()
        .unwrap()
        .matching(&format!("/blobs/{digest}"))
        .into_iter()
        .filter(|r| r.method == ocipull_server::http::Method::GET)
        .map(|r| r.range)
        .collect()
}

/// Checks a run against what was on disk before it: verified blobs were not fetched again;
/// each partial with bytes on disk was resumed with a `Range` from exactly there. Returns
/// (blobs reused, partials resumed).
fn check_run(
    running: &TestServer,
    blobs: &[Digest],
    before_blobs: &BTreeMap<Digest, u64>,
    before_partials: &BTreeMap<Digest, u64>,
) -> (usize, usize) {
    let (mut reused, mut resumed) = (0, 0);
    for d in blobs {
        let gets = blob_gets(running, d);
        if before_blobs.contains_key(d) {
            assert!(
                gets.is_empty(),
                "{d} was on disk but fetched again: {gets:?}"
            );
            reused += 1;
        } else if let Some(&kept) = before_partials.get(d).filter(|&&n| n > 0) {
            if let Some(first) = gets.first() {
                assert_eq!(
                    first.as_deref(),
                    Some(format!("bytes={kept}-").as_str()),
                    "{d}: {kept} bytes were on disk"
                );
                resumed += 1;
            }
        }
    }
    (reused, resumed)
}

#[test]
fn killed_pulls_resume_and_complete_without_corrupt_files() {
    let image = Image::builder(90).layers_raw(LAYERS).build();
    let manifest = image.manifest();
    let digests: Vec<Digest> = manifest
        .descriptors()
        .iter()
        .map(|d| d.digest.clone())
        .collect();
    let server = Server::builder().request_log(true).build();
    server
        .add(
            &REPO.parse().unwrap(),
            Some("v1".parse().unwrap()),
            manifest.clone(),
            image.blobs(),
        )
        .unwrap();
    server.add_fault(FaultRule::path("/blobs/").stall(PAUSE_AT, PAUSE));
    let running = server.spawn().unwrap();
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("layout");
    let mut state = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {state}");
    let (mut reused, mut resumed) = (0, 0);
    for round in 0..KILLS {
        let before_blobs = verified_blobs(&dir);
        let before_partials = partials(&dir);
        running.request_log().unwrap().clear();
        let mut child = pull_command(&running, &dir).spawn().unwrap();
        // Kill once the downloads are under way, at a random moment within the pauses.
        let start = Instant::now();
        while running
            .request_log()
            .unwrap()
            .matching("/blobs/")
            .is_empty()
            && child.try_wait().unwrap().is_none()
            && start.elapsed() < PATIENCE
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(random_delay(&mut state, PAUSE * 2));
        let _ = child.kill();
        let status = child.wait().unwrap();
        eprintln!("round {round}: {status}");
        let (r, p) = check_run(&running, &digests, &before_blobs, &before_partials);
        reused += r;
        resumed += p;
        // Whatever moment the kill hit, every visible blob verifies.
        verified_blobs(&dir);
    }
    // The last run is not interrupted and completes the layout.
    let before_blobs = verified_blobs(&dir);
    let before_partials = partials(&dir);
    running.request_log().unwrap().clear();
    let mut child = pull_command(&running, &dir).spawn().unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > PATIENCE {
            let _ = child.kill();
            panic!("the last run did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    let (r, p) = check_run(&running, &digests, &before_blobs, &before_partials);
    reused += r;
    resumed += p;
    eprintln!("blobs reused {reused}, partials resumed {resumed}");
    assert!(reused + resumed > 0, "no run found anything to reuse");

    let on_disk = verified_blobs(&dir);
    for b in image.blob_list() {
        let d = b.digest();
        assert_eq!(on_disk.get(d), Some(&(b.bytes.len() as u64)), "{d}");
    }
    assert_eq!(
        on_disk.get(manifest.digest()),
        Some(&(manifest.bytes().len() as u64))
    );
    assert_eq!(on_disk.len(), digests.len() + 1, "nothing else in blobs/");
    assert!(partials(&dir).is_empty(), "no partial download left");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"][0]["digest"].as_str(),
        Some(manifest.digest().to_string().as_str())
    );
    // Nothing was written next to the layout.
    let outside: Vec<_> = std::fs::read_dir(parent.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside, vec![std::ffi::OsString::from("layout")]);
}
