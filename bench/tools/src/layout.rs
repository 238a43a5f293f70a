//! The bench fixtures' OCI image layouts, written and read with ocipull-spec's layout
//! code; layer content is ocipull-spec's fixture generator ([`Noise`]).
//!
//! Layers are far too big for memory (hundreds of MiB), so [`write_noise`] streams them
//! into the layout, hashing as it writes; configs, manifests and `index.json` are small and
//! go through [`LayoutWriter`].

use std::fs;
use std::io::Write as _;

use ocipull_spec::fixtures::Noise;
use ocipull_spec::layout::{LayoutReader, LayoutWriter};
use ocipull_spec::{Algorithm, Descriptor, Hasher, Manifest};

/// Stores `size` bytes of `Noise::new(seed)` as a blob of `media_type`, streaming: never
/// more than [`crate::CHUNK`] bytes in memory. The blob appears under its digest only
/// when complete.
pub fn write_noise(
    writer: &LayoutWriter,
    media_type: &str,
    seed: u64,
    size: u64,
) -> crate::Result<Descriptor> {
    let partial = writer.dir().join(format!("bench-partial-{seed}"));
    let mut file = fs::File::create(&partial)?;
    let mut hasher = Hasher::new(Algorithm::Sha256);
    let mut noise = Noise::new(seed);
    let mut chunk = vec![0; crate::CHUNK];
    let mut left = size;
    while left > 0 {
        let len = usize::try_from(left.min(crate::CHUNK as u64))?;
        noise.fill(&mut chunk[..len]);
        hasher.update(&chunk[..len]);
        file.write_all(&chunk[..len])?;
        left -= len as u64;
    }
    drop(file);
    let descriptor = Descriptor::new(media_type, hasher.finish(), size);
    let path = writer.blob_path(&descriptor.digest);
    fs::create_dir_all(path.parent().ok_or("a blob path has a parent")?)?;
    fs::rename(&partial, path)?;
    Ok(descriptor)
}

/// Stores a manifest and lists it in `index.json`, tagged `tag` when given.
pub fn add_manifest(
    writer: &LayoutWriter,
    manifest: &Manifest,
    tag: Option<&str>,
) -> crate::Result<Descriptor> {
    let descriptor = manifest.descriptor();
    writer.write_blob_bytes(&descriptor, manifest.bytes())?;
    writer.add_manifest(&descriptor, tag)?;
    Ok(descriptor)
}

/// One image of a layout: its manifest (bytes and parsed view) and its tag.
#[derive(Debug)]
pub struct Entry {
    /// The parsed manifest.
    pub manifest: Manifest,
    /// Its `org.opencontainers.image.ref.name`.
    pub tag: Option<String>,
}

/// The manifests listed in a layout's `index.json`, in order, with their tags.
pub fn read(reader: &LayoutReader) -> crate::Result<Vec<Entry>> {
    reader
        .entries()
        .map(|entry| {
            Ok(Entry {
                manifest: reader.read_manifest(&entry.descriptor)?,
                tag: entry.ref_name,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocipull_spec::fixtures::data;
    use ocipull_spec::{ImageConfig, ImageManifest, ManifestFormat, media_type};

    #[test]
    fn a_written_layout_reads_back_and_hashes_match() {
        let dir = std::env::temp_dir().join(format!("bench-layout-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let writer = LayoutWriter::create(&dir).unwrap();
        let size = 3 * crate::CHUNK + 5;
        let layer = write_noise(&writer, media_type::OCI_LAYER_TAR, 1, size as u64).unwrap();
        let config = ImageConfig::new(&"linux/amd64".parse().unwrap())
            .with_diff_id(layer.digest.clone())
            .to_blob(ManifestFormat::Oci);
        writer
            .write_blob_bytes(&config.descriptor, &config.bytes)
            .unwrap();
        let manifest = ImageManifest::builder(config.descriptor.clone())
            .layer(layer.clone())
            .build()
            .to_manifest()
            .unwrap();
        add_manifest(&writer, &manifest, Some("latest")).unwrap();

        let reader = LayoutReader::open(&dir).unwrap();
        let entries = read(&reader).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].manifest, manifest);
        assert_eq!(entries[0].tag.as_deref(), Some("latest"));
        assert_eq!(
            entries[0].manifest.descriptors(),
            [&config.descriptor, &layer]
        );
        let bytes = fs::read(reader.blob_path(&layer.digest)).unwrap();
        assert_eq!(bytes, data(1, size));
        fs::remove_dir_all(&dir).unwrap();
    }
}
