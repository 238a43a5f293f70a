//! Writes the bench fixtures as OCI image layouts of random, incompressible data.
//!
//! ```text
//! bench-fixture image --out DIR --layers N --layer-size BYTES --seed S
//! bench-fixture manifests --out DIR --count N --seed S --digests FILE
//! ```
//!
//! `image`: one image tagged `latest` with N layers of BYTES each; prints
//! `layer=<digest>` for each layer and `manifest=<digest>`.
//! `manifests`: N small image manifests (tagged `m0`…) sharing one config and
//! one 1 KiB layer, each made distinct by an annotation; their digests are
//! written to FILE, one per line.
//!
//! The layout is built in `DIR.partial` and renamed to DIR when complete, so a
//! DIR that exists is whole.

use std::fs;
use std::path::{Path, PathBuf};

use ocipull_bench_tools::args::Args;
use ocipull_bench_tools::layout::{self, Descriptor, LayoutWriter};
use ocipull_bench_tools::rng::Rng;
use ocipull_bench_tools::{Result, exit_on_error, report};
use serde_json::json;

/// Size of the shared layer of the `manifests` fixture: small, so the case
/// measures per-request overhead.
const SMALL_LAYER: u64 = 1024;

fn main() {
    exit_on_error("bench-fixture", run);
}

fn run() -> Result {
    let args = Args::from_env()?;
    let out: PathBuf = args.required("out")?;
    let seed: u64 = args.required("seed")?;
    let partial = out.with_extension("partial");
    if partial.exists() {
        fs::remove_dir_all(&partial)?;
    }
    let writer = LayoutWriter::create(&partial)?;
    let mut rng = Rng::new(seed);
    match args.positional() {
        [kind] if kind == "image" => {
            let manifest = image(
                &writer,
                &mut rng,
                args.required("layers")?,
                args.required("layer-size")?,
            )?;
            report("manifest", &manifest.digest);
            writer.finish(&[(manifest, Some("latest".to_owned()))])?;
        }
        [kind] if kind == "manifests" => {
            let digests_file: PathBuf = args.required("digests")?;
            let manifests = manifests(&writer, &mut rng, args.required("count")?)?;
            write_digests(&digests_file, &manifests)?;
            report("manifests", manifests.len());
            writer.finish(&manifests)?;
        }
        _ => return Err("usage: bench-fixture image|manifests --out DIR --seed S …".into()),
    }
    fs::rename(&partial, &out)?;
    Ok(())
}

fn config(writer: &LayoutWriter, layers: &[Descriptor]) -> Result<Descriptor> {
    // Uncompressed layers: each diff_id is the layer's own digest.
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {
            "type": "layers",
            "diff_ids": layers.iter().map(|layer| layer.digest.as_str()).collect::<Vec<_>>(),
        },
    });
    writer.write_bytes(layout::CONFIG, &serde_json::to_vec(&config)?)
}

fn image(writer: &LayoutWriter, rng: &mut Rng, layers: u32, size: u64) -> Result<Descriptor> {
    let layers = (0..layers)
        .map(|_| writer.write_random(layout::LAYER, rng, size))
        .collect::<Result<Vec<_>>>()?;
    for layer in &layers {
        report("layer", &layer.digest);
    }
    let config = config(writer, &layers)?;
    writer.write_bytes(
        layout::MANIFEST,
        &layout::image_manifest(&config, &layers, None),
    )
}

fn manifests(
    writer: &LayoutWriter,
    rng: &mut Rng,
    count: u32,
) -> Result<Vec<(Descriptor, Option<String>)>> {
    let layer = writer.write_random(layout::LAYER, rng, SMALL_LAYER)?;
    let config = config(writer, std::slice::from_ref(&layer))?;
    (0..count)
        .map(|n| {
            let annotations = json!({ "org.ocipull.bench.n": n.to_string() });
            let manifest =
                layout::image_manifest(&config, std::slice::from_ref(&layer), Some(annotations));
            Ok((
                writer.write_bytes(layout::MANIFEST, &manifest)?,
                Some(format!("m{n}")),
            ))
        })
        .collect()
}

fn write_digests(path: &Path, manifests: &[(Descriptor, Option<String>)]) -> Result {
    let lines: String = manifests
        .iter()
        .map(|(descriptor, _)| format!("{}\n", descriptor.digest))
        .collect();
    fs::write(path, lines).map_err(|error| format!("writing {}: {error}", path.display()).into())
}
