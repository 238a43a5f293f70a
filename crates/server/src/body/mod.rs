//! Response bodies: the [`Body`] type every service in this crate answers with, and the
//! bodies behind it — in-memory bytes, blob ranges read from a source or a file
//! (`blob`, `file_chunks`), and the fault-wrapped body of the fault injector (`fault`).

mod blob;
mod fault;
mod file_chunks;

pub(crate) use blob::{multipart_body, range_body};
pub use fault::ConnectionCut;
pub(crate) use fault::wrap as wrap_faults;

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;

/// The error a [`Body`] can end with: an I/O error reading a blob, or an injected fault.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A response body: in-memory bytes (never copied) or a stream read from a
/// [`BlobSource`](ocipull_spec::BlobSource).
///
/// An error from the body makes hyper abort the connection mid-body, which is how a client
/// sees a failed read (and how the fault injector cuts connections).
pub struct Body(UnsyncBoxBody<Bytes, BoxError>);

impl Body {
    /// A body with no bytes.
    pub fn empty() -> Body {
        Body::full(Bytes::new())
    }

    /// A body holding `bytes`, sent as they are.
    pub fn full(bytes: impl Into<Bytes>) -> Body {
        Body::new(http_body_util::Full::new(bytes.into()).map_err(|never| match never {}))
    }

    /// Wraps any body whose data is [`Bytes`].
    pub fn new<B>(body: B) -> Body
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Body(body.map_err(Into::into).boxed_unsync())
    }

    /// Reads the whole body into memory (for tests and small bodies).
    pub async fn collect_bytes(self) -> Result<Bytes, BoxError> {
        Ok(self.collect().await?.to_bytes())
    }
}

impl Default for Body {
    fn default() -> Body {
        Body::empty()
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body")
            .field("size_hint", &self.0.size_hint())
            .finish()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}
