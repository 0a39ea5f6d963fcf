//! The rarer per-packet paths through the whole pipeline (`process`: Ethernet/IP parse and
//! checks, service lookup, the service's work), 32 packets per row, each row with its own
//! `reset_only` row (the restore of its frames alone, to subtract):
//!
//! - a flow hit forwarded by L2-DSR, and by IPIP over IPv6;
//! - an ICMP "fragmentation needed" about a flow, forwarded to the flow's backend;
//! - a packet too big for the tunnel, answered with "fragmentation needed" (in stage one);
//! - a cached DNS A hit whose query carries EDNS, and a cached AAAA hit over IPv6.
//!
//! A bench binary of their own, with one call of `process` (`run_batch`): a second call site
//! in a binary changes what the compiler inlines into `process` (then `l4`, `intercept` and
//! `stage_two` are calls of their own, about 10 ns more per packet, where the dataplane's
//! worker inlines them all), which would shift the `forward` and `dns` benches' own pipeline
//! rows.
//!
//! Run: `cargo bench -p anycastd --bench pipeline`.
mod common;

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use common::CpuTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use dataplane::forward::flow_table::TCP_ACK;
use dataplane::forward::frames::{tcp4, tcp6, udp6};
use dataplane::packet::{PacketBuffer, TestBuffer};
use dataplane::pipeline::{process, WorkerState};
use dataplane::snapshot::Snapshot;
use dataplane::testutil::{
    assert_next_hops_resolved, confirm_next_hops, dns_query, icmp4, ipv4, snapshot, udp4, PORT_MAC,
};
use dataplane::verdict::Verdict;

const BATCH: u32 = 32;

/// Forward services (TCP port 80) on three VIPs: IPIP to IPv4 backends on 203.0.113.10,
/// L2-DSR to IPv4 backends on 203.0.113.20, IPIP to IPv6 backends on 2001:db8:10::10; and the
/// DNS service of configs/zones/example.test.zone on 203.0.113.53 and 2001:db8:10::53.
fn config() -> String {
    let zone = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../configs/zones/example.test.zone");
    let mut c = String::from(
        "[[port]]\nname = \"edge0\"\ndevice = \"net_null0\"\n\
         addresses = [\"198.51.100.1/24\", \"2001:db8:1::1/64\"]\n",
    );
    for vip in [
        "203.0.113.10",
        "203.0.113.20",
        "2001:db8:10::10",
        "203.0.113.53",
        "2001:db8:10::53",
    ] {
        c.push_str(&format!("[[vip]]\naddress = \"{vip}\"\n"));
    }
    for (name, vip, encap, backend) in [
        ("web", "203.0.113.10", "ipip", "198.51.100."),
        ("web-dsr", "203.0.113.20", "l2dsr", "198.51.100."),
        ("web6", "2001:db8:10::10", "ipip", "2001:db8:1::"),
    ] {
        c.push_str(&format!(
            "[[service]]\nname = \"{name}\"\nvip = \"{vip}\"\nprotocol = \"tcp\"\n\
             port = 80\nkind = \"forward\"\nencap = \"{encap}\"\n"
        ));
        for i in 0..16 {
            c.push_str(&format!(
                "[[service.backend]]\naddress = \"{backend}{}\"\n",
                10 + i
            ));
        }
    }
    c.push_str(&format!(
        "[[service]]\nname = \"dns\"\nvip = [\"203.0.113.53\", \"2001:db8:10::53\"]\n\
         protocol = \"udp\"\nport = 53\nkind = \"dns\"\nzones = [\"{}\"]\n",
        zone.display()
    ));
    c
}

/// Each of `frames` restored into its buffer of `bufs` and run through the pipeline; how many
/// got `want`. The bench's only call of `process` (see the module docs).
#[inline(never)]
fn run_batch(
    bufs: &mut [TestBuffer],
    frames: &[Vec<u8>],
    snap: &Snapshot,
    ws: &mut WorkerState,
    want: Verdict,
) -> usize {
    // All restored before any is processed, as a receive burst fills its mbufs first (see
    // `fill` in benches/dns.rs: restoring each right before it is processed times
    // store-to-load forwarding stalls of the copy, which depend on the frame's length).
    for (buf, f) in bufs.iter_mut().zip(frames) {
        buf.reset(f);
    }
    let mut as_wanted = 0;
    for buf in bufs.iter_mut() {
        as_wanted += usize::from(process(buf, 0, snap, ws) == want);
    }
    as_wanted
}

/// Row `pipeline/{name}`: `frames` through the pipeline, each giving `want`, after the `prime`
/// frames and one untimed pass of `frames` (which insert their flows, or admit their answers
/// to the DNS cache); and `pipeline/{name}/reset_only`. Returns the worker's state after.
fn row(
    g: &mut BenchmarkGroup<CpuTime>,
    name: &str,
    snap: &Snapshot,
    prime: &[Vec<u8>],
    frames: &[Vec<u8>],
    want: Verdict,
) -> WorkerState {
    let mut ws = WorkerState {
        now_ms: 1,
        ..WorkerState::default()
    };
    confirm_next_hops(snap, &mut ws.forward, 0);
    let mut bufs: Vec<TestBuffer> = prime.iter().map(|f| TestBuffer::new(f)).collect();
    run_batch(&mut bufs, prime, snap, &mut ws, want);
    let mut bufs: Vec<TestBuffer> = frames.iter().map(|f| TestBuffer::new(f)).collect();
    // Twice: the DNS cache stores an answer the second time its query misses.
    run_batch(&mut bufs, frames, snap, &mut ws, want);
    let first = run_batch(&mut bufs, frames, snap, &mut ws, want);
    assert_eq!(first, frames.len(), "{name}: a frame did not give {want:?}");
    g.bench_function(name, |b| {
        b.iter(|| {
            assert_eq!(
                run_batch(&mut bufs, frames, snap, &mut ws, want),
                frames.len()
            )
        })
    });
    assert_next_hops_resolved(name, &ws.forward);
    g.bench_function(format!("{name}/reset_only"), |b| {
        b.iter(|| {
            for (buf, f) in bufs.iter_mut().zip(frames) {
                buf.reset(f);
            }
            black_box(bufs[frames.len() - 1].data()[0]);
        })
    });
    ws
}

fn pipeline_paths(c: &mut Criterion<CpuTime>) {
    let snap = snapshot(&config());
    let vip = Ipv4Addr::new(203, 0, 113, 10);
    let client = |i: u32| Ipv4Addr::from(0x0a00_0000 + i);
    let each = |f: &dyn Fn(u32) -> Vec<u8>| (0..BATCH).map(f).collect::<Vec<_>>();
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(u64::from(BATCH)));

    let dsr = each(&|i| {
        tcp4(
            client(i),
            Ipv4Addr::new(203, 0, 113, 20),
            1024,
            80,
            TCP_ACK,
            &[0u8; 18],
        )
    });
    let ws = row(&mut g, "l2dsr_hit_x32", &snap, &[], &dsr, Verdict::Forward);
    assert!(
        ws.forward.flows.counters.hits > 0,
        "l2dsr_hit_x32: flow hits"
    );

    let vip6: Ipv6Addr = "2001:db8:10::10".parse().expect("address");
    let v6 = each(&|i| {
        let client6 = Ipv6Addr::from(0x2001_0db8_0099_u128 << 80 | u128::from(i));
        tcp6(client6, vip6, 1024, 80, TCP_ACK, &[0u8; 18])
    });
    let ws = row(&mut g, "ipip6_hit_x32", &snap, &[], &v6, Verdict::Forward);
    assert!(
        ws.forward.flows.counters.hits > 0,
        "ipip6_hit_x32: flow hits"
    );

    // A router on the path quotes the backend's reply (VIP:80 → client); the flows exist.
    let flows = each(&|i| tcp4(client(i), vip, 1024, 80, TCP_ACK, &[0u8; 18]));
    let errors = each(&|i| {
        let reply = tcp4(vip, client(i), 80, 1024, TCP_ACK, &[0u8; 8]);
        let msg = icmp4(3, 4, 0, 1500, &reply[14..14 + 28]);
        ipv4(PORT_MAC, Ipv4Addr::new(192, 0, 2, 254), vip, 1, 60, &msg)
    });
    let name = "icmp_error_to_backend_x32";
    let ws = row(&mut g, name, &snap, &flows, &errors, Verdict::Forward);
    let c = &ws.forward.flows.counters;
    assert!(
        c.inserts == u64::from(BATCH) && c.hits >= ws.forward.counters.icmp_errors,
        "{name}: the errors found their flows ({} inserts, {} hits)",
        c.inserts,
        c.hits
    );

    // 1460 bytes of TCP payload with DF: 20 bytes too many for IPIP over a 1500-byte MTU.
    let big = each(&|i| tcp4(client(i), vip, 1024, 80, TCP_ACK, &[0u8; 1460]));
    let ws = row(
        &mut g,
        "too_big_answered_x32",
        &snap,
        &[],
        &big,
        Verdict::Answer,
    );
    assert!(
        ws.forward.counters.too_big > 0
            && ws.forward.counters.too_big == ws.forward.counters.too_big_icmp,
        "too_big_answered_x32: every packet answered with an ICMP error"
    );

    // DNS: an A query with an EDNS OPT record (UDP size 1232), an AAAA query over IPv6.
    let mut edns = dns_query("www.example.test", 1);
    edns[11] = 1;
    edns.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    let dns_vip = Ipv4Addr::new(203, 0, 113, 53);
    let a = each(&|i| udp4(client(i), dns_vip, 40000, 53, &edns));
    let ws = row(
        &mut g,
        "dns_a_hit_edns_cached_x32",
        &snap,
        &[],
        &a,
        Verdict::Answer,
    );
    assert!(
        ws.dns_cache.hits > 0 && ws.dns.edns > 0,
        "EDNS answers from the cache"
    );
    let dns_vip6: Ipv6Addr = "2001:db8:10::53".parse().expect("address");
    let client6: Ipv6Addr = "2001:db8:99::7".parse().expect("address");
    let aaaa = dns_query("www.example.test", 28);
    let q6 = each(&|_| udp6(client6, dns_vip6, 40000, 53, &aaaa));
    let ws = row(
        &mut g,
        "dns_aaaa_hit_ipv6_cached_x32",
        &snap,
        &[],
        &q6,
        Verdict::Answer,
    );
    assert!(ws.dns_cache.hits > 0, "IPv6 answers from the cache");
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = pipeline_paths
}
criterion_main!(benches);
