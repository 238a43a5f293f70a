//! `GET /v2/<name>/referrers/<digest>` (distribution-spec "Listing Referrers").

use http::header::HeaderValue;
use http::{Response, StatusCode};
use ocipull_spec::{Digest, ErrorCode, ImageIndex, Repository, media_type};

use super::manifests::name_unknown;
use crate::body::Body;
use crate::http_util::query::param;
use crate::http_util::response::{FILTERS_APPLIED_HEADER, error, json};
use crate::store::Store;

/// Answers a referrers request: an image index of the manifests whose `subject` is
/// `digest`, filtered by `artifactType` when the query has one (and then saying so in
/// `OCI-Filters-Applied`). No referrers is an empty index, never 404.
pub(crate) fn serve_referrers(
    store: &Store,
    repository: &Repository,
    digest: &str,
    query: Option<&str>,
    head: bool,
) -> Response<Body> {
    let digest: Digest = match digest.parse() {
        Ok(d) => d,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                ErrorCode::DigestInvalid,
                e.to_string(),
            );
        }
    };
    let Some(mut found) = store.referrers(repository, &digest) else {
        return name_unknown(repository);
    };
    let filter = param(query, "artifactType").filter(|s| !s.is_empty());
    if let Some(t) = &filter {
        found.retain(|d| d.artifact_type.as_deref() == Some(t.as_str()));
    }
    let mut index = ImageIndex::empty();
    index.manifests = found;
    // Descriptors are strings and numbers: serialising cannot fail.
    let body = serde_json::to_vec(&index).unwrap_or_default();
    let mut r = json(media_type::OCI_IMAGE_INDEX, body, head);
    if filter.is_some() {
        r.headers_mut().insert(
            FILTERS_APPLIED_HEADER,
            HeaderValue::from_static("artifactType"),
        );
    }
    r
}
