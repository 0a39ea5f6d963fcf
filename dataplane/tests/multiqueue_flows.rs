//! Two workers on a multi-queue net_tap port: the kernel spreads flows over the tap's queues,
//! both workers answer, and every flow (a UDP source port sending DNS queries) is answered by
//! one worker only, as the per-worker counters from `anycastd status` show.
mod common;

use common::Netns;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{counter, sh, Dataplane};

/// Sends `argv[2]` queries for example.test SOA from UDP source port `argv[1]`, one at a time;
/// exits 1 unless every one is answered.
const FLOW: &str = r#"
import socket, struct, sys
sport, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.2", sport))
s.settimeout(2.0)
s.connect(("203.0.113.53", 53))
q = b"\x07example\x04test\x00" + struct.pack(">HH", 6, 1)
for i in range(n):
    s.send(struct.pack(">HHHHHH", i, 0, 1, 0, 0, 0) + q)
    r = s.recv(4096)
    assert r[:2] == struct.pack(">H", i), "wrong id"
    assert struct.unpack(">H", r[2:4])[0] & 0x000f == 0, "not NOERROR"
"#;

/// Per-worker `answered` counters from `anycastd status`.
fn answered(socket: &Path, workers: usize) -> Vec<u64> {
    let out = Command::new(common::anycastd())
        .args(["status", "--socket"])
        .arg(socket)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    (0..workers)
        .map(|w| counter(&text, &format!("worker {w}:"), "answered"))
        .collect()
}

#[test]
fn two_workers_split_flows_and_each_flow_sticks_to_one() {
    const FLOWS: u16 = 40;
    const PER_FLOW: u64 = 5;
    let tag = "mq";
    let iface = format!("anyc{tag}");
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("ctl.sock");
    let zones = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/zones/example.test.zone");
    let config = format!(
        r#"
[eal]
{}
[dataplane]
workers = 2
idle = "adaptive"
control_socket = "{}"
[[port]]
name = "edge0"
device = "net_tap_{tag},iface={iface}"
addresses = ["198.51.100.1/24"]
[[vip]]
address = "203.0.113.53"
[[service]]
name = "dns"
vip = "203.0.113.53"
protocol = "udp"
port = 53
kind = "dns"
zones = ["{}"]
identity = "mq"
"#,
        common::eal_args(&format!("anyc-mq-{tag}")),
        socket.display(),
        zones.display()
    );
    let mut dp = Dataplane::start(&config);
    assert!(
        dp.log.iter().any(|l| l.contains("queues=2")),
        "{:?}",
        dp.log
    );
    let mac = dp
        .log
        .iter()
        .find_map(|l| l.split("mac=\"").nth(1).map(|r| r[..17].to_owned()))
        .expect("port MAC in the log");
    let ns = Netns(format!("anycastd-mq-{}", std::process::id()));
    sh(&format!("ip netns add {}", ns.0));
    sh(&format!("ip link set {iface} netns {}", ns.0));
    // A permanent neighbour entry: no ARP traffic to disturb the per-worker counts.
    sh(&format!(
        "ip -n {0} addr add 198.51.100.2/24 dev {iface} && ip -n {0} link set {iface} up && \
         ip -n {0} route add 203.0.113.53/32 dev {iface} && \
         ip -n {0} neigh replace 203.0.113.53 lladdr {mac} dev {iface} nud permanent",
        ns.0
    ));
    let script = dir.path().join("flow.py");
    std::fs::write(&script, FLOW).unwrap();
    let mut per_worker_flows = [0u32; 2];
    let mut before = answered(&socket, 2);
    for f in 0..FLOWS {
        let sport = 20000 + f;
        let out = Command::new("ip")
            .args(["netns", "exec", &ns.0, "/usr/bin/python3"])
            .arg(&script)
            .args([sport.to_string(), PER_FLOW.to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "flow {sport}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Workers publish their counters once per poll loop: wait (bounded) for the total.
        let deadline = Instant::now() + Duration::from_secs(5);
        let after = loop {
            let now = answered(&socket, 2);
            let total: u64 = now.iter().sum::<u64>() - before.iter().sum::<u64>();
            if total >= PER_FLOW || Instant::now() > deadline {
                break now;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let delta: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
        assert!(
            delta == [PER_FLOW, 0] || delta == [0, PER_FLOW],
            "flow {sport} answered by both workers or lost: {delta:?}"
        );
        per_worker_flows[usize::from(delta[1] == PER_FLOW)] += 1;
        before = after;
    }
    println!("{FLOWS} flows over 2 workers: {per_worker_flows:?}");
    assert!(
        per_worker_flows.iter().all(|&n| n > 0),
        "every flow went to one worker: {per_worker_flows:?}"
    );
    let done = dp.stop();
    assert!(done.status.success(), "{}", done.stderr);
    for w in 0..2 {
        assert!(
            counter(&done.stdout, &format!("worker {w}:"), "answered") > 0,
            "{}",
            done.stdout
        );
    }
}
