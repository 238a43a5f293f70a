//! The one way small JSON documents (manifests, tag lists, referrer indexes) are fetched:
//! a GET, then the body read whole within the manifest size limit.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Uri, header};

use crate::body::{Source, read_limited};
use crate::retry::Observer;
use crate::transport::{RequestBody, final_url};
use crate::{Client, Error, RedactedUrl};

/// A fetched document: the answer's headers, the URL it finally came from (after
/// redirects, redacted for errors), and its bytes.
pub(crate) struct Document {
    pub(crate) headers: HeaderMap,
    pub(crate) url: RedactedUrl,
    pub(crate) bytes: Bytes,
}

impl Client {
    /// GETs `uri` with `accept` (if any) and reads the body, refusing one larger than the
    /// manifest limit before it is held in memory. `what` names the document in errors.
    pub(crate) async fn get_document(
        &self,
        uri: &Uri,
        accept: Option<HeaderValue>,
        what: &'static str,
        observer: Option<&dyn Observer>,
    ) -> Result<Document, Error> {
        let mut request = self.request(Method::GET, uri.clone());
        if let Some(accept) = accept {
            request = request.header(header::ACCEPT, accept);
        }
        let request = request
            .body(RequestBody::default())
            .map_err(|e| self.bad_request(e))?;
        let response = self.send(request, observer).await?;
        let url = final_url(&response, uri);
        let (parts, body) = response.into_parts();
        let source = Source {
            method: &Method::GET,
            url: &url,
            stall: self.inner.stall,
        };
        let bytes = read_limited(
            &parts.headers,
            body,
            self.inner.limits.manifest,
            what,
            &source,
        )
        .await?;
        Ok(Document {
            headers: parts.headers,
            url,
            bytes,
        })
    }
}
