//! What address translation costs on this machine: random one-byte reads of the same amount of
//! data (one 64-byte line in each of N 4 KiB pages, at a pseudo-random line of the page so the
//! lines spread over the cache's sets), from pages packed together or spread over a region as
//! large as the 1M-flow table (128 MiB, on 2 MiB-aligned transparent huge pages as the flow
//! table's [`dataplane::dpdk::HugeAlloc`] maps it). Where the spread pages cost more than the
//! packed ones for the same data, the difference is the TLB misses: a guest whose memory the
//! host maps with 4 KiB pages gets 4 KiB TLB entries whatever its own page size.
//!
//! The last rows read any line of the region, as lookups in the 1M-flow table do: the TLB
//! misses and the DRAM misses together; then any line of its first half, quarter, eighth and
//! sixteenth (what a table of smaller slots would read: 8 MiB is 2,048 4 KiB pages, as many as
//! the L2 TLB holds).
//!
//! Two read patterns, 32 reads a round as a burst's flow lookups: each read's address
//! depending on the previous read (a lone lookup's latency), and 32 independent reads (what a
//! burst's overlapped lookups can reach).
//!
//! Then how a burst can overlap its lookups' misses, 32 random lines of the region a round,
//! each followed by some dependent work (as a packet's processing after its lookup): the work
//! alone on lines in cache, the lines read with no preparation, the lines prefetched first
//! (`prefetcht0`, 32 hints back to back), and the lines read first (32 loads back to back, their
//! values discarded: [`dataplane::forward::flow_table::FlowTable::fetch_lines`]); over the whole
//! region and again over its first 64, 16 and 8 MiB.
//!
//! `cargo run --release -p anycastd --example translation_cost` (pin it: `taskset -c 1`).
use std::hint::black_box;
use std::time::Instant;

use allocator_api2::vec::Vec;
use dataplane::dpdk::{prefetch, HugeAlloc};

const REGION: usize = 128 << 20;
const PAGE: usize = 4096;
const ROUNDS: usize = 200_000;

/// The byte offset read for page number `page` of the pattern: its page, `stride` pages apart,
/// and a line of the page picked by a hash of the page number; with `stride` 0, line `page`
/// of the region (any of its 2M lines, as the flow table's slots).
fn offset(page: usize, stride: usize) -> usize {
    if stride == 0 {
        return page * 64;
    }
    page * stride * PAGE + ((page.wrapping_mul(2_654_435_761) >> 7) & 63) * 64
}

/// Nanoseconds per read over `pages` pages (a power of two) `stride` pages apart.
fn measure(region: &[u8], pages: usize, stride: usize, dependent: bool) -> f64 {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut acc = 0usize;
    let start = Instant::now();
    for _ in 0..ROUNDS {
        if dependent {
            for _ in 0..32 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                // The read's value (zero) goes into the next address: one read at a time.
                let page = ((x >> 20) as usize ^ acc) & (pages - 1);
                acc = usize::from(region[offset(page, stride)]);
            }
        } else {
            let mut sum = 0usize;
            for _ in 0..32 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let page = (x >> 20) as usize & (pages - 1);
                sum += usize::from(region[offset(page, stride)]);
            }
            acc ^= sum;
        }
    }
    black_box(acc);
    start.elapsed().as_nanos() as f64 / (ROUNDS * 32) as f64
}

/// How a burst asks for its lines before working on them.
#[derive(Clone, Copy)]
enum Ahead {
    /// The offsets are masked into the first 4 KiB: every line in cache (the work alone).
    InCache,
    /// Nothing: each line is read when its work comes.
    Nothing,
    /// Every line prefetched first.
    Prefetch,
    /// Every line read first.
    Load,
}

/// Nanoseconds per line over bursts of 32 random lines of `region`, with `ahead` first.
fn burst(region: &[u8], ahead: Ahead) -> f64 {
    let lines = region.len() / 64;
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut acc = 0usize;
    let start = Instant::now();
    for _ in 0..ROUNDS {
        let mut at = [0usize; 32];
        for a in at.iter_mut() {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            *a = ((x >> 20) as usize & (lines - 1)) * 64;
            if let Ahead::InCache = ahead {
                *a &= PAGE - 1;
            }
        }
        match ahead {
            Ahead::Prefetch => at.iter().for_each(|&a| prefetch(&region[a])),
            Ahead::Load => at.iter().for_each(|&a| {
                black_box(region[a]);
            }),
            Ahead::InCache | Ahead::Nothing => {}
        }
        for &a in &at {
            // Some work that needs the line's value: a chain of 30 multiplies.
            acc = acc.wrapping_add(usize::from(region[a]));
            for _ in 0..30 {
                acc = black_box(acc.wrapping_mul(3));
            }
        }
    }
    black_box(acc);
    start.elapsed().as_nanos() as f64 / (ROUNDS * 32) as f64
}

fn main() {
    let mut region: Vec<u8, HugeAlloc> = Vec::with_capacity_in(REGION, HugeAlloc);
    region.resize(REGION, 0);
    let huge = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("AnonHugePages"))
                .map(str::to_owned)
        })
        .unwrap_or_default();
    println!("region: 128 MiB ({huge})");
    println!(
        "{:44} {:>12} {:>12}",
        "lines read (one per 4 KiB page)", "dependent", "independent"
    );
    let total_pages = REGION / PAGE;
    for (label, pages, stride) in [
        ("2,048 pages packed in 8 MiB (128 KiB data)", 2048, 1),
        (
            "2,048 pages spread over 128 MiB (128 KiB)",
            2048,
            total_pages / 2048,
        ),
        ("32,768 pages: all of 128 MiB (2 MiB data)", total_pages, 1),
        ("any line of 128 MiB (the 1M-flow table)", REGION / 64, 0),
        ("any line of 64 MiB", REGION / 128, 0),
        ("any line of 32 MiB", REGION / 256, 0),
        ("any line of 16 MiB", REGION / 512, 0),
        ("any line of 8 MiB", REGION / 1024, 0),
    ] {
        let dep = measure(&region, pages, stride, true);
        let ind = measure(&region, pages, stride, false);
        println!("{label:44} {dep:9.1} ns {ind:9.1} ns");
    }
    for part in [
        &region[..],
        &region[..REGION / 2],
        &region[..REGION / 8],
        &region[..REGION / 16],
    ] {
        let mib = part.len() >> 20;
        println!("\nbursts of 32 lines of {mib} MiB, each line's work after it (ns a line)");
        for (label, ahead) in [
            ("the work alone (lines in cache)", Ahead::InCache),
            ("lines read as the work comes", Ahead::Nothing),
            ("32 prefetches first", Ahead::Prefetch),
            ("32 loads first", Ahead::Load),
        ] {
            println!("{label:44} {:9.1} ns", burst(part, ahead));
        }
    }
}
