//! `GET`/`HEAD /v2/<name>/manifests/<reference>` (distribution-spec "Pulling manifests").

use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode};
use ocipull_spec::{Digest, ErrorCode, Manifest, Repository, Tag};

use crate::body::Body;
use crate::http_util::conditional::{etag, none_match};
use crate::http_util::response::{CONTENT_DIGEST_HEADER, error, value};
use crate::store::{Lookup, ManifestRef, Store};

/// How a manifest request is answered beyond the spec's defaults.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ManifestPolicy {
    /// Refuse a manifest whose media type the `Accept` header does not list.
    pub(crate) strict_accept: bool,
}

/// Answers a manifest request for `reference` in the already validated `repository`.
///
/// A reference with a `:` is a digest and must parse as one (else 400 `DIGEST_INVALID`);
/// anything else must be a valid tag (else 404 `MANIFEST_UNKNOWN`: no such manifest can
/// exist).
pub(crate) fn serve_manifest(
    store: &Store,
    policy: ManifestPolicy,
    request: &HeaderMap,
    head: bool,
    repository: &Repository,
    reference: &str,
) -> Response<Body> {
    let unknown = || {
        error(
            StatusCode::NOT_FOUND,
            ErrorCode::ManifestUnknown,
            // `repo@sha256:…` for a digest, `repo:tag` for a tag: how references are written.
            format!(
                "manifest unknown: {repository}{}{reference}",
                if reference.contains(':') { '@' } else { ':' }
            ),
        )
    };
    let digest;
    let tag;
    let by = if reference.contains(':') {
        digest = match reference.parse::<Digest>() {
            Ok(d) => d,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::DigestInvalid,
                    e.to_string(),
                );
            }
        };
        ManifestRef::Digest(&digest)
    } else {
        tag = match reference.parse::<Tag>() {
            Ok(t) => t,
            Err(_) => return unknown(),
        };
        ManifestRef::Tag(&tag)
    };
    let manifest = match store.lookup_manifest(repository, by) {
        Lookup::Found(m) => m,
        Lookup::Missing => return unknown(),
        Lookup::NoRepository => return name_unknown(repository),
    };
    if policy.strict_accept && !accepts(request, manifest.media_type()) {
        return error(
            StatusCode::NOT_FOUND,
            ErrorCode::ManifestUnknown,
            format!(
                "manifest {reference} is a {}, which the request's Accept does not list",
                manifest.media_type()
            ),
        );
    }
    respond(request, head, &manifest)
}

fn respond(request: &HeaderMap, head: bool, manifest: &Manifest) -> Response<Body> {
    let tag = etag(manifest.digest());
    let not_modified = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|h| none_match(h, &tag));
    let mut r = if not_modified {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(if head {
            Body::empty()
        } else {
            Body::full(manifest.bytes().clone())
        });
        r.headers_mut().insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(manifest.bytes().len()),
        );
        r.headers_mut()
            .insert(header::CONTENT_TYPE, value(manifest.media_type()));
        r
    };
    let h = r.headers_mut();
    h.insert(CONTENT_DIGEST_HEADER, value(manifest.digest().as_str()));
    h.insert(header::ETAG, value(&tag));
    r
}

/// Whether any `Accept` header lists `media_type` (parameters ignored). Wildcards do not
/// count: strict mode exists to catch clients that forget to list a type.
fn accepts(request: &HeaderMap, media_type: &str) -> bool {
    request
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.split(';').next().unwrap_or("").trim())
        .any(|t| t.eq_ignore_ascii_case(media_type))
}

/// 404 `NAME_UNKNOWN`.
pub(crate) fn name_unknown(repository: &Repository) -> Response<Body> {
    error(
        StatusCode::NOT_FOUND,
        ErrorCode::NameUnknown,
        format!("repository name not known to registry: {repository}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_lists() {
        let mut h = HeaderMap::new();
        assert!(!accepts(&h, "a/b"));
        h.append(header::ACCEPT, HeaderValue::from_static("x/y, a/b; q=0.5"));
        assert!(accepts(&h, "a/b"));
        assert!(!accepts(&h, "a/c"));
        h.append(header::ACCEPT, HeaderValue::from_static("A/C"));
        assert!(accepts(&h, "a/c"));
        let mut w = HeaderMap::new();
        w.append(header::ACCEPT, HeaderValue::from_static("*/*"));
        assert!(!accepts(&w, "a/b"));
    }
}
