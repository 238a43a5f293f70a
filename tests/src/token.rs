//! Registry bearer tokens: parsing requested scopes and signing JWTs that
//! CNCF Distribution 2.8 accepts.
//!
//! What Distribution 2.8 checks (`registry/auth/token`): the JOSE header
//! carries the signing certificate in `x5c`, which must chain to its
//! `rootcertbundle` (here the bundle is that very certificate); `iss` must be
//! the configured issuer; `aud` must be the configured service and, in 2.8,
//! a JSON *string* (an array fails to parse); `nbf`/`exp` are checked with a
//! minute of leeway; `access` lists the granted actions per resource.
//!
//! Tokens are ES256: ring, the crypto backend here, cannot generate RSA keys,
//! and Distribution verifies ECDSA P-256 signatures from `x5c` just as it
//! verifies RSA ones. Clients treat tokens as opaque either way.

use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use serde::{Deserialize, Serialize};

/// Actions granted on one resource: an entry of a token's `access` claim,
/// and what a `scope` parameter like `repository:library/alpine:pull,push`
/// asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    /// Resource type, usually `repository` (also `registry` for the catalog).
    #[serde(rename = "type")]
    pub kind: String,
    /// Resource name, e.g. `library/alpine`.
    pub name: String,
    /// Actions, e.g. `pull`, `push`, `*`.
    pub actions: Vec<String>,
}

impl Access {
    /// `repository:<name>:<actions>`.
    pub fn repository(name: &str, actions: &[&str]) -> Self {
        Access {
            kind: "repository".into(),
            name: name.into(),
            actions: actions.iter().map(|action| action.to_string()).collect(),
        }
    }

    /// Parses one scope, `type:name:action[,action…]`. The name may itself
    /// contain `:` (e.g. a registry host with a port); actions never do.
    pub fn parse_scope(scope: &str) -> Option<Self> {
        let (kind, rest) = scope.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(Access {
            kind: kind.into(),
            name: name.into(),
            actions: actions
                .split(',')
                .filter(|action| !action.is_empty())
                .map(String::from)
                .collect(),
        })
    }

    /// The scope string for this access, the inverse of [`Access::parse_scope`].
    pub fn scope(&self) -> String {
        format!("{}:{}:{}", self.kind, self.name, self.actions.join(","))
    }
}

/// The claims Distribution reads. `aud` is a single string on purpose.
#[derive(Debug, Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: u64,
    nbf: u64,
    iat: u64,
    jti: String,
    access: &'a [Access],
}

/// Signs tokens for one issuer and one service with a fresh ES256 key and a
/// self-signed certificate for it.
pub struct TokenSigner {
    issuer: String,
    service: String,
    key: EncodingKey,
    x5c: String,
    cert_pem: String,
}

impl TokenSigner {
    /// A new key and certificate for tokens from `issuer` meant for `service`.
    pub fn generate(issuer: &str, service: &str) -> io::Result<Self> {
        let key = KeyPair::generate().map_err(io::Error::other)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(io::Error::other)?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, format!("{issuer} token signer"));
        params.distinguished_name = name;
        let cert = params.self_signed(&key).map_err(io::Error::other)?;
        Ok(TokenSigner {
            issuer: issuer.into(),
            service: service.into(),
            key: EncodingKey::from_ec_der(&key.serialize_der()),
            x5c: base64::engine::general_purpose::STANDARD.encode(cert.der()),
            cert_pem: cert.pem(),
        })
    }

    /// The signing certificate, PEM: Distribution's `rootcertbundle`.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The `iss` claim of every token.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The `aud` claim of every token.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// A token for `subject` (empty for anonymous) granting `access`, valid
    /// from now for `ttl`.
    pub fn sign(&self, subject: &str, access: &[Access], ttl: Duration) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        let claims = Claims {
            iss: &self.issuer,
            sub: subject,
            aud: &self.service,
            exp: now + ttl.as_secs(),
            nbf: now,
            iat: now,
            jti: hex(&rand::random::<[u8; 16]>()),
            access,
        };
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("JWT".into());
        header.x5c = Some(vec![self.x5c.clone()]);
        jsonwebtoken::encode(&header, &claims, &self.key)
            .expect("an ES256 key from rcgen signs any claims")
    }
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("issuer", &self.issuer)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    #[test]
    fn scopes_round_trip_and_names_may_contain_colons() {
        let access = Access::parse_scope("repository:localhost:5000/a/b:pull,push").unwrap();
        assert_eq!(access.kind, "repository");
        assert_eq!(access.name, "localhost:5000/a/b");
        assert_eq!(access.actions, ["pull", "push"]);
        assert_eq!(access.scope(), "repository:localhost:5000/a/b:pull,push");
        assert_eq!(
            Access::parse_scope("registry:catalog:*"),
            Some(Access {
                kind: "registry".into(),
                name: "catalog".into(),
                actions: vec!["*".into()]
            })
        );
        assert_eq!(Access::parse_scope("repository"), None);
        assert_eq!(Access::parse_scope(":name:pull"), None);
    }

    #[test]
    fn token_has_x5c_header_and_string_audience() {
        let signer = TokenSigner::generate("issuer", "service").unwrap();
        let token = signer.sign(
            "alice",
            &[Access::repository("a/b", &["pull"])],
            Duration::from_secs(60),
        );
        let parts: Vec<_> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["x5c"].as_array().unwrap().len(), 1);
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["aud"], "service");
        assert_eq!(claims["iss"], "issuer");
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["access"][0]["type"], "repository");
        assert_eq!(claims["access"][0]["actions"][0], "pull");
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["nbf"].as_u64().unwrap(),
            60
        );
    }
}
