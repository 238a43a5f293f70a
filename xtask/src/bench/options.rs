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
    /// Bytes hashed by the SHA-256 ceiling probe.
    pub sha_bytes: u64,
    /// Bytes written by the disk ceiling probe: as much as the big layer, so
    /// both see the same amount of dirty data before their fsync.
    pub disk_bytes: u64,
    /// Runs of every contender, alternating with its peers.
    pub runs: usize,
}

const MIB: u64 = 1 << 20;

/// The full benchmark of the issue: a 512 MiB layer, 16 × 32 MiB, 1,000
/// manifests, 10 s of load with 50 connections, 8 downloads at once.
pub const FULL: Sizes = Sizes {
    mode: "full",
    big_layer: 512 * MIB,
    many_layers: 16,
    many_layer_size: 32 * MIB,
    manifests: 1000,
    load_secs: 10,
    load_connections: 50,
    blob_downloads: 8,
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
    sha_bytes: 256 * MIB,
    disk_bytes: 128 * MIB,
    runs: 3,
};

/// Every case of the issue, by number.
pub const ALL_CASES: [u8; 6] = [1, 2, 3, 4, 5, 6];

/// The parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Sizes of the selected mode (with `--runs` applied).
    pub sizes: Sizes,
    /// The cases to run, in order.
    pub cases: Vec<u8>,
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
        line
    }
}

/// Usage of `cargo xtask bench`.
pub const USAGE: &str = "\
usage: cargo xtask bench [--quick] [--runs N] [--cases 1,2,...] | --clean

  --quick        smaller fixtures and shorter loads (under 3 minutes once built)
  --runs N       runs of every contender (default: 5, quick: 3)
  --cases LIST   only these cases (1-6, see the issue); default: all
  --clean        delete the fixtures and registry data under target/bench
";

/// Parses the arguments after `bench`.
pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut sizes = FULL;
    let mut runs = None;
    let mut cases = ALL_CASES.to_vec();
    let mut clean = false;
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
                    .map(|case| match case.trim().parse::<u8>() {
                        Ok(n) if ALL_CASES.contains(&n) => Ok(n),
                        _ => Err(format!("--cases: {case:?} is not a case (1-6)")),
                    })
                    .collect::<Result<_, _>>()?;
                cases.sort_unstable();
                cases.dedup();
            }
            other => return Err(format!("unknown argument `{other}`\n\n{USAGE}")),
        }
    }
    if let Some(runs) = runs {
        sizes.runs = runs;
    }
    Ok(Options {
        sizes,
        cases,
        clean,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| word.to_string()).collect()
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
    fn bad_arguments_are_refused() {
        for bad in [
            &["--runs"][..],
            &["--runs", "0"],
            &["--runs", "x"],
            &["--cases", "7"],
            &["--cases", ""],
            &["--fast"],
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad:?} was accepted");
        }
    }
}
