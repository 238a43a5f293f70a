//! The request log: every request a server answered, for tests' assertions.

use std::sync::{Arc, Mutex};

use http::{Method, StatusCode};

/// Which listener answered a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The registry itself.
    Registry,
    /// The CDN origin that blob redirects point to.
    Cdn,
}

/// One answered request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// Which listener answered.
    pub origin: Origin,
    /// The request method.
    pub method: Method,
    /// Path and query, as received.
    ///
    /// # Security
    /// Holds query strings verbatim, including the CDN's signatures; do not print logs of
    /// servers holding real credentials.
    pub path: String,
    /// The answer's status (after fault injection and auth).
    pub status: StatusCode,
    /// Whether the request had an `Authorization` header (its value is not kept).
    pub authorization: bool,
    /// The `Range` header, if any.
    pub range: Option<String>,
    /// The `Accept` header values, joined with `, `, if any.
    pub accept: Option<String>,
}

/// A shared, append-only list of [`RequestRecord`]s; clones share the list.
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    records: Arc<Mutex<Vec<RequestRecord>>>,
}

impl RequestLog {
    /// A copy of every record so far, oldest first.
    pub fn records(&self) -> Vec<RequestRecord> {
        self.lock().clone()
    }

    /// The records whose path contains `substring`.
    pub fn matching(&self, substring: &str) -> Vec<RequestRecord> {
        self.lock()
            .iter()
            .filter(|r| r.path.contains(substring))
            .cloned()
            .collect()
    }

    /// How many requests were recorded.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Forgets every record.
    pub fn clear(&self) {
        self.lock().clear();
    }

    pub(crate) fn push(&self, record: RequestRecord) {
        self.lock().push(record);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RequestRecord>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }
}
