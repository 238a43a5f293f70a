//! Cases 1–3: clients pulling from Debian's `docker-registry` over loopback.

use std::path::Path;
use std::process::Command;

use super::super::build::Programs;
use super::super::fixtures::{Image, Manifests};
use super::super::measure::{self, Sample};
use super::super::report::{Ceiling, Table};
use super::{Contender, Ctx, alternate};

/// Builds the command of one run given the layout directory to write.
pub type PullCommand<'a> = Box<dyn Fn(&Path) -> Command + 'a>;

/// `ocipull pull --insecure-http [extra…] REFERENCE DIR`, or why ocipull is missing.
pub fn ocipull_pull<'a>(
    ctx: &Ctx<'a>,
    reference: &str,
    extra: &[String],
) -> Result<PullCommand<'a>, String> {
    let reference = reference.to_owned();
    let extra = extra.to_vec();
    ctx.programs
        .ocipull
        .clone()
        .map(|ocipull| -> PullCommand<'a> {
            Box::new(move |out: &Path| {
                let mut command = Command::new(&ocipull);
                command
                    .args(["pull", "--insecure-http"])
                    .args(&extra)
                    .arg(&reference)
                    .arg(out);
                command
            })
        })
}

/// `skopeo copy docker://REFERENCE oci:DIR:latest`, keeping the served digests.
pub fn skopeo_copy<'a>(ctx: &Ctx<'a>, reference: &str) -> PullCommand<'a> {
    let programs: &'a Programs = ctx.programs;
    let skopeo = &programs.skopeo;
    let reference = reference.to_owned();
    Box::new(move |out: &Path| {
        let mut command = Command::new(skopeo);
        // --preserve-digests: store the layers as served, as skopeo does
        // with the gzip layers of real images, instead of gzipping the
        // uncompressed fixture (which would change its digest).
        command
            .args([
                "copy",
                "--quiet",
                "--preserve-digests",
                "--src-tls-verify=false",
            ])
            .arg(format!("docker://{reference}"))
            .arg(format!("oci:{}:latest", out.display()));
        command
    })
}

/// The `oci-client` peer program in `mode` (`stream-fsync`, `stream`, `pull-api`).
pub fn oci_client<'a>(ctx: &Ctx<'a>, mode: &'static str, reference: &str) -> PullCommand<'a> {
    let programs: &'a Programs = ctx.programs;
    let program = &programs.oci_client;
    let reference = reference.to_owned();
    Box::new(move |out: &Path| {
        let mut command = Command::new(program);
        command
            .args([mode, "--image", &reference])
            .arg("--out")
            .arg(out);
        command
    })
}

/// Pulls of `image` into an OCI layout on disk: `ocipull pull`, `skopeo copy`
/// and the `oci-client` programs. Rates are layer MB per wall second.
pub fn pull(
    ctx: &Ctx<'_>,
    id: &'static str,
    title: &str,
    image: &Image,
    addr: &str,
    ceilings: Vec<Ceiling>,
) -> Table {
    let reference = image.reference(addr);
    let mut commands: Vec<(&'static str, &str, Result<PullCommand<'_>, String>)> = vec![
        (
            "ocipull",
            "`ocipull pull`",
            ocipull_pull(ctx, &reference, &[]),
        ),
        ("skopeo", "`skopeo copy`", Ok(skopeo_copy(ctx, &reference))),
    ];
    for (key, name, mode) in [
        (
            "oci-client-stream-fsync",
            "oci-client `pull_blob_stream` → file + fsync",
            "stream-fsync",
        ),
        (
            "oci-client-stream",
            "oci-client `pull_blob_stream` → file, no fsync",
            "stream",
        ),
        (
            "oci-client-pull",
            "oci-client `pull()` (layers in memory) → file + fsync",
            "pull-api",
        ),
    ] {
        commands.push((key, name, Ok(oci_client(ctx, mode, &reference))));
    }
    let contenders = commands
        .into_iter()
        .map(|(key, name, command)| match command {
            Err(why) => Contender::unavailable(key, name, why),
            Ok(command) => Contender::new(key, name, move || {
                pull_once(ctx, image, &command, image.bytes() as f64 / 1e6)
            }),
        })
        .collect();
    Table {
        id,
        title: title.to_owned(),
        about: format!(
            "Pull `{}` ({} × {} MiB layers) from `docker-registry` over loopback into a new OCI \
             layout on local disk; `sync` before each run. Rate = layer bytes / wall time. CPU \
             time and peak RSS of the client process (GNU time). `ocipull pull` and the fsync \
             variants are durable (fsync before rename).",
            image.reference("REGISTRY"),
            image.layers.len(),
            image.layer_size >> 20
        ),
        unit: "MB/s",
        whose: "client",
        rows: alternate(id, ctx.sizes.runs, contenders),
        ceilings,
    }
}

/// One pull of `image` into a fresh layout, checked, doing `work` units (for
/// the sample's rate); `sync` first so the previous run's writes are paid for.
pub fn pull_once(
    ctx: &Ctx<'_>,
    image: &Image,
    command: &PullCommand<'_>,
    work: f64,
) -> crate::Result<Sample> {
    let dir = measure::fresh_dir(ctx.work.join("pull"))?;
    let out = dir.join("layout");
    measure::sync();
    let finished = measure::timed(&ctx.programs.time, &command(&out), &dir)?;
    check_layout(&out, image)?;
    std::fs::remove_dir_all(&dir)?;
    Ok(finished.sample(work))
}

/// A pull that "succeeded" must have written every layer, whole.
fn check_layout(out: &Path, image: &Image) -> crate::Result {
    if !out.join("index.json").is_file() {
        return Err(format!("no index.json in {}", out.display()).into());
    }
    for layer in &image.layers {
        let path = Image::blob_path(out, layer);
        let size = path.metadata().map(|meta| meta.len()).ok();
        if size != Some(image.layer_size) {
            return Err(format!(
                "{} has {size:?} bytes, expected {}",
                path.display(),
                image.layer_size
            )
            .into());
        }
    }
    Ok(())
}

/// Fetch + verify of every layer of `image` into a discarding sink, library
/// against library.
pub fn fetch(
    ctx: &Ctx<'_>,
    id: &'static str,
    title: &str,
    image: &Image,
    addr: &str,
    ceilings: Vec<Ceiling>,
) -> Table {
    let reference = image.reference(addr);
    let programs = ctx.programs;
    let ours = match &programs.fetch_discard {
        Err(why) => Contender::unavailable(
            "ocipull-client",
            "ocipull-client `blob` → sink",
            why.clone(),
        ),
        Ok(program) => {
            let reference = reference.clone();
            Contender::new(
                "ocipull-client",
                "ocipull-client `blob` → sink",
                move || {
                    let mut command = Command::new(program);
                    command.args(["--insecure-http", &reference]);
                    fetch_once(ctx, image, &command)
                },
            )
        }
    };
    let theirs = Contender::new(
        "oci-client",
        "oci-client `pull_blob_stream` → sink",
        move || {
            let mut command = Command::new(&programs.oci_client);
            command.args(["discard", "--image", &reference]);
            fetch_once(ctx, image, &command)
        },
    );
    Table {
        id,
        title: title.to_owned(),
        about: format!(
            "The library alone: read the manifest, then fetch every layer ({} × {} MiB, 4 at a \
             time) verifying size and digest as it streams, keeping nothing. Rate = layer \
             bytes / wall time of the whole program.",
            image.layers.len(),
            image.layer_size >> 20
        ),
        unit: "MB/s",
        whose: "client",
        rows: alternate(id, ctx.sizes.runs, vec![ours, theirs]),
        ceilings,
    }
}

fn fetch_once(ctx: &Ctx<'_>, image: &Image, command: &Command) -> crate::Result<Sample> {
    let finished = measure::timed(&ctx.programs.time, command, &ctx.work)?;
    let bytes: u64 = measure::parsed(&finished.stdout, "bytes")?;
    if bytes != image.bytes() {
        return Err(format!("fetched {bytes} bytes, expected {}", image.bytes()).into());
    }
    Ok(finished.sample(bytes as f64 / 1e6))
}

/// Case 3: `read` of every manifest by digest, one after the other, through
/// one client.
pub fn manifests(ctx: &Ctx<'_>, fixture: &Manifests, addr: &str) -> Table {
    let programs = ctx.programs;
    let repository = format!("{addr}/{}", fixture.repo);
    let ours = match &programs.fetch_discard {
        Err(why) => Contender::unavailable("ocipull-client", "ocipull-client `read`", why.clone()),
        Ok(program) => {
            let repository = repository.clone();
            Contender::new("ocipull-client", "ocipull-client `read`", move || {
                let mut command = Command::new(program);
                command
                    .args(["--insecure-http", "--manifests"])
                    .arg(&fixture.digests)
                    .arg(&repository);
                manifests_once(ctx, fixture, &command)
            })
        }
    };
    let theirs = Contender::new("oci-client", "oci-client `pull_manifest_raw`", move || {
        let mut command = Command::new(&programs.oci_client);
        command
            .args(["manifests", "--image", &repository])
            .arg("--digests")
            .arg(&fixture.digests);
        manifests_once(ctx, fixture, &command)
    });
    Table {
        id: "manifests",
        title: format!("3. Client, {} small manifests", fixture.count),
        about: format!(
            "Read {} image manifests by digest, one after the other, through one client (per-request \
             overhead, connection reuse), from `docker-registry`. Rate = manifests / wall time of \
             the whole program.",
            fixture.count
        ),
        unit: "manifests/s",
        whose: "client",
        rows: alternate("manifests", ctx.sizes.runs, vec![ours, theirs]),
        ceilings: Vec::new(),
    }
}

fn manifests_once(ctx: &Ctx<'_>, fixture: &Manifests, command: &Command) -> crate::Result<Sample> {
    let finished = measure::timed(&ctx.programs.time, command, &ctx.work)?;
    let count: u32 = measure::parsed(&finished.stdout, "manifests")?;
    if count != fixture.count {
        return Err(format!("read {count} manifests, expected {}", fixture.count).into());
    }
    Ok(finished.sample(f64::from(count)))
}
