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
use dataplane::forward::{ForwardService, WorkerForwardState};
use dataplane::packet::{parse, IpMeta, PacketBuffer, Parsed, TestBuffer};
use dataplane::pipeline::{process, WorkerState};
use dataplane::snapshot::{ServiceRuntime, Snapshot};
use dataplane::testutil::{
    assert_next_hops_resolved, churn_flows_per_ms, churning_flow_table, confirm_next_hops,
    snapshot, udp4,
};
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
    confirm_next_hops(snap, &mut st, 0);
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
    set_client(*n, frame, buf, m);
}

/// Client address `n` written into the frame and its metadata, the frame restored.
#[inline(always)]
fn set_client(n: u32, frame: &mut [u8], buf: &mut TestBuffer, m: &mut IpMeta) {
    frame[26..30].copy_from_slice(&n.to_be_bytes());
    buf.reset(frame);
    m.src = IpAddr::V4(Ipv4Addr::from(n));
}

/// Checks a stateless row: no flow inserted, each of the `handled` packets it ran counted as
/// stateless, every next hop resolved.
fn assert_all_stateless(name: &str, st: &WorkerForwardState, handled: u64) {
    assert!(st.flows.is_empty(), "{name}: stateless flows were inserted");
    assert_eq!(
        st.counters.stateless, handled,
        "{name}: a packet did not go stateless"
    );
    assert_next_hops_resolved(name, st);
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
    assert_next_hops_resolved("flow_hit_ipip_batch32", &st);
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
    assert_next_hops_resolved("flow_hit_ipip_burst32", &st);

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
    assert_next_hops_resolved("flow_hit_pipeline_batch32", &ws.forward);

    // Flow-table hits in a table of 1M flows (2M slots, ~144 MB), as in the harness's
    // forward-tcp profile: each packet one of the 1M flows taken in a full-period pseudo-random
    // order, so nearly every lookup misses the CPU caches (the burst's prefetches are what
    // hide that). Set-up as the new-flow burst rows (an address written into each frame).
    let flows = 1u32 << 20;
    let mut st = state(
        &snap,
        FlowTableConfig {
            capacity: 1_200_000,
            new_flows_per_sec: u32::MAX,
            new_flow_burst: u32::MAX,
            ..FlowTableConfig::default()
        },
    );
    let mut frame = frames[0].clone();
    let mut ms = metas.clone();
    let mut n: u32 = 0;
    for _ in 0..flows as usize / BATCH {
        for (b, m) in bufs.iter_mut().zip(ms.iter_mut()) {
            set_client(n, &mut frame, b, m);
            n += 1;
        }
        svc.handle_burst(&mut bufs, &ms, &port, &mut st, 10, &mut out);
    }
    assert_eq!(
        st.flows.len(),
        flows as usize,
        "the 1M flows are in the table"
    );
    let inserted = st.flows.counters.inserts;
    g.bench_function("flow_hit_ipip_table1m_burst32", |b| {
        b.iter(|| {
            for (b, m) in bufs.iter_mut().zip(ms.iter_mut()) {
                // Full period modulo 2^20 (odd increment, multiplier 1 mod 4).
                n = n.wrapping_mul(0x9e37_79b1).wrapping_add(1) & (flows - 1);
                set_client(n, &mut frame, b, m);
            }
            svc.handle_burst(&mut bufs, &ms, &port, &mut st, 11, &mut out);
            black_box(&out);
        })
    });
    assert_eq!(
        (st.flows.counters.inserts, st.counters.stateless),
        (inserted, 0),
        "flow_hit_ipip_table1m_burst32: a packet missed its flow"
    );
    assert_next_hops_resolved("flow_hit_ipip_table1m_burst32", &st);
    drop(st);

    // New flows: every packet a tuple never seen, in the steady state such a stream keeps a
    // table in. Flows idle out after 1 ms and the worker clock moves 1 ms per `per_ms` new
    // flows: the most the hot path's sweep (the whole table per `SWEEP_PERIOD_MS`) frees again
    // with the table at most 80% full. So each packet pays the share of the sweep a worker
    // pays, at that table's sustained new-flow rate, and the table is as full as it then gets.
    // The next hops are confirmed again every 30 s of that clock, as the answers to the
    // worker's refresh requests would (the rows check that no packet met a stale one). Once
    // with the default per-worker table (64k flows, 128k slots, 8 MB) and once with a
    // 1M-flow table (2M slots, 128 MB: every new flow misses the CPU caches). Each also as a
    // burst.
    let mut n: u32 = 0;
    for (name, capacity, burst) in [
        ("new_flow_ipip_table64k_batch32", 1usize << 16, false),
        ("new_flow_ipip_table1m_batch32", 1 << 20, false),
        ("new_flow_ipip_table64k_burst32", 1usize << 16, true),
        ("new_flow_ipip_table1m_burst32", 1 << 20, true),
    ] {
        let cfg = churning_flow_table(capacity);
        let per_ms = churn_flows_per_ms(capacity);
        let mut st = state(&snap, cfg);
        let (mut now, mut since_tick, mut confirmed) = (10u64, 0u64, 10u64);
        let mut ms = metas.clone();
        g.bench_function(name, |b| {
            b.iter(|| {
                since_tick += BATCH as u64;
                while since_tick >= per_ms {
                    since_tick -= per_ms;
                    now += 1;
                }
                if now - confirmed >= 30_000 {
                    confirm_next_hops(&snap, &mut st, now);
                    confirmed = now;
                }
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
            "{name}: new flows went stateless: {:?}",
            st.flows
        );
        assert_next_hops_resolved(name, &st);
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
    let mut handled = 0u64;
    g.bench_function("stateless_maglev_ipip_batch32", |b| {
        b.iter(|| {
            for m in &metas {
                let mut m = *m;
                fresh_flow(&mut n, &mut frame, &mut buf, &mut m);
                black_box(svc.handle(0, &mut buf, &m, &port, &mut st, 5));
            }
            handled += BATCH as u64;
        })
    });
    assert_all_stateless("stateless_maglev_ipip_batch32", &st, handled);
    // The same as the worker takes it: a burst, every slot's line prefetched before the first
    // packet is looked up (each lookup reads a random line of the 8 MB table).
    let mut ms = metas.clone();
    g.bench_function("stateless_maglev_ipip_burst32", |b| {
        b.iter(|| {
            for (b, m) in bufs.iter_mut().zip(ms.iter_mut()) {
                fresh_flow(&mut n, &mut frame, b, m);
            }
            svc.handle_burst(&mut bufs, &ms, &port, &mut st, 5, &mut out);
            black_box(&out);
            handled += BATCH as u64;
        })
    });
    assert_all_stateless("stateless_maglev_ipip_burst32", &st, handled);

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
    assert_next_hops_resolved("flow_hit_gue_batch32", &st);
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
