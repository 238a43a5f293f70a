//! `Range` request evaluation (RFC 9110 §14.1.1, §14.1.2, §14.2, §15.5.17).
//!
//! Written here rather than taken from `http-range-header` because that crate reports syntax
//! errors and unsatisfiable ranges as one error, while RFC 9110 needs them apart: a range
//! header we cannot parse is ignored (the full body, 200), an unsatisfiable one is answered
//! with 416.

/// The most ranges served in one `multipart/byteranges` response; more is refused with 416,
/// as RFC 9110 §15.5.17 allows for "an excessive number" of ranges. Clients resume with one
/// range; 16 leaves room for any real use and keeps responses small.
const MAX_RANGES: usize = 16;

/// One satisfiable range of bytes, `start..=end`, both within the representation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ByteRange {
    /// First byte.
    pub(crate) start: u64,
    /// Last byte (inclusive).
    pub(crate) end: u64,
}

impl ByteRange {
    /// Number of bytes in the range.
    pub(crate) fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// The `Content-Range` value for a representation of `size` bytes (RFC 9110 §14.4).
    pub(crate) fn content_range(&self, size: u64) -> String {
        format!("bytes {}-{}/{}", self.start, self.end, size)
    }
}

/// What to do with a request's `Range` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RangeAnswer {
    /// Not a byte range we can parse: ignore it and send the whole body (RFC 9110 §14.2).
    Ignore,
    /// No range is satisfiable, or too many were asked for: 416.
    Unsatisfiable,
    /// The satisfiable ranges, in the order requested (at least one).
    Ranges(Vec<ByteRange>),
}

/// Evaluates a `Range` header value against a representation of `size` bytes.
///
/// - `a-b` with `b` past the end is cut to the end (RFC 9110 §14.1.2: "less than the current
///   length ... the server replaces the value of last-pos"), so `bytes=N-` and `bytes=N-HUGE`
///   are both served with 206;
/// - `-n` is the last `n` bytes (all of them when `n` is larger); `-0` is unsatisfiable;
/// - `a-b` with `a > b` and a start at or past the end are unsatisfiable;
/// - ranges that are unsatisfiable are dropped; if none is left the answer is 416.
pub(crate) fn evaluate(header: &str, size: u64) -> RangeAnswer {
    let Some(specs) = parse(header) else {
        return RangeAnswer::Ignore;
    };
    if specs.len() > MAX_RANGES {
        return RangeAnswer::Unsatisfiable;
    }
    let ranges: Vec<ByteRange> = specs.into_iter().filter_map(|s| s.resolve(size)).collect();
    if ranges.is_empty() {
        RangeAnswer::Unsatisfiable
    } else {
        RangeAnswer::Ranges(ranges)
    }
}

/// One `range-spec` as written (RFC 9110 §14.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    /// `first-last` or `first-` (last = `None`).
    Int { first: u64, last: Option<u64> },
    /// `-length`.
    Suffix(u64),
}

impl Spec {
    fn resolve(self, size: u64) -> Option<ByteRange> {
        match self {
            Spec::Int { first, last } => {
                if last.is_some_and(|l| l < first) || first >= size {
                    return None;
                }
                let end = last.map_or(size - 1, |l| l.min(size - 1));
                Some(ByteRange { start: first, end })
            }
            Spec::Suffix(len) => {
                if len == 0 || size == 0 {
                    return None;
                }
                Some(ByteRange {
                    start: size.saturating_sub(len),
                    end: size - 1,
                })
            }
        }
    }
}

/// Parses `bytes=spec, spec, …`; `None` when the unit is not `bytes` or the syntax is wrong.
/// Empty list elements are skipped, as the list rule (RFC 9110 §5.6.1) requires.
fn parse(header: &str) -> Option<Vec<Spec>> {
    let (unit, set) = header.trim().split_once('=')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let mut specs = Vec::new();
    for element in set.split(',') {
        let element = element.trim_matches([' ', '\t']);
        if element.is_empty() {
            continue;
        }
        let (first, last) = element.split_once('-')?;
        let spec = match (first.is_empty(), last.is_empty()) {
            (true, true) => return None,
            (true, false) => Spec::Suffix(number(last)?),
            (false, _) => Spec::Int {
                first: number(first)?,
                last: if last.is_empty() {
                    None
                } else {
                    Some(number(last)?)
                },
            },
        };
        specs.push(spec);
        if specs.len() > MAX_RANGES {
            // Enough to refuse; do not parse an attacker's megabyte of ranges.
            break;
        }
    }
    if specs.is_empty() { None } else { Some(specs) }
}

/// `1*DIGIT`; values past `u64::MAX` saturate (they are past any end anyway).
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> ByteRange {
        ByteRange { start, end }
    }

    #[test]
    fn table() {
        use RangeAnswer::*;
        let cases: &[(&str, u64, RangeAnswer)] = &[
            ("bytes=0-9", 100, Ranges(vec![r(0, 9)])),
            ("bytes=10-", 100, Ranges(vec![r(10, 99)])),
            ("bytes=99-", 100, Ranges(vec![r(99, 99)])),
            ("bytes=90-500", 100, Ranges(vec![r(90, 99)])),
            ("bytes=-10", 100, Ranges(vec![r(90, 99)])),
            ("bytes=-1000", 100, Ranges(vec![r(0, 99)])),
            ("BYTES=0-0", 100, Ranges(vec![r(0, 0)])),
            (
                "bytes=0-1, 5-6,,\t8-",
                10,
                Ranges(vec![r(0, 1), r(5, 6), r(8, 9)]),
            ),
            ("bytes=0-1,500-600", 100, Ranges(vec![r(0, 1)])),
            (
                "bytes=0-99999999999999999999999",
                100,
                Ranges(vec![r(0, 99)]),
            ),
            ("bytes=100-", 100, Unsatisfiable),
            ("bytes=500-0", 1000, Unsatisfiable),
            ("bytes=5-4", 100, Unsatisfiable),
            ("bytes=-0", 100, Unsatisfiable),
            ("bytes=0-", 0, Unsatisfiable),
            ("bytes=-5", 0, Unsatisfiable),
            ("bytes=99999999999999999999999-", 100, Unsatisfiable),
            ("items=0-5", 100, Ignore),
            ("bytes=abc", 100, Ignore),
            ("bytes=-", 100, Ignore),
            ("bytes=", 100, Ignore),
            ("bytes=1-2-3", 100, Ignore),
            ("bytes=+1-2", 100, Ignore),
            ("bytes=0x1-2", 100, Ignore),
            ("", 100, Ignore),
        ];
        for (header, size, want) in cases {
            assert_eq!(&evaluate(header, *size), want, "{header:?} on {size}");
        }
    }

    #[test]
    fn too_many_ranges_is_416_but_sixteen_are_served() {
        let sixteen = (0..16)
            .map(|i| format!("{i}-{i}"))
            .collect::<Vec<_>>()
            .join(",");
        match evaluate(&format!("bytes={sixteen}"), 100) {
            RangeAnswer::Ranges(v) => assert_eq!(v.len(), 16),
            other => panic!("{other:?}"),
        }
        let many = (0..10_000)
            .map(|i| format!("{i}-{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(
            evaluate(&format!("bytes={many}"), 100),
            RangeAnswer::Unsatisfiable
        );
    }

    #[test]
    fn content_range_and_len() {
        assert_eq!(r(10, 19).len(), 10);
        assert_eq!(r(10, 19).content_range(100), "bytes 10-19/100");
    }
}
