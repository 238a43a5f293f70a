//! The program behind `cargo xtask demo`: builds a small image index in memory, serves it
//! from an in-process `ocipull-server` on a loopback port (with token auth, blob redirects
//! to a second origin and a few injected faults), pulls it with `ocipull-client` into an OCI
//! image layout, verifies the layout and prints what happened.
//!
//! Usage: `cargo run -p ocipull-tests --example demo -- [LAYOUT_DIR]` (default
//! `target/demo/layout`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use ocipull_client::{Client, Platforms, PullEvent, PullOptions, Scheme};
use ocipull_server::{FaultRule, Origin, RetryAfter, Server, TokenAuth};
use ocipull_spec::fixtures::{Index, LayerSpec};
use ocipull_spec::layout::LayoutReader;
use ocipull_spec::{Descriptor, Digest, Reference, media_type};

/// The repository and tag the sample is served under.
const REPOSITORY: &str = "demo/hello";
const TAG: &str = "latest";

/// Size of the sample's big file: large enough that a cut connection and its resume show.
const BIG_FILE: usize = 6 * 1024 * 1024;

/// Where the first download of the big layer is cut.
const CUT_AT: u64 = 2 * 1024 * 1024;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The sample: an index of a linux/amd64 and a linux/arm64 image sharing a tar base layer
/// (a small file and a big one), each with a small tar layer of its own.
fn sample() -> Result<Index> {
    Ok(Index::builder(42)
        .platforms(["linux/amd64".parse()?, "linux/arm64".parse()?])
        .shared_layer(LayerSpec::tar_files([64, BIG_FILE]))
        .layers([LayerSpec::tar(64)])
        .build())
}

fn short(d: &Digest) -> &str {
    &d.as_str()[..19]
}

/// A path with its digest cut to 12 hex digits.
fn shorten(path: &str) -> String {
    match path.find("sha256:") {
        Some(i) if path.len() >= i + 7 + 64 => format!("{}…{}", &path[..i + 19], &path[i + 71..]),
        _ => path.to_owned(),
    }
}

/// Prints pull events as they happen.
fn show(event: &PullEvent) {
    match event {
        PullEvent::Manifest { descriptor } => {
            println!(
                "  fetched {} {} ({} bytes)",
                descriptor.media_type,
                short(&descriptor.digest),
                descriptor.size
            );
        }
        PullEvent::BlobStarted {
            digest,
            size,
            offset,
        } => {
            println!(
                "  blob {} ({size} bytes): downloading from byte {offset}",
                short(digest)
            );
        }
        PullEvent::BlobResumed { digest, offset } => {
            println!(
                "  blob {}: connection lost, resuming with Range: bytes={offset}-",
                short(digest)
            );
        }
        PullEvent::Retry {
            attempt,
            delay,
            reason,
            ..
        } => {
            println!(
                "  retry {attempt} in {:.1}s after: {reason}",
                delay.as_secs_f64()
            );
        }
        PullEvent::BlobDone { digest, size } => println!(
            "  blob {} ({size} bytes): verified and stored",
            short(digest)
        ),
        PullEvent::BlobSkipped { digest, .. } => {
            println!("  blob {}: already present", short(digest))
        }
        _ => {}
    }
}

/// Checks every manifest and blob the layout's index reaches.
fn verify(dir: &Path) -> Result<(usize, usize)> {
    let layout = LayoutReader::open(dir)?;
    let mut pending: Vec<Descriptor> = layout.entries().map(|e| e.descriptor).collect();
    let mut seen = std::collections::HashSet::new();
    let (mut manifests, mut blobs) = (0, 0);
    while let Some(d) = pending.pop() {
        if !seen.insert(d.digest.clone()) {
            continue;
        }
        if media_type::is_manifest(&d.media_type) {
            let m = layout.read_manifest(&d)?; // checks size and digest
            manifests += 1;
            pending.extend(m.descriptors().into_iter().cloned());
        } else {
            let bytes = std::fs::read(layout.blob_path(&d.digest))?;
            if Digest::sha256(&bytes) != d.digest || bytes.len() as u64 != d.size {
                return Err(format!("blob {} does not match its descriptor", d.digest).into());
            }
            blobs += 1;
        }
    }
    Ok((manifests, blobs))
}

#[tokio::main]
async fn main() -> Result {
    let dir: PathBuf = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("target/demo/layout"), PathBuf::from);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }

    let sample = sample()?;
    let index = sample.manifest();
    let big = sample.images()[0].layers()[0].digest().clone();
    println!(
        "1. Built a sample image index in memory: {} ({} bytes), linux/amd64 and linux/arm64 sharing a {} MiB layer",
        short(index.digest()),
        index.bytes().len(),
        BIG_FILE / (1024 * 1024)
    );

    let server = Server::builder()
        .request_log(true)
        .auth(TokenAuth::anonymous().into())
        .blob_redirects(true)
        .fault(
            FaultRule::path(format!("/manifests/{TAG}"))
                .nth(1)
                .status(http::StatusCode::SERVICE_UNAVAILABLE)
                .retry_after(RetryAfter::Seconds(1)),
        )
        .fault(
            FaultRule::path(format!("blobs/{REPOSITORY}/{big}"))
                .nth(1)
                .cut_after(CUT_AT),
        )
        .build();
    // Each child image with its blobs, then the index under the tag.
    for (manifest, blobs) in sample.push_order() {
        let tag = (manifest == *index).then(|| TAG.parse()).transpose()?;
        server.add(&REPOSITORY.parse()?, tag, manifest, blobs)?;
    }
    let running = server.spawn()?;
    println!(
        "2. Started the registry on {} (token auth; blobs redirected to a CDN origin on {}).\n   Faults armed: the first manifest request gets 503 with Retry-After: 1; the first download of the big layer is cut after {CUT_AT} bytes.",
        running.url(),
        running.cdn_url().unwrap_or_default()
    );

    let reference: Reference = format!("{}/{REPOSITORY}:{TAG}", running.host()).parse()?;
    println!(
        "3. Pulling {reference} (all platforms) into {}:",
        dir.display()
    );
    let client = Client::builder_for(&reference)
        .scheme(Scheme::Http)
        .build()?;
    let started = Instant::now();
    let options = PullOptions::new(Platforms::All).events(show);
    let report = client.pull(&reference, &dir, &options).await?;
    println!(
        "   done in {:.1}s: {} blobs ({} bytes) downloaded, {} manifests written, digest {}",
        started.elapsed().as_secs_f64(),
        report.blobs_downloaded,
        report.bytes_downloaded,
        report.manifests,
        report.digest()
    );

    println!("4. What the registry saw:");
    for r in running
        .server()
        .request_log()
        .map(|l| l.records())
        .unwrap_or_default()
    {
        let path = shorten(r.path.split('?').next().unwrap_or_default());
        let origin = match r.origin {
            Origin::Registry => "registry",
            _ => "cdn     ",
        };
        println!(
            "   {origin} {:4} {path:<60} {} {}{}",
            r.method.as_str(),
            r.status.as_u16(),
            if r.authorization {
                "with Authorization"
            } else {
                "no Authorization"
            },
            r.range
                .map(|range| format!(", Range: {range}"))
                .unwrap_or_default()
        );
    }

    let (manifests, blobs) = verify(&dir)?;
    println!(
        "5. Verified {}: {manifests} manifests and {blobs} blobs match their digests; index.json names {} as {TAG:?}.",
        dir.display(),
        short(report.digest())
    );
    Ok(())
}
