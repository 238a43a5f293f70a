//! The fixtures: OCI image layouts of random, incompressible data written by
//! `bench-fixture`, and the same content pushed into Distribution's storage.
//!
//! Both are kept under `target/bench/<mode>/` and reused while their
//! parameters are unchanged (a `.info` file beside each records them), since
//! writing and pushing a gigabyte takes longer than some cases.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::build::Programs;
use super::options::Sizes;
use super::{measure, servers};
use crate::cmd;

/// An image whose layers are all the same size.
#[derive(Debug)]
pub struct Image {
    /// Repository it is served as.
    pub repo: &'static str,
    /// Its layout directory.
    pub dir: PathBuf,
    /// Layer digests, in manifest order.
    pub layers: Vec<String>,
    /// Size of its image manifest.
    pub manifest_size: u64,
    /// Size of each layer.
    pub layer_size: u64,
}

impl Image {
    /// Total layer bytes: what a pull moves.
    pub fn bytes(&self) -> u64 {
        self.layers.len() as u64 * self.layer_size
    }

    /// `addr/repo:latest`.
    pub fn reference(&self, addr: &str) -> String {
        format!("{addr}/{}:latest", self.repo)
    }

    /// Where layer `digest` is in a layout written at `dir`.
    pub fn blob_path(dir: &Path, digest: &str) -> PathBuf {
        dir.join("blobs/sha256")
            .join(digest.strip_prefix("sha256:").unwrap_or(digest))
    }
}

/// Many small manifests in one repository.
#[derive(Debug)]
pub struct Manifests {
    /// Repository they are served as.
    pub repo: &'static str,
    /// Their layout directory.
    pub dir: PathBuf,
    /// File listing their digests, one per line.
    pub digests: PathBuf,
    /// How many there are.
    pub count: u32,
}

/// All fixtures of one mode.
#[derive(Debug)]
pub struct Fixtures {
    /// One big layer (cases 1 and 5).
    pub big: Image,
    /// Many layers (case 2).
    pub many: Image,
    /// Many small manifests (case 3).
    pub manifests: Manifests,
    /// One big layer for the shaped link (cases 7 and 9).
    pub shaped: Image,
    /// Many small layers from far away (case 8).
    pub small: Image,
}

/// Writes whatever fixture is missing or stale under `base`.
pub fn prepare(programs: &Programs, base: &Path, sizes: &Sizes) -> crate::Result<Fixtures> {
    let dir = base.join("fixtures");
    std::fs::create_dir_all(&dir)?;
    let generator = programs.tool("bench-fixture");
    let image = |name: &'static str, seed: u64, layers: u32, size: u64| -> crate::Result<Image> {
        let out = dir.join(name);
        let mut command = Command::new(&generator);
        command
            .arg("image")
            .arg("--out")
            .arg(&out)
            .args(["--seed", &seed.to_string()])
            .args(["--layers", &layers.to_string()])
            .args(["--layer-size", &size.to_string()]);
        let info = ensure(&out, command)?;
        let manifest = info
            .lines()
            .find_map(|line| line.strip_prefix("manifest="))
            .ok_or_else(|| format!("{}: no manifest= line", out.display()))?;
        let manifest_size = Image::blob_path(&out, manifest).metadata()?.len();
        Ok(Image {
            manifest_size,
            repo: name,
            layers: info
                .lines()
                .filter_map(|line| line.strip_prefix("layer="))
                .map(str::to_owned)
                .collect(),
            dir: out,
            layer_size: size,
        })
    };
    let big = image("big", 1, 1, sizes.big_layer)?;
    let many = image("many", 2, sizes.many_layers, sizes.many_layer_size)?;
    let shaped = image("shaped", 4, 1, sizes.shaped_layer)?;
    let small = image("small", 5, sizes.small_layers, sizes.small_layer_size)?;
    let out = dir.join("manifests");
    let digests = dir.join("manifests.digests");
    let mut command = Command::new(&generator);
    command
        .arg("manifests")
        .arg("--out")
        .arg(&out)
        .args(["--seed", "3"])
        .args(["--count", &sizes.manifests.to_string()])
        .arg("--digests")
        .arg(&digests);
    ensure(&out, command)?;
    Ok(Fixtures {
        big,
        many,
        shaped,
        small,
        manifests: Manifests {
            repo: "manifests",
            dir: out,
            digests,
            count: sizes.manifests,
        },
    })
}

/// Runs `command` to create the layout `out` unless `out` exists and its
/// `.info` records the same command; returns the info (the generator's output).
fn ensure(out: &Path, command: Command) -> crate::Result<String> {
    let info_path = out.with_extension("info");
    let params = format!("command={}\n", cmd::display(&command));
    if out.is_dir()
        && let Ok(info) = std::fs::read_to_string(&info_path)
        && info.starts_with(&params)
    {
        return Ok(info);
    }
    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    println!("$ {}", cmd::display(&command));
    let mut command = command;
    let output = command.output()?;
    if !output.status.success() {
        return Err(format!(
            "writing fixture {}: {}",
            out.display(),
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let info = format!("{params}{}", String::from_utf8_lossy(&output.stdout));
    std::fs::write(&info_path, &info)?;
    Ok(info)
}

/// Makes Distribution's storage under `base` hold every fixture, pushing them
/// through a temporary `docker-registry` unless the storage's stamp says it
/// already holds these exact fixtures.
pub fn fill_registry(
    programs: &Programs,
    fixtures: &Fixtures,
    storage: &Path,
    logs: &Path,
) -> crate::Result {
    let stamp = storage.with_extension("filled");
    let wanted: String = [
        &fixtures.big.dir,
        &fixtures.many.dir,
        &fixtures.manifests.dir,
    ]
    .iter()
    .map(|dir| std::fs::read_to_string(dir.with_extension("info")).unwrap_or_default())
    .collect();
    if storage.is_dir() && std::fs::read_to_string(&stamp).is_ok_and(|stamp| stamp == wanted) {
        return Ok(());
    }
    if storage.exists() {
        std::fs::remove_dir_all(storage)?;
    }
    let registry = servers::distribution(
        &programs.docker_registry,
        storage,
        servers::free_addr()?,
        logs,
    )?;
    let layouts = [
        (fixtures.big.repo, &fixtures.big.dir),
        (fixtures.many.repo, &fixtures.many.dir),
        (fixtures.manifests.repo, &fixtures.manifests.dir),
    ];
    for (repo, dir) in layouts {
        let mut push = Command::new(programs.tool("bench-push"));
        push.args(["--registry", registry.addr(), "--repo", repo])
            .arg("--layout")
            .arg(dir);
        let line = cmd::display(&push);
        println!("$ {line}");
        let output = push.output()?;
        if !output.status.success() {
            return Err(format!(
                "`{line}` failed: {}\nregistry log: {}",
                measure::tail(&String::from_utf8_lossy(&output.stderr), 6),
                registry.log_tail()
            )
            .into());
        }
    }
    drop(registry);
    std::fs::write(&stamp, wanted)?;
    Ok(())
}
