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
//! The server's event sink only sends each event on a channel; a writer thread turns them
//! into lines (and fills the control API's `GET /log`), so a slow disk never stalls a
//! request. The thread is a plain one writing paced batches (see `paced`): it writes what
//! is queued, flushes, and lets the next batch gather — not a trip through the async
//! runtime's blocking pool for every few lines, which with a wake-up per request cost a
//! quarter or more of the server's throughput (case 10 of `cargo xtask bench`).

use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;
use std::thread::JoinHandle;

use ocipull_server::{Event, RequestRecord, rfc3339};
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;

use super::control::Records;
use super::paced::{PACE, Paced};

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

/// Starts the thread that writes every event to `file` (if any) and the request records to
/// `records` (if any), until the channel closes.
pub(crate) fn spawn_writer(
    events: UnboundedReceiver<Event>,
    file: Option<File>,
    records: Option<Records>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("ocipull-log-file".into())
        .spawn(move || write_events(events, file, records))
}

fn write_events(
    mut events: UnboundedReceiver<Event>,
    file: Option<File>,
    records: Option<Records>,
) {
    let mut file = file.map(Paced::new);
    while let Some(first) = events.blocking_recv() {
        // Everything queued now goes out in one batch, then one flush, so a reader sees
        // lines promptly and a busy server's lines share their writes.
        let mut next = Some(first);
        while let Some(event) = next {
            record(&event, &mut file, records.as_ref());
            next = events.try_recv().ok();
        }
        match &mut file {
            // The flush pauses, letting the next batch gather.
            Some(f) => {
                if f.flush().is_err() {
                    tracing::warn!("cannot write the log file; further lines are dropped");
                    file = None;
                }
            }
            // Records only (the control API): the same pause, for the same reason.
            None => std::thread::sleep(PACE),
        }
    }
    if let Some(f) = &mut file {
        let _ = f.flush();
    }
}

/// Writes one event's line to `file` and keeps request records in `records`.
fn record(event: &Event, file: &mut Option<Paced<File>>, records: Option<&Records>) {
    let mut text = Vec::new();
    let value = match (event, records) {
        // The file alone: the line straight from the record. Building a `Value` per
        // request first was most of this thread's time under load.
        (Event::Request(r), None) => {
            if request_line(r, &mut text).is_err() {
                return;
            }
            None
        }
        _ => {
            let Some(value) = line(event) else { return };
            text = value.to_string().into_bytes();
            Some(value)
        }
    };
    text.push(b'\n');
    if let Some(f) = file
        && f.write_all(&text).is_err()
    {
        tracing::warn!("cannot write the log file; further lines are dropped");
        *file = None;
    }
    if let (Some(records), Some(value), Event::Request(_)) = (records, value, event) {
        records.push(value);
    }
}

/// A request's line, `{"event":"request",…the record's fields…}`, into `out`: the same
/// object as [`line()`] gives.
fn request_line(record: &RequestRecord, out: &mut Vec<u8>) -> serde_json::Result<()> {
    let fields = serde_json::to_vec(record)?;
    // The record is an object with fields: `{…}`; the event key goes in front of them.
    let Some(inner) = fields
        .strip_prefix(b"{")
        .filter(|rest| rest.len() > 1 && rest.ends_with(b"}"))
    else {
        return Err(serde::ser::Error::custom(
            "a request record is not an object",
        ));
    };
    out.extend_from_slice(br#"{"event":"request","#);
    out.extend_from_slice(inner);
    Ok(())
}

/// Opens (creates or appends to) the log file.
pub(crate) fn open(path: &PathBuf) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}
