//! Case 10, issue 13's (d): what `ocipull serve`'s request log costs. The same
//! manifest GETs under `wrk` as case 4, against `ocipull serve` with logging
//! off, with its default log (one line per request on stderr), and with
//! `--log-file` (JSON lines), each server started fresh for each run.

use super::super::fixtures::Fixtures;
use super::super::report::Table;
use super::super::servers::{self, ServeLog};
use super::server::{Start, under_load, wrk};
use super::{Contender, Ctx, alternate};

/// The three servers, logging off first: the ratio column divides its rate
/// by each other's, so `1.05×` is a log costing 5%.
const LOGS: [(&str, &str, ServeLog); 3] = [
    (
        "off",
        "`ocipull serve`, logging off (`RUST_LOG=warn`)",
        ServeLog::Off,
    ),
    (
        "stderr",
        "`ocipull serve`, default log (stderr → file)",
        ServeLog::Stderr,
    ),
    (
        "log-file",
        "`ocipull serve --log-file` (stderr off)",
        ServeLog::File,
    ),
];

/// Case 10: manifest GETs/s of `ocipull serve` by how it logs.
pub fn run(ctx: &Ctx<'_>, fixtures: &Fixtures) -> Table {
    let sizes = ctx.sizes;
    let image = &fixtures.big;
    let path = format!("/v2/{}/manifests/latest", image.repo);
    let contenders = LOGS
        .into_iter()
        .map(|(key, name, log)| match ctx.programs.ocipull.clone() {
            Err(why) => Contender::unavailable(key, name, why),
            Ok(ocipull) => {
                let start: Start<'_> = Box::new(move || {
                    servers::ocipull_with(
                        &ocipull,
                        &[(image.repo, &image.dir)],
                        servers::free_addr()?,
                        &ctx.logs,
                        None,
                        log,
                    )
                });
                let path = path.clone();
                Contender::new(key, name, move || {
                    under_load(ctx, &start, |server| wrk(ctx, server.addr(), &path))
                })
            }
        })
        .collect();
    Table {
        id: "serve-log",
        title: "10. (d) Server, manifest GETs: what the request log costs".into(),
        about: format!(
            "Case 4's load (`wrk -t1 -c{} -d{}s --latency`, `GET /v2/{}/manifests/latest`) on \
             `ocipull serve` logging off, with its default request log (`info`, one line per \
             request on stderr through its non-blocking writer, here redirected to a file as \
             a service manager would), and with `--log-file` (JSON lines written by a task of \
             their own). Each server starts fresh for each run. CPU time (during the load) \
             and peak RSS are the server's.",
            sizes.load_connections, sizes.load_secs, image.repo
        ),
        unit: "req/s",
        whose: "server",
        rows: alternate("serve-log", sizes.runs, contenders),
        ceilings: Vec::new(),
    }
}
