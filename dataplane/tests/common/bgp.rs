//! Helpers for the BGP health tests: bird daemons in namespaces, the node/router wire, the
//! shared anycastd/sidecar config, and sidecar commands.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::sidecar::{get, sidecar_bin};
use super::{sh, ChildGuard, Dataplane, Netns};

/// The VIPs of [`config`], as the router shows them.
pub const PREFIXES: [&str; 2] = ["203.0.113.10/32", "2001:db8:53::53/128"];
/// The issue's bar for learning and withdrawing.
pub const BAR: Duration = Duration::from_secs(3);

/// A bird daemon in a namespace (foreground, killed on drop) and its control socket.
pub struct Bird {
    /// Its control socket.
    pub sock: PathBuf,
    /// Its log file.
    pub log: PathBuf,
    _child: ChildGuard,
}

impl Bird {
    /// Runs bird in `ns` with `conf` (a log line is prepended), waiting for its socket.
    pub fn start(ns: &str, dir: &Path, name: &str, conf: &str) -> Bird {
        let sock = dir.join(format!("{name}.ctl"));
        let log = dir.join(format!("{name}.log"));
        let path = dir.join(format!("{name}.conf"));
        let conf = format!("log \"{}\" all;\n{conf}", log.display());
        std::fs::write(&path, conf).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "bird", "-f", "-s"])
            .arg(&sock)
            .arg("-c")
            .arg(&path)
            .arg("-P")
            .arg(dir.join(format!("{name}.pid")))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("bird (Debian package bird2) must be installed");
        let bird = Bird {
            sock,
            log,
            _child: ChildGuard(child),
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !bird.sock.exists() {
            assert!(Instant::now() < deadline, "bird {name} did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        bird
    }

    /// `birdc -s SOCK cmd`'s output.
    pub fn birdc(&self, cmd: &str) -> String {
        let out = Command::new("birdc")
            .arg("-s")
            .arg(&self.sock)
            .args(cmd.split_whitespace())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The anycast prefixes the router has in its tables (via BGP from the node).
    pub fn learned(&self) -> Vec<String> {
        let shown = self.birdc("show route");
        PREFIXES
            .iter()
            .filter(|p| shown.lines().any(|l| l.starts_with(*p)))
            .map(|p| p.to_string())
            .collect()
    }

    /// Polls until the router has all prefixes (`want`) or none; the time it took.
    pub fn wait_learned(&self, want: bool, within: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let got = self.learned();
            if (want && got.len() == PREFIXES.len()) || (!want && got.is_empty()) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < within,
                "router still has {got:?} (want {}) after {within:?}; log:\n{}",
                if want { "all" } else { "none" },
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits (bounded) until `n` BGP sessions are Established and nothing is learned yet.
    pub fn wait_established(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let p = self.birdc("show protocols");
            if p.matches("Established").count() == n {
                break;
            }
            assert!(Instant::now() < deadline, "sessions not established:\n{p}");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(self.learned().is_empty());
    }
}

pub const TIMERS: &str = "connect delay time 1; connect retry time 1; error wait time 1, 2;";

/// The "node" and "router" namespaces joined by a veth pair (eth0 on both sides):
/// 198.51.100.101/24 and 2001:db8:ff::1/64 on the node, .102 and ::2 on the router.
pub fn wire(tag: &str) -> (Netns, Netns) {
    let pid = std::process::id();
    let node_ns = Netns(format!("anyc-bgp{tag}n-{pid}"));
    let router_ns = Netns(format!("anyc-bgp{tag}r-{pid}"));
    let (n, r) = (&node_ns.0, &router_ns.0);
    sh(&format!(
        "ip netns add {n} && ip netns add {r} && \
         ip -n {n} link add eth0 type veth peer name eth0 netns {r} && \
         ip -n {n} addr add 198.51.100.101/24 dev eth0 && ip -n {r} addr add 198.51.100.102/24 dev eth0 && \
         ip -n {n} addr add 2001:db8:ff::1/64 dev eth0 nodad && ip -n {r} addr add 2001:db8:ff::2/64 dev eth0 nodad && \
         ip -n {n} link set lo up && ip -n {r} link set lo up && \
         ip -n {n} link set eth0 up && ip -n {r} link set eth0 up"
    ));
    (node_ns, router_ns)
}

/// The node and router namespaces, their birds, established sessions.
pub struct Bgp {
    /// The router's bird.
    pub router: Bird,
    /// The node's bird.
    pub node: Bird,
    /// The include file the node's bird.conf includes.
    pub include: PathBuf,
    _ns: (Netns, Netns),
}

/// Builds the namespaces and both birds (two sessions: IPv4 and IPv6), waits for Established.
pub fn bgp(dir: &Path, tag: &str) -> Bgp {
    let ns = wire(tag);
    let (n, r) = (&ns.0 .0, &ns.1 .0);
    // What an operator does before bird's first start: the file exists (empty), the sidecar
    // rewrites it.
    let include = dir.join("anycastd-prefixes.conf");
    std::fs::write(&include, "").unwrap();
    let node = Bird::start(
        n,
        dir,
        "node",
        &format!(
            r#"router id 198.51.100.101;
protocol device {{ }}
include "{}";
protocol bgp router4 {{
  local 198.51.100.101 as 65001; neighbor 198.51.100.102 as 65000; {TIMERS}
  ipv4 {{ import none; export where proto = "anycastd_v4"; }};
}}
protocol bgp router6 {{
  local 2001:db8:ff::1 as 65001; neighbor 2001:db8:ff::2 as 65000; {TIMERS}
  ipv6 {{ import none; export where proto = "anycastd_v6"; }};
}}
"#,
            include.display()
        ),
    );
    let router = Bird::start(
        r,
        dir,
        "router",
        &format!(
            r#"router id 198.51.100.102;
protocol device {{ }}
protocol bgp node4 {{
  local 198.51.100.102 as 65000; neighbor 198.51.100.101 as 65001; {TIMERS}
  ipv4 {{ import all; export none; }};
}}
protocol bgp node6 {{
  local 2001:db8:ff::2 as 65000; neighbor 2001:db8:ff::1 as 65001; {TIMERS}
  ipv6 {{ import all; export none; }};
}}
"#
        ),
    );
    router.wait_established(2);
    Bgp {
        router,
        node,
        include,
        _ns: ns,
    }
}

/// The shared config: anycastd on net_null, the sidecar's [sidecar.bgp] tables.
pub fn config(dir: &Path, prefix: &str, port: u16, speakers: &str) -> String {
    format!(
        r#"
[eal]
{}
[dataplane]
idle = "adaptive"
[[port]]
name = "null0"
device = "net_null_{prefix}0"
addresses = ["198.51.100.1/24"]
[[vip]]
address = "203.0.113.10"
[[vip]]
address = "2001:db8:53::53"
[stats]
path = "{}"
[sidecar]
listen = "127.0.0.1:{port}"
stale_after_ms = 500
[sidecar.bgp]
drain_file = "{}"
{speakers}
"#,
        super::eal_args(&format!("anyc-bgp-{prefix}")),
        dir.join("stats").display(),
        dir.join("drain").display(),
    )
}

/// The `[sidecar.bgp.bird]` table driving the node's bird.
pub fn bird_speaker(bgp: &Bgp) -> String {
    format!(
        "[sidecar.bgp.bird]\ninclude_file = \"{}\"\nsocket = \"{}\"\n",
        bgp.include.display(),
        bgp.node.sock.display()
    )
}

/// Starts the sidecar on `config` (a file); stdout is piped when `piped`.
pub fn sidecar(config: &Path, piped: bool) -> ChildGuard {
    ChildGuard(
        Command::new(sidecar_bin())
            .arg("--config")
            .arg(config)
            .stdin(Stdio::piped())
            .stdout(if piped { Stdio::piped() } else { Stdio::null() })
            .spawn()
            .unwrap(),
    )
}

/// SIGKILL to the dataplane (left a zombie until the test reaps it).
pub fn kill9(dp: &Dataplane) {
    Command::new("kill")
        .args(["-KILL", &dp.pid().to_string()])
        .status()
        .unwrap();
}

/// Runs `anycastd-sidecar drain|undrain --config FILE`.
pub fn drain(config: &Path, cmd: &str) {
    let out = Command::new(sidecar_bin())
        .args([cmd, "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The sidecar's `/bgp` JSON.
pub fn bgp_json(port: u16) -> String {
    let (status, body) = get(port, "/bgp");
    assert_eq!(status, 200, "{body}");
    body
}
