//! `manifest`: manifest and index JSON through [`Manifest::from_bytes`].
//!
//! The first input byte chooses the declared media type (none, each manifest type, with and
//! without parameters, and types that are not manifests) and the expected digest (none, the
//! input's SHA-256 or SHA-512, or a wrong one); the rest is the body.
//!
//! Properties:
//! - parsing never panics, and every error formats;
//! - a wrong expected digest is always refused, whatever the body;
//! - an accepted manifest keeps the body byte for byte, its digest is the body's digest with
//!   the expected algorithm (SHA-256 when none), its media type is a manifest type that
//!   agrees with the declared one and with its parsed kind (distribution-spec "Pulling
//!   manifests": verify the bytes as received; `Content-Type` must agree with `mediaType`);
//! - its parsed view serialises to JSON that parses back to the same view.

use ocipull_spec::{
    Algorithm, Digest, Manifest, ManifestError, ManifestKind, Platform, media_type,
};

/// The declared media types the first byte chooses from.
const DECLARED: &[Option<&str>] = &[
    None,
    Some(media_type::OCI_IMAGE_MANIFEST),
    Some(media_type::OCI_IMAGE_INDEX),
    Some(media_type::DOCKER_MANIFEST),
    Some(media_type::DOCKER_MANIFEST_LIST),
    Some("application/vnd.oci.image.manifest.v1+json; charset=utf-8"),
    Some(" application/vnd.oci.image.index.v1+json ;"),
    Some("application/json"),
    Some(""),
    Some(";"),
    Some(media_type::OCI_IMAGE_CONFIG),
];

/// How the first byte chooses the expected digest.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Nothing,
    Sha256,
    Sha512,
    Wrong,
}

const EXPECT: [Expect; 4] = [
    Expect::Nothing,
    Expect::Sha256,
    Expect::Sha512,
    Expect::Wrong,
];

/// Runs the target on one input.
pub fn run(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let expect = EXPECT[usize::from(selector) % EXPECT.len()];
    let declared = DECLARED[usize::from(selector) / EXPECT.len() % DECLARED.len()];
    let expected = match expect {
        Expect::Nothing => None,
        Expect::Sha256 => Some(Digest::sha256(body)),
        Expect::Sha512 => Some(Digest::sha512(body)),
        Expect::Wrong => Some(Digest::sha256(&[body, b"!"].concat())),
    };
    match Manifest::from_bytes(body.to_vec(), declared, expected.as_ref()) {
        Ok(manifest) => {
            assert_ne!(expect, Expect::Wrong, "a wrong digest was accepted");
            accepted(&manifest, body, declared, expected.as_ref());
        }
        Err(error) => {
            let _ = error.to_string();
            if expect == Expect::Wrong {
                assert!(matches!(error, ManifestError::Digest(_)), "{error:?}");
            }
        }
    }
}

fn accepted(manifest: &Manifest, body: &[u8], declared: Option<&str>, expected: Option<&Digest>) {
    assert_eq!(manifest.bytes().as_ref(), body, "the raw bytes changed");
    let algorithm = expected.map_or(Algorithm::Sha256, Digest::algorithm);
    assert_eq!(manifest.digest(), &Digest::compute(algorithm, body));
    let kind = manifest.media_type();
    assert!(
        media_type::is_manifest(kind),
        "{kind:?} is not a manifest type"
    );
    if let Some(base) = declared.map(|d| d.split(';').next().unwrap_or("").trim()) {
        if media_type::is_manifest(base) {
            assert_eq!(kind, base, "the declared type was not kept");
        }
    }
    match manifest.kind() {
        ManifestKind::Image(image) => {
            assert!(media_type::is_image_manifest(kind));
            assert_eq!(manifest.descriptors().len(), 1 + image.layers.len());
        }
        ManifestKind::Index(index) => {
            assert!(media_type::is_index(kind));
            assert_eq!(manifest.descriptors().len(), index.manifests.len());
        }
    }
    let descriptor = manifest.descriptor();
    assert_eq!(descriptor.size, body.len() as u64);
    assert_eq!(&descriptor.digest, manifest.digest());
    let _ = manifest.subject();
    let _ = manifest.select_platform(&Platform::new("linux", "arm64"));

    // The parsed view survives serialisation.
    let json = match manifest.kind() {
        ManifestKind::Image(image) => serde_json::to_vec(image),
        ManifestKind::Index(index) => serde_json::to_vec(index),
    }
    .expect("a parsed manifest serialises");
    let again = Manifest::from_bytes(json, Some(kind), None)
        .unwrap_or_else(|e| panic!("the re-serialised view does not parse: {e}"));
    assert_eq!(
        again.kind(),
        manifest.kind(),
        "the view changed through JSON"
    );
}
