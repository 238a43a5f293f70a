//! Endpoint fallback: how a [`Client`] with mirrors tries them before its own registry.
//!
//! Manifests by tag go to endpoints with the `resolve` capability, manifests by digest and
//! blobs to those with `pull`; the client's own endpoint (the upstream) is always last.
//! Tag listings and referrers go to the upstream only: a mirror's listing may be partial.

use std::sync::Arc;

use ocipull_spec::{Manifest, Repository};

use super::Capabilities;
use crate::retry::Observer;
use crate::{Client, Error, ManifestRef};

/// What a [`Client`] knows about endpoints: the mirrors before it, and how its URLs look.
#[derive(Clone, Default)]
pub(crate) struct EndpointState {
    /// The API root instead of `/v2` (containerd `override_path`).
    pub(crate) api_root: Option<String>,
    /// A query added to every URL (containerd `ns=<registry>`).
    pub(crate) query: Option<String>,
    /// Mirrors, in order, each a client of its own (own credentials and token cache).
    pub(crate) mirrors: Arc<[Mirror]>,
    /// The registry and repository of the references this client pulls, when its own
    /// host or repository differ (an upstream `location` rewrite).
    pub(crate) answers_for: Option<(String, Repository)>,
}

/// A mirror: its client and what it may be asked.
#[derive(Clone)]
pub(crate) struct Mirror {
    pub(crate) client: Client,
    pub(crate) capabilities: Capabilities,
}

/// Whether an endpoint's failure (after its own retries) moves on to the next endpoint:
/// connection errors (TLS included), stalls, `404`, `5xx`, and content that does not match
/// its digest or size.
pub(crate) fn falls_back(error: &Error) -> bool {
    match error {
        Error::Connection { .. }
        | Error::Stalled { .. }
        | Error::DigestMismatch { .. }
        | Error::BlobSize { .. } => true,
        Error::Status(e) => e.status == http::StatusCode::NOT_FOUND || e.status.is_server_error(),
        _ => false,
    }
}

/// What an operation needs from an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// A tag lookup: `resolve`.
    Resolve,
    /// Content by digest: `pull`.
    Pull,
}

impl Client {
    /// The endpoint's name in events and reports: `scheme://host`.
    pub(crate) fn endpoint_name(&self) -> String {
        self.origin()
    }

    /// The mirrors to try for `need`, in order, before this client itself; each carries
    /// this client's deadline.
    pub(crate) fn mirrors_for(&self, need: Need) -> Vec<Client> {
        self.inner
            .endpoint
            .mirrors
            .iter()
            .filter(|m| match need {
                Need::Resolve => m.capabilities.resolve(),
                Need::Pull => m.capabilities.pull(),
            })
            .map(|m| Client {
                inner: m.client.inner.clone(),
                deadline: self.deadline,
            })
            .collect()
    }

    /// The registry `host[:port]` and repository of the references this client pulls.
    pub(crate) fn answers_for(&self) -> (&str, &Repository) {
        match &self.inner.endpoint.answers_for {
            Some((host, repository)) => (host, repository),
            None => (self.host(), self.repository()),
        }
    }

    /// Reads a manifest from the first endpoint that has it, and names the endpoint.
    pub(crate) async fn read_routed(
        &self,
        reference: &ManifestRef,
        observer: Option<Arc<dyn Observer>>,
    ) -> Result<(Manifest, String), Error> {
        let need = if reference.tag().is_some() {
            Need::Resolve
        } else {
            Need::Pull
        };
        for mirror in self.mirrors_for(need) {
            match mirror.read_single(reference, observer.clone()).await {
                Ok(manifest) => return Ok((manifest, mirror.endpoint_name())),
                Err(e) if falls_back(&e) => skipped(&mirror, &e, observer.as_deref()),
                Err(e) => return Err(e),
            }
        }
        let manifest = self.read_single(reference, observer).await?;
        Ok((manifest, self.endpoint_name()))
    }
}

/// Reports a mirror that failed in a way that moves on to the next endpoint.
pub(crate) fn skipped(mirror: &Client, error: &Error, observer: Option<&dyn Observer>) {
    tracing::info!(endpoint = %mirror.endpoint_name(), %error, "trying the next endpoint");
    if let Some(observer) = observer {
        observer.endpoint_skipped(&mirror.endpoint_name(), error);
    }
}

#[cfg(test)]
mod tests {
    use http::{Method, StatusCode};

    use super::falls_back;
    use crate::{DigestSubject, Error, HttpError, RedactedUrl};

    fn status(code: u16) -> Error {
        HttpError {
            method: Method::GET,
            url: RedactedUrl::new("http://mirror.test/v2/a/manifests/v1"),
            status: StatusCode::from_u16(code).unwrap(),
            error_body: None,
            body: Default::default(),
            retry_after: None,
        }
        .into()
    }

    #[test]
    fn connection_errors_404_5xx_and_wrong_content_move_on() {
        for code in [404, 500, 502, 503, 504] {
            assert!(falls_back(&status(code)), "{code}");
        }
        for code in [400, 401, 403, 405, 429] {
            assert!(!falls_back(&status(code)), "{code}");
        }
        let url = RedactedUrl::new("http://mirror.test/v2/a/blobs/x");
        assert!(falls_back(&Error::Connection {
            method: Method::GET,
            url: url.clone(),
            source: "refused".into(),
        }));
        let d = ocipull_spec::Digest::sha256(b"a");
        assert!(falls_back(&Error::DigestMismatch {
            url: url.clone(),
            subject: DigestSubject::Blob,
            mismatch: ocipull_spec::DigestMismatch {
                expected: d.clone(),
                actual: ocipull_spec::Digest::sha256(b"b"),
            },
        }));
        assert!(!falls_back(&Error::InvalidResponse {
            url,
            reason: "nonsense".into(),
        }));
    }
}
