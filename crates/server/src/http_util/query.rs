//! Query-string parameters, percent-decoded (RFC 3986 §2.1). `+` stays `+`: media types
//! such as `application/vnd.x+json` are sent unencoded by some clients.

/// The decoded value of the first parameter named `key`.
pub(crate) fn param(query: Option<&str>, key: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k) == key).then(|| decode(v))
    })
}

/// Every decoded value of parameters named `key`.
pub(crate) fn params(query: Option<&str>, key: &str) -> Vec<String> {
    query
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k) == key).then(|| decode(v))
        })
        .collect()
}

/// Percent-decodes `s`; malformed escapes are kept as they are.
pub(crate) fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        assert_eq!(decode("a%2Fb+c"), "a/b+c");
        assert_eq!(decode("%"), "%");
        assert_eq!(decode("%4"), "%4");
        assert_eq!(decode("%zz%41"), "%zzA");
        assert_eq!(encode("application/x+json"), "application%2Fx%2Bjson");
        assert_eq!(decode(&encode("ä/+ x")), "ä/+ x");
    }

    #[test]
    fn lookup() {
        let q = Some("n=2&last=b&artifactType=a%2Fb&n=3&flag");
        assert_eq!(param(q, "n").as_deref(), Some("2"));
        assert_eq!(param(q, "artifactType").as_deref(), Some("a/b"));
        assert_eq!(param(q, "flag").as_deref(), Some(""));
        assert_eq!(param(q, "x"), None);
        assert_eq!(param(None, "n"), None);
        assert_eq!(params(q, "n"), vec!["2", "3"]);
    }
}
