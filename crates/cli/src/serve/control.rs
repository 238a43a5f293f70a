//! The control API of `ocipull serve --control ADDR`: JSON over HTTP, for tests in any
//! language to change a running registry's behaviour and read its request log.
//!
//! | Request | Does |
//! |---|---|
//! | `GET /health` | `{"status":"ok"}` |
//! | `GET /faults` | the fault rules: `[{"id":1,"matched":0,"fired":0,"rule":{…}}]` |
//! | `POST /faults` | adds a fault rule (body: one rule, as in the `--faults` file) → `{"id":N}` |
//! | `DELETE /faults/ID` | removes a rule (404 if there is none) |
//! | `DELETE /faults` | removes every rule |
//! | `GET`/`POST`/`DELETE /shaping[/ID]` | the same for shaping rules |
//! | `GET /log` | the request log records, oldest first |
//! | `DELETE /log` | empties the request log |
//! | `POST /layouts` | `{"name":"repo","path":"/dir"}` serves another image layout |
//! | `PUT /tags` | `{"repository":"repo","tag":"v2","digest":"sha256:…"}` tags a manifest |
//!
//! Errors are `{"error":"what was wrong"}` with a 4xx status. Rule bodies are
//! `ocipull_server::FaultRule` / `ShapingRule` JSON, the schema of the `--faults` file.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::{TokioExecutor, TokioIo};
use ocipull_server::{FaultRule, Server, ShapingRule};
use ocipull_spec::{Digest, Repository, Tag};
use serde_json::{Value, json};

/// The largest body the control API reads: rules and requests are small.
const MAX_BODY: usize = 1 << 20;

/// The records `GET /log` serves, filled by the log writer task; bounded so a long run does
/// not grow without end (the oldest are dropped).
#[derive(Clone, Default)]
pub(crate) struct Records(Arc<Mutex<std::collections::VecDeque<Value>>>);

/// How many records `GET /log` keeps.
const MAX_RECORDS: usize = 100_000;

impl Records {
    pub(crate) fn push(&self, record: Value) {
        let mut r = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if r.len() == MAX_RECORDS {
            r.pop_front();
        }
        r.push_back(record);
    }
    fn all(&self) -> Vec<Value> {
        let r = self.0.lock().unwrap_or_else(|p| p.into_inner());
        r.iter().cloned().collect()
    }
    fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// What the control API acts on.
#[derive(Clone)]
pub(crate) struct Control {
    pub(crate) server: Server,
    pub(crate) records: Records,
}

/// Serves the control API on `listener` until the process ends.
pub(crate) async fn serve(listener: tokio::net::TcpListener, control: Control) {
    let builder = Arc::new(hyper_util::server::conn::auto::Builder::new(
        TokioExecutor::new(),
    ));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let control = control.clone();
        let builder = builder.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |r| {
                let control = control.clone();
                async move { Ok::<_, Infallible>(control.handle(r).await) }
            });
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

type Answer = Response<Full<Bytes>>;

fn answer(status: StatusCode, body: &Value) -> Answer {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn refuse(status: StatusCode, message: impl std::fmt::Display) -> Answer {
    answer(status, &json!({ "error": message.to_string() }))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AddLayout {
    name: String,
    path: std::path::PathBuf,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PutTag {
    repository: String,
    tag: String,
    digest: String,
}

/// Parses a JSON body, or says what is wrong with it (and where).
pub(crate) fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| format!("invalid JSON body at {}: {}", e.path(), e.inner()))?;
    de.end().map_err(|e| format!("invalid JSON body: {e}"))?;
    Ok(value)
}

impl Control {
    async fn handle(&self, request: Request<hyper::body::Incoming>) -> Answer {
        let method = request.method().clone();
        let path = request.uri().path().trim_end_matches('/').to_owned();
        let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                return refuse(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("cannot read the body: {e}"),
                );
            }
        };
        self.route(&method, &path, &body)
    }

    /// Answers one control request; never panics on any input.
    pub(crate) fn route(&self, method: &Method, path: &str, body: &[u8]) -> Answer {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method.as_str(), segments.as_slice()) {
            ("GET", ["health"]) => answer(StatusCode::OK, &json!({ "status": "ok" })),
            ("GET", ["faults"]) => {
                let list: Vec<Value> = self
                    .server
                    .fault_rules()
                    .iter()
                    .map(|h| json!({ "id": h.id(), "matched": h.matched(), "fired": h.fired(), "rule": h.rule() }))
                    .collect();
                answer(StatusCode::OK, &Value::from(list))
            }
            ("POST", ["faults"]) => match parse::<FaultRule>(body) {
                Ok(rule) => answer(
                    StatusCode::CREATED,
                    &json!({ "id": self.server.add_fault(rule).id() }),
                ),
                Err(e) => refuse(StatusCode::BAD_REQUEST, e),
            },
            ("DELETE", ["faults"]) => {
                self.server.clear_faults();
                answer(StatusCode::OK, &json!({}))
            }
            ("DELETE", ["faults", id]) => match id.parse::<u64>() {
                Ok(id) if self.server.remove_fault(id) => answer(StatusCode::OK, &json!({})),
                _ => refuse(
                    StatusCode::NOT_FOUND,
                    format!("no fault rule with id {id:?}"),
                ),
            },
            ("GET", ["shaping"]) => {
                let list: Vec<Value> = self
                    .server
                    .shaping_rules()
                    .iter()
                    .map(|h| json!({ "id": h.id(), "matched": h.matched(), "fired": h.fired(), "rule": h.rule() }))
                    .collect();
                answer(StatusCode::OK, &Value::from(list))
            }
            ("POST", ["shaping"]) => match parse::<ShapingRule>(body) {
                Ok(rule) => match self.server.add_shaping(rule) {
                    Ok(h) => answer(StatusCode::CREATED, &json!({ "id": h.id() })),
                    Err(e) => refuse(StatusCode::CONFLICT, e),
                },
                Err(e) => refuse(StatusCode::BAD_REQUEST, e),
            },
            ("DELETE", ["shaping"]) => {
                self.server.clear_shaping();
                answer(StatusCode::OK, &json!({}))
            }
            ("DELETE", ["shaping", id]) => match id.parse::<u64>() {
                Ok(id) if self.server.remove_shaping(id) => answer(StatusCode::OK, &json!({})),
                _ => refuse(
                    StatusCode::NOT_FOUND,
                    format!("no shaping rule with id {id:?}"),
                ),
            },
            ("GET", ["log"]) => answer(StatusCode::OK, &Value::from(self.records.all())),
            ("DELETE", ["log"]) => {
                self.records.clear();
                answer(StatusCode::OK, &json!({}))
            }
            ("POST", ["layouts"]) => {
                let add: AddLayout = match parse(body) {
                    Ok(a) => a,
                    Err(e) => return refuse(StatusCode::BAD_REQUEST, e),
                };
                let repo: Repository = match add.name.parse() {
                    Ok(r) => r,
                    Err(e) => {
                        return refuse(
                            StatusCode::BAD_REQUEST,
                            format!("name {:?}: {e}", add.name),
                        );
                    }
                };
                match self.server.add_layout(&repo, &add.path) {
                    Ok(summary) => answer(
                        StatusCode::CREATED,
                        &json!({ "repository": repo.as_str(), "manifests": summary.entries.len() }),
                    ),
                    Err(e) => refuse(StatusCode::BAD_REQUEST, chain(&e)),
                }
            }
            ("PUT", ["tags"]) => {
                let put: PutTag = match parse(body) {
                    Ok(p) => p,
                    Err(e) => return refuse(StatusCode::BAD_REQUEST, e),
                };
                let parsed = (
                    put.repository
                        .parse::<Repository>()
                        .map_err(|e| format!("repository: {e}")),
                    put.tag.parse::<Tag>().map_err(|e| format!("tag: {e}")),
                    put.digest
                        .parse::<Digest>()
                        .map_err(|e| format!("digest: {e}")),
                );
                let (repo, tag, digest) = match parsed {
                    (Ok(r), Ok(t), Ok(d)) => (r, t, d),
                    (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                        return refuse(StatusCode::BAD_REQUEST, e);
                    }
                };
                if self.server.store().tag(&repo, tag, &digest) {
                    answer(StatusCode::OK, &json!({}))
                } else {
                    refuse(
                        StatusCode::NOT_FOUND,
                        format!("{repo} has no manifest {digest} to tag"),
                    )
                }
            }
            (
                _,
                [
                    "health" | "faults" | "shaping" | "log" | "layouts" | "tags",
                    ..,
                ],
            ) => refuse(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{method} {path} is not a control request"),
            ),
            _ => refuse(StatusCode::NOT_FOUND, format!("no control endpoint {path}")),
        }
    }
}

/// An error and its causes, on one line.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        line.push_str(": ");
        line.push_str(&s.to_string());
        source = s.source();
    }
    line
}

/// Whether `addr` may serve the control API next to a registry on `registry`: never on the
/// registry's own port.
pub(crate) fn check_address(addr: SocketAddr, registry: SocketAddr) -> Result<(), String> {
    if addr.port() != 0 && addr.port() == registry.port() {
        return Err(format!(
            "--control {addr}: the control API cannot share the registry's port {}; choose another (e.g. 127.0.0.1:0)",
            registry.port()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control() -> Control {
        Control {
            server: Server::builder().runtime_shaping(true).build(),
            records: Records::default(),
        }
    }

    fn call(c: &Control, method: Method, path: &str, body: &str) -> (u16, Value) {
        let r = c.route(&method, path, body.as_bytes());
        let status = r.status().as_u16();
        let bytes = futures_body(r);
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    fn futures_body(r: Answer) -> Bytes {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async { r.into_body().collect().await.unwrap().to_bytes() })
    }

    #[test]
    fn rules_are_added_listed_and_removed() {
        let c = control();
        let (s, v) = call(
            &c,
            Method::POST,
            "/faults",
            r#"{"path":"/blobs/","faults":[{"status":503}]}"#,
        );
        assert_eq!(s, 201);
        let id = v["id"].as_u64().unwrap();
        let (_, list) = call(&c, Method::GET, "/faults", "");
        assert_eq!(list[0]["rule"]["faults"][0]["status"], 503);
        assert_eq!(
            call(&c, Method::DELETE, &format!("/faults/{id}"), "").0,
            200
        );
        assert_eq!(
            call(&c, Method::DELETE, &format!("/faults/{id}"), "").0,
            404
        );
        let (s, v) = call(&c, Method::POST, "/shaping", r#"{"latency_ms":5}"#);
        assert_eq!((s, v["id"].is_u64()), (201, true));
        assert_eq!(
            call(&c, Method::GET, "/shaping", "")
                .1
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn errors_are_json_with_a_message() {
        let c = control();
        let (s, v) = call(
            &c,
            Method::POST,
            "/faults",
            r#"{"faults":[{"status":1000}]}"#,
        );
        assert_eq!(s, 400);
        assert!(v["error"].as_str().unwrap().contains("faults[0]"), "{v}");
        assert_eq!(call(&c, Method::POST, "/faults", "{").0, 400);
        assert_eq!(call(&c, Method::GET, "/nothing", "").0, 404);
        assert_eq!(call(&c, Method::PATCH, "/faults", "").0, 405);
        let (s, v) = call(
            &c,
            Method::PUT,
            "/tags",
            r#"{"repository":"a","tag":"v1","digest":"sha256:00"}"#,
        );
        assert_eq!(s, 400, "{v}");
        let d = Digest::sha256(b"x");
        let (s, _) = call(
            &c,
            Method::PUT,
            "/tags",
            &format!(r#"{{"repository":"a","tag":"v1","digest":"{d}"}}"#),
        );
        assert_eq!(s, 404);
        let (s, v) = call(
            &c,
            Method::POST,
            "/layouts",
            r#"{"name":"a","path":"/nonexistent"}"#,
        );
        assert_eq!(s, 400);
        assert!(v["error"].as_str().unwrap().contains("oci-layout"), "{v}");
    }

    #[test]
    fn the_registry_port_is_not_shared() {
        let r: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        assert!(check_address("127.0.0.1:5000".parse().unwrap(), r).is_err());
        assert!(check_address("127.0.0.1:0".parse().unwrap(), r).is_ok());
        assert!(check_address("127.0.0.1:5001".parse().unwrap(), r).is_ok());
    }
}
