//! Forward path: ns per packet on 32-packet batches (flow-table hit, new flow, stateless
//! Maglev forward) and Maglev table build time (M = 65537, 1000 backends). `*_batch32` call
//! `ForwardService::handle` per packet; `*_burst32` go through `ForwardService::handle_burst`
//! (every packet hashed and its flow-table lines prefetched before any is processed).
//!
//! Run: `cargo bench -p anycastd --bench forward`. Criterion's throughput line gives packets per
//! second; time per batch / 32 is ns per packet.
mod common;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use common::CpuTime;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dataplane::forward::flow_table::{FlowTableConfig, TCP_ACK};
use dataplane::forward::frames::tcp4;
use dataplane::forward::hash::hash_bytes;
use dataplane::forward::maglev::{Maglev, MaglevBackend};
use dataplane::forward::{ForwardService, NextHop, WorkerForwardState};
use dataplane::packet::{parse, IpMeta, PacketBuffer, Parsed, TestBuffer};
use dataplane::pipeline::{process, WorkerState};
use dataplane::snapshot::{ServiceRuntime, Snapshot};
use dataplane::testutil::{snapshot, udp4};
use dataplane::verdict::Verdict;

const BATCH: usize = 32;

fn config() -> String {
    let mut c = String::from(
        r#"
[[port]]
name = "edge0"
device = "net_null0"
addresses = ["198.51.100.1/24"]
[[vip]]
address = "203.0.113.10"
[[service]]
name = "web"
vip = "203.0.113.10"
protocol = "tcp"
port = 80
kind = "forward"
encap = "ipip"
"#,
    );
    for i in 0..16 {
        c.push_str(&format!(
            "[[service.backend]]\naddress = \"198.51.100.{}\"\n",
            10 + i
        ));
    }
    c.push_str(
        r#"
[[service]]
name = "dns-tcp"
vip = "203.0.113.10"
protocol = "udp"
port = 53
kind = "forward"
encap = "gue"
"#,
    );
    for i in 0..16 {
        c.push_str(&format!(
            "[[service.backend]]\naddress = \"198.51.100.{}\"\n",
            10 + i
        ));
    }
    c
}

fn fwd(snap: &Snapshot, idx: usize) -> &ForwardService {
    match &snap.services[idx].runtime {
        ServiceRuntime::Forward(f) => f,
        _ => unreachable!(),
    }
}

fn state(snap: &Snapshot, cfg: FlowTableConfig) -> WorkerForwardState {
    let mut st = WorkerForwardState::with_config(cfg);
    for i in 0..2 {
        for b in fwd(snap, i).backends() {
            if let NextHop::Neighbor { ip, v6, .. } = b.next_hop {
                st.neighbors.resolve(&ip, v6, 0);
                st.neighbors.learn(&ip, v6, [2, 0xbb, 0, 0, 0, 1], 0);
            }
        }
    }
    st
}

fn meta(frame: &[u8]) -> IpMeta {
    match parse(frame) {
        Ok(Parsed::Ipv4(m)) => m,
        _ => unreachable!(),
    }
}

/// The new-flow rows' per-packet set-up: a client address never seen before, written into the
/// frame (`handle` does not recheck the IP checksum) and into its metadata, the frame restored.
#[inline(always)]
fn fresh_flow(n: &mut u32, frame: &mut [u8], buf: &mut TestBuffer, m: &mut IpMeta) {
    *n = n.wrapping_add(1);
    frame[26..30].copy_from_slice(&n.to_be_bytes());
    buf.reset(frame);
    m.src = IpAddr::V4(Ipv4Addr::from(*n));
}

fn bench_forward(c: &mut Criterion<CpuTime>) {
    let snap = snapshot(&config());
    let port = snap.ports[0].clone();
    let svc = fwd(&snap, 0);
    let frames: Vec<Vec<u8>> = (0..BATCH as u32)
        .map(|i| {
            tcp4(
                Ipv4Addr::from(0x0a00_0000 + i),
                Ipv4Addr::new(203, 0, 113, 10),
                1024 + i as u16,
                80,
                TCP_ACK,
                &[0u8; 18],
            )
        })
        .collect();
    let metas: Vec<IpMeta> = frames.iter().map(|f| meta(f)).collect();
    let mut buf = TestBuffer::new(&frames[0]);
    let mut g = c.benchmark_group("forward");
    g.throughput(Throughput::Elements(BATCH as u64));

    // Flow-table hit: the 32 flows are in the table.
    let mut st = state(&snap, FlowTableConfig::default());
    for (f, m) in frames.iter().zip(&metas) {
        buf.reset(f);
        svc.handle(0, &mut buf, m, &port, &mut st, 1);
    }
    g.bench_function("flow_hit_ipip_batch32", |b| {
        b.iter(|| {
            for (f, m) in frames.iter().zip(&metas) {
                buf.reset(f);
                black_box(svc.handle(0, &mut buf, m, &port, &mut st, 2));
            }
        })
    });
    // (Checks hold whether or not a filter skipped the benchmark.)
    assert_eq!(st.counters.stateless, 0);
    // Each iteration above restores the 32 frames first (forwarding rewrites them); this
    // measures that copy alone, to subtract, as the answer benches do.
    g.bench_function("reset_only_batch32", |b| {
        b.iter(|| {
            for f in &frames {
                buf.reset(f);
                black_box(buf.data()[0]);
            }
        })
    });

    // The same through the burst entry point (hash all 32, prefetch, then process).
    let mut bufs: Vec<TestBuffer> = frames.iter().map(|f| TestBuffer::new(f)).collect();
    let mut out = [(Verdict::Forward, 0u16); BATCH];
    g.bench_function("flow_hit_ipip_burst32", |b| {
        b.iter(|| {
            for (b, f) in bufs.iter_mut().zip(&frames) {
                b.reset(f);
            }
            svc.handle_burst(&mut bufs, &metas, &port, &mut st, 2, &mut out);
            black_box(&out);
        })
    });
    assert_eq!(st.counters.stateless, 0);

    // The same through the whole pipeline (Ethernet/IP parse, service lookup included).
    let mut ws = WorkerState {
        forward: state(&snap, FlowTableConfig::default()),
        now_ms: 1,
        ..WorkerState::default()
    };
    g.bench_function("flow_hit_pipeline_batch32", |b| {
        b.iter(|| {
            for f in &frames {
                buf.reset(f);
                black_box(process(&mut buf, 0, &snap, &mut ws));
            }
        })
    });

    // New flows: every packet a tuple never seen; 1 ms idle timeout and a clock that moves
    // 2 ms per batch, so the per-packet sweep keeps the table from filling. Once with the
    // default per-worker table (64k flows, 128k slots, ~9 MB) and once with a 1M-flow table
    // (2M slots, ~136 MB: every new flow misses the CPU caches). Each also as a burst.
    let mut n: u32 = 0;
    let mut now = 10u64;
    let mut frame = frames[0].clone();
    for (name, capacity, burst) in [
        ("new_flow_ipip_table64k_batch32", 1usize << 16, false),
        ("new_flow_ipip_table1m_batch32", 1 << 20, false),
        ("new_flow_ipip_table64k_burst32", 1usize << 16, true),
        ("new_flow_ipip_table1m_burst32", 1 << 20, true),
    ] {
        let mut st = state(
            &snap,
            FlowTableConfig {
                capacity,
                syn_timeout_ms: 1,
                established_timeout_ms: 1,
                udp_timeout_ms: 1,
                closing_timeout_ms: 1,
                new_flows_per_sec: u32::MAX,
                new_flow_burst: u32::MAX,
            },
        );
        let mut ms = metas.clone();
        g.bench_function(name, |b| {
            b.iter(|| {
                now += 2;
                if burst {
                    for (b, m) in bufs.iter_mut().zip(ms.iter_mut()) {
                        fresh_flow(&mut n, &mut frame, b, m);
                    }
                    svc.handle_burst(&mut bufs, &ms, &port, &mut st, now, &mut out);
                    black_box(&out);
                    return;
                }
                for m in &metas {
                    let mut m = *m;
                    fresh_flow(&mut n, &mut frame, &mut buf, &mut m);
                    black_box(svc.handle(0, &mut buf, &m, &port, &mut st, now));
                }
            })
        });
        assert_eq!(
            st.counters.stateless, 0,
            "new flows went stateless: {:?}",
            st.flows
        );
    }

    // The new-flow benches' per-packet set-up alone (a fresh source address written into the
    // frame and its metadata, the frame restored), to subtract.
    g.bench_function("new_flow_reset_only_batch32", |b| {
        b.iter(|| {
            for m in &metas {
                let mut m = *m;
                fresh_flow(&mut n, &mut frame, &mut buf, &mut m);
                black_box((buf.data()[0], &m));
            }
        })
    });
    let mut ms = metas.clone();
    g.bench_function("new_flow_reset_only_burst32", |b| {
        b.iter(|| {
            for (b, m) in bufs.iter_mut().zip(ms.iter_mut()) {
                fresh_flow(&mut n, &mut frame, b, m);
            }
            black_box((&bufs, &ms));
        })
    });

    // Stateless: the new-flow limit is exhausted, so every new flow goes by Maglev alone.
    let mut st = state(
        &snap,
        FlowTableConfig {
            new_flows_per_sec: 0,
            new_flow_burst: 0,
            ..FlowTableConfig::default()
        },
    );
    g.bench_function("stateless_maglev_ipip_batch32", |b| {
        b.iter(|| {
            for m in &metas {
                let mut m = *m;
                fresh_flow(&mut n, &mut frame, &mut buf, &mut m);
                black_box(svc.handle(0, &mut buf, &m, &port, &mut st, 5));
            }
        })
    });
    assert!(st.flows.is_empty(), "stateless flows were inserted");

    // GUE over IPv4, flow hit (UDP).
    let gue = fwd(&snap, 1);
    let uframes: Vec<Vec<u8>> = (0..BATCH as u32)
        .map(|i| {
            udp4(
                Ipv4Addr::from(0x0a00_0000 + i),
                Ipv4Addr::new(203, 0, 113, 10),
                1024 + i as u16,
                53,
                &[0u8; 30],
            )
        })
        .collect();
    let umetas: Vec<IpMeta> = uframes.iter().map(|f| meta(f)).collect();
    let mut st = state(&snap, FlowTableConfig::default());
    g.bench_function("flow_hit_gue_batch32", |b| {
        b.iter(|| {
            for (f, m) in uframes.iter().zip(&umetas) {
                buf.reset(f);
                black_box(gue.handle(1, &mut buf, m, &port, &mut st, 2));
            }
        })
    });
    g.finish();
    let _ = buf.len();
}

fn bench_maglev(c: &mut Criterion<CpuTime>) {
    let backends: Vec<MaglevBackend> = (0..1000u32)
        .map(|i| MaglevBackend {
            id: hash_bytes(&i.to_be_bytes(), 0),
            weight: 1,
            index: i as u16,
        })
        .collect();
    let mut g = c.benchmark_group("maglev");
    g.sample_size(30);
    g.bench_function("build_m65537_n1000", |b| {
        b.iter_batched(
            || backends.clone(),
            |bs| black_box(Maglev::build(65537, &bs)),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = bench_forward, bench_maglev
}
criterion_main!(benches);
