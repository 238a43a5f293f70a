//! `GET /v2/<name>/tags/list` (distribution-spec "Listing Tags") and `GET /v2/_catalog`
//! ("Listing Repositories"), with the same `n`/`last` pagination and an RFC 8288 `Link` to
//! the next page.

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

/// Answers a tag list request (distribution-spec "Listing Tags"). Tags are in lexical
/// (byte) order; see [`paginate`] for `n`, `last` and the `Link` header.
pub(crate) fn serve_tags(
    store: &Store,
    repository: &Repository,
    query: Option<&str>,
    head: bool,
) -> Response<Body> {
    let Some(all) = store.tags(repository) else {
        return name_unknown(repository);
    };
    let all: Vec<&str> = all.iter().map(|(t, _)| t.as_str()).collect();
    let (page, next) = match paginate(&all, query) {
        Ok(p) => p,
        Err(refused) => return *refused,
    };
    // Strings only: serialising cannot fail.
    let body = serde_json::to_vec(&TagList {
        name: repository.as_str(),
        tags: page,
    })
    .unwrap_or_default();
    let mut r = json(JSON, body, head);
    if let Some((n, last)) = next {
        let next = format!(
            "</v2/{repository}/tags/list?n={n}&last={}>; rel=\"next\"",
            encode(last)
        );
        r.headers_mut().insert(header::LINK, value(&next));
    }
    r
}

#[derive(serde::Serialize)]
struct Catalog<'a> {
    repositories: Vec<&'a str>,
}

/// Answers `GET /v2/_catalog` (distribution-spec "Listing Repositories", an optional
/// endpoint that Distribution and most registries offer): the repositories in lexical order,
/// paginated as tag lists are.
pub(crate) fn serve_catalog(store: &Store, query: Option<&str>, head: bool) -> Response<Body> {
    let mut names: Vec<String> = store
        .repositories()
        .iter()
        .map(|r| r.as_str().to_owned())
        .collect();
    names.sort();
    let all: Vec<&str> = names.iter().map(String::as_str).collect();
    let (page, next) = match paginate(&all, query) {
        Ok(p) => p,
        Err(refused) => return *refused,
    };
    let body = serde_json::to_vec(&Catalog { repositories: page }).unwrap_or_default();
    let mut r = json(JSON, body, head);
    if let Some((n, last)) = next {
        let next = format!("</v2/_catalog?n={n}&last={}>; rel=\"next\"", encode(last));
        r.headers_mut().insert(header::LINK, value(&next));
    }
    r
}

/// A page and, when more entries follow, the next page's `n` and `last`.
type Page<'a> = (Vec<&'a str>, Option<(usize, &'a str)>);

/// One page of a sorted list, by the distribution-spec's pagination rules: `last` starts
/// the list after that entry (which need not exist); `n` caps the count, `n=0` giving an
/// empty list; the next page (its `n` and `last`) is named only when more entries follow.
///
/// # Errors
/// A 400 `PAGINATION_NUMBER_INVALID` answer (Distribution's code) when `n` is not a number.
fn paginate<'a>(all: &[&'a str], query: Option<&str>) -> Result<Page<'a>, Box<Response<Body>>> {
    let n = match param(query, "n").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match s.parse::<usize>() {
            Ok(n) => Some(n),
            Err(_) => {
                return Err(Box::new(error(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::Other(PAGINATION_NUMBER_INVALID.to_owned()),
                    format!("n must be a non-negative number, found {s:?}"),
                )));
            }
        },
    };
    let last = param(query, "last").filter(|s| !s.is_empty());
    let after: Vec<&str> = all
        .iter()
        .copied()
        .filter(|t| last.as_deref().is_none_or(|l| *t > l))
        .collect();
    let take = n.unwrap_or(after.len()).min(after.len());
    let page = after[..take].to_vec();
    let next = (take < after.len() && take > 0).then(|| (take, page[take - 1]));
    Ok((page, next))
}
