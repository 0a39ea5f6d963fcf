//! `anycastd check` and the CLI's handling of bad input, through the real binary.
mod common;

use std::process::Command;

fn check(config: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(common::anycastd())
        .arg("check")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).replace(path.to_str().unwrap(), "FILE");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    )
}

const GOOD: &str = r#"
[eal]
args = ["--no-huge", "-m", "512", "--no-pci"]
[dataplane]
workers = 1
[[port]]
name = "edge0"
device = "net_tap0,iface=anyc0"
addresses = ["198.51.100.1/24"]
[[vip]]
address = "203.0.113.10"
"#;

#[test]
fn good_config_passes() {
    let (code, stdout, stderr) = check(GOOD);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("ok (1 ports, 1 VIPs, 0 services, 1 workers)"),
        "{stdout}"
    );
}

#[test]
fn the_shipped_configs_pass() {
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../configs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let out = Command::new(common::anycastd())
                .arg("check")
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn each_kind_of_bad_config_fails_with_file_line_and_key() {
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unknown key",
            GOOD.replace("workers = 1\n", "workers = 1\nwrokers = 1\n"),
            "FILE:6: unknown field `wrokers`",
        ),
        (
            "bad address",
            GOOD.replace("198.51.100.1/24", "198.51.100.1/33"),
            "FILE:9: port[0].addresses: '198.51.100.1/33'",
        ),
        (
            "duplicate port",
            format!("{GOOD}[[port]]\nname = \"edge0\"\ndevice = \"net_null0\"\n"),
            "FILE:13: port[1].name: duplicate port name 'edge0'",
        ),
        (
            "zero workers",
            GOOD.replace("workers = 1", "workers = 0"),
            "FILE:5: dataplane.workers: 0 is out of range",
        ),
        (
            "too many cores",
            GOOD.replace("workers = 1", "workers = 1\ncores = [9999]"),
            "FILE:6: dataplane.cores: core 9999 does not exist",
        ),
        (
            "bad vip",
            GOOD.replace("\"203.0.113.10\"", "\"203.0.113\""),
            "FILE:11: vip[0].address: '203.0.113' is not an IP address",
        ),
        (
            "syntax",
            GOOD.replace("[dataplane]", "[dataplane"),
            "FILE:4:",
        ),
    ];
    for (what, text, want) in &cases {
        let (code, _, stderr) = check(text);
        assert_eq!(code, 1, "{what}: {stderr}");
        assert!(stderr.contains(want), "{what}: want {want:?} in {stderr:?}");
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    }
}

#[test]
fn missing_file_is_a_clear_error() {
    let out = Command::new(common::anycastd())
        .args(["check", "/nonexistent/anycastd.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/anycastd.toml: cannot read"),
        "{err}"
    );
}

/// `anycastd run` on `config` (written into `dir`): it must fail cleanly, exit 1 with no
/// panic. Its standard error.
fn run_fails(dir: &std::path::Path, config: &str) -> String {
    let path = dir.join("c.toml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(common::anycastd())
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn run_refuses_an_impossible_start_cleanly() {
    // Two workers on a device without RSS: a clear error, exit 1, no panic.
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "[eal]\n{}\n[dataplane]\nworkers = 2\ncores = [0, 1]\n[[port]]\nname = \"r\"\ndevice = \"net_ring_cli0\"\n",
        common::eal_args("anyc-cli-refuse")
    );
    let err = run_fails(dir.path(), &cfg);
    assert!(err.contains("port 'r'"), "{err}");
}

#[test]
fn run_refuses_an_mtu_the_device_cannot_take() {
    // net_memif takes frames up to 1518 bytes: mtu 1600 is refused with the device's range
    // before DPDK's configure would say only "invalid argument".
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("memif.sock");
    let cfg = format!(
        "[eal]\n{}\n[[port]]\nname = \"m\"\n\
         device = \"net_memif0,role=server,socket={}\"\nmtu = 1600\n",
        common::eal_args("anyc-cli-mtu"),
        sock.display()
    );
    let err = run_fails(dir.path(), &cfg);
    assert!(
        err.contains("port 'm'")
            && err.contains("mtu 1600 is outside what device net_memif0 (net_memif) takes")
            && err.contains("..=1500 (frames up to 1518 bytes)"),
        "{err}"
    );
}

/// `--version`: ours, the DPDK pkg-config finds, and the linkage (which `dpdk_link.rs` checks).
#[test]
fn version_prints() {
    let out = Command::new(common::anycastd())
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let dpdk = Command::new("pkg-config")
        .args(["--modversion", "libdpdk"])
        .output()
        .expect("run pkg-config");
    let dpdk = String::from_utf8_lossy(&dpdk.stdout).trim().to_owned();
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let want = |link: &str| {
        format!(
            "anycastd {} (DPDK {dpdk}, linked {link})",
            env!("CARGO_PKG_VERSION")
        )
    };
    assert!(line == want("shared") || line == want("static"), "{line}");
}
