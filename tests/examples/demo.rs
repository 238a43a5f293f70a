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
use ocipull_spec::layout::LayoutReader;
use ocipull_spec::{Bytes, Descriptor, Digest, Manifest, Platform, Reference, media_type};

/// The repository and tag the sample is served under.
const REPOSITORY: &str = "demo/hello";
const TAG: &str = "latest";

/// Size of the sample's big file: large enough that a cut connection and its resume show.
const BIG_FILE: usize = 6 * 1024 * 1024;

/// Where the first download of the big layer is cut.
const CUT_AT: u64 = 2 * 1024 * 1024;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A ustar archive of `files` (POSIX.1-1988 headers, 512-byte blocks).
fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, content) in files {
        let mut header = [0u8; 512];
        header[..name.len()].copy_from_slice(name.as_bytes());
        let octal = |field: &mut [u8], value: u64| {
            let text = format!("{value:0width$o}", width = field.len() - 1);
            field[..text.len()].copy_from_slice(text.as_bytes());
        };
        octal(&mut header[100..108], 0o755);
        octal(&mut header[108..116], 0);
        octal(&mut header[116..124], 0);
        octal(&mut header[124..136], content.len() as u64);
        octal(&mut header[136..148], 1_700_000_000);
        header[156] = b'0';
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        header[148..156].copy_from_slice(b"        ");
        let sum: u64 = header.iter().map(|&b| u64::from(b)).sum();
        let text = format!("{sum:06o}\0 ");
        header[148..156].copy_from_slice(text.as_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(content);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// Deterministic bytes that do not compress into a pattern.
fn noise(seed: u64, size: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(size + 8);
    while out.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(size);
    out
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Descriptor {
    Descriptor::new(media_type, Digest::sha256(bytes), bytes.len() as u64)
}

/// One image of the sample: a shared base layer, a per-platform layer, a config.
fn image(arch: &str, base: &Bytes) -> Result<(Manifest, Vec<Bytes>)> {
    let app = Bytes::from(tar(&[(
        "hello",
        format!("#!/bin/sh\necho hello from {arch}\n").as_bytes(),
    )]));
    let config = serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": ["/hello"]},
        "rootfs": {"type": "layers", "diff_ids": [Digest::sha256(base), Digest::sha256(&app)]},
    });
    let config = Bytes::from(serde_json::to_vec(&config)?);
    let json = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_IMAGE_MANIFEST,
        "config": descriptor(media_type::OCI_IMAGE_CONFIG, &config),
        "layers": [descriptor(media_type::OCI_LAYER_TAR, base), descriptor(media_type::OCI_LAYER_TAR, &app)],
    });
    let manifest = Manifest::from_bytes(serde_json::to_vec(&json)?, None, None)?;
    Ok((manifest, vec![config, base.clone(), app]))
}

/// The sample: an index of a linux/amd64 and a linux/arm64 image.
fn sample() -> Result<(Manifest, Vec<ocipull_server::Content>, Digest)> {
    let base = Bytes::from(tar(&[
        (
            "README",
            b"A sample image built in memory by cargo xtask demo.\n",
        ),
        ("data.bin", &noise(42, BIG_FILE)),
    ]));
    let big = Digest::sha256(&base);
    let mut content = Vec::new();
    let mut entries = Vec::new();
    for arch in ["amd64", "arm64"] {
        let (manifest, blobs) = image(arch, &base)?;
        let mut entry = manifest.descriptor();
        entry.platform = Some(format!("linux/{arch}").parse::<Platform>()?);
        entries.push(entry);
        content.extend(blobs.into_iter().map(ocipull_server::Content::bytes));
        content.push(ocipull_server::Content::manifest(manifest));
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type::OCI_IMAGE_INDEX,
        "manifests": entries,
    });
    Ok((
        Manifest::from_bytes(serde_json::to_vec(&index)?, None, None)?,
        content,
        big,
    ))
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

    let (index, content, big) = sample()?;
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
    server.add(
        &REPOSITORY.parse()?,
        Some(TAG.parse()?),
        index.clone(),
        content,
    )?;
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
