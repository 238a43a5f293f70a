//! Fault injection rules: which requests go wrong, and how.
//!
//! A rule matches requests by method and path (substring or regular expression over the path
//! and query), may let the first matches through ([`FaultRule::skip`]) and may fire a
//! limited number of times ([`FaultRule::times`]); when it fires, all its [`Fault`]s apply
//! to that request. Several rules can fire on one request; the first `Status` wins.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http::{Method, StatusCode};

use super::matcher::{Counts, Matcher, matching_setters, next_rule_id};

/// What happens to a request that a rule fires on.
///
/// In JSON (see [`Rules`](crate::Rules)) each fault is an object with one key, or a string
/// for the faults without a value: `{"status": 503}`, `{"retry_after": 2}` or
/// `{"retry_after": "Sun, 06 Nov 1994 08:49:37 GMT"}`, `{"delay_ms": 100}`,
/// `{"cut_after": 1000}`, `{"truncate_after": 1000}`, `{"corrupt": 12}` (the offset),
/// `{"stall": {"after": 1000, "ms": 5000}}`, `"ignore_range"`, `{"content_range": "…"}`,
/// `{"content_digest": "…"}`, `{"content_type": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "crate::testing::rules::FaultDoc")]
#[serde(into = "crate::testing::rules::FaultDoc")]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this status and a spec error body instead of the real answer.
    Status(StatusCode),
    /// Add a `Retry-After` header (RFC 9110 §10.2.3) to the answer.
    RetryAfter(RetryAfter),
    /// Wait this long before answering.
    Delay(Duration),
    /// Send this many body bytes, then fail the body so the connection is aborted mid-body.
    CutAfter(u64),
    /// Send this many body bytes, then end the body early while the headers still promise the
    /// full `Content-Length` (the client sees the connection close short).
    TruncateAfter(u64),
    /// Flip the bits of the body byte at this offset.
    Corrupt {
        /// Offset in the body.
        offset: u64,
    },
    /// After this many body bytes, send nothing for `duration`, then go on.
    Stall {
        /// Body bytes sent before the stall.
        after: u64,
        /// How long nothing is sent.
        duration: Duration,
    },
    /// Drop the request's `Range` (and `If-Range`), so the answer is 200 with the whole body.
    IgnoreRange,
    /// Replace the answer's `Content-Range` with this value.
    ContentRange(String),
    /// Replace the answer's `Docker-Content-Digest` with this value.
    ContentDigest(String),
    /// Replace the answer's `Content-Type` (e.g. a manifest's, to contradict its `mediaType`).
    ContentType(String),
}

/// A `Retry-After` value: seconds, or an HTTP-date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// `Retry-After: <seconds>`.
    Seconds(u64),
    /// `Retry-After: <HTTP-date>`.
    Date(SystemTime),
}

impl RetryAfter {
    pub(crate) fn header_value(&self) -> String {
        match self {
            RetryAfter::Seconds(s) => s.to_string(),
            RetryAfter::Date(t) => httpdate::fmt_http_date(*t),
        }
    }
}

/// A fault injection rule.
///
/// A rule matches requests by method and path (substring or regular expression over the path
/// and query), may let the first matches through ([`FaultRule::skip`]) and may fire a
/// limited number of times ([`FaultRule::times`]); when it fires, all its [`Fault`]s apply
/// to that request. Several rules can fire on one request; the first `Status` wins. Rules
/// apply on the CDN origin too.
///
/// ```
/// use std::time::Duration;
/// use ocipull_server::{FaultRule, RetryAfter};
/// use http::{Method, StatusCode};
/// // The second GET of any blob is answered 503 with Retry-After: 1, once.
/// let rule = FaultRule::path("/blobs/")
///     .method(Method::GET)
///     .nth(2)
///     .status(StatusCode::SERVICE_UNAVAILABLE)
///     .retry_after(RetryAfter::Seconds(1));
/// // Blob bodies are cut after 1000 bytes, the first three times.
/// let cut = FaultRule::path("/blobs/").cut_after(1000).times(3);
/// ```
///
/// Rules can also be written as JSON (the format of `ocipull serve --faults` and of the
/// control API; see [`Rules`](crate::Rules)):
///
/// ```
/// use ocipull_server::FaultRule;
/// let rule: FaultRule = serde_json::from_str(
///     r#"{ "path": "/blobs/", "method": "GET", "nth": 2,
///          "faults": [{ "status": 503 }, { "retry_after": 1 }] }"#,
/// )?;
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "crate::testing::rules::FaultRuleDoc")]
#[serde(into = "crate::testing::rules::FaultRuleDoc")]
pub struct FaultRule {
    pub(crate) matcher: Matcher,
    pub(crate) faults: Vec<Fault>,
}

impl FaultRule {
    /// A rule matching every request, with no faults yet.
    pub fn new() -> FaultRule {
        FaultRule::default()
    }

    matching_setters!(FaultRule);

    /// Adds a fault applied when the rule fires.
    pub fn fault(mut self, fault: Fault) -> FaultRule {
        self.faults.push(fault);
        self
    }

    /// Adds [`Fault::Status`].
    pub fn status(self, status: StatusCode) -> FaultRule {
        self.fault(Fault::Status(status))
    }

    /// Adds [`Fault::RetryAfter`].
    pub fn retry_after(self, after: RetryAfter) -> FaultRule {
        self.fault(Fault::RetryAfter(after))
    }

    /// Adds [`Fault::Delay`].
    pub fn delay(self, delay: Duration) -> FaultRule {
        self.fault(Fault::Delay(delay))
    }

    /// Adds [`Fault::CutAfter`].
    pub fn cut_after(self, bytes: u64) -> FaultRule {
        self.fault(Fault::CutAfter(bytes))
    }

    /// Adds [`Fault::TruncateAfter`].
    pub fn truncate_after(self, bytes: u64) -> FaultRule {
        self.fault(Fault::TruncateAfter(bytes))
    }

    /// Adds [`Fault::Corrupt`].
    pub fn corrupt_at(self, offset: u64) -> FaultRule {
        self.fault(Fault::Corrupt { offset })
    }

    /// Adds [`Fault::Stall`].
    pub fn stall(self, after: u64, duration: Duration) -> FaultRule {
        self.fault(Fault::Stall { after, duration })
    }

    /// Adds [`Fault::IgnoreRange`].
    pub fn ignore_range(self) -> FaultRule {
        self.fault(Fault::IgnoreRange)
    }

    /// Adds [`Fault::ContentRange`].
    pub fn content_range(self, value: impl Into<String>) -> FaultRule {
        self.fault(Fault::ContentRange(value.into()))
    }

    /// Adds [`Fault::ContentDigest`].
    pub fn content_digest(self, value: impl Into<String>) -> FaultRule {
        self.fault(Fault::ContentDigest(value.into()))
    }

    /// Adds [`Fault::ContentType`].
    pub fn content_type(self, value: impl Into<String>) -> FaultRule {
        self.fault(Fault::ContentType(value.into()))
    }

    /// The faults applied when the rule fires.
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }
}

/// A rule installed on a server: how often it matched and fired.
#[derive(Debug, Clone)]
pub struct FaultHandle(Arc<Active>);

#[derive(Debug)]
struct Active {
    id: u64,
    rule: FaultRule,
    counts: Counts,
}

impl FaultHandle {
    /// How many requests matched the rule (fired or not).
    pub fn matched(&self) -> u64 {
        self.0.counts.matched()
    }

    /// How many times the rule fired.
    pub fn fired(&self) -> u64 {
        self.0.counts.fired()
    }

    /// The rule's id on its server, for [`Server::remove_fault`](crate::Server::remove_fault)
    /// (and the control API's `DELETE /faults/<id>`).
    pub fn id(&self) -> u64 {
        self.0.id
    }

    /// The rule as installed.
    pub fn rule(&self) -> &FaultRule {
        &self.0.rule
    }
}

/// The rules of one server, shared by its registry and CDN stacks.
#[derive(Debug, Default, Clone)]
pub(crate) struct Faults {
    rules: Arc<Mutex<Vec<Arc<Active>>>>,
}

impl Faults {
    pub(crate) fn add(&self, rule: FaultRule) -> FaultHandle {
        let active = Arc::new(Active {
            id: next_rule_id(),
            rule,
            counts: Counts::default(),
        });
        self.lock().push(active.clone());
        FaultHandle(active)
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    /// Removes the rule with this id; whether there was one.
    pub(crate) fn remove(&self, id: u64) -> bool {
        let mut rules = self.lock();
        let before = rules.len();
        rules.retain(|a| a.id != id);
        rules.len() != before
    }

    /// The installed rules, oldest first.
    pub(crate) fn list(&self) -> Vec<FaultHandle> {
        self.lock().iter().cloned().map(FaultHandle).collect()
    }

    /// The faults to apply to a request, counting matches and firings.
    pub(crate) fn pick(&self, method: &Method, path_and_query: &str) -> Vec<Fault> {
        let rules = self.lock();
        let mut out = Vec::new();
        for a in rules.iter() {
            if a.rule.matcher.fire(&a.counts, method, path_and_query) {
                out.extend(a.rule.faults.iter().cloned());
            }
        }
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Active>>> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    #[test]
    fn skip_times_and_matching() {
        let faults = Faults::default();
        let h = faults.add(
            FaultRule::path("/blobs/")
                .method(Method::GET)
                .skip(1)
                .times(2)
                .status(StatusCode::BAD_GATEWAY),
        );
        let get = |p: &str| faults.pick(&Method::GET, p);
        assert!(get("/v2/a/manifests/x").is_empty());
        assert!(faults.pick(&Method::HEAD, "/v2/a/blobs/x").is_empty());
        assert!(get("/v2/a/blobs/x").is_empty(), "skipped");
        assert_eq!(
            get("/v2/a/blobs/x"),
            vec![Fault::Status(StatusCode::BAD_GATEWAY)]
        );
        assert_eq!(get("/v2/a/blobs/y").len(), 1);
        assert!(get("/v2/a/blobs/x").is_empty(), "used up");
        assert_eq!((h.matched(), h.fired()), (4, 2));
    }

    #[test]
    fn nth_and_regex() {
        let faults = Faults::default();
        faults.add(
            FaultRule::new()
                .path_regex(Regex::new(r"/manifests/v\d$").unwrap())
                .nth(2)
                .ignore_range(),
        );
        assert!(faults.pick(&Method::GET, "/v2/a/manifests/v1").is_empty());
        assert!(
            faults
                .pick(&Method::GET, "/v2/a/manifests/latest")
                .is_empty()
        );
        assert_eq!(
            faults.pick(&Method::GET, "/v2/a/manifests/v2"),
            vec![Fault::IgnoreRange]
        );
        assert!(faults.pick(&Method::GET, "/v2/a/manifests/v3").is_empty());
        faults.clear();
    }

    #[test]
    fn retry_after_values() {
        assert_eq!(RetryAfter::Seconds(3).header_value(), "3");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(
            RetryAfter::Date(t).header_value(),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
    }
}
