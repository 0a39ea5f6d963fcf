//! Helpers for tests that run `anycastd-sidecar`: its binary, a free port, a tiny HTTP GET and
//! `promtool check metrics`.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The sidecar binary, built next to anycastd by `cargo build --workspace --bins`.
pub fn sidecar_bin() -> PathBuf {
    let p = super::anycastd().with_file_name("anycastd-sidecar");
    assert!(
        p.exists(),
        "{} is missing: build it first (cargo build -p anycastd-sidecar)",
        p.display()
    );
    p
}

/// A TCP port free on 127.0.0.1 (a moment ago).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET `path`; (status code, body). Retries the connection for up to 5 s (start-up).
pub fn get(port: u16, path: &str) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut conn = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("cannot reach the sidecar: {e}"),
        }
    };
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(conn, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut resp = String::new();
    conn.read_to_string(&mut resp).unwrap();
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad response: {resp}"));
    let body = resp
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

/// Polls `path` until it answers `want` (bounded).
pub fn wait_status(port: u16, path: &str, want: u16, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = get(port, path);
        if status == want {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{path} stayed {status} (want {want}): {body}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `promtool check metrics` on `metrics` (through a file in `dir`).
pub fn promtool_check(metrics: &str, dir: &Path) {
    let file = dir.join("metrics.txt");
    std::fs::write(&file, metrics).unwrap();
    let out = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .expect("promtool (Debian package prometheus) must be installed");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n{metrics}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
