//! The client and the server never depend on each other (not even for their tests), and
//! both stand on `ocipull-spec` alone among the project's crates.

use std::process::Command;

fn dependencies_of(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pkg = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == package)
        .unwrap_or_else(|| panic!("{package} is a workspace member"));
    // Every kind: normal, build and dev dependencies.
    pkg["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .collect()
}

fn project_crates(deps: &[String]) -> Vec<&str> {
    let mut own: Vec<&str> = deps
        .iter()
        .map(String::as_str)
        .filter(|d| d.starts_with("ocipull"))
        .collect();
    // A crate may be named twice: as a dependency and, with other features, as a
    // dev-dependency.
    own.sort();
    own.dedup();
    own
}

#[test]
fn client_and_server_depend_only_on_spec() {
    assert_eq!(
        project_crates(&dependencies_of("ocipull-client")),
        ["ocipull-spec"]
    );
    assert_eq!(
        project_crates(&dependencies_of("ocipull-server")),
        ["ocipull-spec"]
    );
    assert!(project_crates(&dependencies_of("ocipull-spec")).is_empty());
}

/// The names in `cargo tree -p ocipull-spec -e normal` with the given feature arguments.
fn spec_tree(features: &[&str]) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args(["tree", "-p", "ocipull-spec", "-e", "normal", "--offline"])
        .args(["--prefix", "none", "--format", "{p}"])
        .args(features)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn has_crate(tree: &str, name: &str) -> bool {
    tree.lines()
        .any(|line| line.split_whitespace().next() == Some(name))
}

/// `ocipull-spec` is pure data unless asked for its I/O: parsing a reference must not
/// bring in an async runtime or temp files. The `layout` feature brings both, which also
/// shows the check can fail.
#[test]
fn spec_without_features_has_no_runtime_or_temp_files() {
    let bare = spec_tree(&["--no-default-features"]);
    assert!(has_crate(&bare, "ocipull-spec"), "{bare}");
    for io in ["tokio", "tempfile"] {
        assert!(!has_crate(&bare, io), "{io} without features:\n{bare}");
    }
    let layout = spec_tree(&["--no-default-features", "--features", "layout"]);
    for io in ["tokio", "tempfile"] {
        assert!(has_crate(&layout, io), "{io} with `layout`:\n{layout}");
    }
}
