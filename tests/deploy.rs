//! The install story: the systemd unit passes `systemd-analyze verify`, and
//! the commands the unit and the container image run are ones the binary
//! accepts (flags spelled right), with the files they copy present.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_supportprobe");

/// The arguments of a `KEY=/usr/local/bin/supportprobe ARGS` line of the unit.
fn unit_command(unit: &str, key: &str) -> Vec<String> {
    let line = unit.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).unwrap_or_else(|| panic!("no {key}"));
    let mut words = line.split_whitespace().map(str::to_string);
    assert_eq!(words.next().as_deref(), Some("/usr/local/bin/supportprobe"), "{key}");
    words.collect()
}

/// The binary accepts these arguments (asked for their help, so nothing runs).
fn accepts(args: &[String]) {
    let out = Command::new(BIN).args(args).arg("--help").output().unwrap();
    assert!(out.status.success(), "supportprobe {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_systemd_unit_verifies_and_runs_commands_the_binary_accepts() {
    let unit = std::fs::read_to_string("deploy/supportprobe.service").unwrap();
    let start = unit_command(&unit, "ExecStart");
    assert!(start.windows(2).any(|w| w == ["--log-format", "json"]), "journald gets one JSON object a line");
    assert!(start.contains(&"--no-simulator".to_string()), "a real POC does not start the simulator");
    accepts(&start);
    accepts(&unit_command(&unit, "ExecStartPre"));
    assert!(unit.contains("ExecReload=/bin/kill -HUP $MAINPID"), "reload is SIGHUP");
    assert!(unit.contains("EnvironmentFile=-/etc/supportprobe/env"), "secrets from a file, not the unit");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("supportprobe.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/supportprobe", BIN)).unwrap();
    let out = match Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&path).output() {
        Ok(out) => out,
        Err(e) if std::env::var_os("SUPPORTPROBE_REQUIRE_TOOLS").is_none() => {
            eprintln!("systemd-analyze not available ({e}); skipping (scripts/test.sh installs it)");
            return;
        }
        Err(e) => panic!("systemd-analyze is required but cannot run: {e}"),
    };
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // Other units on the machine may draw warnings of their own; ours must draw none.
    let ours: Vec<&str> = text.lines().filter(|l| l.contains("supportprobe.service")).collect();
    assert!(out.status.success() && ours.is_empty(), "systemd-analyze verify:\n{text}");
}

#[test]
fn the_container_image_runs_commands_the_binary_accepts() {
    let file = std::fs::read_to_string("deploy/Containerfile").unwrap();
    // ENTRYPOINT + CMD, JSON arrays.
    let array = |key: &str| -> Vec<String> {
        let line = file.lines().find_map(|l| l.strip_prefix(&format!("{key} "))).unwrap_or_else(|| panic!("no {key}"));
        serde_json::from_str(line).unwrap()
    };
    let entry = array("ENTRYPOINT");
    assert_eq!(entry[0], "/usr/local/bin/supportprobe");
    let mut args: Vec<String> = entry[1..].to_vec();
    args.extend(array("CMD"));
    accepts(&args);
    // What it copies exists, and it builds on the project's one toolchain.
    for l in file.lines().filter_map(|l| l.strip_prefix("COPY ")).filter(|l| !l.starts_with("--from")) {
        let src = l.split_whitespace().next().unwrap();
        if src != "." {
            assert!(std::path::Path::new(src).exists(), "COPY {src}");
        }
    }
    let manifest = std::fs::read_to_string("Cargo.toml").unwrap();
    let toolchain = manifest.lines().find_map(|l| l.strip_prefix("rust-version = ")).unwrap().trim_matches('"');
    assert!(file.contains(&format!("rust:{toolchain}-")), "the image builds with Rust {toolchain}");
    assert!(file.contains("cargo build --release --locked"), "the lock file decides the dependencies");
}

#[test]
fn version_names_the_revision_and_json_logs_are_json() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    let v = String::from_utf8_lossy(&out.stdout);
    assert!(v.starts_with(&format!("supportprobe {} (revision ", env!("CARGO_PKG_VERSION"))), "{v}");
    assert!(!v.contains("(revision )"), "{v}");
    // The daemon's log with --log-format json: every line one JSON object with a level and a message.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\nprobes_dir = \"{}/probes\"\n\n[vendors.a.channels.hotline.manual]\ncontact = \"+1 555 0100\"\n",
            dir.path().join("data").display(),
            env!("CARGO_MANIFEST_DIR")
        ),
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .args(["--log-format", "json", "run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let Some(Ok(line)) = lines.next() else { break };
        seen.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for line in &seen {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["level"].is_string() && v["fields"]["message"].is_string(), "{line}");
    }
    let out = Command::new(BIN).args(["--log-format", "xml", "check", "--config", "x"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("[possible values: text, json]"));
}
