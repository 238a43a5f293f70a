//! `cargo xtask bench`: ocipull side by side with its peers, and the
//! machine's ceilings, written to `target/bench/report.md`. Never part of
//! `cargo xtask test`.
//!
//! The cases are the issue's: (1) a client pulling one big layer, and the
//! library's fetch + verify into a discarding sink; (2) the same with many
//! layers; (3) many small manifests by digest; (4) a server answering manifest
//! GETs under `wrk`; (5) a server sending a big blob to 8 downloads at once;
//! (6) the ceilings: SHA-256 on one core, disk write + fsync, bare hyper over
//! loopback. Every contender runs several times, alternating with its peers.
//!
//! Beyond loopback (issue 13's (a)–(d)), served by `ocipull serve` shaping
//! every request with a `--faults` shaping rule, every peer pulling from the
//! same server: (7) one big layer (1 GiB; 64 MiB with `--quick`) at 50 MB/s
//! per connection with 20 ms added latency, `ocipull pull` vs `skopeo copy`
//! vs the durable `oci-client` program; (8) 64 layers of 64 KiB at 20 ms
//! latency, time to a complete durable layout; (9) as 7 under a 100 MB/s
//! cap on all connections together; (10) `ocipull serve` manifest GETs/s
//! under `wrk` with logging off, with its default stderr request log and with
//! `--log-file`. Cases 7 and 9 run `ocipull pull` twice when a second
//! configuration is known: the flags of `--ocipull-args` (or
//! `OCIPULL_BENCH_ARGS`), else `--chunks-per-blob 8` once the built `ocipull`
//! has that flag; otherwise only its defaults. `--cases` picks cases by
//! number, or 7–10 by the letters a–d.
//!
//! Fixtures (random, incompressible) are written by `bench/tools`, the
//! `oci-client` peer lives in `bench/peers`, both built in release mode in a
//! workspace of their own; the installed peers come from
//! `scripts/install-bench-peers.sh`. Generated data stays under
//! `target/bench/<mode>/` for the next run; `--clean` removes it.

mod build;
mod cases;
mod fixtures;
mod machine;
mod measure;
mod options;
mod report;
mod servers;
mod stats;
mod targets;

use std::path::{Path, PathBuf};
use std::time::Instant;

use cases::Ctx;
use report::Report;

/// Runs the benchmarks (see the module docs and `cargo xtask bench --help`).
pub fn run(args: &[String]) -> crate::Result {
    if args.iter().any(|arg| arg == "-h" || arg == "--help") {
        print!("{}", options::USAGE);
        return Ok(());
    }
    let options = options::parse(args)?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("xtask has no parent directory")?
        .to_owned();
    let out = root.join("target/bench");
    if options.clean {
        for mode in [options::FULL.mode, options::QUICK.mode] {
            let dir = out.join(mode);
            if dir.exists() {
                println!("removing {}", dir.display());
                std::fs::remove_dir_all(&dir)?;
            }
        }
        return Ok(());
    }
    let programs = build::prepare(&root)?;
    let started = Instant::now();
    let load_start = machine::load_average();
    let base = out.join(options.sizes.mode);
    let ctx = Ctx {
        programs: &programs,
        sizes: options.sizes,
        work: measure::fresh_dir(base.join("work"))?,
        logs: dir(base.join("logs"))?,
        ticks: measure::ticks_per_sec(),
    };
    let fixtures = fixtures::prepare(&programs, &base, &options.sizes)?;
    let storage = base.join("registry");
    // Only the loopback cases read Distribution's storage; pushing a big
    // fixture into it is not worth waiting for when they do not run.
    if options.cases.iter().any(|case| *case <= 6) {
        fixtures::fill_registry(&programs, &fixtures, &storage, &ctx.logs)?;
    }

    let mut tables = Vec::new();
    let mut ceilings = cases::limits::Ceilings::default();
    if options.has(6) {
        let (table, measured) = cases::limits::run(&ctx, &fixtures.big, &storage);
        ceilings = measured;
        tables.push(table);
    }
    if options.has(1) || options.has(2) || options.has(3) {
        let registry = servers::distribution(
            &programs.docker_registry,
            &storage,
            servers::free_addr()?,
            &ctx.logs,
        )?;
        let addr = registry.addr().to_owned();
        if options.has(1) {
            let big = &fixtures.big;
            let size = big.layer_size >> 20;
            tables.push(cases::client::pull(
                &ctx,
                "big-pull",
                &format!("1. Client, one {size} MiB layer: pull to disk"),
                big,
                &addr,
                ceilings.for_pull(),
            ));
            tables.push(cases::client::fetch(
                &ctx,
                "big-fetch",
                &format!("1b. Client, one {size} MiB layer: fetch + verify, library vs library"),
                big,
                &addr,
                ceilings.for_fetch(),
            ));
        }
        if options.has(2) {
            let many = &fixtures.many;
            let title = format!(
                "{} × {} MiB layers",
                many.layers.len(),
                many.layer_size >> 20
            );
            tables.push(cases::client::pull(
                &ctx,
                "many-pull",
                &format!("2. Client, {title}: pull to disk"),
                many,
                &addr,
                ceilings.for_pull(),
            ));
            tables.push(cases::client::fetch(
                &ctx,
                "many-fetch",
                &format!("2b. Client, {title}: fetch + verify, library vs library"),
                many,
                &addr,
                ceilings.for_fetch(),
            ));
        }
        if options.has(3) {
            tables.push(cases::client::manifests(&ctx, &fixtures.manifests, &addr));
        }
    }
    if options.has(4) {
        tables.push(cases::server::manifests(&ctx, &fixtures, &storage));
    }
    if options.has(5) {
        tables.push(cases::server::blobs(
            &ctx,
            &fixtures,
            &storage,
            ceilings.loopback_many,
        ));
    }
    // Case 6 ran first so every table could use its ceilings; it reads best
    // last of the loopback cases.
    if options.has(6) {
        tables.rotate_left(1);
    }
    tables.extend(far_cases(&ctx, &options, &fixtures));

    let report = Report {
        command: options.command_line(),
        runs: options.sizes.runs,
        machine: machine::describe(&root, &ctx.work, &programs),
        load: (load_start, machine::load_average()),
        checks: targets::evaluate(&tables),
        tables,
        elapsed: started.elapsed().as_secs_f64(),
    };
    std::fs::remove_dir_all(&ctx.work)?;
    let path = out.join("report.md");
    std::fs::write(&path, report::render(&report))?;
    println!("\nwrote {}", path.display());
    for check in &report.checks {
        let met = match check.met {
            Some(true) => "met    ",
            Some(false) => "MISSED ",
            None => "n/a    ",
        };
        println!("  {met} {}: {}", check.target, check.measured);
    }
    let failed: Vec<String> = report
        .tables
        .iter()
        .flat_map(|table| {
            table
                .rows
                .iter()
                .filter(|row| row.error.is_some())
                .map(move |row| format!("{} / {}", table.title, row.name))
        })
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} contender(s) failed (see {}): {}",
            failed.len(),
            path.display(),
            failed.join("; ")
        )
        .into())
    }
}

/// Cases 7–10: beyond loopback, through `ocipull serve`'s shaping rules.
fn far_cases(
    ctx: &Ctx<'_>,
    options: &options::Options,
    fixtures: &fixtures::Fixtures,
) -> Vec<report::Table> {
    use cases::shaped::{self, CONNECTION_RATE, LATENCY_MS, Link, Shaped, TOTAL_RATE};
    let mut tables = Vec::new();
    let capped = Link {
        latency_ms: LATENCY_MS,
        connection_rate: Some(CONNECTION_RATE),
        total_rate: None,
    };
    let extra = if options.has(7) || options.has(9) {
        shaped::second_config(ctx, options.ocipull_args.as_deref())
    } else {
        None
    };
    let big = &fixtures.shaped;
    let size = big.layer_size >> 20;
    if options.has(7) {
        tables.push(shaped::run(
            ctx,
            Shaped {
                id: "shaped-big",
                title: format!(
                    "7. (a) Client, one {size} MiB layer at 50 MB/s per connection, 20 ms away"
                ),
                image: big,
                link: capped,
                extra: extra.clone(),
                per_layer: false,
            },
        ));
    }
    if options.has(8) {
        let small = &fixtures.small;
        tables.push(shaped::run(
            ctx,
            Shaped {
                id: "shaped-small",
                title: format!(
                    "8. (b) Client, {} × {} KiB layers, 20 ms away",
                    small.layers.len(),
                    small.layer_size >> 10
                ),
                image: small,
                link: Link {
                    latency_ms: LATENCY_MS,
                    connection_rate: None,
                    total_rate: None,
                },
                extra: None,
                per_layer: true,
            },
        ));
    }
    if options.has(9) {
        tables.push(shaped::run(
            ctx,
            Shaped {
                id: "shaped-total",
                title: format!(
                    "9. (c) Client, one {size} MiB layer at 50 MB/s per connection and \
                     100 MB/s in total, 20 ms away"
                ),
                image: big,
                link: Link {
                    total_rate: Some(TOTAL_RATE),
                    ..capped
                },
                extra,
                per_layer: false,
            },
        ));
    }
    if options.has(10) {
        tables.push(cases::server_log::run(ctx, fixtures));
    }
    tables
}

fn dir(path: PathBuf) -> crate::Result<PathBuf> {
    std::fs::create_dir_all(&path)
        .map_err(|error| format!("creating {}: {error}", path.display()))?;
    Ok(path)
}
