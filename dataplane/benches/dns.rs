//! DNS answer-path benchmarks: ns per query on 32-packet batches (A hit, NXDOMAIN, CNAME chain,
//! wildcard, referral; `reset_only` is the per-packet restore of the query alone, to
//! subtract), and compiling a generated 100k-record zone.
//!
//! `CARGO_TARGET_DIR=... cargo bench -p anycastd --bench dns`
//!
//! Times are the benchmark thread's CPU time (CLOCK_THREAD_CPUTIME_ID), not wall time: the
//! machines these run on are shared, and wall time then mostly measures the other tenants.
mod common;

use std::net::Ipv4Addr;
use std::path::PathBuf;

use common::CpuTime;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dataplane::answer::dns::cache::PacketCache;
use dataplane::answer::dns::zonefile;
use dataplane::answer::dns::{DnsCounters, DnsService};
use dataplane::config::DnsServiceConfig;
use dataplane::packet::{PacketBuffer, TestBuffer};
use dataplane::pipeline::{process, WorkerState};
use dataplane::snapshot::{LocalAddrs, PortSnapshot};
use dataplane::testutil::{self, dns_query, generated_zone, udp4, PORT_MAC};
use dataplane::verdict::Verdict;

const BATCH: usize = 32;

fn zones_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../configs/zones")
}

/// A query for `name` of type `qtype` from 198.51.100.7:40000 to `vip`:53.
fn query_frame(vip: Ipv4Addr, name: &str, qtype: u16) -> Vec<u8> {
    udp4(
        Ipv4Addr::new(198, 51, 100, 7),
        vip,
        40000,
        53,
        &dns_query(name, qtype),
    )
}

/// Restores every buffer of a batch to `frame` (each answer rewrites its query in place), all
/// before any is answered, as a worker's receive burst fills its mbufs before the first is
/// processed. Restoring each right before answering it would time store-to-load forwarding
/// stalls instead: the copy's wide stores are still in flight when the parse reads the header
/// back, and whether a read spans two of them depends on the frame's length.
fn fill(bufs: &mut [TestBuffer], frame: &[u8]) {
    for buf in bufs.iter_mut() {
        buf.reset(frame);
    }
}

fn answer_path(c: &mut Criterion<CpuTime>) {
    let svc = DnsService::build(&DnsServiceConfig {
        zones: vec![
            zones_dir().join("example.test.zone"),
            zones_dir().join("2.0.192.in-addr.arpa.zone"),
        ],
        identity: "ams1".into(),
        minimal_responses: false,
    })
    .expect("zones");
    let vip = Ipv4Addr::new(203, 0, 113, 53);
    let port = PortSnapshot {
        name: "edge0".into(),
        mac: PORT_MAC,
        local: LocalAddrs::new(&[vip.into()]),
        node: LocalAddrs::default(),
    };
    let mut group = c.benchmark_group("dns_query");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (label, name, qtype) in [
        ("a_hit", "www.example.test", 1u16),
        ("nxdomain", "nope.example.test", 1),
        ("cname_chain", "chain1.example.test", 1),
        ("wildcard", "foo.wild.example.test", 1),
        ("referral", "www.sub.example.test", 1),
    ] {
        let frame = query_frame(vip, name, qtype);
        let mut bufs: Vec<TestBuffer> = (0..BATCH).map(|_| TestBuffer::new(&frame)).collect();
        let mut counters = DnsCounters::default();
        group.bench_function(label, |b| {
            b.iter(|| {
                fill(&mut bufs, &frame);
                for buf in bufs.iter_mut() {
                    testutil::answer_dns(&svc, buf, &port, &mut counters, None);
                }
            })
        });
        // The same query through the worker's packet cache (a hit after the first two).
        let mut cache = PacketCache::new();
        group.bench_function(format!("{label}/cached"), |b| {
            b.iter(|| {
                fill(&mut bufs, &frame);
                for buf in bufs.iter_mut() {
                    testutil::answer_dns(&svc, buf, &port, &mut counters, Some(&mut cache));
                }
            })
        });
    }
    // The A hit through the whole pipeline, as a worker runs it (Ethernet/IP parse and checks,
    // service lookup and counters, then the cache): what the harness's dns profile costs per
    // packet on top of the port I/O.
    let snap = testutil::snapshot(&format!(
        r#"
[[port]]
name = "edge0"
device = "net_null0"
addresses = ["198.51.100.1/24"]
[[vip]]
address = "{vip}"
[[service]]
name = "dns"
vip = "{vip}"
protocol = "udp"
port = 53
kind = "dns"
zones = ["{}"]
"#,
        zones_dir().join("example.test.zone").display()
    ));
    let frame = query_frame(vip, "www.example.test", 1);
    let mut bufs: Vec<TestBuffer> = (0..BATCH).map(|_| TestBuffer::new(&frame)).collect();
    let mut ws = WorkerState::default();
    group.bench_function("a_hit/pipeline_cached", |b| {
        b.iter(|| {
            fill(&mut bufs, &frame);
            for buf in bufs.iter_mut() {
                assert_eq!(process(buf, 0, &snap, &mut ws), Verdict::Answer);
            }
        })
    });
    // A flood of names never asked before (NXDOMAIN, no UDP checksum so that the name can
    // change in place): every query misses, without and with the cache in front.
    let frame = query_frame(vip, "r00000000.example.test", 1);
    let mut f = frame.clone();
    f[40..42].copy_from_slice(&[0, 0]);
    let mut bufs: Vec<TestBuffer> = (0..BATCH).map(|_| TestBuffer::new(&f)).collect();
    let mut counters = DnsCounters::default();
    let mut cache = PacketCache::new();
    let mut n = 0u32;
    // A new name: eight hex digits of a counter in the first label, no allocation.
    let mut next = |f: &mut Vec<u8>| {
        n = n.wrapping_add(0x9e37_79b9);
        for (i, b) in f[56..64].iter_mut().enumerate() {
            *b = b"0123456789abcdef"[(n >> (28 - 4 * i) & 0xf) as usize];
        }
    };
    for mode in [
        "random_nxdomain",
        "random_nxdomain/cached",
        "random_nxdomain/reset_only",
    ] {
        group.bench_function(mode, |b| {
            b.iter(|| {
                for buf in bufs.iter_mut() {
                    next(&mut f);
                    buf.reset(&f);
                }
                if mode.ends_with("reset_only") {
                    std::hint::black_box(bufs[BATCH - 1].data()[56]);
                    return;
                }
                for buf in bufs.iter_mut() {
                    let cache = mode.ends_with("cached").then_some(&mut cache);
                    testutil::answer_dns(&svc, buf, &port, &mut counters, cache);
                }
            })
        });
    }
    // The per-packet restore of the query bytes alone (each answer rewrites them in place),
    // to subtract from the rows above, as the answer benchmarks do.
    let frame = query_frame(vip, "www.example.test", 1);
    let mut bufs: Vec<TestBuffer> = (0..BATCH).map(|_| TestBuffer::new(&frame)).collect();
    group.bench_function("reset_only", |b| {
        b.iter(|| {
            fill(&mut bufs, &frame);
            std::hint::black_box(bufs[BATCH - 1].data()[0]);
        })
    });
    group.finish();
}

fn zone_load(c: &mut Criterion<CpuTime>) {
    let dir = std::env::temp_dir().join(format!("anycastd-dns-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.test.zone");
    std::fs::write(&path, generated_zone(100_000)).unwrap();
    let mut group = c.benchmark_group("dns_zone_load");
    group.sample_size(10);
    group.throughput(Throughput::Elements(100_000));
    group.bench_function("load_and_compile_100k", |b| {
        b.iter_batched(
            || (),
            |()| {
                let z = zonefile::load(&path).unwrap();
                DnsService::from_zones(&[z], "x").unwrap()
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = answer_path, zone_load
}
criterion_main!(benches);
