//! Per-packet cost (thread CPU time, see `common`) of the answer paths through the whole pipeline (classify + answer), on
//! 32-packet batches of TestBuffers: ARP request → reply, ICMPv4 and ICMPv6 echo → reply, an NDP
//! neighbour solicitation → advertisement, and a drop.
mod common;

use std::net::{Ipv4Addr, Ipv6Addr};

use common::CpuTime;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use dataplane::packet::{PacketBuffer, TestBuffer};
use dataplane::pipeline::{process, WorkerState};
use dataplane::testutil::{
    arp_request, echo_request, icmpv6_echo_request, neighbor_solicitation, snapshot,
    solicited_node, BASIC_CONFIG, CLIENT_MAC,
};
use dataplane::verdict::Verdict;

const BATCH: usize = 32;

fn bench_frame(c: &mut Criterion<CpuTime>, name: &str, frame: Vec<u8>, want: Verdict) {
    let snap = snapshot(BASIC_CONFIG);
    let mut state = WorkerState::default();
    let mut bufs: Vec<TestBuffer> = (0..BATCH).map(|_| TestBuffer::new(&frame)).collect();
    // The verdict is checked once outside the timing loop, so the bench measures the real path.
    assert_eq!(process(&mut bufs[0], 0, &snap, &mut state), want, "{name}");
    let mut g = c.benchmark_group("answer");
    g.throughput(Throughput::Elements(BATCH as u64));
    // Each iteration restores the request bytes (an answer rewrites them in place); the
    // `reset_only` bench measures that copy alone, to subtract.
    g.bench_function(name, |b| {
        b.iter(|| {
            let mut answered = 0;
            for buf in bufs.iter_mut() {
                buf.reset(&frame);
            }
            for buf in bufs.iter_mut() {
                if process(buf, 0, &snap, &mut state) == want {
                    answered += 1;
                }
            }
            assert_eq!(answered, BATCH);
            std::hint::black_box(bufs[BATCH - 1].data()[0]);
        })
    });
    g.bench_function(format!("{name}/reset_only"), |b| {
        b.iter(|| {
            for buf in bufs.iter_mut() {
                buf.reset(&frame);
            }
            std::hint::black_box(bufs[BATCH - 1].data()[0]);
        })
    });
    g.finish();
}

fn answers(c: &mut Criterion<CpuTime>) {
    let client = Ipv4Addr::new(198, 51, 100, 2);
    let vip = Ipv4Addr::new(203, 0, 113, 10);
    bench_frame(
        c,
        "icmp_echo_64B_x32",
        echo_request(client, vip, &[0xab; 18]),
        Verdict::Answer,
    );
    bench_frame(
        c,
        "arp_request_x32",
        arp_request(CLIENT_MAC, client, vip),
        Verdict::Answer,
    );
    let client6: Ipv6Addr = "2001:db8:1::2".parse().expect("address");
    let vip6: Ipv6Addr = "2001:db8:10::10".parse().expect("address");
    bench_frame(
        c,
        "icmp6_echo_64B_x32",
        icmpv6_echo_request(client6, vip6, &[0xab; 10]),
        Verdict::Answer,
    );
    bench_frame(
        c,
        "ndp_solicitation_x32",
        neighbor_solicitation(client6, solicited_node(vip6), vip6, Some(CLIENT_MAC)),
        Verdict::Answer,
    );
    bench_frame(
        c,
        "not_for_us_drop_x32",
        echo_request(client, Ipv4Addr::new(203, 0, 113, 99), &[0; 18]),
        Verdict::Drop(dataplane::verdict::DropReason::NotForUs),
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = answers
}
criterion_main!(benches);
