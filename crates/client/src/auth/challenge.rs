//! `WWW-Authenticate` parsing (RFC 9110 §11.6.1 and §11.2, list rules of §5.6.1).
//!
//! ```text
//! WWW-Authenticate = #challenge
//! challenge        = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//! auth-param       = token BWS "=" BWS ( token / quoted-string )
//! token68          = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//! ```
//!
//! Commas separate both challenges and the parameters of one challenge; after a comma, what
//! looks like `name=value` continues the current challenge and anything else starts a new
//! one. Empty list elements are skipped (§5.6.1). Anything else that does not fit the grammar
//! is a [`ChallengeError`] naming the byte where parsing stopped — never a panic.

/// How much of a malformed header an error keeps.
const MAX_HEADER_IN_ERROR: usize = 256;

/// One authentication challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The auth-scheme as sent (`Bearer`); compare with [`Challenge::is`].
    pub scheme: String,
    /// The token68 form of credentials, when the challenge uses it instead of parameters.
    pub token68: Option<String>,
    /// The parameters in order, names lowercased (they are case-insensitive), quoted values
    /// unescaped.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// Whether the scheme is `scheme`, ignoring case (§11.1).
    pub fn is(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }

    /// The value of parameter `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Where a `WWW-Authenticate` header stops following the grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {position} of {header:?}: expected {expected}")]
pub struct ChallengeError {
    /// The header (cut at 256 bytes).
    pub header: String,
    /// Byte offset where parsing failed.
    pub position: usize,
    /// What the grammar allows there.
    pub expected: &'static str,
}

/// Parses the value of one or more `WWW-Authenticate` fields (join several with `", "`).
///
/// ```
/// use ocipull_client::auth::parse_challenges;
/// let c = parse_challenges(r#"Bearer realm="https://auth.example/token",service="reg", Basic realm="x""#)?;
/// assert_eq!(c.len(), 2);
/// assert_eq!(c[0].param("service"), Some("reg"));
/// assert!(c[1].is("basic"));
/// assert!(parse_challenges(r#"Bearer realm="unterminated"#).is_err());
/// # Ok::<(), ocipull_client::auth::ChallengeError>(())
/// ```
pub fn parse_challenges(header: &str) -> Result<Vec<Challenge>, ChallengeError> {
    Parser {
        s: header.as_bytes(),
        pos: 0,
    }
    .challenges()
    .map_err(|(position, expected)| ChallengeError {
        header: cut(header),
        position,
        expected,
    })
}

fn cut(header: &str) -> String {
    if header.len() <= MAX_HEADER_IN_ERROR {
        return header.to_owned();
    }
    let mut end = MAX_HEADER_IN_ERROR;
    while !header.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &header[..end])
}

type Failure = (usize, &'static str);

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// Skips OWS and empty list elements.
    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.pos += 1;
        }
    }

    fn token(&mut self) -> Option<String> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        // tchar is ASCII, so this is valid UTF-8.
        (self.pos > start).then(|| String::from_utf8_lossy(&self.s[start..self.pos]).into_owned())
    }

    fn challenges(mut self) -> Result<Vec<Challenge>, Failure> {
        let mut out = Vec::new();
        loop {
            self.skip_separators();
            if self.at_end() {
                return Ok(out);
            }
            out.push(self.challenge()?);
        }
    }

    fn challenge(&mut self) -> Result<Challenge, Failure> {
        let at = self.pos;
        let scheme = self.token().ok_or((at, "an auth-scheme (a token)"))?;
        let mut challenge = Challenge {
            scheme,
            token68: None,
            params: Vec::new(),
        };
        let before_space = self.pos;
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
        let had_space = self.pos > before_space;
        self.skip_ows();
        if self.at_end() || self.peek() == Some(b',') {
            return Ok(challenge);
        }
        if !had_space {
            return Err((self.pos, "a space or ',' after the auth-scheme"));
        }
        if self.param_ahead() {
            self.params(&mut challenge)?;
        } else {
            challenge.token68 = Some(self.token68()?);
            self.skip_ows();
            if !(self.at_end() || self.peek() == Some(b',')) {
                return Err((self.pos, "',' or the end after a token68"));
            }
        }
        Ok(challenge)
    }

    /// Whether `token BWS "=" BWS (token / quoted-string)` starts here (without consuming).
    fn param_ahead(&mut self) -> bool {
        let saved = self.pos;
        let found = self.token().is_some() && {
            self.skip_ows();
            self.peek() == Some(b'=') && {
                self.pos += 1;
                self.skip_ows();
                self.peek().is_some_and(|b| b == b'"' || is_tchar(b))
            }
        };
        self.pos = saved;
        found
    }

    fn params(&mut self, challenge: &mut Challenge) -> Result<(), Failure> {
        loop {
            let name_at = self.pos;
            let name = self
                .token()
                .ok_or((name_at, "a parameter name"))?
                .to_ascii_lowercase();
            self.skip_ows();
            if self.peek() != Some(b'=') {
                return Err((self.pos, "'=' after a parameter name"));
            }
            self.pos += 1;
            self.skip_ows();
            let value = if self.peek() == Some(b'"') {
                self.quoted_string()?
            } else {
                let at = self.pos;
                self.token()
                    .ok_or((at, "a token or a quoted-string as parameter value"))?
            };
            if challenge.param(&name).is_some() {
                // §11.2: "Each parameter name MUST only occur once per challenge."
                return Err((
                    name_at,
                    "a parameter name not already used in this challenge",
                ));
            }
            challenge.params.push((name, value));
            self.skip_ows();
            if self.at_end() {
                return Ok(());
            }
            if self.peek() != Some(b',') {
                return Err((self.pos, "',' between parameters"));
            }
            // After commas: a parameter continues this challenge, anything else starts
            // the next one.
            let comma = self.pos;
            self.skip_separators();
            if self.at_end() {
                return Ok(());
            }
            if !self.param_ahead() {
                self.pos = comma;
                return Ok(());
            }
        }
    }

    fn quoted_string(&mut self) -> Result<String, Failure> {
        let open = self.pos;
        self.pos += 1; // the opening DQUOTE
        let mut value = Vec::new();
        loop {
            match self.peek() {
                None => return Err((open, "a closing '\"' for the quoted-string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(String::from_utf8_lossy(&value).into_owned());
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b) if b == b'\t' || b == b' ' || b.is_ascii_graphic() || b >= 0x80 => {
                            value.push(b);
                            self.pos += 1;
                        }
                        _ => return Err((self.pos, "a visible character after '\\'")),
                    }
                }
                Some(b) if b == b'\t' || b == b' ' || b.is_ascii_graphic() || b >= 0x80 => {
                    value.push(b);
                    self.pos += 1;
                }
                Some(_) => return Err((self.pos, "qdtext (no control characters)")),
            }
        }
    }

    fn token68(&mut self) -> Result<String, Failure> {
        let start = self.pos;
        while self.peek().is_some_and(is_token68_char) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err((self.pos, "a token68 or auth-params"));
        }
        while self.peek() == Some(b'=') {
            self.pos += 1;
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.pos]).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(c: &Challenge) -> Vec<(&str, &str)> {
        c.params
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn docker_style_bearer() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
        )
        .unwrap();
        assert_eq!(c.len(), 1);
        assert!(c[0].is("bearer"));
        assert_eq!(
            params(&c[0]),
            vec![
                ("realm", "https://auth.docker.io/token"),
                ("service", "registry.docker.io"),
                ("scope", "repository:library/alpine:pull"),
            ]
        );
    }

    #[test]
    fn several_challenges_tokens_and_whitespace() {
        let c = parse_challenges(
            "Newauth realm=\"apps\", type=1 ,\t title=\"Login to \\\"apps\\\"\", Basic realm = simple ,, ,Negotiate",
        )
        .unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].scheme, "Newauth");
        assert_eq!(
            params(&c[0]),
            vec![
                ("realm", "apps"),
                ("type", "1"),
                ("title", "Login to \"apps\"")
            ]
        );
        assert!(c[1].is("Basic"));
        assert_eq!(c[1].param("REALM"), Some("simple"));
        assert!(c[2].is("negotiate") && c[2].params.is_empty() && c[2].token68.is_none());
    }

    #[test]
    fn token68_forms() {
        let c = parse_challenges("Negotiate YII/x+y==, Basic realm=\"r\"").unwrap();
        assert_eq!(c[0].token68.as_deref(), Some("YII/x+y=="));
        assert!(c[1].is("basic"));
        // `a=` cannot be a parameter (no value), so it is a token68.
        let c = parse_challenges("Scheme a=").unwrap();
        assert_eq!(c[0].token68.as_deref(), Some("a="));
        assert!(c[0].params.is_empty());
    }

    #[test]
    fn escapes_keep_the_escaped_character() {
        let c = parse_challenges(r#"Bearer realm="a\\b\"c\d""#).unwrap();
        assert_eq!(c[0].param("realm"), Some(r#"a\b"cd"#));
    }

    #[test]
    fn empty_header_has_no_challenges() {
        assert!(parse_challenges("").unwrap().is_empty());
        assert!(parse_challenges(" , ,").unwrap().is_empty());
    }

    #[test]
    fn malformed_headers_are_errors() {
        let cases: &[(&str, usize)] = &[
            (r#"Bearer realm="unterminated"#, 13),
            // `service=` without a value is neither a parameter nor a new challenge.
            (r#"Bearer realm="a",service="#, 24),
            (r#"Bearer realm="a" service="b""#, 17),
            ("Bearer realm=\"a\x01\"", 15),
            ("Bearer realm=\"a\\\x7f\"", 16),
            (r#"="x""#, 0),
            (r#"Bearer ="x""#, 7),
            (r#"Bearer realm="a", realm="b""#, 18),
            ("Bearer@ realm=x", 6),
            ("Bearer YII== junk", 13),
            ("Bearer {}", 7),
        ];
        for &(header, position) in cases {
            let err = parse_challenges(header).unwrap_err();
            assert_eq!(err.position, position, "{header:?}: {err}");
            assert_eq!(err.header, header);
        }
    }

    #[test]
    fn long_malformed_headers_are_cut_in_errors() {
        let header = format!("Bearer realm=\"{}", "é".repeat(300));
        let err = parse_challenges(&header).unwrap_err();
        assert!(err.header.len() <= MAX_HEADER_IN_ERROR + '…'.len_utf8());
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A deterministic sweep over short strings of grammar-relevant characters.
        let alphabet = [b'a', b'=', b'"', b'\\', b',', b' ', b'/', b'\t', 0xc3];
        let mut buf = Vec::new();
        for n in 0..alphabet.len().pow(5) {
            buf.clear();
            let mut k = n;
            for _ in 0..5 {
                buf.push(alphabet[k % alphabet.len()]);
                k /= alphabet.len();
            }
            let s = String::from_utf8_lossy(&buf);
            let _ = parse_challenges(&s);
        }
    }
}
