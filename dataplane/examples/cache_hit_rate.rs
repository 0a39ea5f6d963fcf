//! How often the DNS packet cache answers, for a stream of queries whose names follow a Zipf
//! law (the name of rank `r` asked with a weight of `1 / r^s`), as an authoritative server's
//! popular names do: the real cache (one worker's) in front of a real service with one zone of
//! `names` A records, every query answered, the share answered from the cache counted.
//!
//! The cache holds [`ENTRIES`] answers; with more names asked than that, what decides the
//! hit rate is which answers it keeps: its sets' conflicts, its admission and its replacement.
//!
//! Also the time a query took on average (wall clock, the frame's restore included): cached
//! answers are about half as costly as uncached ones, so the hit rate shows in it, as does
//! whatever else the machine was doing.
//!
//! `cargo run --release -p anycastd --example cache_hit_rate [QUERIES]` (default 400,000 a
//! row; pin it: `taskset -c 1`); the same pseudo-random stream for every build, so two
//! builds' tables compare.
use std::net::Ipv4Addr;
use std::time::Instant;

use dataplane::answer::dns::cache::{PacketCache, ENTRIES};
use dataplane::answer::dns::{DnsCounters, DnsService};
use dataplane::config::DnsServiceConfig;
use dataplane::packet::TestBuffer;
use dataplane::testutil::{answer_dns, dns_query, udp4, vip_port};

/// A splitmix64 stream: the same queries for every build.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The cumulative weights of ranks 1..=n under a Zipf law of exponent `s`.
fn zipf_cdf(n: usize, s: f64) -> Vec<f64> {
    let mut total = 0.0;
    (1..=n)
        .map(|r| {
            total += 1.0 / (r as f64).powf(s);
            total
        })
        .collect()
}

/// The service: zone `z.test` with the names `h0`..`h{names-1}`, an A record each.
fn service(dir: &std::path::Path, names: usize) -> DnsService {
    let mut zone = String::from("$ORIGIN z.test.\n$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\n");
    zone.push_str("ns A 192.0.2.53\n");
    for i in 0..names {
        zone.push_str(&format!(
            "h{i} A 10.{}.{}.{}\n",
            i >> 16,
            (i >> 8) & 255,
            i & 255
        ));
    }
    let path = dir.join(format!("z{names}.zone"));
    std::fs::write(&path, zone).expect("zone file");
    DnsService::build(&DnsServiceConfig {
        zones: vec![path],
        identity: "t".into(),
        minimal_responses: true,
    })
    .expect("zone")
}

fn main() {
    let queries: usize = match std::env::args().nth(1) {
        None => 400_000,
        Some(a) => a.parse().unwrap_or_else(|_| {
            eprintln!("cache_hit_rate: QUERIES must be a number, not '{a}'");
            std::process::exit(2)
        }),
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let vip = Ipv4Addr::new(203, 0, 113, 53);
    let port = vip_port(vip);
    println!("{ENTRIES} entries, {queries} queries a row");
    println!("names  zipf s  from the cache  stored  bypassed  ns a query");
    for names in [500, 1_000, 3_000, 10_000, 100_000] {
        let svc = service(dir.path(), names);
        // The queries' frames, built once: rank r is name h{r-1}.
        let frames: Vec<Vec<u8>> = (0..names)
            .map(|i| {
                let msg = dns_query(&format!("h{i}.z.test"), 1);
                udp4(Ipv4Addr::new(198, 51, 100, 7), vip, 40000, 53, &msg)
            })
            .collect();
        for s in [0.8, 1.0, 1.2] {
            let cdf = zipf_cdf(names, s);
            let total = cdf[names - 1];
            let mut rng = Rng(names as u64 ^ s.to_bits());
            let mut cache = PacketCache::new();
            let mut counters = DnsCounters::default();
            let mut buf = TestBuffer::new(&frames[0]);
            let start = Instant::now();
            for _ in 0..queries {
                let rank = cdf.partition_point(|&c| c < rng.unit() * total);
                buf.reset(&frames[rank.min(names - 1)]);
                answer_dns(&svc, &mut buf, &port, &mut counters, Some(&mut cache));
            }
            let ns = start.elapsed().as_nanos() as f64 / queries as f64;
            println!(
                "{names:>6}  {s:>6.1}  {:>13.1}%  {:>6}  {:>8}  {ns:>10.1}",
                100.0 * cache.hits as f64 / queries as f64,
                cache.inserts,
                cache.bypassed
            );
        }
    }
}
