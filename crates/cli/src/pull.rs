//! `ocipull pull REFERENCE DIR`: pull an image (one platform, or all) into an OCI layout.
//!
//! Several images at once: `ocipull pull REF1 DIR1 REF2 DIR2 …` (pairs), or
//! `ocipull pull --into DIR REF1 REF2 …` (one layout, one `index.json` entry each). They are
//! pulled one after the other through one connection pool, and the first failure stops.
//!
//! Mirrors (registries.conf, a containerd hosts directory, `--mirror`) are tried before
//! each registry; see `mirrors.rs`.
//!
//! Progress goes to stderr: bars on a terminal, one line per event otherwise. Each pull
//! ends with a line on stdout: the digest of the manifest written to the layout's
//! `index.json` (`Digest: …`, one line per reference, in order).

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use ocipull_client::{
    Chunking, DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_THRESHOLD, DEFAULT_CHUNKS_PER_BLOB,
    DEFAULT_CHUNKS_PER_PULL, DEFAULT_JOBS, DEFAULT_SINGLE_CONNECTION_ABOVE,
    DEFAULT_SMALL_BLOB_JOBS, Platforms, PullEvent, PullOptions,
};
use ocipull_spec::{Digest, Platform, Reference};

use crate::connect::{ConnectArgs, Failure, fail, fail_for, parse_reference, print_json};
use crate::mirrors::{MirrorArgs, registries_for};

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
    /// How many small blobs (1 MiB or less) to download at once besides --jobs, so that
    /// many small layers overlap their round trips (0: small blobs wait for --jobs).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SMALL_BLOB_JOBS)]
    small_blob_jobs: usize,
    /// Bytes per Range request when a large blob is downloaded in parallel chunks (K, M,
    /// G are powers of 1024) [default: 16M].
    #[arg(long, value_name = "SIZE", value_parser = crate::size::parse_size)]
    chunk_size: Option<u64>,
    /// Blobs larger than this are downloaded in parallel chunks [default: 64M].
    #[arg(long, value_name = "SIZE", value_parser = crate::size::parse_size)]
    chunk_threshold: Option<u64>,
    /// Chunks of one blob downloaded at once; 0 turns chunking off (one connection per
    /// blob).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CHUNKS_PER_BLOB)]
    chunks_per_blob: usize,
    /// Chunks downloaded at once over all the blobs of a pull.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CHUNKS_PER_PULL)]
    chunks_per_pull: usize,
    /// A blob whose first chunk arrives at this rate or faster (bytes per second; K, M, G
    /// are powers of 1024) is read on that one connection; 0 always chunks [default: 200
    /// MB/s].
    #[arg(long, value_name = "RATE", value_parser = crate::size::parse_size)]
    single_connection_above: Option<u64>,
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(flatten)]
    mirrors: Box<MirrorArgs>,
    /// Pull every REFERENCE given into this one OCI image layout directory.
    #[arg(long, value_name = "DIR")]
    into: Option<PathBuf>,
    /// `REFERENCE DIR` pairs — the image (`[registry/]repository[:tag][@digest]`) and the
    /// OCI image layout directory (created when missing) — or, with --into, references
    /// only.
    #[arg(value_name = "REFERENCE DIR", required = true, num_args = 1..)]
    items: Vec<String>,
}

/// What to pull where, from the arguments.
fn targets(args: &Args) -> Result<Vec<(Reference, PathBuf)>, Failure> {
    match &args.into {
        Some(dir) => args
            .items
            .iter()
            .map(|r| Ok((parse_reference(r)?, dir.clone())))
            .collect(),
        None if args.items.len() % 2 != 0 => Err(format!(
            "give REFERENCE DIR pairs, or --into DIR with references only ({} argument(s) given)",
            args.items.len()
        )
        .into()),
        None => args
            .items
            .chunks(2)
            .map(|pair| Ok((parse_reference(&pair[0])?, PathBuf::from(&pair[1]))))
            .collect(),
    }
}

/// The chunking the flags ask for.
fn chunking(args: &Args) -> Chunking {
    if args.chunks_per_blob == 0 {
        return Chunking::off();
    }
    Chunking::new()
        .chunk_size(args.chunk_size.unwrap_or(DEFAULT_CHUNK_SIZE))
        .threshold(args.chunk_threshold.unwrap_or(DEFAULT_CHUNK_THRESHOLD))
        .per_blob(args.chunks_per_blob)
        .per_pull(args.chunks_per_pull)
        .single_connection_above(match args.single_connection_above {
            None => Some(DEFAULT_SINGLE_CONNECTION_ABOVE),
            Some(0) => None,
            Some(rate) => Some(rate),
        })
}

/// Runs `ocipull pull`.
pub async fn run(args: Args) -> crate::CmdResult {
    let targets = targets(&args)?;
    let references: Vec<Reference> = targets.iter().map(|(r, _)| r.clone()).collect();
    let registries = registries_for(&args.connect, &args.mirrors, &references)?;
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
    for (reference, dir) in &targets {
        let client = registries.client(reference).map_err(fail)?;
        eprintln!("Pulling {reference} ({what}) into {}", dir.display());
        let progress = Progress::new(std::io::stderr().is_terminal());
        let reporter = progress.clone();
        let options = PullOptions::new(platforms.clone())
            .jobs(args.jobs)
            .small_blob_jobs(args.small_blob_jobs)
            .chunking(chunking(&args))
            .any_platform(any_platform)
            .convert_to_oci(args.convert_to_oci)
            .events(move |e| reporter.event(e));
        let result = client.pull(reference, dir, &options).await;
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
        for (endpoint, count) in per_endpoint(&report.blob_endpoints) {
            eprintln!("{count} blob(s) from {endpoint}");
        }
        if args.json {
            // One line of JSON per reference, in order.
            let conversions: Vec<serde_json::Value> = report
                .conversions
                .iter()
                .map(|c| serde_json::json!({ "from": c.from, "to": c.to }))
                .collect();
            let endpoints = |list: &[(Digest, String)]| -> Vec<serde_json::Value> {
                list.iter()
                    .map(|(d, e)| serde_json::json!({ "digest": d.to_string(), "endpoint": e }))
                    .collect()
            };
            print_json(&serde_json::json!({
                "reference": reference.to_string(),
                "layout": dir.display().to_string(),
                "digest": report.digest().to_string(),
                "root": report.root,
                "entry": report.entry,
                "platform": report.platform.as_ref().map(ToString::to_string),
                "manifests": report.manifests,
                "blobsDownloaded": report.blobs_downloaded,
                "blobsSkipped": report.blobs_skipped,
                "bytesDownloaded": report.bytes_downloaded,
                "conversions": conversions,
                "manifestEndpoints": endpoints(&report.manifest_endpoints),
                "blobEndpoints": endpoints(&report.blob_endpoints),
            }))?;
            continue;
        }
        println!("Digest: {}", report.digest());
    }
    Ok(())
}

/// How many items each endpoint served, in the order endpoints first appear.
fn per_endpoint(served: &[(Digest, String)]) -> Vec<(String, usize)> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for (_, endpoint) in served {
        match counts.iter_mut().find(|(e, _)| e == endpoint) {
            Some((_, n)) => *n += 1,
            None => counts.push((endpoint.clone(), 1)),
        }
    }
    counts
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
            PullEvent::ChunkDone {
                digest,
                offset,
                length,
            } => {
                // On a terminal the bar moves with every byte; a log gets a line per chunk.
                if self.bars.is_none() {
                    self.line(format!(
                        "blob {}: chunk at {} ({}) done",
                        short(digest),
                        offset,
                        HumanBytes(*length)
                    ));
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
            PullEvent::Served {
                digest,
                endpoint,
                blob,
            } => {
                let what = if *blob { "blob" } else { "manifest" };
                self.line(format!("{what} {} from {endpoint}", short(digest)));
            }
            PullEvent::EndpointSkipped {
                digest,
                endpoint,
                reason,
            } => {
                let what = digest
                    .as_ref()
                    .map_or_else(|| "manifest".to_owned(), |d| format!("blob {}", short(d)));
                self.line(format!("{what}: skipping {endpoint}: {reason}"));
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
            small_blob_jobs: DEFAULT_SMALL_BLOB_JOBS,
            chunk_size: None,
            chunk_threshold: None,
            chunks_per_blob: DEFAULT_CHUNKS_PER_BLOB,
            chunks_per_pull: DEFAULT_CHUNKS_PER_PULL,
            single_connection_above: None,
            connect: ConnectArgs {
                // The test registry is plain HTTP on 127.0.0.1: found without the flag.
                insecure_http: false,
                ca_cert: None,
                username: None,
                password_stdin: false,
                proxy: None,
                no_proxy: false,
            },
            // The machine's registries.conf must not change what the test pulls.
            mirrors: Box::new(MirrorArgs {
                no_mirrors: true,
                ..MirrorArgs::default()
            }),
            into: None,
            items: vec![reference, dir.to_string_lossy().into_owned()],
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

    fn serving(seed: u8, tag: &str) -> (ocipull_server::TestServer, Manifest) {
        let (m, blobs) = image(seed);
        let server = Server::builder().request_log(true).build();
        let content: Vec<Content> = blobs.into_iter().map(Content::bytes).collect();
        server
            .add(
                &"cli/test".parse().unwrap(),
                Some(tag.parse().unwrap()),
                m.clone(),
                content,
            )
            .unwrap();
        (server.spawn().unwrap(), m)
    }

    fn index_digests(dir: &std::path::Path) -> Vec<String> {
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
        let mut out: Vec<String> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["digest"].as_str().unwrap().to_owned())
            .collect();
        out.sort();
        out
    }

    #[tokio::test]
    async fn several_references_as_pairs_or_into_one_layout() {
        let (one, m1) = serving(3, "a");
        let (two, m2) = serving(4, "b");
        let r1 = format!("{}/cli/test:a", one.host());
        let r2 = format!("{}/cli/test:b", two.host());
        let tmp = tempfile::tempdir().unwrap();
        let (d1, d2) = (tmp.path().join("one"), tmp.path().join("two"));
        let mut pairs = args(r1.clone(), d1.clone(), None, false);
        pairs
            .items
            .extend([r2.clone(), d2.to_string_lossy().into_owned()]);
        run(pairs).await.unwrap();
        assert_eq!(index_digests(&d1), [m1.digest().to_string()]);
        assert_eq!(index_digests(&d2), [m2.digest().to_string()]);

        let shared = tmp.path().join("shared");
        let mut into = args(r1.clone(), shared.clone(), None, false);
        into.items = vec![r1.clone(), r2.clone()];
        into.into = Some(shared.clone());
        run(into).await.unwrap();
        let mut want = vec![m1.digest().to_string(), m2.digest().to_string()];
        want.sort();
        assert_eq!(index_digests(&shared), want);

        let mut odd = args(r1.clone(), d1, None, false);
        odd.items.push(r2);
        let err = run(odd).await.unwrap_err().to_string();
        assert!(err.contains("pairs") && err.contains("3 argument"), "{err}");
    }

    #[tokio::test]
    async fn mirror_flag_and_registries_conf_send_requests_to_the_mirror() {
        let (upstream, m) = serving(5, "v1");
        let (mirror, _) = serving(5, "v1");
        let reference = format!("{}/cli/test:v1", upstream.host());
        let tmp = tempfile::tempdir().unwrap();

        let mut flag = args(reference.clone(), tmp.path().join("flag"), None, false);
        flag.mirrors = Box::new(MirrorArgs {
            mirror: vec![format!("http://{}", mirror.host())],
            ..MirrorArgs::default()
        });
        run(flag).await.unwrap();
        assert_eq!(
            index_digests(&tmp.path().join("flag")),
            [m.digest().to_string()]
        );
        let upstream_log = upstream.server().request_log().unwrap();
        assert!(upstream_log.matching("/cli/test/").is_empty());
        assert_eq!(
            mirror
                .server()
                .request_log()
                .unwrap()
                .matching("/cli/test/")
                .len(),
            3
        );

        let conf = tmp.path().join("registries.conf");
        std::fs::write(
            &conf,
            format!(
                "[[registry]]\nlocation = \"{}\"\n[[registry.mirror]]\nlocation = \"{}\"\ninsecure = true\n",
                upstream.host(),
                mirror.host()
            ),
        )
        .unwrap();
        let mut from_file = args(reference.clone(), tmp.path().join("conf"), None, false);
        from_file.mirrors = Box::new(MirrorArgs {
            registries_conf: Some(conf),
            ..MirrorArgs::default()
        });
        run(from_file).await.unwrap();
        assert!(upstream_log.matching("/cli/test/").is_empty());
        assert_eq!(
            mirror
                .server()
                .request_log()
                .unwrap()
                .matching("/cli/test/")
                .len(),
            6
        );

        let hosts = tmp.path().join("certs.d");
        std::fs::create_dir_all(hosts.join(upstream.host())).unwrap();
        std::fs::write(
            hosts.join(upstream.host()).join("hosts.toml"),
            format!(
                "[host.\"http://{}\"]\ncapabilities = [\"pull\"]\n",
                mirror.host()
            ),
        )
        .unwrap();
        let mut from_dir = args(reference, tmp.path().join("dir"), None, false);
        from_dir.mirrors = Box::new(MirrorArgs {
            hosts_dir: Some(hosts),
            ..MirrorArgs::default()
        });
        run(from_dir).await.unwrap();
        // Tags are resolved at the upstream; blobs come from the pull-only mirror.
        assert_eq!(upstream_log.matching("/manifests/v1").len(), 1);
        assert!(upstream_log.matching("/blobs/").is_empty());
    }

    #[tokio::test]
    async fn a_bad_registries_conf_is_one_line_naming_file_line_and_value() {
        let tmp = tempfile::tempdir().unwrap();
        let conf = tmp.path().join("registries.conf");
        std::fs::write(
            &conf,
            "[[registry]]\nprefix = \"a.example\"\n[[registry.mirror]]\nlocation = \"m.example\"\npull-from-mirror = \"never\"\n",
        )
        .unwrap();
        let mut bad = args("a.example/x:v1".into(), tmp.path().join("out"), None, false);
        bad.mirrors = Box::new(MirrorArgs {
            registries_conf: Some(conf.clone()),
            ..MirrorArgs::default()
        });
        let err = run(bad).await.unwrap_err().to_string();
        assert!(!err.contains('\n'), "{err}");
        assert!(err.contains(&format!("{}:5", conf.display())), "{err}");
        assert!(
            err.contains("pull-from-mirror") && err.contains("never"),
            "{err}"
        );
        assert!(!tmp.path().join("out").exists());
    }
}
