//! Pagination by `Link` header (RFC 8288), as the distribution-spec uses it for tag lists
//! ("Listing Tags") and referrers: `Link: </v2/name/tags/list?n=2&last=b>; rel="next"`.

use http::{HeaderMap, Uri, header};

use crate::{Client, Error, RedactedUrl};

/// Pages followed for one listing: far more than any real repository needs (at the usual
/// 100 entries a page, a million tags), but finite if a registry links pages in a circle.
pub(crate) const MAX_PAGES: usize = 10_000;

/// The target of the `rel="next"` link, if any.
pub(crate) fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(next_in)
}

/// Finds `<target>; … rel="next" …` in one `Link` field value (which may list several
/// links separated by commas).
fn next_in(value: &str) -> Option<String> {
    let mut rest = value;
    loop {
        let open = rest.find('<')?;
        let close = open + rest[open..].find('>')?;
        let target = &rest[open + 1..close];
        let after = &rest[close + 1..];
        let params_end = after.find('<').unwrap_or(after.len());
        let params = &after[..params_end];
        let is_next = params.split(';').any(|p| {
            let Some((name, value)) = p.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_matches(|c| c == '"' || c == ',')
                    .split_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.to_owned());
        }
        rest = after;
    }
}

impl Client {
    /// Resolves a `Link` target against the page that carried it; the result must stay on
    /// the registry's origin, where the client's credentials belong.
    pub(crate) fn resolve_link(&self, current: &Uri, target: &str) -> Result<Uri, Error> {
        let invalid = |reason: String| Error::InvalidResponse {
            url: RedactedUrl::from(current),
            reason,
        };
        let base = url::Url::parse(&current.to_string()).map_err(|e| invalid(e.to_string()))?;
        let next = base
            .join(target)
            .map_err(|e| invalid(format!("invalid Link target: {e}")))?;
        let origin = url::Url::parse(&self.origin()).map_err(|e| invalid(e.to_string()))?;
        if next.origin() != origin.origin() {
            return Err(invalid(format!(
                "the next page {} is on another origin",
                RedactedUrl::from(&next)
            )));
        }
        next.as_str()
            .parse()
            .map_err(|e| invalid(format!("invalid Link target: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_next_among_links() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                r#"</v2/a/tags/list?n=2&last=b>; rel="next""#,
                Some("/v2/a/tags/list?n=2&last=b"),
            ),
            (r#"</p1>; rel="prev", </p3>; rel="next""#, Some("/p3")),
            ("</x>; rel=next", Some("/x")),
            (r#"</x>; title="a;b"; REL="prefetch next""#, Some("/x")),
            (r#"</x>; rel="prev""#, None),
            ("garbage", None),
            ("<unterminated; rel=next", None),
        ];
        for &(value, want) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(header::LINK, value.parse().unwrap());
            assert_eq!(next_link(&headers).as_deref(), want, "{value}");
        }
        assert_eq!(next_link(&HeaderMap::new()), None);
    }
}
