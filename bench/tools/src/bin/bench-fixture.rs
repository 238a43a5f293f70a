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
use ocipull_bench_tools::layout::{add_manifest, write_noise};
use ocipull_bench_tools::{Result, exit_on_error, report};
use ocipull_spec::fixtures::Image;
use ocipull_spec::layout::LayoutWriter;
use ocipull_spec::{Descriptor, ImageConfig, ImageManifest, ManifestFormat, Platform, media_type};

/// Size of the shared layer of the `manifests` fixture: small, so the case
/// measures per-request overhead.
const SMALL_LAYER: usize = 1024;

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
    match args.positional() {
        [kind] if kind == "image" => {
            let manifest = image(
                &writer,
                seed,
                args.required("layers")?,
                args.required("layer-size")?,
            )?;
            report("manifest", &manifest.digest);
        }
        [kind] if kind == "manifests" => {
            let digests_file: PathBuf = args.required("digests")?;
            let manifests = manifests(&writer, seed, args.required("count")?)?;
            write_digests(&digests_file, &manifests)?;
            report("manifests", manifests.len());
        }
        _ => return Err("usage: bench-fixture image|manifests --out DIR --seed S …".into()),
    }
    drop(writer);
    fs::rename(&partial, &out)?;
    Ok(())
}

/// The image, tagged `latest`: `layers` uncompressed layers of `size` bytes of noise (so
/// each diff_id is the layer's own digest), layer `i` made from seed `seed << 32 | i`.
fn image(writer: &LayoutWriter, seed: u64, layers: u32, size: u64) -> Result<Descriptor> {
    let layers = (0..layers)
        .map(|i| {
            write_noise(
                writer,
                media_type::OCI_LAYER_TAR,
                seed << 32 | u64::from(i),
                size,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    for layer in &layers {
        report("layer", &layer.digest);
    }
    let config = layers
        .iter()
        .fold(
            ImageConfig::new(&Platform::new("linux", "amd64")),
            |c, l| c.with_diff_id(l.digest.clone()),
        )
        .to_blob(ManifestFormat::Oci);
    writer.write_blob_bytes(&config.descriptor, &config.bytes)?;
    let manifest = ImageManifest::builder(config.descriptor)
        .layers(layers)
        .build()
        .to_manifest()?;
    add_manifest(writer, &manifest, Some("latest"))
}

/// `count` fixture images of one config and one small layer (the same seed), each made
/// distinct by an annotation and tagged `m<n>`.
fn manifests(writer: &LayoutWriter, seed: u64, count: u32) -> Result<Vec<Descriptor>> {
    let image = |n: u32| {
        Image::builder(seed)
            .layers_raw([SMALL_LAYER])
            .annotation("org.ocipull.bench.n", n.to_string())
            .build()
    };
    for blob in image(0).blob_list() {
        writer.write_blob_bytes(&blob.descriptor, &blob.bytes)?;
    }
    (0..count)
        .map(|n| add_manifest(writer, image(n).manifest(), Some(&format!("m{n}"))))
        .collect()
}

fn write_digests(path: &Path, manifests: &[Descriptor]) -> Result {
    let lines: String = manifests
        .iter()
        .map(|descriptor| format!("{}\n", descriptor.digest))
        .collect();
    fs::write(path, lines).map_err(|error| format!("writing {}: {error}", path.display()).into())
}
