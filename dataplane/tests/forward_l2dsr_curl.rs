//! End to end with real TCP in L2 DSR mode: curl in a client namespace → anycastd (net_tap) →
//! HTTP servers in backend namespaces holding the VIP on loopback; replies go straight back to the
//! client. 1,000 requests all succeed and spread by weight; marking a backend down (config edit
//! and restart) moves only that backend's flows.
mod common;

use common::ChildGuard as Server;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use common::lan::Lan;
use common::{counter, sh, Dataplane};

const VIP: &str = "203.0.113.80";
const BACKENDS: [&str; 3] = ["198.51.100.31", "198.51.100.32", "198.51.100.33"];
const WEIGHTS: [u32; 3] = [1, 2, 1];
const REQUESTS: u16 = 1000;
const FIRST_PORT: u16 = 20000;

fn config(tag: &str, states: [&str; 3]) -> String {
    let mut backends = String::new();
    for i in 0..3 {
        backends.push_str(&format!(
            "[[service.backend]]\naddress = \"{}\"\nweight = {}\nstate = \"{}\"\n",
            BACKENDS[i], WEIGHTS[i], states[i]
        ));
    }
    format!(
        r#"
[eal]
{}
[dataplane]
idle = "adaptive"
[[port]]
name = "edge0"
device = "net_tap_{tag},iface=anyc{tag}"
addresses = ["198.51.100.1/24"]
[[vip]]
address = "{VIP}"
[[service]]
name = "web"
vip = "{VIP}"
protocol = "tcp"
port = 80
kind = "forward"
encap = "l2dsr"
{backends}"#,
        common::eal_args(&format!("anyc-dsr-{tag}"))
    )
}

/// Starts anycastd and the LAN, serves each backend's name over HTTP, runs `REQUESTS` curls with
/// fixed source ports and returns (source port → backend name) and the final counters.
fn run(tag: &str, states: [&str; 3], www: &std::path::Path) -> (BTreeMap<u16, String>, String) {
    let mut dp = Dataplane::start(&config(tag, states));
    let lan = Lan::new(&format!("d{tag}"), &format!("anyc{tag}"), VIP, &BACKENDS);
    let mut servers = Vec::new();
    for (i, ns) in lan.backends.iter().enumerate() {
        let dir = www.join(format!("b{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), format!("b{i}\n")).unwrap();
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "/usr/bin/python3",
                "-m",
                "http.server",
                "80",
                "--bind",
                VIP,
            ])
            .arg("--directory")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        servers.push(Server(child));
    }
    // Wait (bounded) until every server listens and the dataplane has resolved the backends.
    for ns in &lan.backends {
        let mut up = false;
        for _ in 0..100 {
            let ss = sh(&format!("ip netns exec {ns} ss -ltn"));
            if ss.contains(&format!("{VIP}:80")) {
                up = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(up, "backend in {ns} did not listen");
    }
    let script = format!(
        "for p in $(seq {FIRST_PORT} {}); do \
           printf '%s ' $p; curl -s --max-time 5 --retry 2 --local-port $p http://{VIP}/ || echo FAIL; \
         done",
        FIRST_PORT + REQUESTS - 1
    );
    let out = Command::new("ip")
        .args(["netns", "exec", &lan.client, "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    let done = dp.stop();
    assert!(done.status.success(), "{}", done.stderr);
    let by_port = out
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(p, b)| (p.parse().unwrap(), b.trim().to_owned()))
        .collect();
    (by_port, done.stdout)
}

fn shares(by_port: &BTreeMap<u16, String>) -> BTreeMap<String, usize> {
    let mut h = BTreeMap::new();
    for b in by_port.values() {
        *h.entry(b.clone()).or_insert(0) += 1;
    }
    h
}

#[test]
fn curl_1000_requests_spread_by_weight_and_down_moves_only_its_flows() {
    let www = tempfile::tempdir().unwrap();
    let (before, counters) = run("1", ["active", "active", "active"], www.path());
    assert_eq!(before.len(), REQUESTS as usize);
    let h = shares(&before);
    assert!(!h.contains_key("FAIL"), "failed requests: {h:?}");
    // Weighted shares 1:2:1 → 25%, 50%, 25%; allow ±6 points (binomial noise on 1,000 flows plus
    // Maglev's table imbalance).
    for (i, w) in WEIGHTS.iter().enumerate() {
        let got = *h.get(&format!("b{i}")).unwrap_or(&0) as f64 / f64::from(REQUESTS);
        let want = f64::from(*w) / f64::from(WEIGHTS.iter().sum::<u32>());
        assert!(
            (got - want).abs() < 0.06,
            "b{i}: share {got:.3}, want {want:.3} ({h:?})"
        );
    }
    assert!(
        counter(&counters, "total:", "forwarded") >= 5 * u64::from(REQUESTS),
        "{counters}"
    );

    let (after, _) = run("2", ["active", "active", "down"], www.path());
    let h2 = shares(&after);
    assert!(
        !h2.contains_key("FAIL") && !h2.contains_key("b2"),
        "after b2 down: {h2:?}"
    );
    let moved_others = before
        .iter()
        .filter(|(p, b)| b.as_str() != "b2" && after.get(p) != Some(b))
        .count();
    let on_others = before.values().filter(|b| b.as_str() != "b2").count();
    println!("shares before: {h:?}; after b2 down: {h2:?}; {moved_others} of {on_others} surviving flows moved");
    // Maglev: removing one backend moves its flows plus at most ~2% of the others.
    assert!(
        moved_others * 50 <= on_others,
        "{moved_others} of {on_others} flows on surviving backends moved"
    );
}
