//! The layer stack: where a [`Server`](crate::Server)'s services are put together, in the
//! order of the design — request log ─► shaping ─► faults ─► auth simulation ─► handlers ─►
//! [`Store`].
//!
//! Each test behaviour is a `tower` layer added only when the builder configured it, so a
//! plain server pays for nothing it does not use (the fault layer is the exception: rules
//! can arrive while serving). Every answer then passes [`finish`], which sets the headers
//! common to all answers once, whichever layer produced the answer.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use http::{Method, Request, Response};
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt};

use crate::api::{ManifestPolicy, Router};
use crate::body::Body;
use crate::http_util::response::common_headers;
use crate::store::Store;
use crate::testing::{
    AuthLayer, AuthState, Cdn, CdnHandler, EventSink, FaultLayer, Faults, LogLayer, Origin,
    RedirectLayer, RequestLog, Shaping, ShapingLayer,
};

/// A whole stack, boxed so the registry and CDN stacks (and every combination of layers)
/// have one type.
pub(crate) type Stack = BoxCloneSyncService<Request<()>, Response<Body>, Infallible>;

/// What the stacks are built from: the parts of a [`ServerBuilder`](crate::ServerBuilder)'s
/// configuration that live on while serving.
pub(crate) struct Parts {
    pub(crate) store: Store,
    pub(crate) policy: ManifestPolicy,
    pub(crate) log: Option<RequestLog>,
    pub(crate) sink: Option<EventSink>,
    pub(crate) faults: Faults,
    /// Present when shaping was configured (rules, or rules allowed at run time).
    pub(crate) shaping: Option<Shaping>,
    pub(crate) flush_pause: Duration,
    pub(crate) auth: Option<AuthState>,
    pub(crate) cdn: Option<Arc<Cdn>>,
}

impl Parts {
    /// The registry's stack.
    pub(crate) fn registry(&self) -> Stack {
        let stack = ServiceBuilder::new()
            .option_layer(self.log_layer(Origin::Registry))
            // Traffic shaping (rate and latency limits), between the log and the faults: the
            // log records what the client asked, faults act on shaped traffic.
            .option_layer(self.shaping_layer())
            .layer(self.fault_layer())
            .option_layer(self.auth.clone().map(AuthLayer))
            .option_layer(self.cdn.clone().map(|cdn| RedirectLayer {
                cdn,
                store: self.store.clone(),
            }))
            .service(Router {
                store: self.store.clone(),
                policy: self.policy,
            });
        BoxCloneSyncService::new(stack)
    }

    /// The CDN origin's stack, when blob redirects are on. The same log, shaping and fault
    /// rules apply; auth does not (the signed URL is the credential, as with object stores).
    pub(crate) fn cdn(&self) -> Option<Stack> {
        let cdn = self.cdn.clone()?;
        let stack = ServiceBuilder::new()
            .option_layer(self.log_layer(Origin::Cdn))
            .option_layer(self.shaping_layer())
            .layer(self.fault_layer())
            .service(CdnHandler {
                cdn,
                store: self.store.clone(),
            });
        Some(BoxCloneSyncService::new(stack))
    }

    fn log_layer(&self, origin: Origin) -> Option<LogLayer> {
        (self.log.is_some() || self.sink.is_some()).then(|| LogLayer {
            log: self.log.clone(),
            sink: self.sink.clone(),
            origin,
        })
    }

    fn shaping_layer(&self) -> Option<ShapingLayer> {
        self.shaping.clone().map(ShapingLayer)
    }

    fn fault_layer(&self) -> FaultLayer {
        FaultLayer {
            faults: self.faults.clone(),
            flush_pause: self.flush_pause,
        }
    }
}

/// Runs a request through `stack` and finishes its answer: the common headers on registry
/// answers, no content on a `HEAD`, and a `tracing` event (with the path but not the query,
/// which may hold signatures).
pub(crate) fn finish(
    stack: Stack,
    request: Request<()>,
    origin: Origin,
) -> BoxFuture<'static, Result<Response<Body>, Infallible>> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    Box::pin(async move {
        let mut response = stack.oneshot(request).await?;
        tracing::info!(?origin, %method, %path, status = response.status().as_u16(), "request");
        if origin == Origin::Registry {
            common_headers(response.headers_mut());
        }
        // RFC 9110 §9.3.2: a HEAD answer has the headers of the GET answer and no content,
        // whichever layer produced it (an error, a 401 challenge, a fault).
        if method == Method::HEAD {
            *response.body_mut() = Body::empty();
        }
        Ok(response)
    })
}
