//! The one rule schema: fault and shaping rules as JSON, for the Rust API (the rules are
//! `serde` types), `ocipull serve --faults FILE` and the control API alike.
//!
//! The serialised forms are plain documents (`*Doc`); the public rule types convert to and
//! from them, so a rule read from JSON is exactly a rule built in Rust, and every rule built
//! in Rust can be written out.

use std::time::{Duration, SystemTime};

use http::{Method, StatusCode};
use regex::Regex;
use serde::{Deserialize, Serialize};

use super::faults::{Fault, FaultRule, RetryAfter};
use super::matcher::{Matcher, PathMatch};
use super::shaping::ShapingRule;

/// A set of rules: the format of `ocipull serve --faults FILE`, one JSON object.
///
/// ```json
/// {
///   "faults": [
///     { "path": "/blobs/", "method": "GET", "nth": 2,
///       "faults": [{ "status": 503 }, { "retry_after": 1 }] },
///     { "path_regex": "/manifests/v[0-9]+$", "times": 3, "faults": [{ "delay_ms": 250 }] },
///     { "path": "/blobs/", "faults": [{ "cut_after": 1000 }, "ignore_range"] }
///   ],
///   "shaping": [
///     { "latency_ms": 100 },
///     { "path": "/blobs/", "connection_rate": 1048576, "total_rate": 4194304 }
///   ]
/// }
/// ```
///
/// Matching, in every rule: `method` (default any), `path` (a substring of the path and
/// query) or `path_regex` (an unanchored regular expression over them) (default any path),
/// `skip` (let the first N matches through, default 0), `times` (fire at most N times,
/// default unlimited), `nth` (fire on the N-th match only; instead of `skip`/`times`).
/// A fault rule lists its [`Fault`]s under `faults`; a shaping rule has the fields of
/// [`ShapingRule`]. Unknown fields are errors, so a misspelt key is not silently ignored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Rules {
    /// Fault rules, in order.
    #[serde(default)]
    pub faults: Vec<FaultRule>,
    /// Shaping rules, in order.
    #[serde(default)]
    pub shaping: Vec<ShapingRule>,
}

/// Why a rules document was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid rules at {path}: {message} (see the format in the docs of ocipull_server::Rules)")]
#[non_exhaustive]
pub struct RulesError {
    /// Where in the document, as a JSON path (`faults[1].faults[0]`), or `.` for the top.
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

impl Rules {
    /// Reads a rules document (JSON).
    ///
    /// # Errors
    /// [`RulesError`] naming where the document is wrong and why.
    pub fn from_json(json: &[u8]) -> Result<Rules, RulesError> {
        from_json(json)
    }
}

/// Reads any rule type from JSON with an error that says where it is wrong.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(json: &[u8]) -> Result<T, RulesError> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| RulesError {
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })?;
    de.end().map_err(|e| RulesError {
        path: ".".to_owned(),
        message: e.to_string(),
    })?;
    Ok(value)
}

/// Declares a rule document: the matching fields (the same in every rule) and its own.
/// (Written out rather than `#[serde(flatten)]`ed, which does not go with
/// `deny_unknown_fields`.)
macro_rules! rule_doc {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(crate) struct $name {
            #[serde(default, skip_serializing_if = "Option::is_none")]
            method: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            path: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            path_regex: Option<String>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            skip: Option<u64>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            times: Option<u64>,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            nth: Option<u64>,
            $($(#[$fm])* $field: $ty,)*
        }

        impl $name {
            fn matching(&self) -> MatchDoc {
                MatchDoc {
                    method: self.method.clone(),
                    path: self.path.clone(),
                    path_regex: self.path_regex.clone(),
                    skip: self.skip,
                    times: self.times,
                    nth: self.nth,
                }
            }

            fn with_matching(matcher: Matcher, $($field: $ty,)*) -> $name {
                let m = MatchDoc::from(matcher);
                $name {
                    method: m.method,
                    path: m.path,
                    path_regex: m.path_regex,
                    skip: m.skip,
                    times: m.times,
                    nth: m.nth,
                    $($field,)*
                }
            }
        }
    };
}

/// The matching fields of a rule.
#[derive(Debug, Clone, Default)]
struct MatchDoc {
    method: Option<String>,
    path: Option<String>,
    path_regex: Option<String>,
    skip: Option<u64>,
    times: Option<u64>,
    nth: Option<u64>,
}

impl TryFrom<MatchDoc> for Matcher {
    type Error = String;
    fn try_from(d: MatchDoc) -> Result<Matcher, String> {
        let method = match d.method {
            None => None,
            Some(m) => Some(
                Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                    .map_err(|_| format!("method {m:?} is not an HTTP method"))?,
            ),
        };
        let path = match (d.path, d.path_regex) {
            (Some(_), Some(_)) => return Err("give `path` or `path_regex`, not both".into()),
            (Some(s), None) => Some(PathMatch::Contains(s)),
            (None, Some(r)) => Some(PathMatch::Regex(
                Regex::new(&r).map_err(|e| format!("path_regex {r:?}: {e}"))?,
            )),
            (None, None) => None,
        };
        let (skip, times) = match (d.nth, d.skip, d.times) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err("give `nth`, or `skip` and `times`, not both".into());
            }
            (Some(0), ..) => return Err("`nth` counts from 1".into()),
            (Some(n), ..) => (n - 1, Some(1)),
            (None, skip, times) => (skip.unwrap_or(0), times),
        };
        Ok(Matcher {
            method,
            path,
            skip,
            times,
        })
    }
}

impl From<Matcher> for MatchDoc {
    fn from(m: Matcher) -> MatchDoc {
        let (path, path_regex) = match m.path {
            None => (None, None),
            Some(PathMatch::Contains(s)) => (Some(s), None),
            Some(PathMatch::Regex(r)) => (None, Some(r.as_str().to_owned())),
        };
        MatchDoc {
            method: m.method.map(|m| m.to_string()),
            path,
            path_regex,
            skip: (m.skip != 0).then_some(m.skip),
            times: m.times,
            nth: None,
        }
    }
}

rule_doc! {
    /// A fault rule as JSON.
    FaultRuleDoc {
        #[serde(default)]
        faults: Vec<Fault>,
    }
}

impl TryFrom<FaultRuleDoc> for FaultRule {
    type Error = String;
    fn try_from(d: FaultRuleDoc) -> Result<FaultRule, String> {
        Ok(FaultRule {
            matcher: d.matching().try_into()?,
            faults: d.faults,
        })
    }
}

impl From<FaultRule> for FaultRuleDoc {
    fn from(r: FaultRule) -> FaultRuleDoc {
        FaultRuleDoc::with_matching(r.matcher, r.faults)
    }
}

/// A `Retry-After` value in JSON: seconds, or an HTTP-date string.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum RetryAfterDoc {
    Seconds(u64),
    Date(String),
}

/// A stall in JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StallDoc {
    after: u64,
    ms: u64,
}

/// A fault in JSON: one key per fault.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum FaultDoc {
    Status(u16),
    RetryAfter(RetryAfterDoc),
    DelayMs(u64),
    CutAfter(u64),
    TruncateAfter(u64),
    Corrupt(u64),
    Stall(StallDoc),
    IgnoreRange,
    ContentRange(String),
    ContentDigest(String),
    ContentType(String),
}

impl TryFrom<FaultDoc> for Fault {
    type Error = String;
    fn try_from(d: FaultDoc) -> Result<Fault, String> {
        Ok(match d {
            FaultDoc::Status(s) => Fault::Status(
                StatusCode::from_u16(s)
                    .map_err(|_| format!("status {s} is not an HTTP status (100-999)"))?,
            ),
            FaultDoc::RetryAfter(RetryAfterDoc::Seconds(s)) => {
                Fault::RetryAfter(RetryAfter::Seconds(s))
            }
            FaultDoc::RetryAfter(RetryAfterDoc::Date(d)) => {
                let t: SystemTime = httpdate::parse_http_date(&d).map_err(|_| {
                    format!(
                        "retry_after {d:?} is neither seconds nor an HTTP-date (RFC 9110 §5.6.7)"
                    )
                })?;
                Fault::RetryAfter(RetryAfter::Date(t))
            }
            FaultDoc::DelayMs(ms) => Fault::Delay(Duration::from_millis(ms)),
            FaultDoc::CutAfter(n) => Fault::CutAfter(n),
            FaultDoc::TruncateAfter(n) => Fault::TruncateAfter(n),
            FaultDoc::Corrupt(offset) => Fault::Corrupt { offset },
            FaultDoc::Stall(StallDoc { after, ms }) => Fault::Stall {
                after,
                duration: Duration::from_millis(ms),
            },
            FaultDoc::IgnoreRange => Fault::IgnoreRange,
            FaultDoc::ContentRange(v) => Fault::ContentRange(header_text(v)?),
            FaultDoc::ContentDigest(v) => Fault::ContentDigest(header_text(v)?),
            FaultDoc::ContentType(v) => Fault::ContentType(header_text(v)?),
        })
    }
}

/// A header value given in a rule must be one (visible ASCII, spaces and tabs).
fn header_text(v: String) -> Result<String, String> {
    http::HeaderValue::from_str(&v)
        .map(|_| v.clone())
        .map_err(|_| format!("{v:?} cannot be a header value (RFC 9110 §5.5)"))
}

impl From<Fault> for FaultDoc {
    fn from(f: Fault) -> FaultDoc {
        match f {
            Fault::Status(s) => FaultDoc::Status(s.as_u16()),
            Fault::RetryAfter(RetryAfter::Seconds(s)) => {
                FaultDoc::RetryAfter(RetryAfterDoc::Seconds(s))
            }
            Fault::RetryAfter(RetryAfter::Date(t)) => {
                FaultDoc::RetryAfter(RetryAfterDoc::Date(httpdate::fmt_http_date(t)))
            }
            Fault::Delay(d) => FaultDoc::DelayMs(millis(d)),
            Fault::CutAfter(n) => FaultDoc::CutAfter(n),
            Fault::TruncateAfter(n) => FaultDoc::TruncateAfter(n),
            Fault::Corrupt { offset } => FaultDoc::Corrupt(offset),
            Fault::Stall { after, duration } => FaultDoc::Stall(StallDoc {
                after,
                ms: millis(duration),
            }),
            Fault::IgnoreRange => FaultDoc::IgnoreRange,
            Fault::ContentRange(v) => FaultDoc::ContentRange(v),
            Fault::ContentDigest(v) => FaultDoc::ContentDigest(v),
            Fault::ContentType(v) => FaultDoc::ContentType(v),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

rule_doc! {
    /// A shaping rule as JSON.
    ShapingRuleDoc {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        latency_ms: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connection_rate: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total_rate: Option<u64>,
    }
}

impl TryFrom<ShapingRuleDoc> for ShapingRule {
    type Error = String;
    fn try_from(d: ShapingRuleDoc) -> Result<ShapingRule, String> {
        if d.connection_rate == Some(0) || d.total_rate == Some(0) {
            return Err("a rate is in bytes per second and must be at least 1".into());
        }
        let mut rule = ShapingRule::new();
        rule.matcher = d.matching().try_into()?;
        rule.latency = d.latency_ms.map(Duration::from_millis);
        rule.connection_rate = d.connection_rate;
        rule.total_rate = d.total_rate;
        Ok(rule)
    }
}

impl From<ShapingRule> for ShapingRuleDoc {
    fn from(r: ShapingRule) -> ShapingRuleDoc {
        ShapingRuleDoc::with_matching(
            r.matcher,
            r.latency.map(millis),
            r.connection_rate,
            r.total_rate,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_round_trips() {
        let date = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        let rule = FaultRule::path("/blobs/")
            .method(Method::HEAD)
            .skip(2)
            .times(3)
            .status(StatusCode::TOO_MANY_REQUESTS)
            .retry_after(RetryAfter::Seconds(4))
            .retry_after(RetryAfter::Date(date))
            .delay(Duration::from_millis(5))
            .cut_after(6)
            .truncate_after(7)
            .corrupt_at(8)
            .stall(9, Duration::from_millis(10))
            .ignore_range()
            .content_range("bytes 0-1/2")
            .content_digest("sha256:00")
            .content_type("text/plain");
        let json = serde_json::to_string(&rule).unwrap();
        let back: FaultRule = from_json(json.as_bytes()).unwrap();
        assert_eq!(back.faults(), rule.faults());
        assert_eq!(serde_json::to_string(&back).unwrap(), json);
        assert!(
            json.contains(r#""retry_after":"Sun, 06 Nov 1994 08:49:37 GMT""#),
            "{json}"
        );
        assert!(json.contains(r#""ignore_range""#), "{json}");
    }

    #[test]
    fn the_documented_example_reads() {
        let doc = br#"{
          "faults": [
            { "path": "/blobs/", "method": "GET", "nth": 2,
              "faults": [{ "status": 503 }, { "retry_after": 1 }] },
            { "path_regex": "/manifests/v[0-9]+$", "times": 3, "faults": [{ "delay_ms": 250 }] },
            { "path": "/blobs/", "faults": [{ "cut_after": 1000 }, "ignore_range"] }
          ],
          "shaping": [
            { "latency_ms": 100 },
            { "path": "/blobs/", "connection_rate": 1048576, "total_rate": 4194304 }
          ]
        }"#;
        let rules = Rules::from_json(doc).unwrap();
        assert_eq!(rules.faults.len(), 3);
        assert_eq!(rules.shaping.len(), 2);
        assert_eq!(rules.faults[0].matcher.skip, 1);
        assert_eq!(rules.faults[0].matcher.times, Some(1));
    }

    #[test]
    fn errors_say_where() {
        let cases: [(&[u8], &str, &str); 7] = [
            (
                br#"{"faults":[{"faults":[{"status":1000}]}]}"#,
                "faults[0]",
                "status 1000",
            ),
            (
                br#"{"faults":[{"path":"a","path_regex":"b"}]}"#,
                "faults[0]",
                "not both",
            ),
            (
                br#"{"faults":[{"path_regex":"("}]}"#,
                "faults[0]",
                "path_regex",
            ),
            (br#"{"faults":[{"nth":0}]}"#, "faults[0]", "from 1"),
            (
                br#"{"shaping":[{"connection_rate":0}]}"#,
                "shaping[0]",
                "at least 1",
            ),
            (br#"{"fault":[]}"#, "fault", "unknown field"),
            (
                br#"{"faults":[{"method":"G E T"}]}"#,
                "faults[0]",
                "not an HTTP method",
            ),
        ];
        for (doc, path, message) in cases {
            let e = Rules::from_json(doc).unwrap_err();
            assert!(e.path.starts_with(path), "{e}");
            assert!(e.message.contains(message), "{e}");
        }
        assert!(Rules::from_json(b"{} x").is_err());
        assert!(Rules::from_json(b"[").is_err());
    }
}
