//! Figures for the forward path that are too heavy for the default test run. Run with
//! `cargo test --release -p anycastd --test forward_figures -- --ignored --nocapture`.
use std::time::Instant;

use dataplane::forward::flow_table::{FlowEntry, FlowKey, FlowTable, FlowTableConfig, TCP_ACK};
use dataplane::forward::hash::hash_bytes;
use dataplane::forward::maglev::{Maglev, MaglevBackend};

fn vm_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
#[ignore = "allocates about 1 GB: run with --release -- --ignored"]
fn rss_of_a_ten_million_flow_table() {
    const N: u32 = 10_000_000;
    let before = vm_rss_kb();
    let mut t = FlowTable::new(FlowTableConfig {
        capacity: N as usize,
        new_flows_per_sec: u32::MAX,
        new_flow_burst: u32::MAX,
        ..FlowTableConfig::default()
    });
    let empty = vm_rss_kb();
    let start = Instant::now();
    for i in 0..N {
        let mut src = [0u8; 16];
        src[..4].copy_from_slice(&i.to_be_bytes());
        let k = FlowKey::new(src, [0; 16], (i >> 16) as u16 | 1024, 443, 6);
        t.insert(k.hash(), k, (i % 100) as u16, i, Some(TCP_ACK), 0)
            .expect("room for every flow");
    }
    let fill = start.elapsed();
    let after = vm_rss_kb();
    assert_eq!(t.len(), N as usize);
    let entry = std::mem::size_of::<FlowEntry>();
    assert!(entry <= 64);
    let delta_kb = after.saturating_sub(before);
    println!(
        "flow entry: {entry} bytes; {N} flows in {} buckets; allocation {} MiB; \
         VmRSS {} MiB before, {} MiB empty table, {} MiB full (+{} MiB, {:.1} bytes/flow); \
         fill {:.1} ns/insert",
        t.buckets(),
        t.allocation_size() >> 20,
        before >> 10,
        empty >> 10,
        after >> 10,
        delta_kb >> 10,
        delta_kb as f64 * 1024.0 / f64::from(N),
        fill.as_nanos() as f64 / f64::from(N),
    );
    // The table is allocated once: RSS stays within the allocation.
    assert!(delta_kb * 1024 <= t.allocation_size() as u64 + (64 << 20));
}

/// Nanoseconds of CPU time (user + system) this thread has used, from
/// /proc/thread-self/stat (10 ms ticks: measure long loops). Unlike wall-clock time it does not
/// count time other processes held the CPU, which makes figures usable on a shared machine.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
            Some(ticks * 10_000_000)
        })
        .unwrap_or(0)
}

fn backends(n: usize) -> Vec<MaglevBackend> {
    (0..n)
        .map(|i| MaglevBackend {
            id: hash_bytes(&(i as u32).to_be_bytes(), 0),
            weight: 1,
            index: i as u16,
        })
        .collect()
}

#[test]
#[ignore = "figures: run with --release -- --ignored --nocapture"]
fn maglev_balance_disruption_and_build_time() {
    const M: u32 = 65537;
    for n in [10usize, 100, 1000] {
        let bs = backends(n);
        let reps = 300;
        let mut t = Maglev::build(M, &bs);
        let (c0, w0) = (cpu_ns(), Instant::now());
        let mut best = std::time::Duration::MAX;
        for _ in 0..reps {
            let w = Instant::now();
            t = Maglev::build(M, &bs);
            best = best.min(w.elapsed());
        }
        let build = std::time::Duration::from_nanos((cpu_ns() - c0) / reps);
        let wall = w0.elapsed() / reps as u32;
        let mut c = vec![0usize; n];
        for &s in t.slots() {
            c[s as usize] += 1;
        }
        let want = f64::from(M) / n as f64;
        let worst = c
            .iter()
            .map(|&x| (x as f64 - want).abs() / want)
            .fold(0.0, f64::max);
        let rest: Vec<MaglevBackend> = bs[1..].to_vec();
        let after = Maglev::build(M, &rest);
        let own = c[0];
        let moved = t
            .slots()
            .iter()
            .zip(after.slots())
            .filter(|(a, b)| a != b)
            .count();
        let others = moved - own;
        println!(
            "N={n}: build best {:?} wall; mean of 300 {:?} CPU, {:?} wall; worst share deviation {:.3}%; remove backend 0: its {own} slots \
             + {others} others moved ({:.3}% of the rest)",
            best,
            build,
            wall,
            worst * 100.0,
            others as f64 * 100.0 / (M as usize - own) as f64
        );
        assert!(others * 50 <= M as usize - own);
    }
}
