//! Property tests: every valid value displays back to a string that parses to the same value,
//! and no input, however odd, makes a parser panic.

use ocipull_spec::{Digest, Platform, Reference, Repository, Tag};
use proptest::prelude::*;

const REPOSITORY: &str = "[a-z0-9]{1,6}((\\.|_|__|-{1,3})[a-z0-9]{1,6}){0,2}(/[a-z0-9]{1,6}((\\.|_|__|-{1,3})[a-z0-9]{1,6}){0,2}){0,3}";
const TAG: &str = "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}";
const REGISTRY: &str = "(localhost|[a-z0-9]{1,8}\\.[a-z]{2,5}|127\\.0\\.0\\.1)(:[0-9]{1,5})?";

fn digest() -> impl Strategy<Value = Digest> {
    prop_oneof![
        any::<Vec<u8>>().prop_map(|b| Digest::sha256(&b)),
        any::<Vec<u8>>().prop_map(|b| Digest::sha512(&b)),
    ]
}

proptest! {
    #[test]
    fn repository_round_trips(s in REPOSITORY) {
        let repo: Repository = s.parse().unwrap();
        prop_assert_eq!(repo.to_string().parse::<Repository>().unwrap(), repo);
    }

    #[test]
    fn tag_round_trips(s in TAG) {
        let tag: Tag = s.parse().unwrap();
        prop_assert_eq!(tag.to_string().parse::<Tag>().unwrap(), tag);
    }

    #[test]
    fn digest_round_trips(d in digest()) {
        prop_assert_eq!(d.to_string().parse::<Digest>().unwrap(), d.clone());
        let json = serde_json::to_string(&d).unwrap();
        prop_assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
    }

    #[test]
    fn reference_round_trips(
        registry in REGISTRY,
        repo in REPOSITORY,
        tag in proptest::option::of(TAG),
        digest in proptest::option::of(digest()),
    ) {
        let mut s = format!("{registry}/{repo}");
        if let Some(t) = &tag { s.push(':'); s.push_str(t); }
        if let Some(d) = &digest { s.push('@'); s.push_str(d.as_str()); }
        let r: Reference = s.parse().unwrap();
        prop_assert_eq!(r.registry(), registry.as_str());
        prop_assert_eq!(r.repository().as_str(), repo.as_str());
        prop_assert_eq!(r.tag().map(|t| t.as_str()), tag.as_deref());
        prop_assert_eq!(r.digest(), digest.as_ref());
        prop_assert_eq!(r.to_string().parse::<Reference>().unwrap(), r);
    }

    #[test]
    fn platform_round_trips(os in "[a-z0-9]{1,8}", arch in "[a-z0-9_]{1,8}", variant in proptest::option::of("v[0-9]")) {
        let mut s = format!("{os}/{arch}");
        if let Some(v) = &variant { s.push('/'); s.push_str(v); }
        let p: Platform = s.parse().unwrap();
        prop_assert_eq!(p.to_string(), s);
    }

    #[test]
    fn parsers_never_panic(s in "\\PC{0,80}") {
        // Whatever parses must display back to itself (references are normalised, so they
        // only need to parse again to the same value).
        if let Ok(r) = s.parse::<Repository>() { prop_assert_eq!(r.as_str(), s.as_str()); }
        if let Ok(t) = s.parse::<Tag>() { prop_assert_eq!(t.as_str(), s.as_str()); }
        if let Ok(d) = s.parse::<Digest>() { prop_assert_eq!(d.as_str(), s.as_str()); }
        if let Ok(r) = s.parse::<Reference>() {
            prop_assert_eq!(r.to_string().parse::<Reference>().unwrap(), r);
        }
        let _ = s.parse::<Platform>();
        let _ = ocipull_spec::Manifest::from_bytes(s.clone().into_bytes(), None, None);
    }
}
