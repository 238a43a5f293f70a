//! An in-memory transport for unit tests: answers requests from a script and records them.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt as _, StreamBody};

use crate::{BoxError, Client, ClientBuilder, RequestBody, Scheme};

/// One piece of a scripted body.
pub(crate) enum Part {
    Data(Bytes),
    /// The connection breaks here.
    Break,
}

/// A scripted answer.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Vec<Part>,
}

impl Reply {
    pub(crate) fn new(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) fn data(mut self, bytes: impl Into<Bytes>) -> Reply {
        self.body.push(Part::Data(bytes.into()));
        self
    }

    pub(crate) fn broken(mut self) -> Reply {
        self.body.push(Part::Break);
        self
    }
}

/// A request as the transport saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: Method,
    pub(crate) uri: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Seen {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

type Responder = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

/// Answers from `replies` in order (a 599 when they run out), or with a function of the
/// request, and records every request.
#[derive(Clone)]
pub(crate) struct Script {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    responder: Option<Responder>,
    pub(crate) seen: Arc<Mutex<Vec<Seen>>>,
}

impl Script {
    pub(crate) fn new(replies: impl IntoIterator<Item = Reply>) -> Script {
        Script {
            replies: Arc::new(Mutex::new(replies.into_iter().collect())),
            responder: None,
            seen: Arc::default(),
        }
    }

    /// Answers every request with `respond(request)`, after yielding once so that
    /// concurrent requests really are in flight together.
    pub(crate) fn responder(respond: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Script {
        Script {
            responder: Some(Arc::new(respond)),
            ..Script::new([])
        }
    }

    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// A client on `registry.test` with up to five immediate retries.
    pub(crate) fn client(&self) -> Client {
        self.builder().build().unwrap()
    }

    /// A builder for [`Script::client`], to add settings.
    pub(crate) fn builder(&self) -> ClientBuilder {
        let script = self.clone();
        let transport = tower::service_fn(move |request: Request<RequestBody>| {
            let script = script.clone();
            async move {
                let (parts, body) = request.into_parts();
                let body = body
                    .collect()
                    .await
                    .map(|c| c.to_bytes())
                    .unwrap_or_default();
                let seen = Seen {
                    method: parts.method,
                    uri: parts.uri.to_string(),
                    headers: parts.headers,
                    body,
                };
                script.seen.lock().unwrap().push(seen.clone());
                let reply = match &script.responder {
                    Some(respond) => {
                        tokio::task::yield_now().await;
                        respond(&seen)
                    }
                    None => script
                        .replies
                        .lock()
                        .unwrap()
                        .pop_front()
                        .unwrap_or_else(|| Reply::new(599)),
                };
                let frames = reply.body.into_iter().map(|p| match p {
                    Part::Data(b) => Ok(Frame::data(b)),
                    Part::Break => Err(BoxError::from("connection reset")),
                });
                let mut response =
                    Response::new(StreamBody::new(futures_util::stream::iter(frames)));
                *response.status_mut() = StatusCode::from_u16(reply.status).unwrap();
                for (name, value) in reply.headers {
                    response.headers_mut().append(name, value.parse().unwrap());
                }
                Ok::<_, Infallible>(response)
            }
        });
        Client::builder("registry.test", "a/b".parse().unwrap())
            .scheme(Scheme::Http)
            .transport(transport)
            .backoff_builder(
                backon::ConstantBuilder::default()
                    .with_delay(Duration::ZERO)
                    .with_max_times(5),
            )
    }
}
