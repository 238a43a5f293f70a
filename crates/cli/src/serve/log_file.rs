//! `--log-file FILE`: one JSON object per line for every request and for failed TLS
//! handshakes and malformed requests, written off the request path.
//!
//! A request line:
//!
//! ```json
//! {"event":"request","time":"2024-05-01T12:34:56.789Z","origin":"registry","method":"GET",
//!  "path":"/v2/app/blobs/sha256:…","status":206,"bytes_sent":1024,"range":"bytes=0-1023",
//!  "duration_ms":1.52,"user_agent":"curl/8.5.0","authorization":false,"accept":null}
//! ```
//!
//! `time` is RFC 3339 (UTC), `origin` is `registry` or `cdn` (the blob-redirect origin),
//! `authorization` says whether an `Authorization` header came (its value is never logged).
//! Failed handshakes and malformed requests are
//! `{"event":"tls_handshake_failed"|"malformed_request","time":…,"peer":"127.0.0.1:5123","error":"…"}`.
//!
//! The server's event sink only sends each event on a channel; a writer task turns them into
//! lines (and fills the control API's `GET /log`), so a slow disk never stalls a request.

use std::path::PathBuf;

use ocipull_server::{Event, rfc3339};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc::UnboundedReceiver;

use super::control::Records;

/// An event as its JSON line.
pub(crate) fn line(event: &Event) -> Option<Value> {
    Some(match event {
        Event::Request(r) => {
            let mut v = serde_json::to_value(r).ok()?;
            v.as_object_mut()?
                .insert("event".into(), Value::from("request"));
            v
        }
        Event::TlsHandshakeFailed { time, peer, error } => json!({
            "event": "tls_handshake_failed", "time": rfc3339(*time),
            "peer": peer.to_string(), "error": error,
        }),
        Event::MalformedRequest { time, peer, error } => json!({
            "event": "malformed_request", "time": rfc3339(*time),
            "peer": peer.to_string(), "error": error,
        }),
        _ => return None,
    })
}

/// Writes every event to `file` (if any) and the request records to `records` (if any),
/// until the channel closes.
pub(crate) async fn writer(
    mut events: UnboundedReceiver<Event>,
    file: Option<tokio::fs::File>,
    records: Option<Records>,
) {
    let mut file = file.map(tokio::io::BufWriter::new);
    while let Some(event) = events.recv().await {
        let Some(value) = line(&event) else { continue };
        if let Some(f) = &mut file {
            let mut text = value.to_string();
            text.push('\n');
            if f.write_all(text.as_bytes()).await.is_err() {
                tracing::warn!("cannot write the log file; further lines are dropped");
                file = None;
            } else if events.is_empty() {
                // Flush whenever the queue is drained, so a reader sees lines promptly.
                let _ = f.flush().await;
            }
        }
        if let (Some(records), Event::Request(_)) = (&records, &event) {
            records.push(value);
        }
    }
    if let Some(f) = &mut file {
        let _ = f.flush().await;
    }
}

/// Opens (creates or appends to) the log file.
pub(crate) async fn open(path: &PathBuf) -> std::io::Result<tokio::fs::File> {
    tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
}
