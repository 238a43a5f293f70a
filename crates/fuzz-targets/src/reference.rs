//! `reference`: image reference parsing (`[registry[:port]/]repository[:tag][@digest]`).
//!
//! Properties, for any UTF-8 input:
//! - parsing never panics, and every error formats;
//! - a parsed reference displays to its fully qualified form, which parses back to an equal
//!   reference and displays the same again (the form is a fixed point);
//! - the parts rebuild the same reference through [`Reference::new`];
//! - the tag and digest are exactly what the input says after its `:` and `@`.

use ocipull_spec::Reference;

/// Runs the target on one input.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let reference = match text.parse::<Reference>() {
        Ok(reference) => reference,
        Err(error) => {
            let _ = error.to_string();
            return;
        }
    };
    let shown = reference.to_string();
    let again: Reference = shown
        .parse()
        .unwrap_or_else(|e| panic!("{text:?} parsed, but its display {shown:?} does not: {e}"));
    assert_eq!(
        again, reference,
        "{text:?} → {shown:?} changed the reference"
    );
    assert_eq!(
        again.to_string(),
        shown,
        "the displayed form is not a fixed point"
    );

    let rebuilt = Reference::new(
        reference.registry(),
        reference.repository().clone(),
        reference.tag().cloned(),
        reference.digest().cloned(),
    )
    .unwrap_or_else(|e| panic!("the parts of {text:?} do not rebuild it: {e}"));
    assert_eq!(rebuilt, reference);

    match text.split_once('@') {
        Some((_, digest)) => assert_eq!(reference.digest().map(|d| d.as_str()), Some(digest)),
        None => assert!(reference.digest().is_none()),
    }
    if let Some(tag) = reference.tag() {
        let before_digest = text.split('@').next().unwrap_or_default();
        assert!(
            before_digest.ends_with(&format!(":{tag}")),
            "tag {tag} is not the end of {text:?}"
        );
    }
    // What a client puts in a URL is a tag or a digest, never anything else.
    let in_url = reference.request_reference();
    assert!(
        in_url.parse::<ocipull_spec::Tag>().is_ok()
            || in_url.parse::<ocipull_spec::Digest>().is_ok(),
        "{in_url:?} is neither a tag nor a digest"
    );
    let _ = reference.api_host();
    // Only a digest-only reference has no tag to fall back on.
    assert_eq!(
        reference.tag_or_latest().is_none(),
        reference.tag().is_none() && reference.digest().is_some(),
        "tag_or_latest of {text:?}"
    );
}
