//! `tags`: the repository's tags, every page (distribution-spec "Listing Tags").

use std::collections::HashSet;

use http::Uri;
use ocipull_spec::Tag;

use super::document::Document;
use super::link::{MAX_PAGES, next_link};
use crate::{Client, Error};

#[derive(serde::Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

impl Client {
    /// Every tag of the repository, following `Link` pagination. A page is read only up to
    /// the manifest limit; a tag that is not a valid tag name is an error.
    pub async fn tags(&self) -> Result<Vec<Tag>, Error> {
        self.tags_inner(None).await
    }

    /// Like [`Client::tags`], asking for pages of at most `page_size` tags (`?n=`); the
    /// registry may still choose smaller pages.
    pub async fn tags_paginated(&self, page_size: u32) -> Result<Vec<Tag>, Error> {
        self.tags_inner(Some(page_size.max(1))).await
    }

    async fn tags_inner(&self, page_size: Option<u32>) -> Result<Vec<Tag>, Error> {
        let mut retrier = self.retrier(None);
        let mut uri = match page_size {
            Some(n) => self.url(&format!("tags/list?n={n}"))?,
            None => self.url("tags/list")?,
        };
        let mut seen = HashSet::new();
        let mut tags = Vec::new();
        for _ in 0..MAX_PAGES {
            seen.insert(uri.clone());
            let (page, next) = retrier.run(|| self.tags_page(uri.clone())).await?;
            tags.extend(page);
            match next {
                Some(next) if !seen.contains(&next) => uri = next,
                _ => return Ok(tags),
            }
        }
        Ok(tags)
    }

    async fn tags_page(&self, uri: Uri) -> Result<(Vec<Tag>, Option<Uri>), Error> {
        let Document {
            headers,
            url,
            bytes,
        } = self.get_document(&uri, None, "tag list", None).await?;
        let next = next_link(&headers)
            .map(|target| self.resolve_link(&uri, &target))
            .transpose()?;
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
        Ok((tags, next))
    }
}
