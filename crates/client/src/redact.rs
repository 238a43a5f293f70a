//! URLs as they may appear in errors and logs: query values and user information removed.
//!
//! Blob downloads are often redirected to a CDN URL whose query carries a signature
//! (`X-Amz-Signature=…`), and a token request's query may carry an account name. Neither may
//! reach an error message or a log line. The two query parameters a Docker token request is
//! about, `scope` and `service`, are kept: they say which permission was asked for and are not
//! secret (Docker token authentication specification, "Requesting a Token").

use std::fmt;

/// Query parameters whose values are kept.
const KEPT_QUERY_PARAMETERS: &[&str] = &["scope", "service"];

/// What replaces a removed value.
const REDACTED: &str = "REDACTED";

/// A URL with every query value except `scope` and `service` replaced by `REDACTED`, and any
/// user information (`user:password@`) replaced too.
///
/// Built only from a URL string, so holding one means holding a redacted URL.
///
/// ```
/// use ocipull_client::RedactedUrl;
/// let url = RedactedUrl::new("https://cdn.example/blob?X-Amz-Signature=abc&scope=repo:x:pull");
/// assert_eq!(url.as_str(), "https://cdn.example/blob?X-Amz-Signature=REDACTED&scope=repo:x:pull");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RedactedUrl(String);

impl RedactedUrl {
    /// Redacts `url`. Anything that is not a URL is redacted as far as its shape allows.
    pub fn new(url: &str) -> RedactedUrl {
        // A fragment never goes to a server; drop it rather than reason about it.
        let url = url.split_once('#').map_or(url, |(before, _)| before);
        let (before_query, query) = match url.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (url, None),
        };
        let mut out = String::with_capacity(url.len());
        out.push_str(&redact_userinfo(before_query));
        if let Some(query) = query {
            out.push('?');
            for (i, pair) in query.split('&').enumerate() {
                if i > 0 {
                    out.push('&');
                }
                match pair.split_once('=') {
                    Some((key, value)) if KEPT_QUERY_PARAMETERS.contains(&key) => {
                        out.push_str(key);
                        out.push('=');
                        out.push_str(value);
                    }
                    Some((key, _)) => {
                        out.push_str(key);
                        out.push('=');
                        out.push_str(REDACTED);
                    }
                    // A bare word may itself be a secret.
                    None if pair.is_empty() => {}
                    None => out.push_str(REDACTED),
                }
            }
        }
        RedactedUrl(out)
    }

    /// The redacted URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `scheme://user:pass@host/…` → `scheme://REDACTED@host/…`.
fn redact_userinfo(url: &str) -> std::borrow::Cow<'_, str> {
    let Some(scheme_end) = url.find("://") else {
        return url.into();
    };
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find('/')
        .map_or(url.len(), |i| authority_start + i);
    match url[authority_start..authority_end].rfind('@') {
        Some(at) => format!(
            "{}{REDACTED}{}",
            &url[..authority_start],
            &url[authority_start + at..]
        )
        .into(),
        None => url.into(),
    }
}

impl From<&http::Uri> for RedactedUrl {
    fn from(uri: &http::Uri) -> RedactedUrl {
        RedactedUrl::new(&uri.to_string())
    }
}

impl From<&url::Url> for RedactedUrl {
    fn from(url: &url::Url) -> RedactedUrl {
        RedactedUrl::new(url.as_str())
    }
}

impl fmt::Display for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_redacted_except_scope_and_service() {
        let cases = [
            (
                "https://r.example/v2/a/blobs/x",
                "https://r.example/v2/a/blobs/x",
            ),
            (
                "https://cdn.example/p?X-Amz-Signature=s3cr3t&X-Amz-Credential=AKIA",
                "https://cdn.example/p?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED",
            ),
            (
                "https://auth.example/token?service=reg&scope=repository:a:pull&scope=repository:b:pull&account=bob",
                "https://auth.example/token?service=reg&scope=repository:a:pull&scope=repository:b:pull&account=REDACTED",
            ),
            (
                "https://x.example/p?justasecret",
                "https://x.example/p?REDACTED",
            ),
            (
                "https://x.example/p?a=1&&b=2",
                "https://x.example/p?a=REDACTED&&b=REDACTED",
            ),
            (
                "https://x.example/p?a=1#frag-secret",
                "https://x.example/p?a=REDACTED",
            ),
            // A kept name must match exactly.
            (
                "https://x.example/?scopes=1&Scope=2",
                "https://x.example/?scopes=REDACTED&Scope=REDACTED",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(RedactedUrl::new(input).as_str(), want, "{input}");
        }
    }

    #[test]
    fn user_information_is_redacted() {
        assert_eq!(
            RedactedUrl::new("https://bob:hunter2@r.example:5000/v2/?x=1").as_str(),
            "https://REDACTED@r.example:5000/v2/?x=REDACTED"
        );
        // An @ in the path is not user information.
        assert_eq!(
            RedactedUrl::new("https://r.example/v2/a@b").as_str(),
            "https://r.example/v2/a@b"
        );
        let url: url::Url = "https://u:p@h.example/t?scope=s&token=t".parse().unwrap();
        let redacted = RedactedUrl::from(&url);
        assert_eq!(
            redacted.as_str(),
            "https://REDACTED@h.example/t?scope=s&token=REDACTED"
        );
        assert_eq!(format!("{redacted:?}"), format!("{:?}", redacted.as_str()));
    }
}
