//! `ocipull pull REFERENCE DIR`: pull an image (one platform, or all) into an OCI layout.
//!
//! Progress goes to stderr: bars on a terminal, one line per event otherwise. The last line
//! on stdout is the digest of the manifest written to the layout's `index.json`.

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use ocipull_client::{DEFAULT_JOBS, Platforms, PullEvent, PullOptions};
use ocipull_spec::{Digest, Platform};

use crate::connect::{ConnectArgs, client_for, fail_for, parse_reference, print_json};

/// Arguments of `ocipull pull`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The platform to pull from an index (default: this machine's, linux/ARCH).
    #[arg(
        long,
        value_name = "OS/ARCH[/VARIANT]",
        conflicts_with = "all_platforms"
    )]
    platform: Option<Platform>,
    /// Pull the whole index with the images of every platform.
    #[arg(long)]
    all_platforms: bool,
    /// Pull a single-platform image even when its config declares another platform than
    /// --platform (without it, such an image is refused, as docker and podman do).
    #[arg(long)]
    any_platform: bool,
    /// Convert Docker schema 2 manifests and manifest lists to OCI media types, for
    /// tools that read only OCI layouts (skopeo, podman and umoci `oci:`). Manifests get
    /// new digests; blobs are unchanged.
    #[arg(long)]
    convert_to_oci: bool,
    /// Print the report as one line of JSON on stdout (progress stays on stderr).
    #[arg(long)]
    json: bool,
    /// How many blobs to download at once.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_JOBS)]
    jobs: usize,
    #[command(flatten)]
    connect: ConnectArgs,
    /// The image: `[registry/]repository[:tag][@digest]`.
    #[arg(value_name = "REFERENCE")]
    reference: String,
    /// The OCI image layout directory (created when missing).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

/// Runs `ocipull pull`.
pub async fn run(args: Args) -> crate::CmdResult {
    let reference = parse_reference(&args.reference)?;
    let client = client_for(&args.connect, &reference, false)?;
    // Without --platform the host's platform is a preference, not a demand: a
    // single-platform image for another one is pulled with a warning (docker's behaviour).
    let any_platform = args.any_platform || args.platform.is_none();
    let platforms = match (&args.platform, args.all_platforms) {
        (_, true) => Platforms::All,
        (Some(p), false) => Platforms::One(p.clone()),
        (None, false) => Platforms::host(),
    };
    let what = match &platforms {
        Platforms::All => "all platforms".to_owned(),
        Platforms::One(p) => p.to_string(),
        other => format!("{other:?}"),
    };
    eprintln!("Pulling {reference} ({what}) into {}", args.dir.display());
    let progress = Progress::new(std::io::stderr().is_terminal());
    let reporter = progress.clone();
    let options = PullOptions::new(platforms.clone())
        .jobs(args.jobs)
        .any_platform(any_platform)
        .convert_to_oci(args.convert_to_oci)
        .events(move |e| reporter.event(e));
    let result = client.pull(&reference, &args.dir, &options).await;
    progress.finish();
    let report = result.map_err(|e| fail_for(&reference.to_string(), e))?;
    if let (Platforms::One(wanted), Some(actual)) = (&platforms, &report.platform) {
        if !wanted.matches(actual) {
            eprintln!(
                "warning: the image is for {actual}, not this machine's {wanted}; pulled anyway"
            );
        }
    }
    for c in &report.conversions {
        eprintln!(
            "converted {} ({}) to {} ({})",
            c.from.digest, c.from.media_type, c.to.digest, c.to.media_type
        );
    }
    eprintln!(
        "Downloaded {} blob(s) ({}), {} already present; {} manifest(s) written",
        report.blobs_downloaded,
        HumanBytes(report.bytes_downloaded),
        report.blobs_skipped,
        report.manifests
    );
    if args.json {
        let conversions: Vec<serde_json::Value> = report
            .conversions
            .iter()
            .map(|c| serde_json::json!({ "from": c.from, "to": c.to }))
            .collect();
        return print_json(&serde_json::json!({
            "reference": reference.to_string(),
            "layout": args.dir.display().to_string(),
            "digest": report.digest().to_string(),
            "root": report.root,
            "entry": report.entry,
            "platform": report.platform.as_ref().map(ToString::to_string),
            "manifests": report.manifests,
            "blobsDownloaded": report.blobs_downloaded,
            "blobsSkipped": report.blobs_skipped,
            "bytesDownloaded": report.bytes_downloaded,
            "conversions": conversions,
        }));
    }
    println!("Digest: {}", report.digest());
    Ok(())
}

/// Shows pull events: bars on a terminal, plain lines otherwise.
#[derive(Clone)]
struct Progress {
    bars: Option<MultiProgress>,
    active: Arc<Mutex<HashMap<Digest, ProgressBar>>>,
}

/// `sha256:0123456789ab`: enough of a digest to tell blobs apart in a listing.
fn short(digest: &Digest) -> String {
    let text = digest.as_str();
    text[..text.len().min(digest.algorithm().as_str().len() + 13)].to_owned()
}

impl Progress {
    fn new(terminal: bool) -> Progress {
        Progress {
            bars: terminal.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            active: Arc::default(),
        }
    }

    fn line(&self, text: String) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(text);
            }
            None => eprintln!("{text}"),
        }
    }

    fn event(&self, event: &PullEvent) {
        match event {
            PullEvent::Manifest { descriptor } => self.line(format!(
                "manifest {} {} ({})",
                short(&descriptor.digest),
                descriptor.media_type,
                HumanBytes(descriptor.size)
            )),
            PullEvent::BlobSkipped { digest, size } => {
                self.line(format!(
                    "blob {} ({}): already present",
                    short(digest),
                    HumanBytes(*size)
                ));
            }
            PullEvent::BlobStarted {
                digest,
                size,
                offset,
            } => match &self.bars {
                Some(bars) => {
                    let bar = bars.add(ProgressBar::new(*size));
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    bar.set_prefix(short(digest));
                    bar.set_position(*offset);
                    self.active
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(digest.clone(), bar);
                }
                None if *offset > 0 => self.line(format!(
                    "blob {} ({}): continuing from {}",
                    short(digest),
                    HumanBytes(*size),
                    HumanBytes(*offset)
                )),
                None => self.line(format!(
                    "blob {} ({}): downloading",
                    short(digest),
                    HumanBytes(*size)
                )),
            },
            PullEvent::BlobProgress { digest, bytes } => {
                if let Some(bar) = self
                    .active
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(digest)
                {
                    bar.inc(*bytes);
                }
            }
            PullEvent::BlobResumed { digest, offset } => {
                let bar = self
                    .active
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(digest)
                    .cloned();
                match bar {
                    Some(bar) => bar.set_message(format!("resumed at {}", HumanBytes(*offset))),
                    None => self.line(format!(
                        "blob {}: resuming at {}",
                        short(digest),
                        HumanBytes(*offset)
                    )),
                }
            }
            PullEvent::Retry {
                digest,
                attempt,
                delay,
                reason,
                ..
            } => {
                let what = digest
                    .as_ref()
                    .map_or_else(|| "manifest".to_owned(), |d| format!("blob {}", short(d)));
                self.line(format!(
                    "{what}: retry {attempt} in {:.1}s: {reason}",
                    delay.as_secs_f64()
                ));
            }
            PullEvent::BlobDone { digest, size } => {
                let bar = self
                    .active
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(digest);
                match bar {
                    Some(bar) => {
                        bar.finish_and_clear();
                        self.line(format!(
                            "blob {} ({}): done",
                            short(digest),
                            HumanBytes(*size)
                        ));
                    }
                    None => self.line(format!(
                        "blob {} ({}): done",
                        short(digest),
                        HumanBytes(*size)
                    )),
                }
            }
            PullEvent::Converted { from, to } => self.line(format!(
                "manifest {} converted to OCI: {}",
                short(&from.digest),
                short(&to.digest)
            )),
            PullEvent::RateLimit { limit, remaining } => {
                self.line(format!("rate limit: {remaining} of {limit} remaining"));
            }
            other => self.line(format!("{other:?}")),
        }
    }

    fn finish(&self) {
        for (_, bar) in self
            .active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
        {
            bar.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocipull_server::{Content, Server};
    use ocipull_spec::{Bytes, Descriptor, Manifest, media_type};

    fn image(seed: u8) -> (Manifest, Vec<Bytes>) {
        let config = Bytes::from(format!("{{\"seed\":{seed}}}"));
        let layer = Bytes::from(vec![seed; 10_000 + seed as usize]);
        let desc = |t: &str, b: &Bytes| Descriptor::new(t, Digest::sha256(b), b.len() as u64);
        let json = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_IMAGE_MANIFEST,
            "config": desc(media_type::OCI_IMAGE_CONFIG, &config),
            "layers": [desc(media_type::OCI_LAYER_TAR, &layer)],
        });
        let m = Manifest::from_bytes(serde_json::to_vec(&json).unwrap(), None, None).unwrap();
        (m, vec![config, layer])
    }

    fn blobs(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.join("blobs/sha256"))
            .unwrap()
            .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
        names.sort();
        names
    }

    fn args(reference: String, dir: PathBuf, platform: Option<&str>, all: bool) -> Args {
        Args {
            platform: platform.map(|p| p.parse().unwrap()),
            all_platforms: all,
            any_platform: false,
            convert_to_oci: false,
            json: false,
            jobs: 2,
            connect: ConnectArgs {
                // The test registry is plain HTTP on 127.0.0.1: found without the flag.
                insecure_http: false,
                ca_cert: None,
                username: None,
                password_stdin: false,
            },
            reference,
            dir,
        }
    }

    #[tokio::test]
    async fn platform_flag_picks_one_image_and_all_platforms_takes_every_one() {
        let (amd, amd_blobs) = image(1);
        let (arm, arm_blobs) = image(2);
        let entry = |m: &Manifest, p: &str| {
            let mut d = m.descriptor();
            d.platform = Some(p.parse().unwrap());
            d
        };
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_IMAGE_INDEX,
            "manifests": [entry(&amd, "linux/amd64"), entry(&arm, "linux/arm64")],
        });
        let index = Manifest::from_bytes(serde_json::to_vec(&index).unwrap(), None, None).unwrap();
        let server = Server::new();
        let content: Vec<Content> = amd_blobs
            .iter()
            .chain(&arm_blobs)
            .cloned()
            .map(Content::bytes)
            .chain([
                Content::manifest(amd.clone()),
                Content::manifest(arm.clone()),
            ])
            .collect();
        server
            .add(
                &"cli/test".parse().unwrap(),
                Some("v1".parse().unwrap()),
                index.clone(),
                content,
            )
            .unwrap();
        let running = server.spawn().unwrap();
        let reference = format!("{}/cli/test:v1", running.host());

        let one = tempfile::tempdir().unwrap();
        run(args(
            reference.clone(),
            one.path().join("layout"),
            Some("linux/arm64"),
            false,
        ))
        .await
        .unwrap();
        let mut want: Vec<String> = arm_blobs
            .iter()
            .map(|b| Digest::sha256(b).to_string())
            .collect();
        want.push(arm.digest().to_string());
        want.sort();
        assert_eq!(blobs(&one.path().join("layout")), want);

        let all = tempfile::tempdir().unwrap();
        run(args(reference.clone(), all.path().to_owned(), None, true))
            .await
            .unwrap();
        let mut want: Vec<String> = amd_blobs
            .iter()
            .chain(&arm_blobs)
            .map(|b| Digest::sha256(b).to_string())
            .chain([
                amd.digest().to_string(),
                arm.digest().to_string(),
                index.digest().to_string(),
            ])
            .collect();
        want.sort();
        assert_eq!(blobs(all.path()), want);

        let missing = tempfile::tempdir().unwrap();
        let err = run(args(
            reference,
            missing.path().to_owned(),
            Some("linux/s390x"),
            false,
        ))
        .await
        .unwrap_err()
        .to_string();
        assert!(!err.contains('\n') && err.contains("linux/s390x"), "{err}");
    }
}
