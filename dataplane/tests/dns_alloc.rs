//! Proof that the DNS answer path does not allocate: a counting global allocator counts heap
//! allocations made by this thread while queries of every kind are answered.
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use dataplane::answer::dns::{DnsCounters, DnsService};
use dataplane::config::DnsServiceConfig;
use dataplane::packet::{parse, PacketBuffer, Parsed, TestBuffer};
use dataplane::testutil::{udp4, vip_port};
use dataplane::verdict::Verdict;

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn query(name: &str, qtype: u16, class: u16, edns: bool, flags: u16) -> Vec<u8> {
    let mut m = vec![0x12, 0x34];
    m.extend_from_slice(&flags.to_be_bytes());
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, u8::from(edns)]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&class.to_be_bytes());
    if edns {
        m.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0x80, 0, 0, 4, 0, 3, 0, 0]);
    }
    m
}

#[test]
fn answering_does_not_allocate() {
    let zones = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../configs/zones");
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
    let mut msgs = Vec::new();
    for name in [
        "www.example.test",
        "nope.example.test",
        "chain1.example.test",
        "foo.wild.example.test",
        "any.cwild.example.test",
        "www.sub.example.test",
        "example.test",
        "dangling.example.test",
        "toreverse.example.test",
        "mx-wild.example.test",
        "long.big.example.test",
        "www.example.org",
    ] {
        for qtype in [1u16, 15, 16, 28, 255, 43] {
            msgs.push(query(name, qtype, 1, false, 0x0100));
            msgs.push(query(name, qtype, 1, true, 0x0100));
        }
    }
    msgs.push(query("id.server", 16, 3, true, 0x0100));
    msgs.push(query("www.example.test", 1, 1, false, 0x2900)); // NOTIMP
    let mut bad = query("www.example.test", 1, 1, false, 0x0100);
    bad[5] = 2; // FORMERR
    msgs.push(bad);
    let frames: Vec<Vec<u8>> = msgs
        .iter()
        .map(|m| udp4(Ipv4Addr::new(198, 51, 100, 7), vip, 40000, 53, m))
        .collect();
    let mut bufs: Vec<TestBuffer> = frames.iter().map(|f| TestBuffer::new(f)).collect();
    let mut counters = DnsCounters::default();
    // The counter itself works: an allocation while counting is seen.
    COUNTING.with(|c| c.set(true));
    drop(std::hint::black_box(vec![1u8; 64]));
    COUNTING.with(|c| c.set(false));
    assert!(
        ALLOCS.swap(0, Ordering::Relaxed) >= 1,
        "the counting allocator counts"
    );
    COUNTING.with(|c| c.set(true));
    let mut answered = 0usize;
    for _ in 0..3 {
        for (buf, frame) in bufs.iter_mut().zip(&frames) {
            buf.reset(frame);
            let Ok(Parsed::Ipv4(ip)) = parse(buf.data()) else {
                continue;
            };
            answered += usize::from(svc.handle(buf, &ip, &port, &mut counters) == Verdict::Answer);
        }
    }
    COUNTING.with(|c| c.set(false));
    assert_eq!(answered, 3 * frames.len(), "every query answered");
    assert_eq!(
        ALLOCS.load(Ordering::Relaxed),
        0,
        "heap allocations on the answer path"
    );
}
