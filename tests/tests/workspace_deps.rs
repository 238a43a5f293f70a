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
    own.sort();
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
