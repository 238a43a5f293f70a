//! Entity tags and conditional requests (RFC 9110 §8.8.3, §13.1.2, §13.1.5).
//!
//! Content is addressed by digest and never changes, so the digest is a strong entity tag.

use ocipull_spec::Digest;

/// The strong entity tag of content with `digest`: the digest in quotes.
pub(crate) fn etag(digest: &Digest) -> String {
    format!("\"{digest}\"")
}

/// Whether an `If-None-Match` value matches `etag` (RFC 9110 §13.1.2: `*`, or any listed tag
/// by weak comparison), so the answer is 304.
pub(crate) fn none_match(header: &str, etag: &str) -> bool {
    let header = header.trim();
    if header == "*" {
        return true;
    }
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let ours = opaque(etag);
    header.split(',').any(|t| opaque(t) == ours)
}

/// Whether an `If-Range` value lets the `Range` apply (RFC 9110 §13.1.5): only an exact,
/// strong entity-tag match does. A date, or a weak or different tag, means "send it all".
pub(crate) fn range_applies(header: &str, etag: &str) -> bool {
    let header = header.trim();
    !header.starts_with("W/") && header == etag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_match_table() {
        let d = Digest::sha256(b"x");
        let e = etag(&d);
        let cases = [
            ("*".to_owned(), true),
            (e.clone(), true),
            (format!("W/{e}"), true),
            (format!("\"other\", {e}"), true),
            ("\"other\"".to_owned(), false),
            (d.to_string(), false),
            (String::new(), false),
        ];
        for (h, want) in cases {
            assert_eq!(none_match(&h, &e), want, "{h}");
        }
    }

    #[test]
    fn if_range_table() {
        let e = etag(&Digest::sha256(b"x"));
        assert!(range_applies(&e, &e));
        assert!(range_applies(&format!(" {e} "), &e));
        assert!(!range_applies(&format!("W/{e}"), &e));
        assert!(!range_applies("\"other\"", &e));
        assert!(!range_applies("Sat, 01 Jan 2000 00:00:00 GMT", &e));
    }
}
