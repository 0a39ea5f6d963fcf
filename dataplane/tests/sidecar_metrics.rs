//! The dataplane (net_pcap, a known input) and `anycastd-sidecar` together: the sidecar reports
//! `anycastd_up 0` before there is a segment, /healthz turns 200 while anycastd runs and 503 once
//! it stops, /metrics passes `promtool check metrics` and its values equal the dataplane's final
//! counts, a restarted dataplane (a new segment file) is picked up, and one killed with SIGKILL
//! turns /healthz to 503.
mod common;

use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::sidecar::{free_port, get, promtool_check, sidecar_bin, wait_status};
use common::{counter, write_pcap, Dataplane};
use dataplane::testutil::{arp_request, ethernet, icmp4, ipv4, udp4, CLIENT_MAC};

const PCAP_MAC: [u8; 6] = [0x02, 0x70, 0x63, 0x61, 0x70, 0x00];
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const VIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);

struct Sidecar(Child);

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The value of the sample `series` (name with labels, exactly as written).
fn sample(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {series} in:\n{metrics}"))
        .parse()
        .unwrap()
}

fn echo(seq: u16) -> Vec<u8> {
    ipv4(PCAP_MAC, CLIENT, VIP, 1, 64, &icmp4(8, 0, 7, seq, b"stats"))
}

#[test]
fn sidecar_serves_the_dataplane_counters() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.pcap");
    let mut frames = vec![arp_request(CLIENT_MAC, CLIENT, VIP)];
    frames.extend((0..9).map(echo)); // 10 answered
    let mut bad = echo(99);
    let n = bad.len();
    bad[n - 1] ^= 0x55;
    frames.push(bad); // bad_checksum
    frames.push(udp4(CLIENT, VIP, 4000, 9, b"x")); // no_service
    frames.push(udp4(CLIENT, VIP, 4000, 9, b"y")); // no_service
    frames.push(ethernet(PCAP_MAC, CLIENT_MAC, 0x88cc)); // unsupported
    for f in frames.iter_mut() {
        if f[0] != 0xff {
            f[0..6].copy_from_slice(&PCAP_MAC);
        }
    }
    write_pcap(&input, &frames);
    let stats = dir.path().join("run/stats");
    let port = free_port();
    let config_for = |prefix: &str, out: &str| {
        format!(
            r#"{}
[[vip]]
address = "203.0.113.10"
[stats]
path = "{}"
[sidecar]
listen = "127.0.0.1:{port}"
stale_after_ms = 500
"#,
            common::pcap_port(
                prefix,
                &input,
                &dir.path().join(out),
                r#""198.51.100.1/24""#
            ),
            stats.display()
        )
    };
    let config = config_for("anyc-sidecar", "out.pcap");
    let sidecar_config = dir.path().join("sidecar.toml");
    std::fs::write(&sidecar_config, &config).unwrap();
    let _sidecar = Sidecar(
        Command::new(sidecar_bin())
            .arg("--config")
            .arg(&sidecar_config)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // No dataplane yet: only anycastd_up 0, and unhealthy.
    let (status, none) = get(port, "/metrics");
    assert_eq!(status, 200);
    assert!(none.contains("\nanycastd_up 0\n"), "{none}");
    assert!(!none.contains("anycastd_rx_packets_total"), "{none}");
    promtool_check(&none, dir.path());
    assert_eq!(get(port, "/healthz").0, 503);

    let mut dp = Dataplane::start(&config);
    wait_status(port, "/healthz", 200, Duration::from_secs(5));
    // net_pcap reads its file once; wait for all of it to be counted.
    let deadline = Instant::now() + Duration::from_secs(10);
    let running = loop {
        let (_, m) = get(port, "/metrics");
        if m.contains(&format!(
            "anycastd_rx_packets_total{{worker=\"0\"}} {}\n",
            frames.len()
        )) || Instant::now() > deadline
        {
            break m;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(running.contains("\nanycastd_up 1\n"), "{running}");
    promtool_check(&running, dir.path());
    let (status, json) = get(port, "/stats.json");
    assert_eq!(status, 200);
    assert!(json.contains("\"up\":true"), "{json}");
    assert!(json.contains("\"name\":\"pcap0\""), "{json}");

    let done = dp.stop();
    assert!(done.status.success(), "{}", done.stderr);
    let body = wait_status(port, "/healthz", 503, Duration::from_secs(3));
    assert!(body.contains("Stopped"), "{body}");
    let (_, fin) = get(port, "/metrics");
    assert!(fin.contains("\nanycastd_up 0\n"), "{fin}");
    promtool_check(&fin, dir.path());
    let w0 = |name: &str| sample(&fin, &format!("anycastd_{name}{{worker=\"0\"}}"));
    let want = |name: &str| counter(&done.stdout, "worker 0:", name);
    assert_eq!(w0("rx_packets_total"), frames.len() as u64);
    assert_eq!(w0("rx_packets_total"), want("rx"));
    assert_eq!(w0("tx_packets_total"), want("tx"));
    assert_eq!(w0("answered_packets_total"), want("answered"));
    assert_eq!(w0("answered_packets_total"), 10);
    assert_eq!(w0("forwarded_packets_total"), want("forwarded"));
    assert_eq!(w0("punted_packets_total"), want("punted"));
    let mut dropped = 0;
    for reason in stats_layout_reasons() {
        let n = sample(
            &fin,
            &format!("anycastd_dropped_packets_total{{worker=\"0\",reason=\"{reason}\"}}"),
        );
        assert_eq!(n, want(reason), "{reason}");
        dropped += n;
    }
    assert_eq!(dropped, want("dropped"));
    assert_eq!(dropped, 4);
    assert_eq!(
        sample(&fin, "anycastd_port_rx_packets_total{port=\"pcap0\"}"),
        frames.len() as u64
    );
    assert_eq!(
        sample(&fin, "anycastd_port_tx_packets_total{port=\"pcap0\"}"),
        want("tx")
    );

    // A new dataplane on the same path: a new segment, picked up without restarting the sidecar.
    let mut dp = Dataplane::start(&config_for("anyc-sidecar2", "out2.pcap"));
    wait_status(port, "/healthz", 200, Duration::from_secs(5));
    let (_, again) = get(port, "/metrics");
    assert!(again.contains("\nanycastd_up 1\n"), "{again}");
    // Killed without a chance to mark its segment stopped: unhealthy as soon as its process is
    // gone (a zombie here, as the test has not reaped it), at the latest once the heartbeat is
    // older than stale_after_ms (500).
    Command::new("kill")
        .args(["-KILL", &dp.pid().to_string()])
        .status()
        .unwrap();
    let killed = Instant::now();
    let body = wait_status(port, "/healthz", 503, Duration::from_secs(2));
    assert!(
        body.contains("Running"),
        "the segment was not marked stopped: {body}"
    );
    eprintln!("healthz 503 {:?} after kill -9", killed.elapsed());
    let (_, dead) = get(port, "/metrics");
    assert!(dead.contains("\nanycastd_up 0\n"), "{dead}");
    let _ = dp.stop();
}

/// The drop-reason label values: exactly the dataplane's reason names.
fn stats_layout_reasons() -> Vec<&'static str> {
    dataplane::verdict::DropReason::ALL
        .iter()
        .map(|r| r.name())
        .collect()
}
