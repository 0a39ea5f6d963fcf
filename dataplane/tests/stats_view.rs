//! `anycastd stats` and the per-service counters against a running dataplane on a net_tap port
//! whose kernel side sits in a namespace, where the test injects known frames (AF_PACKET): DNS
//! queries to a DNS service, TCP SYNs to a forward service with two IPIP backends, and UDP to no
//! service. The per-service and per-backend counts in the segment (`anycastd stats --once`) and
//! in the sidecar's `/metrics` equal what was sent; after a reload that renames one service and
//! adds another, the labels follow; the live view, in tmux, renders and refreshes, and exits on
//! Ctrl-C; on a pipe it prints plain frames and exits 0 on SIGINT; after the dataplane stops,
//! `--once` shows exactly its final printed counts, and a live view that watched the stop picks
//! up the next dataplane's new segment.
mod common;

use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::sidecar::{free_port, get, promtool_check, sidecar_bin};
use common::{counter, sh, ChildGuard, Dataplane, Netns};
use dataplane::forward::flow_table::TCP_SYN;
use dataplane::forward::frames::tcp4;
use dataplane::testutil::udp4;

const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const WEB_VIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const DNS_VIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 53);
const IFACE: &str = "anycsv";
const NS: &str = "anyc-statsview";

/// Writes each hex line of stdin as one frame on the interface named by argv[1].
const INJECT: &str = r#"
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
n = 0
for line in sys.stdin:
    s.send(bytes.fromhex(line.strip()))
    n += 1
print(n)
"#;

fn config(dir: &Path, sidecar_port: u16, services: &str) -> String {
    let zone = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configs/zones/example.test.zone"
    );
    format!(
        r#"
[eal]
{}
[dataplane]
workers = 1
idle = "adaptive"
control_socket = "{dir}/ctl.sock"
[[port]]
name = "edge0"
device = "net_tap_sv,iface={IFACE}"
addresses = ["198.51.100.1/24"]
[[vip]]
address = "{WEB_VIP}"
[[vip]]
address = "{DNS_VIP}"
[stats]
path = "{dir}/stats"
[sidecar]
listen = "127.0.0.1:{sidecar_port}"
{}
"#,
        common::eal_args("anyc-statsview"),
        services.replace("ZONE", zone),
        dir = dir.display(),
    )
}

const SERVICES: &str = r#"
[[service]]
name = "dns"
vip = "203.0.113.53"
protocol = "udp"
port = 53
kind = "dns"
zones = ["ZONE"]
[[service]]
name = "web"
vip = "203.0.113.10"
protocol = "tcp"
port = 80
kind = "forward"
encap = "ipip"
[[service.backend]]
address = "198.18.0.10"
[[service.backend]]
address = "198.18.0.11"
"#;

/// The reload: `dns` renamed `dns-v2`, `web8080` added.
fn services_v2() -> String {
    SERVICES.replace("name = \"dns\"", "name = \"dns-v2\"")
        + r#"[[service]]
name = "web8080"
vip = "203.0.113.10"
protocol = "tcp"
port = 8080
kind = "forward"
encap = "ipip"
[[service.backend]]
address = "198.18.0.12"
"#
}

/// A DNS query for `www.example.test` A.
fn query(id: u16) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    q.extend_from_slice(b"\x03www\x07example\x04test\x00\x00\x01\x00\x01");
    udp4(CLIENT, DNS_VIP, 10_000 + id, 53, &q)
}

fn syn(dport: u16, sport: u16) -> Vec<u8> {
    tcp4(CLIENT, WEB_VIP, sport, dport, TCP_SYN, b"")
}

struct Injector {
    mac: [u8; 6],
}

impl Injector {
    /// Sends `frames` (their destination MAC set to the port's) from the namespace side.
    fn send(&self, frames: &[Vec<u8>]) {
        let mut hex = String::new();
        for f in frames {
            let mut f = f.clone();
            f[0..6].copy_from_slice(&self.mac);
            for b in f {
                hex.push_str(&format!("{b:02x}"));
            }
            hex.push('\n');
        }
        let mut child = Command::new("ip")
            .args(["netns", "exec", NS, "python3", "-c", INJECT, IFACE])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(hex.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "inject failed");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            frames.len().to_string()
        );
    }
}

/// `anycastd stats --once --path PATH`: (exit status, stdout, stderr).
fn stats_once(path: &Path) -> (bool, String, String) {
    let out = Command::new(common::anycastd())
        .args(["stats", "--once", "--path"])
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The numbers after `label` on the first line starting with it after the line starting with
/// `section`.
fn cells(text: &str, section: &str, label: &str) -> Option<Vec<String>> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with(section));
    let line = lines.find(|l| l.starts_with(label))?;
    Some(
        line[label.len()..]
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    )
}

/// A service's (or, with `section` = the service, a backend's) packet count in a frame.
fn packets(text: &str, section: &str, label: &str) -> Option<u64> {
    cells(text, section, &format!("{label} "))?
        .first()?
        .parse()
        .ok()
}

/// Polls `stats --once` until `done` holds (bounded); returns the last output.
fn wait_stats(path: &Path, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, out, _) = stats_once(path);
        if done(&out) {
            return out;
        }
        assert!(Instant::now() < deadline, "never saw {what}:\n{out}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sample(metrics: &str, series: &str) -> Option<u64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

/// `/metrics`, which must answer 200.
fn metrics(port: u16) -> String {
    let (status, body) = get(port, "/metrics");
    assert_eq!(status, 200, "{body}");
    body
}

/// A tmux session, killed on drop.
struct Tmux(String);

impl Tmux {
    fn capture(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.0])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    fn alive(&self) -> bool {
        Command::new("tmux")
            .args(["has-session", "-t", &self.0])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn stats_view_and_per_service_counters() {
    let dir = tempfile::tempdir().unwrap();
    let seg = dir.path().join("stats");
    // No dataplane yet: a clear error.
    let (ok, _, err) = stats_once(&seg);
    assert!(!ok);
    assert_eq!(
        err.trim(),
        format!("error: no dataplane running: {} not found", seg.display())
    );

    let port = free_port();
    let cfg_path = dir.path().join("anycastd.toml");
    std::fs::write(&cfg_path, config(dir.path(), port, SERVICES)).unwrap();
    let _sidecar = ChildGuard(
        Command::new(sidecar_bin())
            .arg("--config")
            .arg(&cfg_path)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut dp = Dataplane::start(&config(dir.path(), port, SERVICES));
    let mac_text = dp
        .log
        .iter()
        .find_map(|l| l.split("mac=\"").nth(1).map(|r| r[..17].to_owned()))
        .expect("port MAC in the log");
    let mut mac = [0u8; 6];
    for (m, h) in mac.iter_mut().zip(mac_text.split(':')) {
        *m = u8::from_str_radix(h, 16).unwrap();
    }
    let _ns = Netns(NS.into());
    sh(&format!("ip netns add {NS}"));
    sh(&format!("ip link set {IFACE} netns {NS}"));
    sh(&format!(
        "ip netns exec {NS} sysctl -qw net.ipv6.conf.{IFACE}.disable_ipv6=1; \
         ip -n {NS} link set {IFACE} up"
    ));
    let inject = Injector { mac };

    // 7 DNS queries, 30 new TCP flows to web, 3 datagrams to no service.
    let mut frames: Vec<Vec<u8>> = (0..7).map(query).collect();
    frames.extend((0..30).map(|i| syn(80, 20_000 + i)));
    frames.extend((0..3).map(|i| udp4(CLIENT, WEB_VIP, 4000 + i, 9, b"x")));
    inject.send(&frames);
    let text = wait_stats(&seg, "7 dns and 30 web packets", |t| {
        packets(t, "service / backend", "dns") == Some(7)
            && packets(t, "service / backend", "web") == Some(30)
    });
    let b10 = packets(&text, "web", "  198.18.0.10").unwrap();
    let b11 = packets(&text, "web", "  198.18.0.11").unwrap();
    assert_eq!(b10 + b11, 30, "{text}");
    assert!(
        b10 > 0 && b11 > 0,
        "Maglev spread 30 flows on one backend:\n{text}"
    );
    assert!(text.contains("health: ok"), "{text}");
    assert!(text.contains("NOERROR 7"), "{text}");
    assert!(!text.contains('\x1b'), "{text}");
    let m = metrics(port);
    promtool_check(&m, dir.path());
    assert_eq!(
        sample(&m, "anycastd_service_packets_total{service=\"dns\"}"),
        Some(7)
    );
    assert_eq!(
        sample(&m, "anycastd_service_packets_total{service=\"web\"}"),
        Some(30)
    );
    let backend = |m: &str, s: &str, b: &str| {
        sample(
            m,
            &format!("anycastd_backend_packets_total{{service=\"{s}\",backend=\"{b}\"}}"),
        )
    };
    assert_eq!(backend(&m, "web", "198.18.0.10"), Some(b10));
    assert_eq!(backend(&m, "web", "198.18.0.11"), Some(b11));
    let (_, json) = get(port, "/stats.json");
    assert!(
        json.contains(r#""services":[{"backends":[],"bytes":[532],"name":"dns","packets":[7],"since_generation":1,"slot":0}"#),
        "{json}"
    );
    assert!(
        json.contains(&format!(r#"{{"address":"198.18.0.11","packets":[{b11}],"#)),
        "{json}"
    );

    // The live view in a terminal: renders, refreshes with rates, exits on Ctrl-C.
    let tmux = Tmux(format!("anycsv-{}", std::process::id()));
    let view = format!(
        "{} stats --path {} --interval 0.3",
        common::anycastd().display(),
        seg.display()
    );
    sh(&format!(
        "tmux new-session -d -s {} -x 160 -y 100 '{view}'",
        tmux.0
    ));
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = loop {
        let c = tmux.capture();
        if c.contains("service / backend") {
            break c;
        }
        assert!(
            Instant::now() < deadline,
            "the live view never rendered:\n{c}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(first.starts_with("anycastd stats  pid"), "{first}");
    inject.send(&(0..20).map(|i| syn(80, 30_000 + i)).collect::<Vec<_>>());
    let deadline = Instant::now() + Duration::from_secs(10);
    let second = loop {
        let c = tmux.capture();
        if packets(&c, "service / backend", "web") == Some(50) {
            break c;
        }
        assert!(
            Instant::now() < deadline,
            "the live view never refreshed:\n{c}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_ne!(first, second);
    assert!(second.contains("rates over 0."), "{second}");
    let rates = cells(&second, "per second", "total").unwrap();
    assert!(
        rates.iter().all(|r| r.parse::<f64>().is_ok()),
        "rates are numbers once there are two readings: {rates:?}\n{second}"
    );
    sh(&format!("tmux send-keys -t {} C-c", tmux.0));
    let deadline = Instant::now() + Duration::from_secs(5);
    while tmux.alive() {
        assert!(
            Instant::now() < deadline,
            "the live view did not exit on Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Not a terminal: plain frames one after another, and SIGINT ends it with status 0.
    let view = PipedView::start(&seg);
    let started = Instant::now();
    let frames = |t: &str| t.matches("anycastd stats  pid").count();
    while frames(&view.output()) < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{}",
            view.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = started.elapsed();
    let all = view.stop();
    assert!(!all.contains('\x1b'), "escape codes on a pipe:\n{all}");
    // One frame per 0.2 s interval, not more.
    let most = 2 + (elapsed.as_secs_f64() / 0.2) as usize + 2;
    assert!(
        frames(&all) <= most,
        "{} frames in {elapsed:?}:\n{all}",
        frames(&all)
    );
    assert!(all.contains("rates over 0."), "{all}");

    // Reload: dns renamed dns-v2, web8080 added; web keeps its counts.
    std::fs::write(&dp.config, config(dir.path(), port, &services_v2())).unwrap();
    let out = Command::new(common::anycastd())
        .args(["reload", "--socket"])
        .arg(dir.path().join("ctl.sock"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut frames: Vec<Vec<u8>> = (100..104).map(query).collect();
    frames.extend((0..6).map(|i| syn(8080, 40_000 + i)));
    frames.extend((0..2).map(|i| syn(80, 50_000 + i)));
    inject.send(&frames);
    let text = wait_stats(&seg, "the reloaded services' counts", |t| {
        packets(t, "service / backend", "dns-v2") == Some(4)
            && packets(t, "service / backend", "web8080") == Some(6)
            && packets(t, "service / backend", "web") == Some(52)
    });
    assert!(text.contains("generation 2  reloads 1"), "{text}");
    assert_eq!(packets(&text, "service / backend", "dns"), None, "{text}");
    assert_eq!(
        packets(&text, "web8080", "  198.18.0.12"),
        Some(6),
        "{text}"
    );
    let m = metrics(port);
    promtool_check(&m, dir.path());
    assert_eq!(
        sample(&m, "anycastd_service_packets_total{service=\"dns-v2\"}"),
        Some(4)
    );
    assert_eq!(
        sample(&m, "anycastd_service_packets_total{service=\"web\"}"),
        Some(52)
    );
    assert_eq!(
        sample(&m, "anycastd_service_packets_total{service=\"web8080\"}"),
        Some(6)
    );
    assert_eq!(
        sample(&m, "anycastd_service_packets_total{service=\"dns\"}"),
        None
    );
    assert_eq!(backend(&m, "web8080", "198.18.0.12"), Some(6));
    assert_eq!(
        backend(&m, "web", "198.18.0.10").unwrap() + backend(&m, "web", "198.18.0.11").unwrap(),
        52
    );

    // Stopped: --once shows exactly the final counts the dataplane printed. A live view keeps
    // watching through the stop and picks up the next dataplane's new segment.
    let watch = PipedView::start(&seg);
    // (A view started on a stopped dataplane shows it once and exits: let it see this one run.)
    let deadline = Instant::now() + Duration::from_secs(10);
    while !watch.output().contains("health: ok") {
        assert!(
            Instant::now() < deadline,
            "no live frame:\n{}",
            watch.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let done = dp.stop();
    assert!(done.status.success(), "{}", done.stderr);
    let (ok, text, err) = stats_once(&seg);
    assert!(ok, "{err}");
    assert!(
        text.contains("health: stopped (counts are final)"),
        "{text}"
    );
    let got = cells(&text, "packets", "worker 0").unwrap();
    let want: Vec<String> = ["rx", "tx", "answered", "forwarded", "punted", "dropped"]
        .iter()
        .map(|k| counter(&done.stdout, "worker 0:", k).to_string())
        .collect();
    assert_eq!(got, want, "{text}\n{}", done.stdout);
    assert_eq!(cells(&text, "packets", "total").unwrap(), want);
    assert!(
        counter(&done.stdout, "worker 0:", "forwarded") >= 58,
        "{}",
        done.stdout
    );
    assert_eq!(
        cells(&text, "drops by reason", "  no_service").unwrap()[0],
        counter(&done.stdout, "worker 0:", "no_service").to_string()
    );

    let dp2 = Dataplane::start(&config(dir.path(), port, &services_v2()));
    let header = format!("anycastd stats  pid {}  ", dp2.pid());
    // Generous: on a loaded 2-core box the view, the new dataplane and the test share cores.
    let deadline = Instant::now() + Duration::from_secs(20);
    // Any of the new dataplane's frames: the first may come before its worker's first
    // publication and say "stale".
    while !watch
        .output()
        .split(&header)
        .skip(1)
        .any(|f| f.contains("health: ok"))
    {
        assert!(
            Instant::now() < deadline,
            "the live view did not pick up the new dataplane:\n{}",
            watch.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let all = watch.stop();
    assert!(all.contains("health: stopped (counts are final)"), "{all}");
    drop(dp2);
}

/// `anycastd stats` with stdout on a pipe, collected as it comes.
struct PipedView {
    child: ChildGuard,
    out: std::sync::Arc<std::sync::Mutex<String>>,
    reader: std::thread::JoinHandle<()>,
}

impl PipedView {
    fn start(seg: &Path) -> PipedView {
        let mut child = ChildGuard(
            Command::new(common::anycastd())
                .args(["stats", "--interval", "0.2", "--path"])
                .arg(seg)
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let mut stdout = child.0.stdout.take().unwrap();
        let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = std::sync::Arc::clone(&out);
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        PipedView { child, out, reader }
    }

    fn output(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    /// SIGINT; it must exit 0 (bounded). Returns everything it printed.
    fn stop(mut self) -> String {
        sh(&format!("kill -INT {}", self.child.0.id()));
        let deadline = Instant::now() + Duration::from_secs(5);
        let status = loop {
            if let Some(s) = self.child.0.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "stats did not exit on SIGINT");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{status:?}");
        self.reader.join().unwrap();
        let out = self.out.lock().unwrap().clone();
        out
    }
}
