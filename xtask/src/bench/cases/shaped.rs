//! Cases 7–9, issue 13's (a)–(c): clients pulling from `ocipull serve` through
//! a link it shapes itself (`--faults FILE` shaping rules: latency added to
//! every request, bandwidth capped per connection and in total), every
//! contender against the same server.

use std::path::Path;
use std::process::Command;

use super::super::fixtures::Image;
use super::super::report::{Ceiling, Table};
use super::super::servers::{self, ServeLog};
use super::client::{PullCommand, oci_client, ocipull_pull, pull_once, skopeo_copy};
use super::{Contender, Ctx, alternate};

/// The flag of `ocipull pull` that sets the chunks in flight per blob; its
/// default is 8 (issue 13's figure), and `0` makes one connection per blob, the
/// automatic second row of cases 7 and 9.
const CHUNK_FLAG: &str = "--chunks-per-blob";

/// A shaped link, as `ocipull serve`'s shaping rules give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Added before every response, in milliseconds.
    pub latency_ms: u64,
    /// Bytes per second of each connection, if capped.
    pub connection_rate: Option<u64>,
    /// Bytes per second of all connections together, if capped.
    pub total_rate: Option<u64>,
}

/// 50 MB/s: the per-connection cap of a CDN or object store in issue 13.
pub const CONNECTION_RATE: u64 = 50_000_000;
/// 100 MB/s: the total cap of case 9.
pub const TOTAL_RATE: u64 = 100_000_000;
/// 20 ms: a registry in another region.
pub const LATENCY_MS: u64 = 20;

impl Link {
    /// The rules document of `ocipull serve --faults` (see
    /// `ocipull_server::Rules`): one shaping rule for every request.
    pub fn rules_json(&self) -> String {
        let mut fields = vec![format!("\"latency_ms\": {}", self.latency_ms)];
        if let Some(rate) = self.connection_rate {
            fields.push(format!("\"connection_rate\": {rate}"));
        }
        if let Some(rate) = self.total_rate {
            fields.push(format!("\"total_rate\": {rate}"));
        }
        format!("{{\"shaping\": [{{{}}}]}}\n", fields.join(", "))
    }

    /// The link in words, for the report.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("{} ms added to every response", self.latency_ms)];
        if let Some(rate) = self.connection_rate {
            parts.push(format!("{} MB/s per connection", rate / 1_000_000));
        }
        if let Some(rate) = self.total_rate {
            parts.push(format!("{} MB/s in total", rate / 1_000_000));
        }
        parts.join(", ")
    }
}

/// The extra `ocipull pull` flags of the second ocipull row: those given, or
/// `--chunks-per-blob 0` (one connection per blob, to compare the chunked
/// defaults with) when the built `ocipull pull` has that flag, or none.
pub fn second_config(ctx: &Ctx<'_>, given: Option<&[String]>) -> Option<Vec<String>> {
    if let Some(given) = given {
        return Some(given.to_vec());
    }
    let ocipull = ctx.programs.ocipull.as_ref().ok()?;
    let help = Command::new(ocipull)
        .args(["pull", "--help"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&help.stdout)
        .contains(CHUNK_FLAG)
        .then(|| vec![CHUNK_FLAG.to_owned(), "0".to_owned()])
}

/// What a shaped case measures.
pub struct Shaped<'i> {
    /// Table id (see [`Table::id`]).
    pub id: &'static str,
    /// Table heading.
    pub title: String,
    /// The image pulled.
    pub image: &'i Image,
    /// The link it comes through.
    pub link: Link,
    /// Extra `ocipull pull` flags of a second ocipull row, if any.
    pub extra: Option<Vec<String>>,
    /// Rate in layers/s instead of MB/s (many small layers: time matters, not bytes).
    pub per_layer: bool,
}

/// Runs a shaped case: one `ocipull serve` with the link's rules, and
/// `ocipull pull` (default settings, then with the extra flags), `skopeo copy`
/// and the durable `oci-client` program pulling through it in alternation.
pub fn run(ctx: &Ctx<'_>, case: Shaped<'_>) -> Table {
    let image = case.image;
    let (unit, work) = if case.per_layer {
        ("layers/s", image.layers.len() as f64)
    } else {
        ("MB/s", image.bytes() as f64 / 1e6)
    };
    let rules = ctx.logs.join(format!("{}.rules.json", case.id));
    let server = std::fs::write(&rules, case.link.rules_json())
        .map_err(|error| format!("writing {}: {error}", rules.display()).into())
        .and_then(|()| start(ctx, image, &rules));
    let reference = server
        .as_ref()
        .map(|server| image.reference(server.addr()))
        .map_err(|error| format!("`ocipull serve` with the shaping rules: {error}"));
    let mut commands: Vec<(&'static str, String, Result<PullCommand<'_>, String>)> = Vec::new();
    let pull = |extra: &[String]| -> Result<PullCommand<'_>, String> {
        let reference = reference.clone()?;
        ocipull_pull(ctx, &reference, extra)
    };
    commands.push(("ocipull", "`ocipull pull` (defaults)".into(), pull(&[])));
    if let Some(extra) = &case.extra {
        commands.push((
            "ocipull-args",
            format!("`ocipull pull {}`", extra.join(" ")),
            pull(extra),
        ));
    }
    commands.push((
        "skopeo",
        "`skopeo copy`".into(),
        reference.clone().map(|r| skopeo_copy(ctx, &r)),
    ));
    commands.push((
        "oci-client-stream-fsync",
        "oci-client `pull_blob_stream` → file + fsync".into(),
        reference
            .clone()
            .map(|r| oci_client(ctx, "stream-fsync", &r)),
    ));
    let contenders = commands
        .into_iter()
        .map(|(key, name, command)| match command {
            Err(why) => Contender::unavailable(key, name, why),
            Ok(command) => Contender::new(key, name, move || pull_once(ctx, image, &command, work)),
        })
        .collect();
    let rows = alternate(case.id, ctx.sizes.runs, contenders);
    drop(server);
    let second = match &case.extra {
        Some(extra) => format!("a second `ocipull pull` row adds `{}`", extra.join(" ")),
        None => format!(
            "no second `ocipull pull` row: the built `ocipull` has no `{CHUNK_FLAG}` and no \
             `--ocipull-args` were given"
        ),
    };
    Table {
        id: case.id,
        title: case.title,
        about: format!(
            "Pull `{}` ({} × {}) from `ocipull serve` shaping every request: {} \
             (`--faults` shaping rule `{}`), the same server for every contender, into a new \
             OCI layout on local disk; `sync` before each run; {second}. Rate = {} / wall time \
             of the whole program, to a complete layout (durable for `ocipull pull` and the \
             oci-client program, which fsync). CPU time and peak RSS of the client process \
             (GNU time).",
            image.reference("REGISTRY"),
            image.layers.len(),
            size(image.layer_size),
            case.link.describe(),
            case.link.rules_json().trim(),
            if case.per_layer {
                "layers"
            } else {
                "layer bytes"
            },
        ),
        unit,
        whose: "client",
        ceilings: if case.per_layer {
            Vec::new()
        } else {
            link_ceilings(&case.link)
        },
        rows,
    }
}

/// What the link lets through: one connection (the lower of the caps), then
/// every connection together when there is a total cap.
fn link_ceilings(link: &Link) -> Vec<Ceiling> {
    let ceiling = |name: &str, rate: u64| Ceiling {
        name: name.into(),
        rate: rate as f64 / 1e6,
    };
    let one = match (link.connection_rate, link.total_rate) {
        (Some(one), Some(all)) => Some(one.min(all)),
        (one, all) => one.or(all),
    };
    let mut ceilings: Vec<Ceiling> = one
        .map(|rate| ceiling("one connection", rate))
        .into_iter()
        .collect();
    if let Some(all) = link.total_rate {
        ceilings.push(ceiling("the total cap", all));
    }
    ceilings
}

fn start(ctx: &Ctx<'_>, image: &Image, rules: &Path) -> crate::Result<servers::Server> {
    let ocipull = ctx.programs.ocipull.clone()?;
    servers::ocipull_with(
        &ocipull,
        &[(image.repo, &image.dir)],
        servers::free_addr()?,
        &ctx.logs,
        Some(rules),
        ServeLog::Off,
    )
}

/// `64 KiB`, `1024 MiB`.
fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_documents_of_the_links() {
        let a = Link {
            latency_ms: LATENCY_MS,
            connection_rate: Some(CONNECTION_RATE),
            total_rate: None,
        };
        assert_eq!(
            a.rules_json(),
            "{\"shaping\": [{\"latency_ms\": 20, \"connection_rate\": 50000000}]}\n"
        );
        assert_eq!(
            a.describe(),
            "20 ms added to every response, 50 MB/s per connection"
        );
        let b = Link {
            latency_ms: 20,
            connection_rate: None,
            total_rate: None,
        };
        assert_eq!(b.rules_json(), "{\"shaping\": [{\"latency_ms\": 20}]}\n");
        assert!(link_ceilings(&b).is_empty());
        let one = link_ceilings(&a);
        assert_eq!(one.len(), 1);
        assert_eq!(
            (one[0].name.as_str(), one[0].rate),
            ("one connection", 50.0)
        );
        let c = Link {
            total_rate: Some(TOTAL_RATE),
            ..a
        };
        assert!(c.rules_json().contains("\"total_rate\": 100000000"));
        // One connection gets the lower cap: 50 MB/s under a 100 MB/s total.
        let rates: Vec<f64> = link_ceilings(&c).iter().map(|c| c.rate).collect();
        assert_eq!(rates, [50.0, 100.0]);
        let tight = Link {
            total_rate: Some(10_000_000),
            ..a
        };
        let rates: Vec<f64> = link_ceilings(&tight).iter().map(|c| c.rate).collect();
        assert_eq!(rates, [10.0, 10.0]);
    }

    #[test]
    fn sizes_in_words() {
        assert_eq!(size(64 * 1024), "64 KiB");
        assert_eq!(size(1 << 30), "1024 MiB");
    }
}
