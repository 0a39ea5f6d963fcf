//! BGP health with real BIRD 2: a "node" namespace runs bird importing the include file the
//! sidecar writes and peers (IPv4 and IPv6 sessions over a veth pair) with bird in a "router"
//! namespace. anycastd runs on a net_null port; the sidecar drives the node's bird through its
//! control socket. The router learns the VIPs within 3 s of start, withdraws them within 3 s of
//! `kill -9` of the dataplane, learns them again after a restart, withdraws them while the
//! dataplane is stopped (SIGSTOP: a stale heartbeat) and learns them after SIGCONT, withdraws
//! them on `anycastd-sidecar drain` while the dataplane keeps running, and learns them after
//! `undrain`. Run `cargo build --workspace --bins` first (the sidecar is another package).
//! The sidecar in ExaBGP mode writes the process-API lines for the same transitions.
mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::sidecar::{free_port, get, promtool_check, sidecar_bin, wait_status};
use common::{sh, ChildGuard, Dataplane, Netns};

const PREFIXES: [&str; 2] = ["203.0.113.10/32", "2001:db8:53::53/128"];
/// The issue's bar for learning and withdrawing.
const BAR: Duration = Duration::from_secs(3);

/// A bird daemon in a namespace (foreground, killed on drop) and its control socket.
struct Bird {
    sock: PathBuf,
    log: PathBuf,
    _child: ChildGuard,
}

impl Bird {
    fn start(ns: &str, dir: &Path, name: &str, conf: &str) -> Bird {
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

    fn birdc(&self, cmd: &str) -> String {
        let out = Command::new("birdc")
            .arg("-s")
            .arg(&self.sock)
            .args(cmd.split_whitespace())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The anycast prefixes the router has in its tables (via BGP from the node).
    fn learned(&self) -> Vec<String> {
        let shown = self.birdc("show route");
        PREFIXES
            .iter()
            .filter(|p| shown.lines().any(|l| l.starts_with(*p)))
            .map(|p| p.to_string())
            .collect()
    }

    /// Polls until the router has all prefixes (`want`) or none; the time it took.
    fn wait_learned(&self, want: bool, within: Duration) -> Duration {
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
}

const TIMERS: &str = "connect delay time 1; connect retry time 1; error wait time 1, 2;";

/// The node and router namespaces, their birds, established sessions.
struct Bgp {
    router: Bird,
    node: Bird,
    include: PathBuf,
    _ns: (Netns, Netns),
}

fn bgp(dir: &Path, tag: &str) -> Bgp {
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
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let p = router.birdc("show protocols");
        if p.matches("Established").count() == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "sessions not established:\n{p}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(router.learned().is_empty());
    Bgp {
        router,
        node,
        include,
        _ns: (node_ns, router_ns),
    }
}

/// The shared config: anycastd on net_null, the sidecar's [sidecar.bgp] tables.
fn config(dir: &Path, prefix: &str, port: u16, speakers: &str) -> String {
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
        common::eal_args(&format!("anyc-bgp-{prefix}")),
        dir.join("stats").display(),
        dir.join("drain").display(),
    )
}

fn bird_speaker(bgp: &Bgp) -> String {
    format!(
        "[sidecar.bgp.bird]\ninclude_file = \"{}\"\nsocket = \"{}\"\n",
        bgp.include.display(),
        bgp.node.sock.display()
    )
}

/// Starts the sidecar on `config` (a file); stdout is piped when `piped`.
fn sidecar(config: &Path, piped: bool) -> ChildGuard {
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

fn kill9(dp: &Dataplane) {
    Command::new("kill")
        .args(["-KILL", &dp.pid().to_string()])
        .status()
        .unwrap();
}

fn drain(config: &Path, cmd: &str) {
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

fn bgp_json(port: u16) -> String {
    let (status, body) = get(port, "/bgp");
    assert_eq!(status, 200, "{body}");
    body
}

#[test]
fn bird_router_learns_and_withdraws_the_vips() {
    let dir = tempfile::tempdir().unwrap();
    let bgp = bgp(dir.path(), "t");
    let port = free_port();
    let file = dir.path().join("anycastd.toml");
    let write = |prefix: &str| {
        let c = config(dir.path(), prefix, port, &bird_speaker(&bgp));
        std::fs::write(&file, &c).unwrap();
        c
    };
    let cfg = write("bgpa");
    let _sidecar = sidecar(&file, false);
    // The sidecar's first act is to write the withdrawn state.
    wait_status(port, "/healthz", 503, Duration::from_secs(5));
    assert!(bgp_json(port).contains("\"announced\":false"));

    let started = Instant::now();
    let mut dp = Dataplane::start(&cfg);
    let learned = bgp.router.wait_learned(true, BAR);
    eprintln!(
        "router learned {PREFIXES:?} {:?} after anycastd was running ({:?} after its start)",
        learned,
        started.elapsed()
    );
    let include = std::fs::read_to_string(&bgp.include).unwrap();
    assert!(
        include.contains("route 203.0.113.10/32 blackhole;"),
        "{include}"
    );
    let b = bgp_json(port);
    std::thread::sleep(Duration::from_millis(300));
    let b2 = bgp_json(port);
    assert!(b.contains("\"announced\":true"), "{b}\n{b2}");
    assert!(b.contains("\"in_sync\":true"), "{b}");

    // kill -9: withdrawn within the bar.
    kill9(&dp);
    let died = Instant::now();
    bgp.router.wait_learned(false, BAR);
    let withdrawn = died.elapsed();
    eprintln!("death -> withdrawal at the router: {withdrawn:?}");
    let _ = dp.stop();

    // Restart: announced again.
    let cfg = write("bgpb");
    let restarted = Instant::now();
    let mut dp = Dataplane::start(&cfg);
    let back = bgp.router.wait_learned(true, BAR);
    eprintln!(
        "restart: learned again {back:?} after running ({:?} after its start)",
        restarted.elapsed()
    );

    // A hung dataplane (SIGSTOP: alive, heartbeat stale beyond stale_after_ms): withdrawn;
    // SIGCONT: back.
    let signal = |sig: &str| {
        Command::new("kill")
            .args([sig, &dp.pid().to_string()])
            .status()
            .unwrap()
    };
    signal("-STOP");
    let t = Instant::now();
    bgp.router.wait_learned(false, BAR);
    eprintln!("SIGSTOP -> withdrawal (stale heartbeat): {:?}", t.elapsed());
    assert!(
        t.elapsed() >= Duration::from_millis(500),
        "not before stale_after_ms"
    );
    signal("-CONT");
    let t = Instant::now();
    bgp.router.wait_learned(true, BAR);
    eprintln!("SIGCONT -> learned: {:?}", t.elapsed());

    // Drain: withdrawn while the dataplane keeps serving.
    drain(&file, "drain");
    let t = Instant::now();
    bgp.router.wait_learned(false, BAR);
    eprintln!("drain -> withdrawal: {:?}", t.elapsed());
    wait_status(port, "/healthz", 200, Duration::from_secs(1));
    let (_, m) = get(port, "/metrics");
    assert!(m.contains("\nanycastd_up 1\n"), "{m}");
    assert!(m.contains("\nanycastd_bgp_announced 0\n"), "{m}");
    assert!(m.contains("\nanycastd_bgp_drained 1\n"), "{m}");
    assert!(m.contains("\nanycastd_bgp_healthy 1\n"), "{m}");
    let age: f64 = m
        .lines()
        .find_map(|l| l.strip_prefix("anycastd_heartbeat_age_seconds "))
        .and_then(|v| v.parse().ok())
        .expect("a heartbeat age");
    assert!(
        age < 0.5,
        "the dataplane keeps beating while drained: {age}"
    );
    let b = bgp_json(port);
    assert!(b.contains("\"drained\":true"), "{b}");
    assert!(dp.drain_log().iter().all(|l| !l.contains("panicked")));

    // Undrain: back.
    drain(&file, "undrain");
    let t = Instant::now();
    bgp.router.wait_learned(true, BAR);
    eprintln!("undrain -> learned: {:?}", t.elapsed());
    let (_, m) = get(port, "/metrics");
    assert!(m.contains("\nanycastd_bgp_announcements_total 4\n"), "{m}");
    assert!(m.contains("\nanycastd_bgp_withdrawals_total 3\n"), "{m}");
    assert!(
        m.contains("anycastd_bgp_speaker_errors_total{speaker=\"bird\"} 0\n"),
        "{m}"
    );
    promtool_check(&m, dir.path());

    // A clean stop withdraws too (the segment is marked stopped).
    let done = dp.stop();
    assert!(done.status.success(), "{}", done.stderr);
    bgp.router.wait_learned(false, BAR);
}

#[test]
fn bird_errors_are_retried_until_bird_answers() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let file = dir.path().join("anycastd.toml");
    // No bird on this socket yet: the sidecar logs, counts and retries; nothing crashes.
    let sock = dir.path().join("late.ctl");
    let include = dir.path().join("late-prefixes.conf");
    let speakers = format!(
        "[sidecar.bgp.bird]\ninclude_file = \"{}\"\nsocket = \"{}\"\n",
        include.display(),
        sock.display()
    );
    let cfg = config(dir.path(), "bgpe", port, &speakers);
    std::fs::write(&file, &cfg).unwrap();
    let _sidecar = sidecar(&file, false);
    let deadline = Instant::now() + Duration::from_secs(5);
    let errors = |m: &str| {
        m.lines()
            .find_map(|l| l.strip_prefix("anycastd_bgp_speaker_errors_total{speaker=\"bird\"} "))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    loop {
        let (_, m) = get(port, "/metrics");
        if errors(&m) >= 3 {
            assert!(m.contains("anycastd_bgp_speaker_in_sync{speaker=\"bird\"} 0\n"));
            promtool_check(&m, dir.path());
            break;
        }
        assert!(Instant::now() < deadline, "no retries counted:\n{m}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let b = bgp_json(port);
    assert!(
        b.contains("Unable to connect to server control socket"),
        "{b}"
    );
    assert!(std::fs::read_to_string(&include)
        .unwrap()
        .contains("State: withdrawn"));
    // bird comes up on that socket: the next check reconfigures it.
    let ns = Netns(format!("anyc-bgpe-{}", std::process::id()));
    sh(&format!("ip netns add {}", ns.0));
    let bird = Bird::start(
        &ns.0,
        dir.path(),
        "late",
        &format!(
            "router id 198.51.100.9;\nprotocol device {{ }}\ninclude \"{}\";\n",
            include.display()
        ),
    );
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let (_, m) = get(port, "/metrics");
        if m.contains("anycastd_bgp_speaker_in_sync{speaker=\"bird\"} 1\n") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bird never in sync:\n{m}\n{}\n{}",
            bgp_json(port),
            std::fs::read_to_string(&bird.log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn exabgp_mode_writes_process_api_lines() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let file = dir.path().join("anycastd.toml");
    let cfg = config(dir.path(), "bgpx", port, "[sidecar.bgp.exabgp]\n");
    std::fs::write(&file, &cfg).unwrap();
    let mut sc = sidecar(&file, true);
    let (tx, rx) = mpsc::channel();
    let stdout = sc.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let expect = |verb: &str| {
        let want: Vec<String> = PREFIXES
            .iter()
            .map(|p| format!("{verb} route {p} next-hop self"))
            .collect();
        let mut got = Vec::new();
        let deadline = Instant::now() + BAR;
        while got.len() < want.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) => got.push(l),
                Err(_) => panic!("wanted {want:?}, got {got:?}"),
            }
        }
        assert_eq!(got, want);
    };
    // At start: withdrawn (harmless when ExaBGP has nothing yet, right after a sidecar restart).
    expect("withdraw");
    let mut dp = Dataplane::start(&cfg);
    expect("announce");
    kill9(&dp);
    expect("withdraw");
    let _ = dp.stop();
    let mut dp = Dataplane::start(&config(dir.path(), "bgpy", port, "[sidecar.bgp.exabgp]\n"));
    expect("announce");
    drain(&file, "drain");
    expect("withdraw");
    drain(&file, "undrain");
    expect("announce");
    let _ = dp.stop();
    expect("withdraw");
    assert!(rx.try_recv().is_err(), "nothing else on stdout");
}

/// `cargo test -p anycastd --test sidecar_bgp -- --ignored --nocapture`: death -> withdrawal at
/// the router over several kill -9s.
#[test]
#[ignore]
fn figures_death_to_withdrawal() {
    let dir = tempfile::tempdir().unwrap();
    let bgp = bgp(dir.path(), "f");
    let port = free_port();
    let file = dir.path().join("anycastd.toml");
    std::fs::write(&file, config(dir.path(), "bgpf", port, &bird_speaker(&bgp))).unwrap();
    let _sidecar = sidecar(&file, false);
    let mut withdrawals = Vec::new();
    let mut announcements = Vec::new();
    for i in 0..8 {
        let cfg = config(dir.path(), &format!("bgpf{i}"), port, &bird_speaker(&bgp));
        let mut dp = Dataplane::start(&cfg);
        announcements.push(bgp.router.wait_learned(true, BAR));
        // Let the heartbeat phase vary between runs.
        std::thread::sleep(Duration::from_millis(300 + 37 * i));
        kill9(&dp);
        let died = Instant::now();
        bgp.router.wait_learned(false, BAR);
        withdrawals.push(died.elapsed());
        let _ = dp.stop();
    }
    let ms = |v: &mut Vec<Duration>| {
        v.sort();
        let m: Vec<String> = v.iter().map(|d| format!("{}", d.as_millis())).collect();
        m.join(" ")
    };
    eprintln!(
        "death -> withdrawal at the router (ms, sorted, check_interval 200 ms, fall 2): {}",
        ms(&mut withdrawals)
    );
    eprintln!(
        "running -> learned at the router (ms, sorted, rise 3): {}",
        ms(&mut announcements)
    );
}
