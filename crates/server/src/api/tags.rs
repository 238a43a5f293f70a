//! `GET /v2/<name>/tags/list` with `n`/`last` pagination (distribution-spec "Listing Tags")
//! and an RFC 8288 `Link` to the next page.

use http::header;
use http::{Response, StatusCode};
use ocipull_spec::{ErrorCode, Repository};

use super::manifests::name_unknown;
use crate::body::Body;
use crate::http_util::query::{encode, param};
use crate::http_util::response::{JSON, error, json, value};
use crate::store::Store;

/// Distribution's error code for an `n` that is not a number.
const PAGINATION_NUMBER_INVALID: &str = "PAGINATION_NUMBER_INVALID";

#[derive(serde::Serialize)]
struct TagList<'a> {
    name: &'a str,
    tags: Vec<&'a str>,
}

/// Answers a tag list request. Tags are in lexical (byte) order; `last` starts the list after
/// that tag (which need not exist); `n` caps the count, `n=0` giving an empty list; a `Link`
/// header names the next page only when more tags follow.
pub(crate) fn serve_tags(
    store: &Store,
    repository: &Repository,
    query: Option<&str>,
    head: bool,
) -> Response<Body> {
    let Some(all) = store.tags(repository) else {
        return name_unknown(repository);
    };
    let n = match param(query, "n").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match s.parse::<usize>() {
            Ok(n) => Some(n),
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::Other(PAGINATION_NUMBER_INVALID.to_owned()),
                    format!("n must be a non-negative number, found {s:?}"),
                );
            }
        },
    };
    let last = param(query, "last").filter(|s| !s.is_empty());
    let after: Vec<&str> = all
        .iter()
        .map(|(t, _)| t.as_str())
        .filter(|t| last.as_deref().is_none_or(|l| *t > l))
        .collect();
    let take = n.unwrap_or(after.len()).min(after.len());
    let page = after[..take].to_vec();
    let more = take < after.len() && take > 0;
    // Strings only: serialising cannot fail.
    let body = serde_json::to_vec(&TagList {
        name: repository.as_str(),
        tags: page.clone(),
    })
    .unwrap_or_default();
    let mut r = json(JSON, body, head);
    if more {
        let next = format!(
            "</v2/{repository}/tags/list?n={}&last={}>; rel=\"next\"",
            take,
            encode(page[take - 1])
        );
        r.headers_mut().insert(header::LINK, value(&next));
    }
    r
}
