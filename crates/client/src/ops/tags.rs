//! `tags`: the repository's tags, page by page or merged (distribution-spec "Listing
//! Tags": `?n=` asks for a page size, a `Link` header with `rel="next"` names the next).

use std::collections::HashSet;

use http::Uri;
use ocipull_spec::Tag;

use super::document::Document;
use super::link::{MAX_PAGES, next_link};
use crate::{Client, Error, RedactedUrl};

#[derive(serde::Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// One page of a tag listing, from [`Client::tags_page`] or [`Client::tags_next_page`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TagPage {
    /// The tags on this page, in the registry's order.
    pub tags: Vec<Tag>,
    /// Where the next page is, when the registry linked one.
    pub next: Option<NextPage>,
}

/// Where the next page of a listing is: the registry's `Link: <…>; rel="next"` target,
/// resolved and checked to stay on the registry's origin. Pass it to
/// [`Client::tags_next_page`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextPage(pub(crate) Uri);

impl NextPage {
    /// The page's URL, redacted for display.
    pub fn url(&self) -> RedactedUrl {
        RedactedUrl::from(&self.0)
    }
}

impl Client {
    /// Every tag of the repository: every page, merged, in the registry's order.
    ///
    /// A page is read only up to the manifest limit; a tag that is not a valid tag name is
    /// an error, and so is a listing of more than 10 000 pages ([`Error::TooManyPages`]:
    /// a registry linking pages in a circle). For pages one at a time, use
    /// [`Client::tags_page`].
    pub async fn tags(&self) -> Result<Vec<Tag>, Error> {
        let mut retrier = self.retrier(None);
        let mut uri = self.url("tags/list")?;
        let mut seen = HashSet::new();
        let mut tags = Vec::new();
        for _ in 0..MAX_PAGES {
            seen.insert(uri.clone());
            let page = retrier.run(|| self.fetch_tag_page(uri.clone())).await?;
            tags.extend(page.tags);
            match page.next {
                Some(NextPage(next)) if !seen.contains(&next) => uri = next,
                _ => return Ok(tags),
            }
        }
        Err(Error::TooManyPages {
            url: RedactedUrl::from(&uri),
            limit: MAX_PAGES,
        })
    }

    /// The first page of tags, asking for at most `page_size` (`?n=`; 0 counts as 1).
    /// The registry may still send smaller pages. Continue with
    /// [`Client::tags_next_page`] while [`TagPage::next`] is set.
    pub async fn tags_page(&self, page_size: u32) -> Result<TagPage, Error> {
        let uri = self.url(&format!("tags/list?n={}", page_size.max(1)))?;
        self.retrier(None)
            .run(|| self.fetch_tag_page(uri.clone()))
            .await
    }

    /// The page of tags `next` points to (it carries the page size of the first request).
    pub async fn tags_next_page(&self, next: &NextPage) -> Result<TagPage, Error> {
        self.retrier(None)
            .run(|| self.fetch_tag_page(next.0.clone()))
            .await
    }

    async fn fetch_tag_page(&self, uri: Uri) -> Result<TagPage, Error> {
        let Document {
            headers,
            url,
            bytes,
        } = self.get_document(&uri, None, "tag list", None).await?;
        let next = next_link(&headers)
            .map(|target| self.resolve_link(&uri, &target))
            .transpose()?
            .map(NextPage);
        let list: TagList = serde_json::from_slice(&bytes).map_err(|e| Error::InvalidResponse {
            url: url.clone(),
            reason: format!("not a tag list: {e}"),
        })?;
        let tags = list
            .tags
            .unwrap_or_default()
            .into_iter()
            .map(|t| {
                t.parse::<Tag>().map_err(|e| Error::InvalidResponse {
                    url: url.clone(),
                    reason: e.to_string(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TagPage { tags, next })
    }
}
