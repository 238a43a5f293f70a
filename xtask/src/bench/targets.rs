//! The targets, checked against the tables of the same run.

use super::report::{Check, Table};

/// Checks every target whose figures this run has; a target whose figures are
/// missing (case not run, contender failed) is listed as not measurable.
pub fn evaluate(tables: &[Table]) -> Vec<Check> {
    let table = |id: &str| tables.iter().find(|t| t.id == id);
    let rate = |id: &str, key: &str| table(id)?.rate(key);
    let ceiling = |id: &str| Some(table(id)?.ceilings.first()?.rate);
    let mut checks = Vec::new();

    // Fetch + verify into a discarding sink, library vs library.
    let fetch = rate("big-fetch", "ocipull-client");
    checks.push(at_least(
        "fetch + verify (library, 1 layer) ≥ 80% of single-core SHA-256",
        fetch,
        ceiling("big-fetch"),
        0.8,
        "of SHA-256",
    ));
    checks.push(at_least(
        "fetch + verify (library, 1 layer) ≥ 1.5× oci-client's `pull_blob_stream`",
        fetch,
        rate("big-fetch", "oci-client"),
        1.5,
        "× oci-client",
    ));

    // `ocipull pull` of the big layer, durable.
    let pull = rate("big-pull", "ocipull");
    checks.push(at_least(
        "`ocipull pull` (1 layer) ≥ 2× `skopeo copy`",
        pull,
        rate("big-pull", "skopeo"),
        2.0,
        "× skopeo",
    ));
    checks.push(at_least(
        "`ocipull pull` (1 layer) ≥ the oci-client streaming program with fsync",
        pull,
        rate("big-pull", "oci-client-stream-fsync"),
        1.0,
        "× oci-client + fsync",
    ));
    checks.push(at_least(
        "`ocipull pull` (1 layer) ≥ 80% of disk write + fsync",
        pull,
        ceiling("big-pull"),
        0.8,
        "of the disk",
    ));
    let rss = table("big-pull").and_then(|t| t.row("ocipull")?.rss_mib());
    checks.push(at_most(
        "`ocipull pull` (1 layer) peak RSS < 40 MiB",
        rss,
        40.0,
        "MiB",
    ));

    // Many layers: both cores busy.
    let cores = table("many-pull").and_then(|t| t.row("ocipull")?.cores());
    checks.push(Check {
        target: "`ocipull pull` (many layers) CPU time / wall time ≥ 1.6".into(),
        measured: cores.map_or("—".into(), |c| format!("{c:.2}")),
        met: cores.map(|c| c >= 1.6),
    });

    // Server, manifests.
    checks.push(at_least(
        "`ocipull serve` manifest GETs/s ≥ 50× `docker-registry`",
        rate("server-manifests", "ocipull-serve"),
        rate("server-manifests", "distribution"),
        50.0,
        "× docker-registry",
    ));
    let p99 = |key: &str| table("server-manifests")?.row(key)?.p99();
    let (ours, theirs) = (p99("ocipull-serve"), p99("distribution"));
    checks.push(Check {
        target: "`ocipull serve` manifest p99 latency < `docker-registry`'s".into(),
        measured: match (ours, theirs) {
            (Some(ours), Some(theirs)) => format!("{ours:.2} ms vs {theirs:.2} ms"),
            _ => "—".into(),
        },
        met: ours.zip(theirs).map(|(ours, theirs)| ours < theirs),
    });

    // Server, blobs.
    let blobs = rate("server-blobs", "ocipull-serve");
    checks.push(at_least(
        "`ocipull serve` blob throughput ≥ 2.5× `docker-registry`",
        blobs,
        rate("server-blobs", "distribution"),
        2.5,
        "× docker-registry",
    ));
    checks.push(at_least(
        "`ocipull serve` blob throughput within 10% of the bare hyper server",
        blobs,
        ceiling("server-blobs"),
        0.9,
        "of bare hyper",
    ));
    let rss = table("server-blobs").and_then(|t| t.row("ocipull-serve")?.rss_mib());
    checks.push(at_most(
        "`ocipull serve` peak RSS < 64 MiB serving the blob 8 times at once",
        rss,
        64.0,
        "MiB",
    ));
    checks.extend(far(tables));
    checks
}

/// Issue 13's targets for cases 7–10. `ocipull pull` with its defaults
/// downloads a big layer in 8 parallel chunks; the second ocipull row
/// (`ocipull-args`) is one connection (`--chunks-per-blob 0`) unless other
/// flags were given, and is what (c) compares with.
fn far(tables: &[Table]) -> Vec<Check> {
    let table = |id: &str| tables.iter().find(|t| t.id == id);
    let rate = |id: &str, key: &str| table(id)?.rate(key);
    let mut checks = Vec::new();

    let chunked = rate("shaped-big", "ocipull");
    checks.push(at_least(
        "(a) `ocipull pull` with 8 chunks in flight (its default) ≥ 0.85 × 8 × 50 MB/s",
        chunked,
        Some(8.0 * 50.0),
        0.85,
        "of 8 × 50 MB/s",
    ));
    checks.push(at_least(
        "(a) `ocipull pull` (defaults) ≥ 6× `skopeo copy`",
        chunked,
        rate("shaped-big", "skopeo"),
        6.0,
        "× skopeo",
    ));
    let rss = table("shaped-big").and_then(|t| {
        ["ocipull", "ocipull-args"]
            .iter()
            .filter_map(|key| t.row(key)?.rss_mib())
            .reduce(f64::max)
    });
    checks.push(Check {
        target: "(a) `ocipull pull` peak RSS ≤ 96 MiB".into(),
        measured: rss.map_or("—".into(), |v| format!("{v:.1} MiB")),
        met: rss.map(|v| v <= 96.0),
    });
    checks.push(at_least(
        "(b) `ocipull pull` of 64 small layers 20 ms away ≥ 2× `skopeo copy`",
        rate("shaped-small", "ocipull"),
        rate("shaped-small", "skopeo"),
        2.0,
        "× skopeo",
    ));
    checks.push(at_least(
        "(c) under a 100 MB/s total cap, chunked (defaults) ≥ 95% of one connection",
        rate("shaped-total", "ocipull"),
        rate("shaped-total", "ocipull-args"),
        0.95,
        "of one connection",
    ));
    for (key, what) in [
        ("stderr", "its default stderr log"),
        ("log-file", "`--log-file`"),
    ] {
        checks.push(at_least(
            &format!("(d) `ocipull serve` with {what} within 5% of logging off"),
            rate("serve-log", key),
            rate("serve-log", "off"),
            0.95,
            "of logging off",
        ));
    }
    checks
}

/// `ours ≥ factor × base`, shown as the ratio `ours / base`.
fn at_least(target: &str, ours: Option<f64>, base: Option<f64>, factor: f64, unit: &str) -> Check {
    let ratio = ours.zip(base).map(|(ours, base)| ours / base);
    Check {
        target: target.into(),
        measured: match ratio {
            Some(ratio) if unit.starts_with('×') => format!("{ratio:.2}{unit}"),
            Some(ratio) => format!("{:.0}% {unit}", ratio * 100.0),
            None => "—".into(),
        },
        met: ratio.map(|ratio| ratio >= factor),
    }
}

/// `value < limit`.
fn at_most(target: &str, value: Option<f64>, limit: f64, unit: &str) -> Check {
    Check {
        target: target.into(),
        measured: value.map_or("—".into(), |v| format!("{v:.1} {unit}")),
        met: value.map(|v| v < limit),
    }
}

#[cfg(test)]
mod tests {
    use super::super::measure::Sample;
    use super::super::report::{Ceiling, Row};
    use super::*;

    fn row(key: &'static str, rate: f64, rss_mib: u64) -> Row {
        Row {
            key,
            name: key.into(),
            samples: vec![Sample {
                wall: 1.0,
                cpu: Some(1.7),
                rss_kib: Some(rss_mib * 1024),
                rate: Some(rate),
                p99_ms: None,
            }],
            error: None,
        }
    }

    fn check<'c>(checks: &'c [Check], start: &str) -> &'c Check {
        checks.iter().find(|c| c.target.starts_with(start)).unwrap()
    }

    #[test]
    fn met_missed_and_unmeasured_targets() {
        let pull = Table {
            id: "big-pull",
            title: String::new(),
            about: String::new(),
            unit: "MB/s",
            whose: "client",
            rows: vec![
                row("ocipull", 500.0, 30),
                row("skopeo", 200.0, 90),
                row("oci-client-stream-fsync", 600.0, 20),
            ],
            ceilings: vec![Ceiling {
                name: "disk".into(),
                rate: 550.0,
            }],
        };
        let checks = evaluate(&[pull]);
        let skopeo = check(&checks, "`ocipull pull` (1 layer) ≥ 2×");
        assert_eq!(
            (skopeo.measured.as_str(), skopeo.met),
            ("2.50× skopeo", Some(true))
        );
        assert_eq!(
            check(&checks, "`ocipull pull` (1 layer) ≥ the oci").met,
            Some(false)
        );
        let disk = check(&checks, "`ocipull pull` (1 layer) ≥ 80%");
        assert_eq!(
            (disk.measured.as_str(), disk.met),
            ("91% of the disk", Some(true))
        );
        assert_eq!(
            check(&checks, "`ocipull pull` (1 layer) peak").met,
            Some(true)
        );
        assert_eq!(
            check(&checks, "fetch + verify (library, 1 layer) ≥ 80%").met,
            None
        );
        assert_eq!(check(&checks, "`ocipull serve` manifest GETs").met, None);
        assert_eq!(check(&checks, "(a) `ocipull pull` with 8").met, None);
        assert_eq!(check(&checks, "(d) `ocipull serve` with its").met, None);
    }

    fn table(id: &'static str, unit: &'static str, rows: Vec<Row>) -> Table {
        Table {
            id,
            title: String::new(),
            about: String::new(),
            unit,
            whose: "client",
            rows,
            ceilings: Vec::new(),
        }
    }

    #[test]
    fn far_targets_compare_the_chunked_defaults_with_one_connection() {
        let without = [table(
            "shaped-big",
            "MB/s",
            vec![row("ocipull", 48.0, 20), row("skopeo", 47.0, 60)],
        )];
        let checks = evaluate(&without);
        let skopeo = check(&checks, "(a) `ocipull pull` (defaults)");
        assert_eq!(
            (skopeo.measured.as_str(), skopeo.met),
            ("1.02× skopeo", Some(false))
        );
        assert_eq!(check(&checks, "(c) under").met, None);

        let with = [
            table(
                "shaped-big",
                "MB/s",
                vec![
                    row("ocipull", 350.0, 97),
                    row("ocipull-args", 48.0, 20),
                    row("skopeo", 47.0, 60),
                ],
            ),
            table(
                "shaped-total",
                "MB/s",
                vec![row("ocipull", 95.0, 40), row("ocipull-args", 48.0, 20)],
            ),
            table(
                "shaped-small",
                "layers/s",
                vec![row("ocipull", 90.0, 20), row("skopeo", 30.0, 60)],
            ),
            table(
                "serve-log",
                "req/s",
                vec![
                    row("off", 1000.0, 10),
                    row("stderr", 960.0, 10),
                    row("log-file", 900.0, 10),
                ],
            ),
        ];
        let checks = evaluate(&with);
        let a = check(&checks, "(a) `ocipull pull` with 8");
        assert_eq!(
            (a.measured.as_str(), a.met),
            ("88% of 8 × 50 MB/s", Some(true))
        );
        assert_eq!(
            check(&checks, "(a) `ocipull pull` (defaults)").measured,
            "7.45× skopeo"
        );
        // The larger peak of the two ocipull rows, against an inclusive limit.
        let rss = check(&checks, "(a) `ocipull pull` peak");
        assert_eq!((rss.measured.as_str(), rss.met), ("97.0 MiB", Some(false)));
        assert_eq!(check(&checks, "(b)").met, Some(true));
        assert_eq!(check(&checks, "(c) under").met, Some(true));
        assert_eq!(
            check(&checks, "(d) `ocipull serve` with its").met,
            Some(true)
        );
        let file = check(&checks, "(d) `ocipull serve` with `--log-file`");
        assert_eq!(
            (file.measured.as_str(), file.met),
            ("90% of logging off", Some(false))
        );
    }
}
