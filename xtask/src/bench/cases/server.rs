//! Cases 4 and 5: `ocipull serve` and `docker-registry` serving the same
//! content, each started fresh for every run, under the same load generator.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use super::super::fixtures::Fixtures;
use super::super::measure::{self, Sample};
use super::super::report::{Ceiling, Row, Table};
use super::super::servers::{self, Server};
use super::{Contender, Ctx, alternate};

/// OCI image manifest media type: Distribution answers 404 to a GET of an OCI
/// manifest without it in `Accept`.
const ACCEPT_MANIFEST: &str = "Accept: application/vnd.oci.image.manifest.v1+json";

/// Starts one server for one run.
pub type Start<'a> = Box<dyn Fn() -> crate::Result<Server> + 'a>;

fn starters<'a>(
    ctx: &'a Ctx<'_>,
    fixtures: &'a Fixtures,
    storage: &'a Path,
) -> Vec<(&'static str, &'static str, Result<Start<'a>, String>)> {
    let programs = ctx.programs;
    let ours: Result<Start<'a>, String> = programs.ocipull.clone().map(|ocipull| -> Start<'a> {
        Box::new(move || {
            servers::ocipull(
                &ocipull,
                &[(fixtures.big.repo, &fixtures.big.dir)],
                servers::free_addr()?,
                &ctx.logs,
            )
        })
    });
    let theirs: Start<'a> = Box::new(move || {
        servers::distribution(
            &programs.docker_registry,
            storage,
            servers::free_addr()?,
            &ctx.logs,
        )
    });
    vec![
        ("ocipull-serve", "`ocipull serve`", ours),
        ("distribution", "`docker-registry`", Ok(theirs)),
    ]
}

/// Measures `load` against a freshly started server: the load's own figures
/// plus the server's CPU time during the load and its peak RSS.
pub fn under_load(
    ctx: &Ctx<'_>,
    start: &Start<'_>,
    load: impl FnOnce(&Server) -> crate::Result<Sample>,
) -> crate::Result<Sample> {
    let server = start()?;
    let cpu_before = server.cpu(ctx.ticks);
    let mut sample = load(&server)?;
    let cpu_after = server.cpu(ctx.ticks);
    sample.cpu = cpu_before
        .zip(cpu_after)
        .map(|(before, after)| after - before);
    sample.rss_kib = server.peak_rss();
    Ok(sample)
}

/// Case 4: manifest GETs by tag with `wrk`, and the same load on the bare
/// hyper server sending a buffer of the manifest's size (the ceiling).
pub fn manifests(ctx: &Ctx<'_>, fixtures: &Fixtures, storage: &Path) -> Table {
    let sizes = ctx.sizes;
    let programs = ctx.programs;
    let path = format!("/v2/{}/manifests/latest", fixtures.big.repo);
    let mut contenders: Vec<Contender<'_>> = starters(ctx, fixtures, storage)
        .into_iter()
        .map(|(key, name, start)| match start {
            Err(why) => Contender::unavailable(key, name, why),
            Ok(start) => {
                let path = path.clone();
                Contender::new(key, name, move || {
                    under_load(ctx, &start, |server| wrk(ctx, server.addr(), &path))
                })
            }
        })
        .collect();
    let manifest_size = fixtures.big.manifest_size;
    let bare: Start<'_> = Box::new(move || {
        servers::static_server(
            &programs.tool("bench-static-server"),
            manifest_size,
            servers::free_addr()?,
            &ctx.logs,
        )
    });
    contenders.push(Contender::new(
        "hyper",
        "bare hyper server (static buffer)",
        move || under_load(ctx, &bare, |server| wrk(ctx, server.addr(), "/")),
    ));
    let rows = alternate("server-manifests", sizes.runs, contenders);
    let ceilings = same_run_rate(&rows, "hyper")
        .map(|rate| Ceiling {
            name: "bare hyper".into(),
            rate,
        })
        .into_iter()
        .collect();
    Table {
        id: "server-manifests",
        title: "4. Server, manifest GETs".into(),
        about: format!(
            "`GET /v2/big/manifests/latest` (with `Accept`), {} connections for {} s from one \
             `wrk` thread (`wrk -t1 -c{} -d{}s --latency`). Each server starts fresh for each \
             run, logging off. The bare hyper server answers every request with a static \
             buffer of the manifest's size ({} bytes): the ceiling. CPU time (during the load) \
             and peak RSS are the server's.",
            sizes.load_connections,
            sizes.load_secs,
            sizes.load_connections,
            sizes.load_secs,
            manifest_size
        ),
        unit: "req/s",
        whose: "server",
        rows,
        ceilings,
    }
}

/// One `wrk` run of GETs of `path` on `addr` (with the manifest `Accept`),
/// as a sample of its requests/s and p99 latency.
pub fn wrk(ctx: &Ctx<'_>, addr: &str, path: &str) -> crate::Result<Sample> {
    let sizes = ctx.sizes;
    let mut command = Command::new(&ctx.programs.wrk);
    command
        .arg("-t1")
        .arg(format!("-c{}", sizes.load_connections))
        .arg(format!("-d{}s", sizes.load_secs))
        .args(["--latency", "-H", ACCEPT_MANIFEST])
        .arg(format!("http://{addr}{path}"))
        .stdin(Stdio::null());
    let line = crate::cmd::display(&command);
    let started = Instant::now();
    let output = command.output()?;
    let wall = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "`{line}` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let report = parse_wrk(&stdout).map_err(|why| format!("`{line}`: {why}:\n{stdout}"))?;
    Ok(Sample {
        wall,
        rate: Some(report.requests_per_sec),
        p99_ms: Some(report.p99_ms),
        ..Sample::default()
    })
}

/// What `wrk --latency` reports that the bench uses.
#[derive(Debug, PartialEq)]
struct WrkReport {
    requests_per_sec: f64,
    p99_ms: f64,
}

fn parse_wrk(stdout: &str) -> Result<WrkReport, String> {
    let mut requests_per_sec = None;
    let mut p99_ms = None;
    for line in stdout.lines().map(str::trim) {
        if line.starts_with("Non-2xx or 3xx responses") || line.starts_with("Socket errors") {
            return Err(format!("errors under load ({line})"));
        }
        if let Some(value) = line.strip_prefix("Requests/sec:") {
            requests_per_sec = value.trim().parse().ok();
        }
        if let Some(value) = line.strip_prefix("99%") {
            p99_ms = duration_ms(value.trim());
        }
    }
    Ok(WrkReport {
        requests_per_sec: requests_per_sec.ok_or("no Requests/sec line")?,
        p99_ms: p99_ms.ok_or("no 99% latency line (--latency)")?,
    })
}

/// A wrk duration (`850.00us`, `1.23ms`, `2.00s`, `1.50m`) in milliseconds.
fn duration_ms(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match unit {
        "us" => 1e-3,
        "ms" => 1.0,
        "s" => 1e3,
        "m" => 60e3,
        _ => return None,
    };
    Some(number * factor)
}

/// Case 5: concurrent full downloads of the big blob with `bench-get`. `hyper`
/// is case 6's loopback ceiling, used only if this case's own bare hyper row fails.
pub fn blobs(ctx: &Ctx<'_>, fixtures: &Fixtures, storage: &Path, hyper: Option<f64>) -> Table {
    let sizes = ctx.sizes;
    let programs = ctx.programs;
    let image = &fixtures.big;
    let path = format!("/v2/{}/blobs/{}", image.repo, image.layers[0]);
    let mut contenders: Vec<Contender<'_>> = starters(ctx, fixtures, storage)
        .into_iter()
        .map(|(key, name, start)| match start {
            Err(why) => Contender::unavailable(key, name, why),
            Ok(start) => {
                let path = path.clone();
                Contender::new(key, name, move || {
                    under_load(ctx, &start, |server| {
                        download(ctx, server.addr(), &path, sizes.blob_downloads)
                    })
                })
            }
        })
        .collect();
    let bare: Start<'_> = Box::new(move || {
        servers::static_server(
            &programs.tool("bench-static-server"),
            image.layer_size,
            servers::free_addr()?,
            &ctx.logs,
        )
    });
    contenders.push(Contender::new(
        "hyper",
        "bare hyper server (static buffer)",
        move || {
            under_load(ctx, &bare, |server| {
                download(ctx, server.addr(), "/", sizes.blob_downloads)
            })
        },
    ));
    // The bare hyper row of this table ran alternating with the servers, so it
    // is the fairer ceiling; case 6's loopback figure stands in if it failed.
    let rows = alternate("server-blobs", sizes.runs, contenders);
    Table {
        id: "server-blobs",
        title: "5. Server, blob downloads".into(),
        about: format!(
            "{} concurrent full downloads of the {} MiB blob (`bench-get`: one blocking thread \
             per connection, discarding), `ocipull serve` from the OCI layout on disk, \
             `docker-registry` from its filesystem storage (both in the page cache). Rate = \
             all bytes / time to the last byte. CPU time and peak RSS are the server's (the \
             bare hyper server holds the whole buffer in memory).",
            sizes.blob_downloads,
            image.layer_size >> 20
        ),
        unit: "MB/s",
        whose: "server",
        ceilings: same_run_rate(&rows, "hyper")
            .or(hyper)
            .map(|rate| Ceiling {
                name: "bare hyper".into(),
                rate,
            })
            .into_iter()
            .collect(),
        rows,
    }
}

/// The median rate of row `key`, if it ran.
fn same_run_rate(rows: &[Row], key: &str) -> Option<f64> {
    Some(rows.iter().find(|row| row.key == key)?.rate()?.median)
}

/// `connections` concurrent GETs of `path` on `addr` with `bench-get`.
pub fn download(ctx: &Ctx<'_>, addr: &str, path: &str, connections: u32) -> crate::Result<Sample> {
    let mut command = Command::new(ctx.programs.tool("bench-get"));
    command
        .args(["--addr", addr, "--path", path])
        .args(["--connections", &connections.to_string()])
        .stdin(Stdio::null());
    measure::rate_probe(command)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK: &str = "Running 3s test @ http://127.0.0.1:1/v2/big/manifests/latest
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.10ms  300.00us   9.00ms   90.00%
  Latency Distribution
     50%  1.00ms
     75%  1.20ms
     90%    1.50ms
     99%  850.00us
  12345 requests in 3.00s, 10.00MB read
Requests/sec:   4115.00
Transfer/sec:      3.33MB
";

    #[test]
    fn wrk_report_rate_and_p99() {
        assert_eq!(
            parse_wrk(WRK).unwrap(),
            WrkReport {
                requests_per_sec: 4115.0,
                p99_ms: 0.85
            }
        );
    }

    #[test]
    fn wrk_errors_and_missing_lines_fail() {
        let errors = WRK.replace(
            "Requests/sec",
            "  Non-2xx or 3xx responses: 12\nRequests/sec",
        );
        assert!(parse_wrk(&errors).unwrap_err().contains("Non-2xx"));
        let sockets = format!("{WRK}  Socket errors: connect 0, read 3, write 0, timeout 0\n");
        assert!(parse_wrk(&sockets).is_err());
        assert!(parse_wrk("nothing").is_err());
    }

    #[test]
    fn wrk_durations() {
        assert_eq!(duration_ms("850.00us"), Some(0.85));
        assert_eq!(duration_ms("2.00s"), Some(2000.0));
        assert_eq!(duration_ms("1.50m"), Some(90000.0));
        assert_eq!(duration_ms("12"), None);
        assert_eq!(duration_ms("1.0h"), None);
    }
}
