//! `ocipull config REFERENCE`: the image configuration (image-spec "Image Configuration")
//! of an image, or of the image an index lists for the chosen platform, as the registry
//! stores it, verified against its digest.

use std::io::Write as _;

use ocipull_client::{ManifestRef, Platforms};
use ocipull_spec::{Manifest, Platform};
use tokio::io::AsyncReadExt as _;

use crate::connect::{ConnectArgs, client_for, fail, fail_for, parse_reference};

/// Configs larger than this are refused: real ones are kilobytes.
const CONFIG_LIMIT: u64 = 16 * 1024 * 1024;

/// Arguments of `ocipull config`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image: `[registry/]repository[:tag][@digest]`.
    #[arg(value_name = "REFERENCE")]
    reference: String,
    /// The platform to pick from an index (default: this machine's, linux/ARCH).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<Platform>,
    #[command(flatten)]
    connect: ConnectArgs,
}

/// Runs `ocipull config`.
pub async fn run(args: Args) -> crate::CmdResult {
    let reference = parse_reference(&args.reference)?;
    let client = client_for(&args.connect, &reference, true)?;
    let what = reference.to_string();
    let mut manifest: Manifest = client
        .read(&reference)
        .await
        .map_err(|e| fail_for(&what, e))?;
    let wanted = match args.platform {
        Some(p) => p,
        None => match Platforms::host() {
            Platforms::One(p) => p,
            _ => Platform::new("linux", "amd64"),
        },
    };
    for _ in 0..4 {
        if manifest.as_index().is_none() {
            break;
        }
        let Some(chosen) = manifest.select_platform(&wanted).cloned() else {
            let available: Vec<String> = manifest
                .descriptors()
                .iter()
                .filter_map(|d| d.platform.as_ref().map(ToString::to_string))
                .collect();
            return Err(format!(
                "{what}: no image for {wanted} in index {} (available: {}); choose one with --platform",
                manifest.digest(),
                available.join(", ")
            )
            .into());
        };
        manifest = client
            .read(ManifestRef::Digest(chosen.digest.clone()))
            .await
            .map_err(|e| fail_for(&format!("{}@{}", reference.repository(), chosen.digest), e))?;
    }
    let Some(image) = manifest.as_image() else {
        return Err(format!("{what}: indexes nest too deeply to find an image").into());
    };
    let config = image.config.clone();
    if config.size > CONFIG_LIMIT {
        return Err(format!(
            "{what}: the config {} has {} bytes, over the {CONFIG_LIMIT}-byte limit; fetch it with `ocipull blob -o FILE`",
            config.digest, config.size
        )
        .into());
    }
    let mut reader = client.blob(&config).await.map_err(fail)?.into_reader();
    let mut bytes = Vec::with_capacity(config.size as usize);
    reader.read_to_end(&mut bytes).await.map_err(|e| {
        format!(
            "{what}: config {}: {}",
            config.digest,
            crate::connect::one_line(&e)
        )
    })?;
    let mut out = std::io::stdout().lock();
    out.write_all(&bytes)?;
    writeln!(out)?;
    Ok(())
}
