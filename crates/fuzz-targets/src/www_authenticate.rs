//! `www_authenticate`: the client's `WWW-Authenticate` parser (RFC 9110 §11.6.1).
//!
//! Properties, for any UTF-8 input:
//! - parsing never panics, and an error formats and points inside the input;
//! - the challenges parsed, written back in the RFC's canonical form (parameters as
//!   quoted-strings with `\` escapes, RFC 9110 §5.6.4), parse to the same challenges;
//! - a scheme, parameter name or token68 is never empty, and parameter names are lowercase
//!   and unique within a challenge (§11.2).

use ocipull_client::auth::{Challenge, parse_challenges};

/// Runs the target on one input.
pub fn run(data: &[u8]) {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    let challenges = match parse_challenges(header) {
        Ok(challenges) => challenges,
        Err(error) => {
            let _ = error.to_string();
            assert!(
                error.position <= header.len(),
                "{error:?} points past the end"
            );
            return;
        }
    };
    for challenge in &challenges {
        assert!(!challenge.scheme.is_empty());
        assert!(challenge.token68.as_ref().is_none_or(|t| !t.is_empty()));
        assert!(challenge.token68.is_none() || challenge.params.is_empty());
        for (i, (name, _)) in challenge.params.iter().enumerate() {
            assert!(!name.is_empty());
            assert_eq!(name, &name.to_ascii_lowercase());
            assert!(
                challenge.params[..i].iter().all(|(n, _)| n != name),
                "{name} occurs twice in {header:?}"
            );
        }
        let _ = challenge.is("bearer");
        let _ = challenge.param("realm");
    }
    let written = write(&challenges);
    let again = parse_challenges(&written)
        .unwrap_or_else(|e| panic!("{header:?} → {written:?} does not parse: {e}"));
    assert_eq!(again, challenges, "{header:?} → {written:?} changed");
}

/// The challenges as one header value, every parameter value quoted.
fn write(challenges: &[Challenge]) -> String {
    let mut out = Vec::new();
    for challenge in challenges {
        let mut text = challenge.scheme.clone();
        if let Some(token68) = &challenge.token68 {
            text.push(' ');
            text.push_str(token68);
        }
        let params: Vec<String> = challenge
            .params
            .iter()
            .map(|(name, value)| format!("{name}=\"{}\"", escape(value)))
            .collect();
        if !params.is_empty() {
            text.push(' ');
            text.push_str(&params.join(", "));
        }
        out.push(text);
    }
    out.join(", ")
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
