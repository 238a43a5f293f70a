//! Decoding what a token request carries: its form-encoded query string and
//! `Basic` credentials.

use base64::Engine as _;

/// `Some((user, password))` for a well-formed `Basic` header, `None` otherwise.
pub(crate) fn basic_credentials(authorization: &str) -> Option<(String, String)> {
    let (scheme, encoded) = authorization.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.into(), password.into()))
}

/// `application/x-www-form-urlencoded` pairs of a query string.
pub(crate) fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
}

fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                    (Some(high), Some(low)) => {
                        out.push(high << 4 | low);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|value| value as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_handles_plus_and_bad_escapes() {
        assert_eq!(percent_decode("a+b%3Ac%2c%zz%4"), "a b:c,%zz%4");
    }

    #[test]
    fn query_pairs_decode_names_and_values() {
        let pairs: Vec<_> = query_pairs("scope=repository%3Aa%3Apull&&flag&service=x+y").collect();
        assert_eq!(
            pairs,
            [
                ("scope".to_string(), "repository:a:pull".to_string()),
                ("flag".to_string(), String::new()),
                ("service".to_string(), "x y".to_string()),
            ]
        );
    }

    #[test]
    fn basic_credentials_need_the_basic_scheme_and_a_colon() {
        assert_eq!(
            basic_credentials("basic dTpwOnc="),
            Some(("u".to_string(), "p:w".to_string()))
        );
        assert_eq!(basic_credentials("Bearer dTpw"), None);
        assert_eq!(basic_credentials("Basic dXNlcg=="), None);
        assert_eq!(basic_credentials("Basic !!!"), None);
    }
}
