//! Cost of publishing counters to the stats segment on the hot path: a 32-packet poll round
//! (ICMP echo → reply through the whole pipeline, each verdict counted) with and without the
//! once-per-round publication into a file-backed segment, and one publication alone (the cost
//! of an idle or single-packet round), and one with every per-service and per-backend slot in use.
mod common;

use std::net::Ipv4Addr;
use std::sync::Arc;

use common::CpuTime;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::packet::{PacketBuffer, TestBuffer};
use dataplane::pipeline::{process, WorkerState};
use dataplane::stats::{PublishedCounters, WorkerCounters};
use dataplane::testutil::{echo_request, snapshot, BASIC_CONFIG};
use dataplane::verdict::Verdict;

const BATCH: usize = 32;

fn publishing(c: &mut Criterion<CpuTime>) {
    let dir = tempfile::tempdir().unwrap();
    let segment =
        Arc::new(stats_layout::Writer::create(&dir.path().join("stats"), &["p0"], 1).unwrap());
    let published = PublishedCounters::new(Arc::clone(&segment), 0);
    let snap = snapshot(BASIC_CONFIG);
    let frame = echo_request(
        Ipv4Addr::new(198, 51, 100, 2),
        Ipv4Addr::new(203, 0, 113, 10),
        &[0xab; 18],
    );
    let mut state = WorkerState::default();
    let mut counters = WorkerCounters::default();
    let mut bufs: Vec<TestBuffer> = (0..BATCH).map(|_| TestBuffer::new(&frame)).collect();
    assert_eq!(process(&mut bufs[0], 0, &snap, &mut state), Verdict::Answer);

    let mut g = c.benchmark_group("stats");
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut round = |publish: bool| {
        counters.rx_packets += BATCH as u64;
        for buf in bufs.iter_mut() {
            buf.reset(&frame);
            let v = process(buf, 0, &snap, &mut state);
            counters.count(v);
        }
        if publish {
            published.publish(&counters, &state);
        }
        std::hint::black_box(bufs[BATCH - 1].data()[0]);
    };
    g.bench_function("icmp_echo_x32/count_only", |b| b.iter(|| round(false)));
    g.bench_function("icmp_echo_x32/count_and_publish", |b| {
        b.iter(|| round(true))
    });
    g.throughput(Throughput::Elements(1));
    let counters = WorkerCounters {
        rx_packets: 1,
        ..WorkerCounters::default()
    };
    let state = WorkerState::default();
    g.bench_function("publish_only", |b| {
        b.iter(|| published.publish(std::hint::black_box(&counters), &state))
    });
    // The worst case of a round that received packets: every service and backend slot in use,
    // so the whole service region is published too.
    let mut full = WorkerState::default();
    full.services.services_used = stats_layout::MAX_SERVICES;
    full.services.backends_used = stats_layout::MAX_BACKENDS;
    let mut counters = counters.clone();
    g.bench_function("publish_with_all_service_slots", |b| {
        b.iter(|| {
            counters.rx_packets += 1;
            published.publish(std::hint::black_box(&counters), &full)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = publishing
}
criterion_main!(benches);
