//! Pushes every image of an OCI layout into a registry over plain HTTP
//! (distribution-spec "Pushing blobs" monolithic POST + PUT, "Pushing Manifests").
//!
//! ```text
//! bench-push --registry 127.0.0.1:5000 --repo NAME --layout DIR
//! ```
//!
//! Each manifest is pushed under its `org.opencontainers.image.ref.name` tag
//! (or its digest when untagged); blobs already in the registry are skipped.

use std::collections::HashSet;
use std::path::PathBuf;

use ocipull_bench_tools::args::Args;
use ocipull_bench_tools::http1::{self, Body};
use ocipull_bench_tools::{Result, exit_on_error, layout, report};
use ocipull_spec::Descriptor;
use ocipull_spec::layout::LayoutReader;

fn main() {
    exit_on_error("bench-push", run);
}

fn run() -> Result {
    let args = Args::from_env()?;
    let registry: String = args.required("registry")?;
    let repo: String = args.required("repo")?;
    let dir: PathBuf = args.required("layout")?;
    let mut pushed = HashSet::new();
    let mut manifests = 0;
    let reader = LayoutReader::open(&dir)?;
    for layout::Entry { manifest, tag } in layout::read(&reader)? {
        for blob in manifest.descriptors() {
            if pushed.insert(blob.digest.clone()) {
                push_blob(&registry, &repo, &reader, blob)?;
            }
        }
        let reference = tag.unwrap_or_else(|| manifest.digest().to_string());
        let response = http1::request(
            &registry,
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Content-Type", manifest.media_type())],
            Body::Bytes(manifest.bytes()),
        )?;
        expect(&response, 201, "PUT manifest", &reference)?;
        manifests += 1;
    }
    report("blobs", pushed.len());
    report("manifests", manifests);
    Ok(())
}

fn push_blob(registry: &str, repo: &str, reader: &LayoutReader, blob: &Descriptor) -> Result {
    let target = format!("/v2/{repo}/blobs/{}", blob.digest);
    let head = http1::request(registry, "HEAD", &target, &[], Body::Empty)?;
    if head.status == 200 {
        return Ok(());
    }
    let start = http1::request(
        registry,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        &[],
        Body::Bytes(b""),
    )?;
    expect(&start, 202, "POST upload", blob.digest.as_str())?;
    let location = start
        .header("location")
        .ok_or("upload started without a Location")?;
    // Distribution answers with an absolute URL; the spec allows a path.
    let path = match location.find("://") {
        Some(scheme_end) => {
            let rest = &location[scheme_end + 3..];
            &rest[rest.find('/').unwrap_or(rest.len())..]
        }
        None => location,
    };
    let separator = if path.contains('?') { '&' } else { '?' };
    let put = http1::request(
        registry,
        "PUT",
        &format!("{path}{separator}digest={}", blob.digest),
        &[("Content-Type", "application/octet-stream")],
        Body::File(&reader.blob_path(&blob.digest)),
    )?;
    expect(&put, 201, "PUT blob", blob.digest.as_str())
}

fn expect(response: &http1::Response, status: u16, what: &str, subject: &str) -> Result {
    if response.status == status {
        Ok(())
    } else {
        Err(format!(
            "{what} {subject}: status {} (expected {status}): {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        )
        .into())
    }
}
