//! Zone-load figures: generates a 1M-record zone, loads and compiles it, and reports load time,
//! RSS after loading and memory per 100k records. Ignored by default (it takes a while):
//! `cargo test --release -p anycastd --test dns_zone_load -- --ignored --nocapture`
use std::time::Instant;

use dataplane::answer::dns::{zonefile, DnsService};

fn status_kib(field: &str) -> usize {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn generated_zone(n: usize) -> String {
    let mut z = String::with_capacity(n * 40);
    z.push_str("$ORIGIN big.test.\n$TTL 3600\n@ SOA ns1 hm 1 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n");
    let mut written = 3;
    let mut i = 0usize;
    while written < n {
        z.push_str(&format!(
            "h{i} A 10.{}.{}.{}\n",
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        ));
        written += 1;
        if i % 4 == 0 && written < n {
            z.push_str(&format!("h{i} AAAA 2001:db8::{:x}\n", i & 0xffff));
            written += 1;
        }
        if i % 16 == 0 && written < n {
            z.push_str(&format!("c{i} CNAME h{i}\n"));
            written += 1;
        }
        i += 1;
    }
    z
}

#[test]
#[ignore]
fn one_million_records() {
    let n = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.test.zone");
    std::fs::write(&path, generated_zone(n)).unwrap();
    let rss_before = status_kib("VmRSS:");
    let t = Instant::now();
    let zone = zonefile::load(&path).unwrap();
    let parsed = t.elapsed();
    let svc = DnsService::from_zones(&[zone], "x").unwrap();
    let total = t.elapsed();
    let rss_after = status_kib("VmRSS:");
    let peak = status_kib("VmHWM:");
    assert_eq!(svc.record_count(), n);
    let heap = svc.heap_bytes();
    eprintln!(
        "records {n}: parse {:.2} s, parse+compile {:.2} s; RSS before {} MiB, after {} MiB \
         (peak {} MiB); compiled structure {} MiB = {:.1} MiB per 100k records; RSS delta {:.1} MiB per 100k",
        parsed.as_secs_f64(),
        total.as_secs_f64(),
        rss_before / 1024,
        rss_after / 1024,
        peak / 1024,
        heap >> 20,
        heap as f64 / (1 << 20) as f64 / (n as f64 / 100_000.0),
        rss_after.saturating_sub(rss_before) as f64 / 1024.0 / (n as f64 / 100_000.0),
    );
}
