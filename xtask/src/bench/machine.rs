//! The machine a run measured: what the report states so that figures can be
//! compared, and the load average that says whether the machine was quiet.

use std::path::Path;
use std::process::Command;

/// `(what, value)` lines describing the machine and the programs measured.
pub fn describe(
    root: &Path,
    out: &Path,
    programs: &super::build::Programs,
) -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = field(&cpuinfo, "model name").unwrap_or("unknown");
    let sha_ni =
        field(&cpuinfo, "flags").is_some_and(|flags| flags.split(' ').any(|f| f == "sha_ni"));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = field(&meminfo, "MemTotal")
        .and_then(|kib| kib.trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or("unknown".to_owned(), |kib| {
            format!("{:.1} GiB", kib / 1048576.0)
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut lines = vec![
        (
            "date".into(),
            output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        ),
        (
            "cpu".into(),
            format!(
                "{model}, {cores} cores{}",
                if sha_ni { " (SHA-NI)" } else { " (no SHA-NI)" }
            ),
        ),
        ("memory".into(), memory),
        ("kernel".into(), format!("Linux {}", kernel.trim())),
        ("disk of the layouts".into(), filesystem(out)),
        (
            "ocipull".into(),
            format!(
                "commit {}",
                output_in(
                    root,
                    "git",
                    &["describe", "--always", "--dirty", "--exclude", "*"]
                )
            ),
        ),
        ("rustc".into(), output("rustc", &["--version"])),
    ];
    let peers = [
        (
            "docker-registry",
            output_of(&programs.docker_registry, &["--version"]),
        ),
        ("skopeo", output_of(&programs.skopeo, &["--version"])),
        (
            "oci-client",
            lock_version(&root.join("bench/Cargo.lock"), "oci-client"),
        ),
        ("wrk", output_of(&programs.wrk, &["-v"])),
    ];
    lines.extend(
        peers
            .into_iter()
            .map(|(name, version)| (name.to_owned(), version)),
    );
    lines
}

/// The 1-minute load average: near 0 on a quiet machine; above the number of
/// cores, other work was competing with the bench.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split(' ').next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

fn field<'t>(text: &'t str, name: &str) -> Option<&'t str> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim())
    })
}

fn output(program: &str, args: &[&str]) -> String {
    output_of(Path::new(program), args)
}

fn output_of(program: &Path, args: &[&str]) -> String {
    let mut command = Command::new(program);
    command.args(args);
    first_line(command)
}

fn output_in(dir: &Path, program: &str, args: &[&str]) -> String {
    let mut command = Command::new(program);
    command.current_dir(dir).args(args);
    first_line(command)
}

fn first_line(mut command: Command) -> String {
    // wrk prints its version on stdout and exits 1; take whatever it said.
    command
        .output()
        .ok()
        .and_then(|output| {
            let text = if output.stdout.is_empty() {
                output.stderr
            } else {
                output.stdout
            };
            String::from_utf8(text).ok()
        })
        .and_then(|text| text.lines().next().map(|line| line.trim().to_owned()))
        .filter(|line| !line.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// `version` of package `name` in a `Cargo.lock`.
fn lock_version(lock: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(lock).unwrap_or_default();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line == format!("name = \"{name}\"") {
            if let Some(version) = lines.next().and_then(|l| l.strip_prefix("version = ")) {
                return version.trim_matches('"').to_owned();
            }
        }
    }
    "unknown".into()
}

/// The device and filesystem type `path` is on (longest mount point prefix).
fn filesystem(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_owned());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let (device, mount, fstype) = (fields.next()?, fields.next()?, fields.next()?);
            path.starts_with(mount)
                .then(|| (mount.len(), format!("{device} ({fstype})")))
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| "unknown".into(), |(_, fs)| fs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuinfo_fields() {
        let text = "processor\t: 0\nmodel name\t: Some CPU @ 2GHz\nflags\t\t: fpu sha_ni\n";
        assert_eq!(field(text, "model name"), Some("Some CPU @ 2GHz"));
        assert_eq!(field(text, "missing"), None);
    }

    #[test]
    fn versions_from_a_lockfile() {
        let dir = std::env::temp_dir().join(format!("xtask-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let lock = dir.join("Cargo.lock");
        std::fs::write(
            &lock,
            "[[package]]\nname = \"oci-client\"\nversion = \"0.18.0\"\n",
        )
        .unwrap();
        assert_eq!(lock_version(&lock, "oci-client"), "0.18.0");
        assert_eq!(lock_version(&lock, "other"), "unknown");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
