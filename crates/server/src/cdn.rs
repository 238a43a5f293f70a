//! Blob redirects to a second origin, as registries backed by object storage do
//! (distribution-spec "Pulling blobs": a registry may answer 307 with a `Location`).
//!
//! The registry answers a blob `GET` with 307 to `<cdn>/blobs/<name>/<digest>?…` carrying a
//! signed-looking query (`X-Amz-Signature`, `expires`). The CDN origin checks the signature
//! and expiry, never looks at `Authorization` (it only records whether one arrived, so tests
//! can assert that clients strip credentials across origins), and serves the blob with the
//! same range and conditional support as the registry.

use std::sync::RwLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{Method, Request, Response, StatusCode};
use ocipull_spec::{Algorithm, Digest, ErrorCode, Hasher, Repository};

use crate::blobs::serve_blob;
use crate::body::Body;
use crate::query::param;
use crate::response::error;
use crate::store::{Lookup, Store};

/// How long a redirect URL stays valid. Object stores commonly sign for minutes; ten is long
/// enough for any test pull and short enough that an expired URL is a plausible case.
pub const REDIRECT_TTL: Duration = Duration::from_secs(600);

/// The signing state shared by the registry (which signs) and the CDN (which checks).
pub(crate) struct Cdn {
    secret: [u8; 32],
    base: RwLock<Option<String>>,
}

impl Cdn {
    pub(crate) fn new() -> Cdn {
        Cdn {
            secret: rand::random(),
            base: RwLock::new(None),
        }
    }

    pub(crate) fn set_base(&self, url: String) {
        *self.base.write().unwrap_or_else(|p| p.into_inner()) = Some(url);
    }

    pub(crate) fn base(&self) -> Option<String> {
        self.base.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The redirect target for a blob, when the CDN has an address.
    pub(crate) fn location(&self, repository: &Repository, digest: &Digest) -> Option<String> {
        let base = self.base()?;
        let expires = now() + REDIRECT_TTL.as_secs();
        let sig = self.sign(repository.as_str(), digest.as_str(), expires);
        Some(format!(
            "{base}/blobs/{repository}/{digest}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires={}&X-Amz-Signature={sig}&expires={expires}",
            REDIRECT_TTL.as_secs()
        ))
    }

    fn sign(&self, repository: &str, digest: &str, expires: u64) -> String {
        let mut h = Hasher::new(Algorithm::Sha256);
        h.update(&self.secret);
        h.update(format!("\n{repository}\n{digest}\n{expires}").as_bytes());
        h.finish().encoded().to_owned()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Answers a request to the CDN origin.
pub(crate) fn serve_cdn(cdn: &Cdn, store: &Store, request: &Request<()>) -> Response<Body> {
    let head = request.method() == Method::HEAD;
    if !head && request.method() != Method::GET {
        return crate::response::method_not_allowed();
    }
    let denied = |why: &str| error(StatusCode::FORBIDDEN, ErrorCode::Denied, why.to_owned());
    let Some(rest) = request.uri().path().strip_prefix("/blobs/") else {
        return error(
            StatusCode::NOT_FOUND,
            ErrorCode::BlobUnknown,
            "unknown path",
        );
    };
    let Some((name, digest)) = rest.rsplit_once('/') else {
        return error(
            StatusCode::NOT_FOUND,
            ErrorCode::BlobUnknown,
            "unknown path",
        );
    };
    let query = request.uri().query();
    let expires = param(query, "expires").and_then(|e| e.parse::<u64>().ok());
    let signature = param(query, "X-Amz-Signature");
    let (Some(expires), Some(signature)) = (expires, signature) else {
        return denied("missing signature");
    };
    if signature != cdn.sign(name, digest, expires) {
        return denied("signature does not match");
    }
    if expires < now() {
        return denied("request has expired");
    }
    let (Ok(repository), Ok(digest)) = (name.parse::<Repository>(), digest.parse::<Digest>())
    else {
        return denied("signature does not match");
    };
    match store.lookup_blob(&repository, &digest) {
        Lookup::Found(source) => serve_blob(request.headers(), head, &digest, source),
        _ => error(
            StatusCode::NOT_FOUND,
            ErrorCode::BlobUnknown,
            format!("blob unknown: {digest}"),
        ),
    }
}
