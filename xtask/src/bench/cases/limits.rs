//! Case 6: the machine's ceilings, measured in the same run as the cases.

use std::path::Path;
use std::process::Command;

use super::super::fixtures::Image;
use super::super::measure::{self, Sample};
use super::super::report::{Ceiling, Table};
use super::super::servers::{self, Server};
use super::server::download;
use super::{Contender, Ctx, alternate};

/// Median rates of the ceilings, in MB/s.
#[derive(Debug, Default, Clone, Copy)]
pub struct Ceilings {
    /// Single-core SHA-256 of the `sha2` crate.
    pub sha256: Option<f64>,
    /// Sequential write + fsync of the disk the layouts go to.
    pub disk: Option<f64>,
    /// Bare hyper over loopback, as many connections as case 5 uses.
    pub loopback_many: Option<f64>,
    /// `docker-registry` sending the big blob to one connection that only
    /// counts bytes: the most any client pulling from it can get.
    pub registry: Option<f64>,
}

impl Ceilings {
    fn ceiling(name: &str, rate: Option<f64>) -> Option<Ceiling> {
        rate.map(|rate| Ceiling {
            name: name.into(),
            rate,
        })
    }

    /// Ceilings of a pull to disk: the disk first (the target), then
    /// the registry as a source.
    pub fn for_pull(&self) -> Vec<Ceiling> {
        [
            Self::ceiling("disk write + fsync", self.disk),
            Self::ceiling("docker-registry → 1 connection", self.registry),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// Ceilings of fetch + verify: SHA-256 first (the target), then
    /// the registry as a source.
    pub fn for_fetch(&self) -> Vec<Ceiling> {
        [
            Self::ceiling("SHA-256", self.sha256),
            Self::ceiling("docker-registry → 1 connection", self.registry),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// Measures every ceiling `runs` times, alternating. `storage` is
/// Distribution's storage holding `big`.
pub fn run(ctx: &Ctx<'_>, big: &Image, storage: &Path) -> (Table, Ceilings) {
    let sizes = ctx.sizes;
    let programs = ctx.programs;
    let size = big.layer_size;
    let start = |server: crate::Result<Server>| server.map_err(|error| error.to_string());
    let bare = start(servers::free_addr().and_then(|addr| {
        servers::static_server(&programs.tool("bench-static-server"), size, addr, &ctx.logs)
    }));
    let registry = start(servers::free_addr().and_then(|addr| {
        servers::distribution(&programs.docker_registry, storage, addr, &ctx.logs)
    }));
    let blob = format!("/v2/{}/blobs/{}", big.repo, big.layers[0]);
    let contenders = vec![
        Contender::new("sha256", "SHA-256, one core (`sha2` 0.10)", move || {
            probe(
                ctx,
                "bench-sha256",
                &["--bytes", &sizes.sha_bytes.to_string()],
            )
        }),
        Contender::new("disk", "disk: sequential write + fsync", move || {
            measure::sync();
            let dir = ctx.work.to_string_lossy().into_owned();
            probe(
                ctx,
                "bench-disk",
                &["--dir", &dir, "--bytes", &sizes.disk_bytes.to_string()],
            )
        }),
        Contender::new(
            "loopback-1",
            "loopback HTTP, bare hyper, 1 connection",
            get(ctx, &bare, "/", 1),
        ),
        Contender::new(
            "loopback-n",
            format!(
                "loopback HTTP, bare hyper, {} connections",
                sizes.blob_downloads
            ),
            get(ctx, &bare, "/", sizes.blob_downloads),
        ),
        Contender::new(
            "registry",
            "`docker-registry` blob → 1 connection (the clients' source)",
            get(ctx, &registry, &blob, 1),
        ),
    ];
    let rows = alternate("limits", sizes.runs, contenders);
    let table = Table {
        id: "limits",
        title: "6. Limits of this machine".into(),
        about: format!(
            "SHA-256 of {} MiB in 1 MiB updates on one core; {} MiB written in 1 MiB writes then \
             one fsync, on the disk the pulled layouts go to; a bare hyper HTTP/1.1 server \
             sending a {} MiB in-memory buffer over loopback to `bench-get` (blocking reads \
             into a 1 MiB buffer, nothing else); and `docker-registry` sending the same-sized \
             blob to one such connection. The tables above state their rates as a fraction of \
             the ceilings that bound them.",
            sizes.sha_bytes >> 20,
            sizes.disk_bytes >> 20,
            size >> 20
        ),
        unit: "MB/s",
        whose: "probe",
        rows,
        ceilings: Vec::new(),
    };
    let ceilings = Ceilings {
        sha256: table.rate("sha256"),
        disk: table.rate("disk"),
        loopback_many: table.rate("loopback-n"),
        registry: table.rate("registry"),
    };
    (table, ceilings)
}

/// One run of `connections` downloads of `path` from `server`, if it started.
fn get<'a>(
    ctx: &'a Ctx<'_>,
    server: &'a Result<Server, String>,
    path: &str,
    connections: u32,
) -> impl FnMut() -> crate::Result<Sample> + 'a {
    let path = path.to_owned();
    move || match server {
        Ok(server) => download(ctx, server.addr(), &path, connections),
        Err(why) => Err(why.clone().into()),
    }
}

fn probe(ctx: &Ctx<'_>, tool: &str, args: &[&str]) -> crate::Result<Sample> {
    let mut command = Command::new(ctx.programs.tool(tool));
    command.args(args);
    measure::rate_probe(command)
}
