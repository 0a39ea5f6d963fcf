//! Instructions per packet of the DNS paths, counted by callgrind (deterministic where the
//! machine's timings are not): `valgrind --tool=callgrind
//! --toggle-collect='path_instructions::measure*' target/release/examples/path_instructions <path>`,
//! then the total divided by the 100,000 packets measured.
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use dataplane::answer::dns::cache::PacketCache;
use dataplane::answer::dns::{DnsCounters, DnsService};
use dataplane::config::DnsServiceConfig;
use dataplane::packet::{parse, PacketBuffer, Parsed, TestBuffer};
use dataplane::pipeline::{process, WorkerState};
use dataplane::testutil::{self, udp4};

const N: usize = 100_000;

fn query(name: &str, qtype: u16) -> Vec<u8> {
    let mut m = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m
}

#[inline(never)]
fn measure(f: &mut dyn FnMut()) {
    for _ in 0..N {
        f();
    }
}

fn main() {
    let path = std::env::args().nth(1).unwrap_or_default();
    let zones = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../configs/zones");
    let vip = Ipv4Addr::new(203, 0, 113, 53);
    let frame = udp4(
        Ipv4Addr::new(198, 51, 100, 7),
        vip,
        40000,
        53,
        &query("www.example.test", 1),
    );
    let mut buf = TestBuffer::new(&frame);
    match path.as_str() {
        "dns_cached" | "dns_fast" => {
            let svc = DnsService::build(&DnsServiceConfig {
                zones: vec![zones.join("example.test.zone")],
                identity: "x".into(),
            })
            .expect("configs/zones/example.test.zone compiles");
            let snap = testutil::snapshot(&format!(
                "[[port]]\nname = \"e\"\ndevice = \"net_null0\"\naddresses = [\"198.51.100.1/24\"]\n[[vip]]\naddress = \"{vip}\"\n"
            ));
            let port = snap.ports[0].clone();
            let mut counters = DnsCounters::default();
            let mut cache = PacketCache::new();
            let cached = path == "dns_cached";
            let mut one = || {
                buf.reset(&frame);
                let Ok(Parsed::Ipv4(ip)) = parse(buf.data()) else {
                    panic!()
                };
                let v = if cached {
                    svc.handle_cached(&mut buf, &ip, &port, &mut counters, &mut cache)
                } else {
                    svc.handle(&mut buf, &ip, &port, &mut counters)
                };
                black_box(v);
            };
            for _ in 0..4 {
                one();
            }
            measure(&mut one);
        }
        "dns_pipeline_cached" => {
            let snap = testutil::snapshot(&format!(
                "[[port]]\nname = \"e\"\ndevice = \"net_null0\"\naddresses = [\"198.51.100.1/24\"]\n[[vip]]\naddress = \"{vip}\"\n[[service]]\nname = \"dns\"\nvip = \"{vip}\"\nprotocol = \"udp\"\nport = 53\nkind = \"dns\"\nzones = [\"{}\"]\n",
                zones.join("example.test.zone").display()
            ));
            let mut ws = WorkerState::default();
            let mut one = || {
                buf.reset(&frame);
                black_box(process(&mut buf, 0, &snap, &mut ws));
            };
            for _ in 0..4 {
                one();
            }
            measure(&mut one);
        }
        "reset_only" => {
            let mut one = || {
                buf.reset(&frame);
                black_box(buf.data()[0]);
            };
            measure(&mut one);
        }
        other => {
            eprintln!(
                "unknown path '{other}'; paths: dns_cached dns_fast dns_pipeline_cached reset_only"
            );
            std::process::exit(2);
        }
    }
}
