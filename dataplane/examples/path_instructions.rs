//! Instructions per packet of the DNS and forward paths, counted by callgrind (deterministic where the
//! machine's timings are not): `valgrind --tool=callgrind
//! --toggle-collect='path_instructions::measure*' target/release/examples/path_instructions <path>`,
//! then the total divided by the 100,000 packets measured. `bench/instructions.py` does that for
//! every path (`--list` prints them) and subtracts the frame's restore.
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use dataplane::answer::dns::cache::PacketCache;
use dataplane::answer::dns::{DnsCounters, DnsService};
use dataplane::config::DnsServiceConfig;
use dataplane::forward::flow_table::FlowTableConfig;
use dataplane::forward::flow_table::TCP_ACK;
use dataplane::forward::frames::tcp4;
use dataplane::forward::WorkerForwardState;
use dataplane::packet::checksum;
use dataplane::packet::{PacketBuffer, TestBuffer};
use dataplane::pipeline::{process, WorkerState};
use dataplane::snapshot::PortSnapshot;
use dataplane::testutil::{self, dns_query, udp4};
use dataplane::verdict::Verdict;

const N: usize = 100_000;

/// The paths measured, each with the restore-only path to subtract from it.
const PATHS: &[(&str, &str)] = &[
    ("dns_cached", "reset_only"),
    ("dns_fast", "reset_only"),
    ("dns_nxdomain", "reset_only"),
    ("dns_cname", "reset_only"),
    ("dns_wildcard", "reset_only"),
    ("dns_referral", "reset_only"),
    ("dns_random_nxdomain", "reset_only"),
    ("dns_random_nxdomain_cached", "reset_only"),
    ("dns_pipeline_cached", "reset_only"),
    ("dns_pipeline_cached_edns", "reset_only"),
    ("forward_pipeline_hit", "reset_only"),
    ("forward_pipeline_new_flow", "reset_only"),
    ("forward_pipeline_too_big", "reset_only_too_big"),
];

#[inline(never)]
fn measure(f: &mut dyn FnMut()) {
    for _ in 0..N {
        f();
    }
}

/// The DNS service of `configs/zones/example.test.zone` and a port that owns `vip`.
fn dns_service(zones: &Path, vip: Ipv4Addr) -> (DnsService, PortSnapshot) {
    let svc = DnsService::build(&DnsServiceConfig {
        zones: vec![zones.join("example.test.zone")],
        identity: "x".into(),
        minimal_responses: false,
    })
    .expect("configs/zones/example.test.zone compiles");
    let snap = testutil::snapshot(&format!(
        "[[port]]\nname = \"e\"\ndevice = \"net_null0\"\naddresses = [\"198.51.100.1/24\"]\n[[vip]]\naddress = \"{vip}\"\n"
    ));
    (svc, snap.ports[0].clone())
}

/// A few packets first (the cache's admission, the flow's insertion), then the measured ones.
fn warm_then_measure(one: &mut dyn FnMut()) {
    for _ in 0..4 {
        one();
    }
    measure(one);
}

fn main() {
    let path = std::env::args().nth(1).unwrap_or_default();
    if path == "--list" {
        // A path and the restore to subtract from it, a line each.
        for (path, reset) in PATHS {
            println!("{path} {reset}");
        }
        return;
    }
    let zones = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../configs/zones");
    let vip = Ipv4Addr::new(203, 0, 113, 53);
    let frame = udp4(
        Ipv4Addr::new(198, 51, 100, 7),
        vip,
        40000,
        53,
        &dns_query("www.example.test", 1),
    );
    let mut buf = TestBuffer::new(&frame);
    match path.as_str() {
        "dns_cached" | "dns_fast" | "dns_nxdomain" | "dns_cname" | "dns_wildcard"
        | "dns_referral" => {
            // The A queries of `benches/dns.rs`, uncached (`dns_cached`: the first, cached).
            let name = match path.as_str() {
                "dns_nxdomain" => "nope.example.test",
                "dns_cname" => "chain1.example.test",
                "dns_wildcard" => "foo.wild.example.test",
                "dns_referral" => "www.sub.example.test",
                _ => "www.example.test",
            };
            let frame = udp4(
                Ipv4Addr::new(198, 51, 100, 7),
                vip,
                40000,
                53,
                &dns_query(name, 1),
            );
            let (svc, port) = dns_service(&zones, vip);
            let mut counters = DnsCounters::default();
            let mut cache = PacketCache::new();
            let mut cache = (path == "dns_cached").then_some(&mut cache);
            let mut one = || {
                buf.reset(&frame);
                testutil::answer_dns(&svc, &mut buf, &port, &mut counters, cache.as_deref_mut());
            };
            warm_then_measure(&mut one);
        }
        "dns_random_nxdomain" | "dns_random_nxdomain_cached" => {
            // A name never asked before each time (NXDOMAIN; no UDP checksum, so the name can
            // change in place), as in a flood of random names.
            let (svc, port) = dns_service(&zones, vip);
            let mut counters = DnsCounters::default();
            let mut cache = PacketCache::new();
            let mut cache = path.ends_with("cached").then_some(&mut cache);
            let mut f = udp4(
                Ipv4Addr::new(198, 51, 100, 7),
                vip,
                40000,
                53,
                &dns_query("r00000000.example.test", 1),
            );
            f[40..42].copy_from_slice(&[0, 0]);
            let mut n = 0u32;
            let mut one = || {
                n = n.wrapping_add(0x9e37_79b9);
                for (i, b) in f[56..64].iter_mut().enumerate() {
                    *b = b"0123456789abcdef"[(n >> (28 - 4 * i) & 0xf) as usize];
                }
                buf.reset(&f);
                testutil::answer_dns(&svc, &mut buf, &port, &mut counters, cache.as_deref_mut());
            };
            warm_then_measure(&mut one);
        }
        "dns_pipeline_cached" | "dns_pipeline_cached_edns" => {
            let snap = testutil::snapshot(&format!(
                "[[port]]\nname = \"e\"\ndevice = \"net_null0\"\naddresses = [\"198.51.100.1/24\"]\n[[vip]]\naddress = \"{vip}\"\n[[service]]\nname = \"dns\"\nvip = \"{vip}\"\nprotocol = \"udp\"\nport = 53\nkind = \"dns\"\nzones = [\"{}\"]\n",
                zones.join("example.test.zone").display()
            ));
            let mut ws = WorkerState::default();
            // With an EDNS OPT record (UDP size 1232), as `benches/pipeline.rs` times it.
            let mut edns = dns_query("www.example.test", 1);
            edns[11] = 1;
            edns.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
            let frame = if path.ends_with("edns") {
                udp4(Ipv4Addr::new(198, 51, 100, 7), vip, 40000, 53, &edns)
            } else {
                frame.clone()
            };
            let mut one = || {
                buf.reset(&frame);
                assert_eq!(process(&mut buf, 0, &snap, &mut ws), Verdict::Answer);
            };
            warm_then_measure(&mut one);
        }
        "forward_pipeline_hit"
        | "forward_pipeline_new_flow"
        | "forward_pipeline_too_big"
        | "reset_only_too_big" => {
            let mut cfg = String::from(
                "[[port]]\nname = \"e\"\ndevice = \"net_null0\"\naddresses = [\"198.51.100.1/24\"]\n\
                 [[vip]]\naddress = \"203.0.113.10\"\n[[service]]\nname = \"web\"\n\
                 vip = \"203.0.113.10\"\nprotocol = \"tcp\"\nport = 80\nkind = \"forward\"\n\
                 encap = \"ipip\"\n",
            );
            for i in 0..16 {
                cfg.push_str(&format!(
                    "[[service.backend]]\naddress = \"198.51.100.{}\"\n",
                    10 + i
                ));
            }
            let snap = testutil::snapshot(&cfg);
            let mut ws = WorkerState {
                now_ms: 1,
                ..WorkerState::default()
            };
            testutil::confirm_next_hops(&snap, &mut ws.forward, 0);
            // `too_big`: 1460 bytes of payload with DF, 20 bytes too many for IPIP over the
            // port's 1500-byte MTU, answered with "fragmentation needed" (as
            // `benches/pipeline.rs` times it); its `reset_only` is `reset_only_too_big`.
            let too_big = path.ends_with("too_big");
            let payload = if too_big { 1460 } else { 18 };
            let frame = tcp4(
                Ipv4Addr::new(10, 0, 0, 1),
                Ipv4Addr::new(203, 0, 113, 10),
                1024,
                80,
                TCP_ACK,
                &vec![0u8; payload],
            );
            if path == "reset_only_too_big" {
                let mut one = || {
                    buf.reset(&frame);
                    black_box(buf.data()[0]);
                };
                measure(&mut one);
                return;
            }
            let verdict = if too_big {
                Verdict::Answer
            } else {
                Verdict::Forward
            };
            let new_flows = path.ends_with("new_flow");
            // Every packet a new flow (a new client address), flows idle out after 1 ms, and
            // the clock moves 1 ms per `churn_flows_per_ms` packets: the steady state of the
            // default 64k-flow table that `benches/forward.rs` times.
            let capacity = FlowTableConfig::default().capacity;
            let per_ms = testutil::churn_flows_per_ms(capacity) as u32;
            if new_flows {
                ws.forward =
                    WorkerForwardState::with_config(testutil::churning_flow_table(capacity));
                testutil::confirm_next_hops(&snap, &mut ws.forward, 0);
            }
            let mut frame = frame;
            let mut n = 0u32;
            let mut one = || {
                if new_flows {
                    n += 1;
                    frame[26..30].copy_from_slice(&(0x0a00_0000 + n).to_be_bytes());
                    // The IPv4 header checksum, set again for the new address.
                    frame[24..26].copy_from_slice(&[0, 0]);
                    let c = checksum::checksum(&frame[14..34]);
                    frame[24..26].copy_from_slice(&c.to_be_bytes());
                    if n.is_multiple_of(per_ms) {
                        ws.now_ms += 1;
                        let now = ws.now_ms;
                        if now.is_multiple_of(30_000) {
                            testutil::confirm_next_hops(&snap, &mut ws.forward, now);
                        }
                    }
                }
                buf.reset(&frame);
                assert_eq!(process(&mut buf, 0, &snap, &mut ws), verdict);
            };
            warm_then_measure(&mut one);
        }
        "reset_only" => {
            let mut one = || {
                buf.reset(&frame);
                black_box(buf.data()[0]);
            };
            measure(&mut one);
        }
        other => {
            let known: Vec<&str> = PATHS.iter().map(|(p, _)| *p).collect();
            eprintln!(
                "unknown path '{other}'; paths: {} reset_only reset_only_too_big",
                known.join(" ")
            );
            std::process::exit(2);
        }
    }
}
