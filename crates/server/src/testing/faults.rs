//! Fault injection rules: which requests go wrong, and how.
//!
//! A rule matches requests by method and path (substring or regular expression over the path
//! and query), may let the first matches through ([`FaultRule::skip`]) and may fire a
//! limited number of times ([`FaultRule::times`]); when it fires, all its [`Fault`]s apply
//! to that request. Several rules can fire on one request; the first `Status` wins.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http::{Method, StatusCode};
use regex::Regex;

/// What happens to a request that a rule fires on.
#[derive(Debug, Clone, PartialEq, Eq)]
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

#[derive(Debug, Clone)]
enum PathMatch {
    Contains(String),
    Regex(Regex),
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
#[derive(Debug, Clone, Default)]
pub struct FaultRule {
    method: Option<Method>,
    path: Option<PathMatch>,
    skip: u64,
    times: Option<u64>,
    faults: Vec<Fault>,
}

impl FaultRule {
    /// A rule matching every request, with no faults yet.
    pub fn new() -> FaultRule {
        FaultRule::default()
    }

    /// A rule matching requests whose path and query contain `substring`.
    pub fn path(substring: impl Into<String>) -> FaultRule {
        FaultRule::new().path_contains(substring)
    }

    /// Matches only requests with this method. Default is any method.
    pub fn method(mut self, method: Method) -> FaultRule {
        self.method = Some(method);
        self
    }

    /// Matches only requests whose path and query contain `substring`. Default is any path.
    pub fn path_contains(mut self, substring: impl Into<String>) -> FaultRule {
        self.path = Some(PathMatch::Contains(substring.into()));
        self
    }

    /// Matches only requests whose path and query match `regex` (unanchored); replaces a
    /// substring set by [`FaultRule::path_contains`]. Default is any path.
    pub fn path_regex(mut self, regex: Regex) -> FaultRule {
        self.path = Some(PathMatch::Regex(regex));
        self
    }

    /// Lets the first `n` matching requests through; the rule fires from the next one on.
    /// Default is 0.
    pub fn skip(mut self, n: u64) -> FaultRule {
        self.skip = n;
        self
    }

    /// Fires only on the `n`-th matching request (1-based): `skip(n - 1).times(1)`.
    pub fn nth(self, n: u64) -> FaultRule {
        self.skip(n.saturating_sub(1)).times(1)
    }

    /// Fires at most `n` times. Default is every time it matches.
    pub fn times(mut self, n: u64) -> FaultRule {
        self.times = Some(n);
        self
    }

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

    fn matches(&self, method: &Method, path_and_query: &str) -> bool {
        self.method.as_ref().is_none_or(|m| m == method)
            && match &self.path {
                None => true,
                Some(PathMatch::Contains(s)) => path_and_query.contains(s.as_str()),
                Some(PathMatch::Regex(r)) => r.is_match(path_and_query),
            }
    }
}

/// A rule installed on a server: how often it matched and fired.
#[derive(Debug, Clone)]
pub struct FaultHandle(Arc<Active>);

#[derive(Debug)]
struct Active {
    rule: FaultRule,
    matched: AtomicU64,
    fired: AtomicU64,
}

impl FaultHandle {
    /// How many requests matched the rule (fired or not).
    pub fn matched(&self) -> u64 {
        self.0.matched.load(Ordering::SeqCst)
    }

    /// How many times the rule fired.
    pub fn fired(&self) -> u64 {
        self.0.fired.load(Ordering::SeqCst)
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
            rule,
            matched: AtomicU64::new(0),
            fired: AtomicU64::new(0),
        });
        self.lock().push(active.clone());
        FaultHandle(active)
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    /// The faults to apply to a request, counting matches and firings.
    pub(crate) fn pick(&self, method: &Method, path_and_query: &str) -> Vec<Fault> {
        let rules = self.lock();
        let mut out = Vec::new();
        for a in rules.iter() {
            if !a.rule.matches(method, path_and_query) {
                continue;
            }
            let nth = a.matched.fetch_add(1, Ordering::SeqCst) + 1;
            let fired = a.fired.load(Ordering::SeqCst);
            if nth > a.rule.skip && a.rule.times.is_none_or(|t| fired < t) {
                a.fired.fetch_add(1, Ordering::SeqCst);
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
