//! Zone-load figures: generates a 1M-record zone, loads and compiles it, and reports load time,
//! RSS after loading and memory per 100k records. Ignored by default (it takes a while):
//! `cargo test --release -p anycastd --test dns_zone_load -- --ignored --nocapture`
use std::time::Instant;

use dataplane::answer::dns::{zonefile, DnsService};
use dataplane::testutil::generated_zone;

fn status_kib(field: &str) -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// CPU time of this process, user + system, in seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: an all-zero rusage is a valid value, and getrusage only writes into it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is valid and writable for the call.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

#[test]
#[ignore]
fn one_million_records() {
    let n = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.test.zone");
    std::fs::write(&path, generated_zone(n)).unwrap();
    let rss_before = status_kib("VmRSS:");
    let cpu0 = cpu_seconds();
    let t = Instant::now();
    let zone = zonefile::load(&path).unwrap();
    let parsed = t.elapsed();
    let cpu_parsed = cpu_seconds() - cpu0;
    let svc = DnsService::from_zones(&[zone], "x").unwrap();
    let total = t.elapsed();
    let cpu_total = cpu_seconds() - cpu0;
    // Hand freed load-time memory back to the kernel so RSS shows what the service keeps.
    // SAFETY: malloc_trim has no preconditions.
    unsafe { libc::malloc_trim(0) };
    let rss_after = status_kib("VmRSS:");
    let peak = status_kib("VmHWM:");
    assert_eq!(svc.record_count(), n);
    let heap = svc.heap_bytes();
    let per_100k = |bytes: f64| bytes / (1u64 << 20) as f64 / (n as f64 / 100_000.0);
    eprintln!(
        "records {n}: parse {:.2} s wall / {:.2} s CPU; parse+compile {:.2} s wall / {:.2} s CPU; \
         RSS before {} MiB, after load (trimmed) {} MiB, peak {} MiB; compiled structure {} MiB \
         = {:.1} MiB per 100k records; RSS growth {:.1} MiB per 100k records",
        parsed.as_secs_f64(),
        cpu_parsed,
        total.as_secs_f64(),
        cpu_total,
        rss_before / 1024,
        rss_after / 1024,
        peak / 1024,
        heap >> 20,
        per_100k(heap as f64),
        per_100k(rss_after.saturating_sub(rss_before) as f64 * 1024.0),
    );
    drop(svc);
}

/// Per-query CPU cost outside criterion, for `perf stat` (instructions and cycles per query):
/// `perf stat -e instructions,cycles,task-clock <test binary> --ignored --exact query_cost_<kind>`.
fn query_cost(name: &str, label: &str) {
    use dataplane::answer::dns::DnsCounters;
    use dataplane::config::DnsServiceConfig;
    use dataplane::packet::{parse, PacketBuffer, Parsed, TestBuffer};
    use dataplane::testutil::{udp4, vip_port};
    use std::net::Ipv4Addr;

    let zones = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../configs/zones");
    let svc = DnsService::build(&DnsServiceConfig {
        zones: vec![
            zones.join("example.test.zone"),
            zones.join("2.0.192.in-addr.arpa.zone"),
        ],
        identity: "ams1".into(),
        minimal_responses: false,
    })
    .unwrap();
    let vip = Ipv4Addr::new(203, 0, 113, 53);
    let port = vip_port(vip);
    let mut msg = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for l in name.split('.') {
        msg.push(l.len() as u8);
        msg.extend_from_slice(l.as_bytes());
    }
    msg.extend_from_slice(&[0, 0, 1, 0, 1]);
    let frame = udp4(Ipv4Addr::new(198, 51, 100, 7), vip, 40000, 53, &msg);
    let mut bufs: Vec<TestBuffer> = (0..32).map(|_| TestBuffer::new(&frame)).collect();
    let mut counters = DnsCounters::default();
    let batches = 100_000;
    let cpu0 = cpu_seconds();
    for _ in 0..batches {
        for buf in bufs.iter_mut() {
            buf.reset(&frame);
            let Ok(Parsed::Ipv4(ip)) = parse(buf.data()) else {
                panic!()
            };
            std::hint::black_box(svc.handle(buf, &ip, &port, &mut counters));
        }
    }
    let cpu = cpu_seconds() - cpu0;
    eprintln!(
        "{label}: {} queries, {:.0} ns CPU per query (reset + IP parse + handle)",
        batches * 32,
        cpu * 1e9 / (batches * 32) as f64
    );
}

#[test]
#[ignore]
fn query_cost_a_hit() {
    query_cost("www.example.test", "a_hit");
}

#[test]
#[ignore]
fn query_cost_nxdomain() {
    query_cost("nope.example.test", "nxdomain");
}

#[test]
#[ignore]
fn query_cost_cname_chain() {
    query_cost("chain1.example.test", "cname_chain");
}
