//! Shared helpers for integration tests that spawn the real `anycastd` binary.
#![allow(dead_code)]
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The anycastd binary cargo built for this test run.
pub fn anycastd() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_anycastd"))
}

/// EAL arguments for a test instance: no hugepages, no PCI, its own file prefix.
pub fn eal_args(prefix: &str) -> String {
    format!(
        r#"args = ["-l", "0", "--no-huge", "-m", "256", "--no-pci", "--no-shconf", "--file-prefix", "{prefix}"]"#
    )
}

/// The head of a test config with one net_pcap port, "pcap0", reading `rx` and writing `tx`:
/// `[eal]` (file prefix `prefix`) and the `[[port]]` with `addresses` (the TOML array's items).
pub fn pcap_port(prefix: &str, rx: &Path, tx: &Path, addresses: &str) -> String {
    format!(
        "[eal]\n{}\n[[port]]\nname = \"pcap0\"\ndevice = \"net_pcap0,rx_pcap={},tx_pcap={}\"\n\
         addresses = [{addresses}]\n",
        eal_args(prefix),
        rx.display(),
        tx.display()
    )
}

/// A network namespace, deleted on drop.
pub struct Netns(pub String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A child process, killed and reaped on drop.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running anycastd process.
pub struct Dataplane {
    child: Option<Child>,
    stderr_lines: mpsc::Receiver<String>,
    pub log: Vec<String>,
    /// The config file it runs (rewrite it and reload to change the config).
    pub config: PathBuf,
    _dir: tempfile::TempDir,
}

/// What a stopped anycastd printed.
#[derive(Debug)]
pub struct Finished {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Dataplane {
    /// Writes `config` to a temp file and runs `anycastd run` on it, waiting (bounded) for the
    /// "anycastd running" log line.
    pub fn start(config: &str) -> Dataplane {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("anycastd.toml");
        std::fs::write(&path, config).unwrap();
        Self::start_file(&path, dir)
    }

    fn start_file(path: &Path, dir: tempfile::TempDir) -> Dataplane {
        let mut child = Command::new(anycastd())
            .args(["run", "--status-interval", "0", "--config"])
            .arg(path)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn anycastd");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut dp = Dataplane {
            child: Some(child),
            stderr_lines: rx,
            log: Vec::new(),
            config: path.to_owned(),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match dp.stderr_lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    let ready = line.contains("anycastd running");
                    dp.log.push(line);
                    if ready {
                        return dp;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let f = dp.stop();
                    panic!(
                        "anycastd exited during start-up: {:?}\n{}",
                        f.status, f.stderr
                    );
                }
            }
            if Instant::now() > deadline {
                let f = dp.stop();
                panic!("anycastd did not start within 30 s:\n{}", f.stderr);
            }
        }
    }

    /// The process id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("stopped").id()
    }

    /// Log lines printed so far (collected without blocking).
    pub fn drain_log(&mut self) -> &[String] {
        while let Ok(line) = self.stderr_lines.try_recv() {
            self.log.push(line);
        }
        &self.log
    }

    /// Sends SIGINT, waits (bounded) for exit and returns what it printed.
    pub fn stop(&mut self) -> Finished {
        let mut child = self.child.take().expect("already stopped");
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                break child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        while let Ok(line) = self.stderr_lines.recv_timeout(Duration::from_millis(200)) {
            self.log.push(line);
        }
        Finished {
            status,
            stdout,
            stderr: self.log.join("\n"),
        }
    }
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Reads `name=value` from a summary line such as `total: rx=3 tx=2 ...`.
pub fn counter(summary: &str, line_prefix: &str, name: &str) -> u64 {
    let line = summary
        .lines()
        .find(|l| l.starts_with(line_prefix))
        .unwrap_or_else(|| panic!("no '{line_prefix}' line in:\n{summary}"));
    line.split([' ', '(', ')'])
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .map(|v| v.parse().unwrap())
        .unwrap_or(0)
}

/// Writes frames as a pcap file (LINKTYPE_ETHERNET).
pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        out.extend_from_slice(&(i as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    std::fs::write(path, out).unwrap();
}

/// Reads every frame of a pcap file (either byte order, micro- or nanosecond magic).
pub fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(data.len() >= 24, "pcap too short");
    let magic = u32::from_le_bytes(data[0..4].try_into().unwrap());
    let le = matches!(magic, 0xa1b2c3d4 | 0xa1b23c4d);
    let rd = |b: &[u8]| {
        let a: [u8; 4] = b.try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let mut frames = Vec::new();
    let mut off = 24;
    while off + 16 <= data.len() {
        let caplen = rd(&data[off + 8..off + 12]) as usize;
        off += 16;
        frames.push(data[off..off + caplen].to_vec());
        off += caplen;
    }
    frames
}

/// Runs a command, panicking with its output when it fails.
pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
/// Pings `target` `count` times from network namespace `ns` (`options`: interval, `-6`, size)
/// and asserts that every echo was answered; returns ping's summary.
pub fn ping_all(ns: &str, count: u32, options: &str, target: &str) -> String {
    let out = sh(&format!(
        "ip netns exec {ns} ping -c {count} {options} -W 2 -q {target}"
    ));
    assert!(
        out.contains(&format!("{count} packets transmitted, {count} received")),
        "{target}: {out}"
    );
    out
}
pub mod bgp;
pub mod lan;
pub mod sidecar;
