//! The cases of the issue, and running contenders in alternation.

pub mod client;
pub mod limits;
pub mod server;
pub mod server_log;
pub mod shaped;

use std::path::PathBuf;

use super::build::Programs;
use super::measure::Sample;
use super::options::Sizes;
use super::report::{self, Row};

/// What every case needs.
pub struct Ctx<'a> {
    /// The programs to run.
    pub programs: &'a Programs,
    /// Sizes and run count of this mode.
    pub sizes: Sizes,
    /// Scratch directory for pulled layouts (on the disk measured by the
    /// disk ceiling).
    pub work: PathBuf,
    /// Where server logs and configs go.
    pub logs: PathBuf,
    /// Clock ticks per second of `/proc/<pid>/stat`.
    pub ticks: f64,
}

/// One run of a contender.
pub type RunFn<'a> = Box<dyn FnMut() -> crate::Result<Sample> + 'a>;

/// A program measured in a case.
pub struct Contender<'a> {
    /// Stable key (see [`Row::key`]).
    pub key: &'static str,
    /// Name in the report.
    pub name: String,
    /// Runs it once.
    pub run: RunFn<'a>,
}

impl<'a> Contender<'a> {
    /// A contender.
    pub fn new(
        key: &'static str,
        name: impl Into<String>,
        run: impl FnMut() -> crate::Result<Sample> + 'a,
    ) -> Contender<'a> {
        Contender {
            key,
            name: name.into(),
            run: Box::new(run),
        }
    }

    /// A contender that cannot run: its row will say `why`.
    pub fn unavailable(key: &'static str, name: impl Into<String>, why: String) -> Contender<'a> {
        Contender::new(key, name, move || Err(why.clone().into()))
    }
}

/// Runs every contender `runs` times, rotating the order each round so no
/// contender always goes first or right after the same peer. A contender
/// that fails is not run again; its row carries the error.
pub fn alternate(case: &str, runs: usize, mut contenders: Vec<Contender<'_>>) -> Vec<Row> {
    let mut rows: Vec<Row> = contenders
        .iter()
        .map(|c| Row {
            key: c.key,
            name: c.name.clone(),
            samples: Vec::new(),
            error: None,
        })
        .collect();
    let n = contenders.len();
    for round in 0..runs {
        for i in 0..n {
            let index = (i + round) % n;
            if rows[index].error.is_some() {
                continue;
            }
            let row = &mut rows[index];
            match (contenders[index].run)() {
                Ok(sample) => {
                    println!(
                        "[{case}] run {}/{runs} {}: {:.2} s{}",
                        round + 1,
                        row.name,
                        sample.wall,
                        sample
                            .rate
                            .map_or(String::new(), |r| format!(", {}", report::rate(r)))
                    );
                    row.samples.push(sample);
                }
                Err(error) => {
                    println!("[{case}] {} FAILED: {error}", row.name);
                    row.error = Some(error.to_string());
                }
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn contenders_alternate_and_a_failure_stops_only_its_own_runs() {
        let order = RefCell::new(Vec::new());
        let ok = |name: &'static str| {
            let order = &order;
            move || {
                order.borrow_mut().push(name);
                Ok(Sample {
                    wall: 1.0,
                    rate: Some(1.0),
                    ..Sample::default()
                })
            }
        };
        let mut failures = 0;
        let contenders = vec![
            Contender::new("a", "a", ok("a")),
            Contender::new("b", "b", ok("b")),
            Contender::new("c", "c", || {
                failures += 1;
                Err("boom".into())
            }),
        ];
        let rows = alternate("test", 3, contenders);
        assert_eq!(*order.borrow(), ["a", "b", "b", "a", "a", "b"]);
        assert_eq!(rows[0].samples.len(), 3);
        assert_eq!(rows[2].error.as_deref(), Some("boom"));
        assert!(rows[2].samples.is_empty());
        assert_eq!(failures, 1);
    }
}
