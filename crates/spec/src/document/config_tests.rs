use super::*;

/// The shape `docker build` writes, with `null`s and members this crate does not name.
const DOCKER_CONFIG: &str = r#"{
  "architecture": "amd64",
  "config": {
    "Hostname": "",
    "User": "app",
    "ExposedPorts": {"8080/tcp": {}},
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    "Cmd": ["/bin/sh", "-c", "serve"],
    "Healthcheck": {"Test": ["CMD", "true"], "Interval": 30000000000},
    "ArgsEscaped": true,
    "Image": "",
    "Volumes": {"/data": {}},
    "WorkingDir": "/srv",
    "Entrypoint": null,
    "OnBuild": null,
    "Labels": {"maintainer": "ops@example.com"},
    "StopSignal": "SIGTERM"
  },
  "container": "3c5a3a5fbcd5",
  "created": "2024-05-01T10:00:00.123456789Z",
  "docker_version": "24.0.7",
  "history": [
    {"created": "2024-04-01T00:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:abc in / "},
    {"created": "2024-04-01T00:00:01Z", "created_by": "/bin/sh -c #(nop)  CMD [\"sh\"]", "empty_layer": true}
  ],
  "os": "linux",
  "rootfs": {
    "type": "layers",
    "diff_ids": ["sha256:d4fc045c9e3a848011de66f34b81f052d4f2c15a17bb196d637e526349601820"]
  }
}"#;

#[test]
fn parses_a_docker_config() {
    let c = ImageConfig::from_bytes(DOCKER_CONFIG.as_bytes()).unwrap();
    assert_eq!(c.platform(), "linux/amd64".parse().unwrap());
    assert_eq!(c.created.as_deref(), Some("2024-05-01T10:00:00.123456789Z"));
    let cc = c.config.as_ref().unwrap();
    assert_eq!(cc.user.as_deref(), Some("app"));
    assert_eq!(cc.entrypoint, None);
    assert_eq!(cc.cmd.as_ref().unwrap()[2], "serve");
    assert!(cc.exposed_ports.as_ref().unwrap().contains("8080/tcp"));
    assert!(cc.volumes.as_ref().unwrap().contains("/data"));
    assert_eq!(cc.working_dir.as_deref(), Some("/srv"));
    assert_eq!(cc.stop_signal.as_deref(), Some("SIGTERM"));
    assert_eq!(cc.labels.as_ref().unwrap()["maintainer"], "ops@example.com");
    assert_eq!(cc.extra["ArgsEscaped"], Value::Bool(true));
    assert!(cc.extra.contains_key("Healthcheck"));
    assert_eq!(c.extra["docker_version"], "24.0.7");
    let h = c.history.as_ref().unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[1].empty_layer, Some(true));
    assert_eq!(c.rootfs.diff_ids.len(), 1);
}

#[test]
fn unknown_members_survive_a_round_trip() {
    let c = ImageConfig::from_bytes(DOCKER_CONFIG.as_bytes()).unwrap();
    let blob = c.to_blob(ManifestFormat::Docker);
    assert_eq!(blob.descriptor.media_type, crate::media_type::DOCKER_CONFIG);
    assert_eq!(blob.descriptor.digest, Digest::sha256(&blob.bytes));
    let back = ImageConfig::from_bytes(&blob.bytes).unwrap();
    assert_eq!(back, c);
    let json: Value = serde_json::from_slice(&blob.bytes).unwrap();
    assert_eq!(json["config"]["Healthcheck"]["Interval"], 30000000000u64);
    assert_eq!(
        json["config"]["ExposedPorts"],
        serde_json::json!({"8080/tcp": {}})
    );
    assert_eq!(json["container"], "3c5a3a5fbcd5");
}

#[test]
fn build_then_parse() {
    let platform: Platform = "linux/arm64/v8".parse().unwrap();
    let built = ImageConfig::new(&platform)
        .with_created("1970-01-01T00:00:00Z")
        .with_author("ocipull")
        .with_diff_id(Digest::sha256(b"layer"))
        .with_history(History::new("fixture layer"))
        .with_container_config(
            ContainerConfig::default()
                .with_env(["A=1"])
                .with_entrypoint(["/app"])
                .with_cmd(["--help"])
                .with_working_dir("/")
                .with_user("0:0")
                .with_label("k", "v")
                .with_exposed_port("80/tcp")
                .with_volume("/v")
                .with_stop_signal("SIGINT"),
        );
    let blob = built.to_blob(ManifestFormat::Oci);
    assert_eq!(
        blob.descriptor.media_type,
        crate::media_type::OCI_IMAGE_CONFIG
    );
    let parsed = ImageConfig::from_bytes(&blob.bytes).unwrap();
    assert_eq!(parsed, built);
    assert_eq!(parsed.platform(), platform);
    // Serialisation is deterministic.
    assert_eq!(parsed.to_bytes(), blob.bytes);
}

#[test]
fn rejects_bad_configs_naming_the_field() {
    match ImageConfig::from_bytes(br#"{"architecture":"amd64","os":"linux"}"#) {
        Err(ConfigError::Invalid { message, .. }) => assert!(message.contains("rootfs")),
        other => panic!("{other:?}"),
    }
    let bad_digest =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:xyz"]}}"#;
    match ImageConfig::from_bytes(bad_digest) {
        Err(ConfigError::Invalid { path, .. }) => assert_eq!(path, "rootfs.diff_ids[0]"),
        other => panic!("{other:?}"),
    }
    let bad_type = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"tree"}}"#;
    assert_eq!(
        ImageConfig::from_bytes(bad_type),
        Err(ConfigError::RootfsType {
            found: "tree".to_owned()
        })
    );
    assert!(matches!(
        ImageConfig::from_bytes(b"\xff"),
        Err(ConfigError::Invalid { .. })
    ));
}
