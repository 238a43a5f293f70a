//! A minimal program using the `oci-client` crate, as a user of it would write
//! one, for `cargo xtask bench`. Plain HTTP, anonymous.
//!
//! ```text
//! oci-client-pull stream       --image HOST:PORT/REPO:TAG --out DIR [--jobs N]
//! oci-client-pull stream-fsync --image HOST:PORT/REPO:TAG --out DIR [--jobs N]
//! oci-client-pull pull-api     --image HOST:PORT/REPO:TAG --out DIR
//! oci-client-pull discard      --image HOST:PORT/REPO:TAG [--jobs N]
//! oci-client-pull manifests    --image HOST:PORT/REPO --digests FILE
//! ```
//!
//! - `stream`: the careful way: `pull_blob_stream` (which verifies the digest)
//!   for each blob, `--jobs` at once, through a 1 MiB buffer into
//!   `blobs/sha256/<hex>.partial`, renamed when complete; then the manifest,
//!   `index.json` and `oci-layout`. `stream-fsync` also fsyncs each blob
//!   before its rename and the layout directory at the end, as a durable pull must.
//! - `pull-api`: the easy way: `Client::pull`, which returns every layer in
//!   memory, then writes them (with fsync) into the same layout.
//! - `discard`: fetch + verify every layer into nothing.
//! - `manifests`: `pull_manifest_raw` of each digest in FILE, one after the other.
//!
//! Prints `bytes=` (blob bytes received) or `manifests=` on success.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{self, OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use tokio::io::AsyncWriteExt as _;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Buffer between the stream and the file: one write system call per MiB.
const WRITE_BUFFER: usize = 1 << 20;
/// Blobs fetched at once unless `--jobs` says otherwise; the same default as
/// `ocipull pull`.
const DEFAULT_JOBS: usize = 4;

/// Media types a pulled manifest may have (the fixtures are OCI images).
const MANIFEST_TYPES: &[&str] = &[manifest::OCI_IMAGE_MEDIA_TYPE];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Stream,
    StreamFsync,
    PullApi,
    Discard,
    Manifests,
}

struct Options {
    mode: Mode,
    image: String,
    out: Option<PathBuf>,
    jobs: usize,
    digests: Option<PathBuf>,
}

fn parse_args() -> Result<Options> {
    let mut args = std::env::args().skip(1);
    let mode = match args.next().as_deref() {
        Some("stream") => Mode::Stream,
        Some("stream-fsync") => Mode::StreamFsync,
        Some("pull-api") => Mode::PullApi,
        Some("discard") => Mode::Discard,
        Some("manifests") => Mode::Manifests,
        other => return Err(format!("unknown mode {other:?}").into()),
    };
    let mut options = Options {
        mode,
        image: String::new(),
        out: None,
        jobs: DEFAULT_JOBS,
        digests: None,
    };
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--image" => options.image = value,
            "--out" => options.out = Some(value.into()),
            "--jobs" => options.jobs = value.parse()?,
            "--digests" => options.digests = Some(value.into()),
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    if options.image.is_empty() {
        return Err("--image is required".into());
    }
    Ok(options)
}

#[tokio::main]
async fn main() {
    if let Err(error) = run().await {
        eprintln!("oci-client-pull: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result {
    let options = parse_args()?;
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..ClientConfig::default()
    });
    let auth = RegistryAuth::Anonymous;
    if options.mode == Mode::Manifests {
        return manifests(&client, &auth, &options).await;
    }
    let reference = Reference::from_str(&options.image)?;
    let (raw, digest) = client
        .pull_manifest_raw(&reference, &auth, MANIFEST_TYPES)
        .await?;
    let image: OciImageManifest = serde_json::from_slice(&raw)?;
    let bytes = match options.mode {
        Mode::Discard => discard(&client, &reference, &image, options.jobs).await?,
        Mode::PullApi => {
            let out = options.out.as_deref().ok_or("--out is required")?;
            pull_api(&client, &auth, &reference, out).await?
        }
        Mode::Stream | Mode::StreamFsync => {
            let out = options.out.as_deref().ok_or("--out is required")?;
            let fsync = options.mode == Mode::StreamFsync;
            create_layout(out).await?;
            let blobs = std::iter::once(&image.config).chain(&image.layers);
            let bytes = stream::iter(blobs)
                .map(|blob| stream_to_file(&client, &reference, blob, out, fsync))
                .buffer_unordered(options.jobs)
                .try_fold(0, |total, bytes| async move { Ok(total + bytes) })
                .await?;
            finish_layout(out, &raw, &digest, fsync).await?;
            bytes
        }
        Mode::Manifests => unreachable!("handled above"),
    };
    println!("bytes={bytes}");
    Ok(())
}

async fn stream_to_file(
    client: &Client,
    reference: &Reference,
    blob: &OciDescriptor,
    out: &Path,
    fsync: bool,
) -> Result<u64> {
    let path = blob_path(out, &blob.digest);
    let partial = path.with_extension("partial");
    let mut body = client.pull_blob_stream(reference, blob).await?;
    let mut file =
        tokio::io::BufWriter::with_capacity(WRITE_BUFFER, tokio::fs::File::create(&partial).await?);
    let mut bytes = 0;
    while let Some(chunk) = body.try_next().await? {
        bytes += chunk.len() as u64;
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    if fsync {
        file.get_ref().sync_all().await?;
    }
    drop(file);
    tokio::fs::rename(&partial, &path).await?;
    Ok(bytes)
}

async fn discard(
    client: &Client,
    reference: &Reference,
    image: &OciImageManifest,
    jobs: usize,
) -> Result<u64> {
    stream::iter(&image.layers)
        .map(|layer| async move {
            let mut body = client.pull_blob_stream(reference, layer).await?;
            let mut bytes = 0;
            while let Some(chunk) = body.try_next().await? {
                bytes += chunk.len() as u64;
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(bytes)
        })
        .buffer_unordered(jobs)
        .try_fold(0, |total, bytes| async move { Ok(total + bytes) })
        .await
}

async fn pull_api(
    client: &Client,
    auth: &RegistryAuth,
    reference: &Reference,
    out: &Path,
) -> Result<u64> {
    let accepted = vec![
        manifest::IMAGE_LAYER_MEDIA_TYPE,
        manifest::IMAGE_LAYER_GZIP_MEDIA_TYPE,
        manifest::IMAGE_DOCKER_LAYER_TAR_MEDIA_TYPE,
        manifest::IMAGE_DOCKER_LAYER_GZIP_MEDIA_TYPE,
    ];
    let image = client.pull(reference, auth, accepted).await?;
    let (raw, digest) = client
        .pull_manifest_raw(reference, auth, MANIFEST_TYPES)
        .await?;
    let parsed: OciImageManifest = serde_json::from_slice(&raw)?;
    create_layout(out).await?;
    let mut bytes = 0;
    write_durably(&blob_path(out, &parsed.config.digest), &image.config.data).await?;
    for (layer, descriptor) in image.layers.iter().zip(&parsed.layers) {
        write_durably(&blob_path(out, &descriptor.digest), &layer.data).await?;
        bytes += layer.data.len() as u64;
    }
    finish_layout(out, &raw, &digest, true).await?;
    Ok(bytes)
}

async fn manifests(client: &Client, auth: &RegistryAuth, options: &Options) -> Result {
    let repository = Reference::from_str(&format!("{}:unused", options.image))?;
    let digests = options.digests.as_deref().ok_or("--digests is required")?;
    let digests = tokio::fs::read_to_string(digests).await?;
    let mut count = 0;
    for digest in digests.lines().filter(|line| !line.is_empty()) {
        let reference = Reference::with_digest(
            repository.registry().to_owned(),
            repository.repository().to_owned(),
            digest.to_owned(),
        );
        let (_, got) = client
            .pull_manifest_raw(&reference, auth, MANIFEST_TYPES)
            .await?;
        if got != digest {
            return Err(format!("asked for {digest}, got {got}").into());
        }
        count += 1;
    }
    println!("manifests={count}");
    Ok(())
}

fn blob_path(out: &Path, digest: &str) -> PathBuf {
    out.join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap_or(digest))
}

async fn create_layout(out: &Path) -> Result {
    tokio::fs::create_dir_all(out.join("blobs/sha256")).await?;
    Ok(())
}

async fn write_durably(path: &Path, bytes: &[u8]) -> Result {
    let partial = path.with_extension("partial");
    let mut file = tokio::fs::File::create(&partial).await?;
    file.write_all(bytes).await?;
    file.sync_all().await?;
    drop(file);
    tokio::fs::rename(&partial, path).await?;
    Ok(())
}

async fn finish_layout(out: &Path, manifest: &[u8], digest: &str, fsync: bool) -> Result {
    let manifest_path = blob_path(out, digest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest::OCI_IMAGE_INDEX_MEDIA_TYPE,
        "manifests": [{
            "mediaType": manifest::OCI_IMAGE_MEDIA_TYPE,
            "digest": digest,
            "size": manifest.len(),
            "annotations": { "org.opencontainers.image.ref.name": "latest" },
        }],
    });
    let index = serde_json::to_vec(&index)?;
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
    if fsync {
        write_durably(&manifest_path, manifest).await?;
        write_durably(&out.join("index.json"), &index).await?;
        write_durably(&out.join("oci-layout"), layout).await?;
        for dir in [out.join("blobs/sha256"), out.to_owned()] {
            tokio::fs::File::open(&dir).await?.sync_all().await?;
        }
    } else {
        tokio::fs::write(&manifest_path, manifest).await?;
        tokio::fs::write(out.join("index.json"), index).await?;
        tokio::fs::write(out.join("oci-layout"), layout).await?;
    }
    Ok(())
}
