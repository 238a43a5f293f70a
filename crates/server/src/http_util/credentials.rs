//! Credentials in `Authorization` headers: `Basic` (RFC 7617 §2) and `Bearer` tokens
//! (RFC 6750 §2.1). Auth schemes are case-insensitive (RFC 9110 §11.1).

use base64::Engine as _;
use http::header::{self, HeaderMap};

fn authorization<'a>(headers: &'a HeaderMap, scheme: &str) -> Option<&'a str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (s, rest) = v.split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    authorization(headers, "Bearer").map(str::to_owned)
}

pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(authorization(headers, "Basic")?)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HeaderValue;

    #[test]
    fn credentials() {
        let mut h = HeaderMap::new();
        assert_eq!(basic_credentials(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("basic dTpwOng="),
        );
        assert_eq!(basic_credentials(&h), Some(("u".into(), "p:x".into())));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(basic_credentials(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer(&h).as_deref(), Some("abc"));
        assert_eq!(basic_credentials(&h), None);
    }
}
