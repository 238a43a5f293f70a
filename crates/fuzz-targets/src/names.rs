//! `names`: [`Repository`], [`Tag`], [`Digest`] and [`Platform`] parsing.
//!
//! Properties, for any UTF-8 input:
//! - no parser panics, and every error formats;
//! - a parsed value displays to exactly the input (these types keep the text as given,
//!   distribution-spec "Pulling manifests", image-spec "Digests") and re-parses to itself;
//! - serde (`#[serde(try_from)]`) accepts exactly what `FromStr` accepts;
//! - a parsed platform displays to a string that parses back to it, and matches itself.

use std::fmt::{Debug, Display};
use std::str::FromStr;

use ocipull_spec::{Digest, Platform, Repository, Tag};
use serde::de::DeserializeOwned;

/// Runs the target on one input.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    canonical::<Repository>(text);
    canonical::<Tag>(text);
    if let Some(digest) = canonical::<Digest>(text) {
        assert_eq!(digest.encoded().len(), digest.algorithm().encoded_len());
        assert_eq!(
            format!("{}:{}", digest.algorithm(), digest.encoded()),
            digest.as_str()
        );
    }
    platform(text);
}

/// Parses `text` as `T` with `FromStr` and with serde, checks they agree and that a parsed
/// value is the input verbatim.
fn canonical<T>(text: &str) -> Option<T>
where
    T: FromStr + Display + Debug + PartialEq + DeserializeOwned,
    T::Err: Display,
{
    let parsed = text.parse::<T>();
    let json = serde_json::to_string(text).expect("a str serialises");
    let via_serde = serde_json::from_str::<T>(&json);
    match parsed {
        Ok(value) => {
            assert_eq!(
                value.to_string(),
                text,
                "{value:?} does not display as its input"
            );
            assert_eq!(
                via_serde.as_ref().ok(),
                Some(&value),
                "serde disagrees with FromStr on {text:?}"
            );
            Some(value)
        }
        Err(error) => {
            let _ = error.to_string();
            assert!(
                via_serde.is_err(),
                "serde accepts {text:?}, which FromStr rejects: {error}"
            );
            None
        }
    }
}

fn platform(text: &str) {
    match text.parse::<Platform>() {
        Ok(platform) => {
            let shown = platform.to_string();
            let again: Platform = shown
                .parse()
                .unwrap_or_else(|e| panic!("{platform:?} displays as {shown:?}: {e}"));
            assert_eq!(again, platform);
            assert!(
                platform.matches(&platform),
                "{platform:?} does not match itself"
            );
            assert_eq!(shown, text);
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
}
