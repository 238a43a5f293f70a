//! Which requests a rule applies to — shared by fault rules and shaping rules, so both match
//! the same way: method, path (substring or regular expression over the path and query),
//! the first matches let through (`skip`) and a limit on how often it fires (`times`).

use std::sync::atomic::{AtomicU64, Ordering};

use http::Method;
use regex::Regex;

/// How a rule matches the path and query.
#[derive(Debug, Clone)]
pub(crate) enum PathMatch {
    Contains(String),
    Regex(Regex),
}

/// The matching half of a rule.
#[derive(Debug, Clone, Default)]
pub(crate) struct Matcher {
    pub(crate) method: Option<Method>,
    pub(crate) path: Option<PathMatch>,
    pub(crate) skip: u64,
    pub(crate) times: Option<u64>,
}

impl Matcher {
    fn matches(&self, method: &Method, path_and_query: &str) -> bool {
        self.method.as_ref().is_none_or(|m| m == method)
            && match &self.path {
                None => true,
                Some(PathMatch::Contains(s)) => path_and_query.contains(s.as_str()),
                Some(PathMatch::Regex(r)) => r.is_match(path_and_query),
            }
    }

    /// Whether the rule fires on this request, counting the match and the firing.
    pub(crate) fn fire(&self, counts: &Counts, method: &Method, path_and_query: &str) -> bool {
        if !self.matches(method, path_and_query) {
            return false;
        }
        let nth = counts.matched.fetch_add(1, Ordering::SeqCst) + 1;
        let fired = counts.fired.load(Ordering::SeqCst);
        if nth > self.skip && self.times.is_none_or(|t| fired < t) {
            counts.fired.fetch_add(1, Ordering::SeqCst);
            return true;
        }
        false
    }
}

/// How often an installed rule matched and fired.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub(crate) matched: AtomicU64,
    pub(crate) fired: AtomicU64,
}

impl Counts {
    pub(crate) fn matched(&self) -> u64 {
        self.matched.load(Ordering::SeqCst)
    }
    pub(crate) fn fired(&self) -> u64 {
        self.fired.load(Ordering::SeqCst)
    }
}

/// Ids of installed rules (faults and shaping alike), unique within a process, so the
/// control API can remove a rule by id.
pub(crate) fn next_rule_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Generates the matching setters shared by [`FaultRule`](crate::FaultRule) and
/// [`ShapingRule`](crate::ShapingRule), with the same docs.
macro_rules! matching_setters {
    ($rule:ident) => {
        /// A rule matching requests whose path and query contain `substring`.
        pub fn path(substring: impl Into<String>) -> $rule {
            $rule::new().path_contains(substring)
        }

        /// Matches only requests with this method. Default is any method.
        pub fn method(mut self, method: http::Method) -> $rule {
            self.matcher.method = Some(method);
            self
        }

        /// Matches only requests whose path and query contain `substring`. Default is any
        /// path.
        pub fn path_contains(mut self, substring: impl Into<String>) -> $rule {
            self.matcher.path = Some($crate::testing::matcher::PathMatch::Contains(
                substring.into(),
            ));
            self
        }

        /// Matches only requests whose path and query match `regex` (unanchored); replaces
        /// a substring set by `path_contains`. Default is any path.
        pub fn path_regex(mut self, regex: regex::Regex) -> $rule {
            self.matcher.path = Some($crate::testing::matcher::PathMatch::Regex(regex));
            self
        }

        /// Lets the first `n` matching requests through; the rule fires from the next one
        /// on. Default is 0.
        pub fn skip(mut self, n: u64) -> $rule {
            self.matcher.skip = n;
            self
        }

        /// Fires only on the `n`-th matching request (1-based): `skip(n - 1).times(1)`.
        pub fn nth(self, n: u64) -> $rule {
            self.skip(n.saturating_sub(1)).times(1)
        }

        /// Fires at most `n` times. Default is every time it matches.
        pub fn times(mut self, n: u64) -> $rule {
            self.matcher.times = Some(n);
            self
        }
    };
}
pub(crate) use matching_setters;
