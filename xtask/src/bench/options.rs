//! What `cargo xtask bench` was asked to do, and the sizes of each mode.

/// Sizes and durations of one mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Name of the mode, also the directory its fixtures live in.
    pub mode: &'static str,
    /// Size of the one layer of the big image (cases 1 and 5).
    pub big_layer: u64,
    /// Number of layers of the many-layer image (case 2).
    pub many_layers: u32,
    /// Size of each of those layers.
    pub many_layer_size: u64,
    /// Number of small manifests read by digest (case 3).
    pub manifests: u32,
    /// Duration of each load-generator run against a server (case 4).
    pub load_secs: u32,
    /// Connections of that load generator (case 4, from the issue).
    pub load_connections: u32,
    /// Concurrent full downloads of the big blob (case 5, from the issue).
    pub blob_downloads: u32,
    /// Size of the one layer pulled through the shaped link (cases 7 and 9).
    pub shaped_layer: u64,
    /// Number of small layers pulled from far away (case 8).
    pub small_layers: u32,
    /// Size of each of those layers.
    pub small_layer_size: u64,
    /// Bytes hashed by the SHA-256 ceiling probe.
    pub sha_bytes: u64,
    /// Bytes written by the disk ceiling probe: as much as the big layer, so
    /// both see the same amount of dirty data before their fsync.
    pub disk_bytes: u64,
    /// Runs of every contender, alternating with its peers.
    pub runs: usize,
}

const MIB: u64 = 1 << 20;

/// The full benchmark of the issues: a 512 MiB layer, 16 × 32 MiB, 1,000
/// manifests, 10 s of load with 50 connections, 8 downloads at once; a 1 GiB
/// layer through the shaped link and 64 × 64 KiB from 20 ms away.
pub const FULL: Sizes = Sizes {
    mode: "full",
    big_layer: 512 * MIB,
    many_layers: 16,
    many_layer_size: 32 * MIB,
    manifests: 1000,
    load_secs: 10,
    load_connections: 50,
    blob_downloads: 8,
    shaped_layer: 1024 * MIB,
    small_layers: 64,
    small_layer_size: 64 * 1024,
    sha_bytes: 1024 * MIB,
    disk_bytes: 512 * MIB,
    runs: 5,
};

/// `--quick`: the same cases, smaller, to finish in under 3 minutes (not
/// counting the first build) and prove the bench works.
pub const QUICK: Sizes = Sizes {
    mode: "quick",
    big_layer: 128 * MIB,
    many_layers: 16,
    many_layer_size: 4 * MIB,
    manifests: 200,
    load_secs: 3,
    load_connections: 50,
    blob_downloads: 8,
    shaped_layer: 64 * MIB,
    small_layers: 64,
    small_layer_size: 64 * 1024,
    sha_bytes: 256 * MIB,
    disk_bytes: 128 * MIB,
    runs: 3,
};

/// Every case, by number: 1–6 over loopback, 7–10 the shaped-link and server
/// log cases (a)–(d) of issue 13.
pub const ALL_CASES: [u8; 10] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

/// The cases of issue 13 by the letters it gives them: (a) is case 7, … (d) is 10.
const LETTERED: [(&str, u8); 4] = [("a", 7), ("b", 8), ("c", 9), ("d", 10)];

/// The environment variable that gives extra `ocipull pull` flags when
/// `--ocipull-args` does not.
pub const OCIPULL_ARGS_ENV: &str = "OCIPULL_BENCH_ARGS";

/// The parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Sizes of the selected mode (with `--runs` applied).
    pub sizes: Sizes,
    /// The cases to run, in order.
    pub cases: Vec<u8>,
    /// Extra `ocipull pull` flags of the second ocipull row of cases 7 and 9
    /// (`--ocipull-args`, else `OCIPULL_BENCH_ARGS`), split on whitespace;
    /// `None` when neither gives any.
    pub ocipull_args: Option<Vec<String>>,
    /// Delete the generated fixtures and registry data instead of running.
    pub clean: bool,
}

impl Options {
    /// Whether case `n` was selected.
    pub fn has(&self, n: u8) -> bool {
        self.cases.contains(&n)
    }

    /// The command line that reproduces this run.
    pub fn command_line(&self) -> String {
        let mut line = String::from("cargo xtask bench");
        let base = if self.sizes.mode == QUICK.mode {
            QUICK
        } else {
            FULL
        };
        if self.sizes.mode == QUICK.mode {
            line.push_str(" --quick");
        }
        if self.sizes.runs != base.runs {
            line.push_str(&format!(" --runs {}", self.sizes.runs));
        }
        if self.cases != ALL_CASES {
            let cases: Vec<String> = self.cases.iter().map(u8::to_string).collect();
            line.push_str(&format!(" --cases {}", cases.join(",")));
        }
        if let Some(args) = &self.ocipull_args {
            line.push_str(&format!(" --ocipull-args \"{}\"", args.join(" ")));
        }
        line
    }
}

/// Usage of `cargo xtask bench`.
pub const USAGE: &str = "\
usage: cargo xtask bench [--quick] [--runs N] [--cases 1,2,...] [--ocipull-args FLAGS] | --clean

  --quick               smaller fixtures and shorter loads (under 3 minutes once built)
  --runs N              runs of every contender (default: 5, quick: 3)
  --cases LIST          only these cases; default: all
                          1-6   loopback: pulls, fetches, manifests, server, ceilings
                          7 (a) 1 big layer, 50 MB/s per connection, 20 ms latency
                          8 (b) 64 x 64 KiB layers, 20 ms latency
                          9 (c) as 7, 100 MB/s in total
                          10 (d) `ocipull serve` manifest GETs with and without its log
  --ocipull-args FLAGS  extra `ocipull pull` flags for a second ocipull row in cases
                        7 and 9, e.g. \"--chunks-per-blob 8\" (default: $OCIPULL_BENCH_ARGS;
                        without either, only the default settings are measured)
  --clean               delete the fixtures and registry data under target/bench
";

/// Parses the arguments after `bench`, with `OCIPULL_BENCH_ARGS` from the
/// environment.
pub fn parse(args: &[String]) -> Result<Options, String> {
    parse_with(args, std::env::var(OCIPULL_ARGS_ENV).ok())
}

/// Parses the arguments after `bench`; `env_flags` is the value of
/// `OCIPULL_BENCH_ARGS`, used when `--ocipull-args` is not given.
fn parse_with(args: &[String], env_flags: Option<String>) -> Result<Options, String> {
    let mut sizes = FULL;
    let mut runs = None;
    let mut cases = ALL_CASES.to_vec();
    let mut clean = false;
    let mut ocipull_args = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => sizes = QUICK,
            "--clean" => clean = true,
            "--runs" => {
                let value = args.next().ok_or("--runs needs a number")?;
                let n: usize = value
                    .parse()
                    .map_err(|_| format!("--runs {value:?}: not a number"))?;
                if n == 0 {
                    return Err("--runs must be at least 1".into());
                }
                runs = Some(n);
            }
            "--cases" => {
                let value = args.next().ok_or("--cases needs a list such as 1,4")?;
                cases = value
                    .split(',')
                    .map(case_number)
                    .collect::<Result<_, _>>()?;
                cases.sort_unstable();
                cases.dedup();
            }
            "--ocipull-args" => {
                let value = args
                    .next()
                    .ok_or("--ocipull-args needs flags such as \"--chunks-per-blob 8\"")?;
                ocipull_args = Some(value.clone());
            }
            other => return Err(format!("unknown argument `{other}`\n\n{USAGE}")),
        }
    }
    if let Some(runs) = runs {
        sizes.runs = runs;
    }
    let ocipull_args = ocipull_args
        .or(env_flags)
        .map(|flags| split_flags(&flags))
        .filter(|flags| !flags.is_empty());
    Ok(Options {
        sizes,
        cases,
        ocipull_args,
        clean,
    })
}

/// A case by number (`7`) or by its letter in issue 13 (`a`).
fn case_number(case: &str) -> Result<u8, String> {
    let case = case.trim();
    let number = LETTERED
        .iter()
        .find(|(letter, _)| case.eq_ignore_ascii_case(letter))
        .map(|(_, n)| *n)
        .or_else(|| case.parse().ok());
    match number {
        Some(n) if ALL_CASES.contains(&n) => Ok(n),
        _ => Err(format!(
            "--cases: {case:?} is not a case (1-10, or a-d for 7-10)"
        )),
    }
}

/// Flags given as one string, split on whitespace (no quoting: no flag of
/// `ocipull pull` needs a value with spaces).
fn split_flags(flags: &str) -> Vec<String> {
    flags.split_whitespace().map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| word.to_string()).collect()
    }

    /// Parses without the environment, so the tests do not depend on it.
    fn parse(args: &[String]) -> Result<Options, String> {
        parse_with(args, None)
    }

    #[test]
    fn defaults_are_the_full_bench_of_every_case() {
        let options = parse(&[]).unwrap();
        assert_eq!(options.sizes, FULL);
        assert_eq!(options.cases, ALL_CASES);
        assert_eq!(options.command_line(), "cargo xtask bench");
    }

    #[test]
    fn quick_runs_and_cases_are_applied_and_reproduced() {
        let options = parse(&args(&["--quick", "--runs", "2", "--cases", "4,1,4"])).unwrap();
        assert_eq!(options.sizes.mode, "quick");
        assert_eq!(options.sizes.runs, 2);
        assert_eq!(options.cases, [1, 4]);
        assert_eq!(
            options.command_line(),
            "cargo xtask bench --quick --runs 2 --cases 1,4"
        );
    }

    #[test]
    fn new_cases_by_number_or_letter_and_extra_ocipull_flags() {
        let options = parse(&args(&[
            "--cases",
            "b,7,D",
            "--ocipull-args",
            " --chunks-per-blob  8 ",
        ]))
        .unwrap();
        assert_eq!(options.cases, [7, 8, 10]);
        assert_eq!(
            options.ocipull_args.as_deref(),
            Some(&["--chunks-per-blob".to_owned(), "8".to_owned()][..])
        );
        assert_eq!(
            options.command_line(),
            "cargo xtask bench --cases 7,8,10 --ocipull-args \"--chunks-per-blob 8\""
        );
        // Blank flags are no second configuration.
        let blank = parse(&args(&["--ocipull-args", "  "])).unwrap();
        assert_eq!(blank.ocipull_args, None);
        // The environment stands in for the flag, and the flag wins over it.
        let env = Some("--chunk-size 8MiB".to_owned());
        let from_env = parse_with(&[], env.clone()).unwrap();
        assert_eq!(from_env.ocipull_args.unwrap(), ["--chunk-size", "8MiB"]);
        let flag = parse_with(&args(&["--ocipull-args", "-j 2"]), env).unwrap();
        assert_eq!(flag.ocipull_args.unwrap(), ["-j", "2"]);
    }

    #[test]
    fn bad_arguments_are_refused() {
        for bad in [
            &["--runs"][..],
            &["--runs", "0"],
            &["--runs", "x"],
            &["--cases", "11"],
            &["--cases", "e"],
            &["--ocipull-args"],
            &["--cases", ""],
            &["--fast"],
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad:?} was accepted");
        }
    }
}
