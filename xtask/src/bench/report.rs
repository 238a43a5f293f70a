//! The results of a run as tables, and `target/bench/report.md`.

use std::fmt::Write as _;

use super::measure::Sample;
use super::stats::{Summary, summarise};

/// One contender of a case: its runs, or why it could not run.
#[derive(Debug, Clone)]
pub struct Row {
    /// Stable key the targets look rows up by.
    pub key: &'static str,
    /// What the report calls it.
    pub name: String,
    /// One sample per successful run.
    pub samples: Vec<Sample>,
    /// The first failure; later runs of a failed contender are skipped.
    pub error: Option<String>,
}

impl Row {
    /// Median, min and max of the rates.
    pub fn rate(&self) -> Option<Summary> {
        summarise(self.samples.iter().filter_map(|s| s.rate))
    }

    /// Median, min and max of the wall times.
    pub fn wall(&self) -> Option<Summary> {
        summarise(self.samples.iter().map(|s| s.wall))
    }

    /// Median CPU seconds.
    pub fn cpu(&self) -> Option<f64> {
        summarise(self.samples.iter().filter_map(|s| s.cpu)).map(|s| s.median)
    }

    /// Median of CPU time / wall time: how many cores it kept busy.
    pub fn cores(&self) -> Option<f64> {
        summarise(self.samples.iter().filter_map(|s| Some(s.cpu? / s.wall))).map(|s| s.median)
    }

    /// The largest peak RSS over the runs, in MiB.
    pub fn rss_mib(&self) -> Option<f64> {
        summarise(
            self.samples
                .iter()
                .filter_map(|s| s.rss_kib.map(|k| k as f64 / 1024.0)),
        )
        .map(|s| s.max)
    }

    /// Median p99 latency in ms.
    pub fn p99(&self) -> Option<f64> {
        summarise(self.samples.iter().filter_map(|s| s.p99_ms)).map(|s| s.median)
    }
}

/// A ceiling a table's rates are compared with.
#[derive(Debug, Clone)]
pub struct Ceiling {
    /// Which ceiling.
    pub name: String,
    /// Its median rate, in the table's unit.
    pub rate: f64,
}

/// One table of the report.
#[derive(Debug, Clone)]
pub struct Table {
    /// Stable id the targets look tables up by.
    pub id: &'static str,
    /// Heading.
    pub title: String,
    /// What is measured and how, in a sentence or two.
    pub about: String,
    /// Unit of the rates (`MB/s`, `req/s`, `manifests/s`).
    pub unit: &'static str,
    /// Whose CPU time and RSS the table shows (`client`, `server`).
    pub whose: &'static str,
    /// The contenders, ocipull's first: the ratio column compares with it.
    pub rows: Vec<Row>,
    /// The ceilings bounding these rates, the one the targets use
    /// first; empty when none applies or none was measured.
    pub ceilings: Vec<Ceiling>,
}

impl Table {
    /// The row with `key`.
    pub fn row(&self, key: &str) -> Option<&Row> {
        self.rows.iter().find(|row| row.key == key)
    }

    /// The median rate of row `key`.
    pub fn rate(&self, key: &str) -> Option<f64> {
        Some(self.row(key)?.rate()?.median)
    }
}

/// A target of the issue and whether this run met it.
#[derive(Debug, Clone)]
pub struct Check {
    /// The target, as the issue states it.
    pub target: String,
    /// What was measured.
    pub measured: String,
    /// Met, missed, or not measurable in this run.
    pub met: Option<bool>,
}

/// Everything the report says.
#[derive(Debug)]
pub struct Report {
    /// The command that produced it.
    pub command: String,
    /// Runs per contender.
    pub runs: usize,
    /// `(what, value)` about the machine and programs.
    pub machine: Vec<(String, String)>,
    /// Load average at the start and at the end of the run.
    pub load: (String, String),
    /// The tables, in case order.
    pub tables: Vec<Table>,
    /// The targets.
    pub checks: Vec<Check>,
    /// Wall time of the whole run (fixtures and cases, not the build), in s.
    pub elapsed: f64,
}

/// Peers that cannot be installed from the package registries the bench uses,
/// and the figures (from the issue, same kind of 2-core machine) standing for them.
const NOT_MEASURED: &str = "go-containerregistry (`crane`, and its in-memory test registry, the \
fastest test registry measured on this kind of machine) is not packaged in Debian or on \
crates.io, so it is not run here. The issue's figures stand for it: about 59k manifest GETs/s \
against Distribution's 1.7k (34×), and 2.4× Distribution's blob throughput.";

/// The report as Markdown.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# ocipull benchmark report\n");
    let _ = writeln!(
        out,
        "Produced by `{}` in {:.0} s: every contender ran {} times, alternating with its \
         peers; figures are medians with (min–max). MB/s = 10^6 bytes/s. Load average at \
         start {}, at end {} (above the core count, other work competed: treat figures as noisy).\n",
        report.command, report.elapsed, report.runs, report.load.0, report.load.1
    );
    for (what, value) in &report.machine {
        let _ = writeln!(out, "- {what}: {value}");
    }
    out.push('\n');
    for table in &report.tables {
        render_table(&mut out, table);
    }
    let _ = writeln!(out, "## Peers not measured here\n\n{NOT_MEASURED}\n");
    if !report.checks.is_empty() {
        let _ = writeln!(out, "## Targets of the issue\n");
        let _ = writeln!(out, "| target | measured | met |\n|---|---|---|");
        for check in &report.checks {
            let met = match check.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "n/a",
            };
            let _ = writeln!(out, "| {} | {} | {met} |", check.target, check.measured);
        }
        out.push('\n');
    }
    out
}

fn render_table(out: &mut String, table: &Table) {
    let _ = writeln!(out, "## {}\n\n{}\n", table.title, table.about);
    let has = |f: fn(&Row) -> bool| table.rows.iter().any(f);
    let show_wall = table.whose == "client";
    let show_cpu = has(|r| r.cpu().is_some());
    let show_rss = has(|r| r.rss_mib().is_some());
    let show_p99 = has(|r| r.p99().is_some());
    let first = table.rows.first();
    // Ratios compare contenders doing the same work; the limits are not that.
    let show_ratio = table.rows.len() > 1 && table.whose != "probe";
    let mut header = format!("| contender | {} |", table.unit);
    if show_wall {
        header.push_str(" wall s |");
    }
    if show_p99 {
        header.push_str(" p99 ms |");
    }
    if show_cpu {
        let _ = write!(
            header,
            " {} CPU s | {} CPU/wall |",
            table.whose, table.whose
        );
    }
    if show_rss {
        let _ = write!(header, " {} peak RSS MiB |", table.whose);
    }
    if show_ratio && let Some(first) = first {
        let _ = write!(header, " {} ÷ this |", first.name);
    }
    for ceiling in &table.ceilings {
        let _ = write!(header, " of {} |", ceiling.name);
    }
    let columns = header.matches('|').count() - 1;
    let _ = writeln!(out, "{header}\n|{}", "---|".repeat(columns));
    let first_rate = first.and_then(|row| row.rate()).map(|s| s.median);
    for row in &table.rows {
        let name = if row.error.is_some() {
            format!("{} (**failed**)", row.name)
        } else {
            row.name.clone()
        };
        let mut line = format!("| {name} | {} |", range(row.rate(), rate));
        if show_wall {
            let _ = write!(line, " {} |", range(row.wall(), |v| format!("{v:.2}")));
        }
        if show_p99 {
            let _ = write!(line, " {} |", opt(row.p99(), |v| format!("{v:.2}")));
        }
        if show_cpu {
            let _ = write!(
                line,
                " {} | {} |",
                opt(row.cpu(), |v| format!("{v:.2}")),
                opt(row.cores(), |v| format!("{v:.2}"))
            );
        }
        if show_rss {
            let _ = write!(line, " {} |", opt(row.rss_mib(), |v| format!("{v:.0}")));
        }
        if show_ratio {
            let ratio = match (first_rate, row.rate()) {
                (Some(first), Some(this)) if !std::ptr::eq(row, table.rows.first().unwrap()) => {
                    format!("{:.2}×", first / this.median)
                }
                _ => "—".into(),
            };
            let _ = write!(line, " {ratio} |");
        }
        for ceiling in &table.ceilings {
            let fraction = row.rate().map(|s| s.median / ceiling.rate * 100.0);
            let _ = write!(line, " {} |", opt(fraction, |v| format!("{v:.0}%")));
        }
        let _ = writeln!(out, "{line}");
    }
    for row in &table.rows {
        if let Some(error) = &row.error {
            let error = error.replace('\n', " ");
            let _ = writeln!(
                out,
                "\n- {} failed: `{}`",
                row.name,
                error.replace('`', "'")
            );
        }
    }
    out.push('\n');
}

fn range(summary: Option<Summary>, format: fn(f64) -> String) -> String {
    match summary {
        Some(s) => format!("{} ({}–{})", format(s.median), format(s.min), format(s.max)),
        None => "—".into(),
    }
}

fn opt(value: Option<f64>, format: impl Fn(f64) -> String) -> String {
    value.map_or_else(|| "—".into(), format)
}

/// A rate with a precision that suits its size.
pub fn rate(value: f64) -> String {
    if value >= 100.0 {
        thousands(value.round() as u64)
    } else {
        format!("{value:.1}")
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(wall: f64, rate: f64) -> Sample {
        Sample {
            wall,
            cpu: Some(wall * 1.5),
            rss_kib: Some(20 * 1024),
            rate: Some(rate),
            p99_ms: None,
        }
    }

    #[test]
    fn rates_are_readable() {
        assert_eq!(rate(59123.4), "59,123");
        assert_eq!(rate(1234567.0), "1,234,567");
        assert_eq!(rate(512.0), "512");
        assert_eq!(rate(12.345), "12.3");
    }

    #[test]
    fn a_table_has_medians_ratios_ceiling_and_failures() {
        let table = Table {
            id: "t",
            title: "Case".into(),
            about: "About.".into(),
            unit: "MB/s",
            whose: "client",
            rows: vec![
                Row {
                    key: "ours",
                    name: "ours".into(),
                    samples: vec![sample(1.0, 400.0), sample(2.0, 200.0), sample(1.5, 300.0)],
                    error: None,
                },
                Row {
                    key: "peer",
                    name: "peer".into(),
                    samples: vec![sample(3.0, 100.0)],
                    error: None,
                },
                Row {
                    key: "broken",
                    name: "broken".into(),
                    samples: vec![],
                    error: Some("it `broke`\nbadly".into()),
                },
            ],
            ceilings: vec![
                Ceiling {
                    name: "disk".into(),
                    rate: 600.0,
                },
                Ceiling {
                    name: "source".into(),
                    rate: 1000.0,
                },
            ],
        };
        let mut out = String::new();
        render_table(&mut out, &table);
        assert!(
            out.contains(
                "| ours | 300 (200–400) | 1.50 (1.00–2.00) | 2.25 | 1.50 | 20 | — | 50% | 30% |"
            ),
            "{out}"
        );
        assert!(out.contains("| peer | 100 (100–100) |"), "{out}");
        assert!(out.contains("| 3.00× | 17% | 10% |"), "{out}");
        assert!(out.contains("| broken (**failed**) | — |"), "{out}");
        assert!(out.contains("- broken failed: `it 'broke' badly`"), "{out}");
        assert_eq!(table.rate("peer"), Some(100.0));
        assert_eq!(table.rate("broken"), None);
    }
}
