//! `catalog`: the registry's repositories, page by page or merged (distribution-spec
//! "Listing Repositories": `GET /v2/_catalog`, `?n=` asks for a page size, `last=` and a
//! `Link` header with `rel="next"` name the next page).
//!
//! The catalog is registry-wide, while a [`Client`] is bound to one repository (for its
//! token scope): the catalog calls ignore the client's repository. A registry with token
//! auth asks for the `registry:catalog:*` scope in its challenge, and the client asks the
//! token service for it, next to its own repository's pull scope. Many public registries
//! (Docker Hub, ghcr.io) do not offer the catalog: they answer 401, 403 or 404.

use std::collections::HashSet;

use http::Uri;
use ocipull_spec::Repository;

use super::document::Document;
use super::link::{MAX_PAGES, next_link};
use super::tags::NextPage;
use crate::{Client, Error, RedactedUrl};

#[derive(serde::Deserialize)]
struct RepositoryList {
    #[serde(default)]
    repositories: Option<Vec<String>>,
}

/// One page of the catalog, from [`Client::catalog_page`] or [`Client::catalog_next_page`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CatalogPage {
    /// The repositories on this page, in the registry's (lexical) order.
    pub repositories: Vec<Repository>,
    /// Where the next page is, when the registry linked one.
    pub next: Option<NextPage>,
}

impl Client {
    /// Every repository of the registry: every page, merged, in the registry's order.
    ///
    /// Registry-wide: the client's repository plays no part but adding its pull scope to
    /// a token request (a registry with token auth asks for `registry:catalog:*` in its
    /// challenge, which the client asks for too). A page is read only up to the manifest limit; a name that is
    /// not a valid repository name is an error, and so is a listing of more than 10 000
    /// pages ([`Error::TooManyPages`]). For pages one at a time, use
    /// [`Client::catalog_page`].
    pub async fn catalog(&self) -> Result<Vec<Repository>, Error> {
        let mut retrier = self.retrier(None);
        let mut uri = self.registry_url("_catalog")?;
        let mut seen = HashSet::new();
        let mut repositories = Vec::new();
        for _ in 0..MAX_PAGES {
            seen.insert(uri.clone());
            let page = retrier.run(|| self.fetch_catalog_page(uri.clone())).await?;
            repositories.extend(page.repositories);
            match page.next {
                Some(NextPage(next)) if !seen.contains(&next) => uri = next,
                _ => return Ok(repositories),
            }
        }
        Err(Error::TooManyPages {
            url: RedactedUrl::from(&uri),
            limit: MAX_PAGES,
        })
    }

    /// The first page of the catalog, asking for at most `page_size` (`?n=`; 0 counts as
    /// 1). Continue with [`Client::catalog_next_page`] while [`CatalogPage::next`] is set.
    pub async fn catalog_page(&self, page_size: u32) -> Result<CatalogPage, Error> {
        let uri = self.registry_url(&format!("_catalog?n={}", page_size.max(1)))?;
        self.retrier(None)
            .run(|| self.fetch_catalog_page(uri.clone()))
            .await
    }

    /// The page of the catalog `next` points to.
    pub async fn catalog_next_page(&self, next: &NextPage) -> Result<CatalogPage, Error> {
        self.retrier(None)
            .run(|| self.fetch_catalog_page(next.0.clone()))
            .await
    }

    /// `scheme://host/v2/<path>`: an endpoint of the registry, not of a repository.
    fn registry_url(&self, path: &str) -> Result<Uri, Error> {
        let text = format!("{}/v2/{path}", self.origin());
        text.parse()
            .map_err(|e: http::uri::InvalidUri| Error::InvalidRequest {
                input: text.clone(),
                reason: e.to_string(),
            })
    }

    async fn fetch_catalog_page(&self, uri: Uri) -> Result<CatalogPage, Error> {
        let Document {
            headers,
            url,
            bytes,
        } = self.get_document(&uri, None, "catalog", None).await?;
        let next = next_link(&headers)
            .map(|target| self.resolve_link(&uri, &target))
            .transpose()?
            .map(NextPage);
        let list: RepositoryList =
            serde_json::from_slice(&bytes).map_err(|e| Error::InvalidResponse {
                url: url.clone(),
                reason: format!("not a repository list: {e}"),
            })?;
        let repositories = list
            .repositories
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                r.parse::<Repository>().map_err(|e| Error::InvalidResponse {
                    url: url.clone(),
                    reason: format!("repository {r:?}: {e}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CatalogPage { repositories, next })
    }
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::test_transport::{Reply, Script};

    fn page(names: &[&str]) -> String {
        serde_json::json!({ "repositories": names }).to_string()
    }

    #[tokio::test]
    async fn pages_are_followed_and_merged() {
        let script = Script::new([
            Reply::new(200)
                .header("link", r#"</v2/_catalog?n=2&last=b>; rel="next""#)
                .data(page(&["a", "b"])),
            Reply::new(200).data(page(&["c/d"])),
        ]);
        let client = script.client();
        let all = client.catalog().await.unwrap();
        let names: Vec<String> = all.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["a", "b", "c/d"]);
        let uris: Vec<String> = script.seen().into_iter().map(|s| s.uri).collect();
        assert_eq!(
            uris,
            [
                "http://registry.test/v2/_catalog",
                "http://registry.test/v2/_catalog?n=2&last=b"
            ]
        );
    }

    #[tokio::test]
    async fn one_page_at_a_time() {
        let script = Script::new([
            Reply::new(200)
                .header("link", r#"</v2/_catalog?n=1&last=a>; rel="next""#)
                .data(page(&["a"])),
            Reply::new(200).data(page(&["b"])),
        ]);
        let client = script.client();
        let first = client.catalog_page(0).await.unwrap();
        assert_eq!(first.repositories.len(), 1);
        let next = first.next.expect("a next page");
        let second = client.catalog_next_page(&next).await.unwrap();
        assert_eq!(second.repositories[0].to_string(), "b");
        assert!(second.next.is_none());
        assert_eq!(script.seen()[0].uri, "http://registry.test/v2/_catalog?n=1");
    }

    #[tokio::test]
    async fn a_circle_of_pages_ends_and_bad_names_are_errors() {
        // Every page links to a new one: the page limit stops it.
        let script = Script::responder(|seen| {
            let n: usize = seen.uri.rsplit('=').next().unwrap().parse().unwrap_or(0);
            Reply::new(200)
                .header(
                    "link",
                    format!("</v2/_catalog?last={}>; rel=\"next\"", n + 1),
                )
                .data(page(&[]))
        });
        let err = script.client().catalog().await.unwrap_err();
        assert!(matches!(err, Error::TooManyPages { .. }), "{err}");

        let script = Script::new([Reply::new(200).data(page(&["Not/Valid"]))]);
        let err = script.client().catalog().await.unwrap_err();
        assert!(err.to_string().contains("Not/Valid"), "{err}");
        let script = Script::new([Reply::new(200).data("\"text\"")]);
        let err = script.client().catalog().await.unwrap_err();
        assert!(err.to_string().contains("not a repository list"), "{err}");
    }
}
