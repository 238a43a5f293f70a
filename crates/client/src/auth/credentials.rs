//! What the client authenticates with.
//!
//! # Security
//!
//! `Debug` never prints a password or token; nothing in this module logs.

use std::fmt;

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials(Kind);

#[derive(Clone, PartialEq, Eq)]
enum Kind {
    Basic { username: String, password: String },
    IdentityToken(String),
}

impl Credentials {
    /// A username and password (or a personal access token used as a password). Sent with
    /// HTTP Basic to the registry when it asks for Basic, and to the token service when it
    /// asks for Bearer (Docker token authentication, "Requesting a Token").
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials(Kind::Basic {
            username: username.into(),
            password: password.into(),
        })
    }

    /// An identity token (the `identitytoken` of `~/.docker/config.json`): an OAuth2 refresh
    /// token exchanged at the token service with `grant_type=refresh_token` (Docker token
    /// authentication, "OAuth2 Token Authentication").
    pub fn identity_token(token: impl Into<String>) -> Credentials {
        Credentials(Kind::IdentityToken(token.into()))
    }

    /// The username, for Basic credentials.
    pub fn username(&self) -> Option<&str> {
        match &self.0 {
            Kind::Basic { username, .. } => Some(username),
            Kind::IdentityToken(_) => None,
        }
    }

    pub(crate) fn basic_parts(&self) -> Option<(&str, &str)> {
        match &self.0 {
            Kind::Basic { username, password } => Some((username, password)),
            Kind::IdentityToken(_) => None,
        }
    }

    pub(crate) fn refresh_token(&self) -> Option<&str> {
        match &self.0 {
            Kind::IdentityToken(t) => Some(t),
            Kind::Basic { .. } => None,
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Basic { username, .. } => f
                .debug_struct("Credentials::Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Kind::IdentityToken(_) => f
                .debug_tuple("Credentials::IdentityToken")
                .field(&"<redacted>")
                .finish(),
        }
    }
}

/// The value of an `Authorization: Basic` header (RFC 7617), marked sensitive so that
/// HTTP/2 never indexes it and `Debug` hides it.
pub(crate) fn basic_header(username: &str, password: &str) -> http::HeaderValue {
    use base64::Engine as _;
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    sensitive(&format!("Basic {encoded}"))
}

/// A sensitive header value. Values built here come from base64 or a token service; a
/// token with characters a header cannot carry becomes an empty value the server rejects.
pub(crate) fn sensitive(value: &str) -> http::HeaderValue {
    let mut v =
        http::HeaderValue::from_str(value).unwrap_or_else(|_| http::HeaderValue::from_static(""));
    v.set_sensitive(true);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let basic = Credentials::basic("bob", "hunter2");
        let shown = format!("{basic:?}");
        assert!(
            shown.contains("bob") && !shown.contains("hunter2"),
            "{shown}"
        );
        let token = Credentials::identity_token("eyJsecret");
        assert!(!format!("{token:?}").contains("eyJsecret"));
        let header = basic_header("bob", "hunter2");
        assert_eq!(header.to_str().unwrap(), "Basic Ym9iOmh1bnRlcjI=");
        assert!(header.is_sensitive());
        assert!(!format!("{header:?}").contains("Ym9i"));
    }
}
