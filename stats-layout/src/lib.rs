//! The stats segment shared by the anycastd dataplane (writer) and `anycastd-sidecar` (reader).
//!
//! A segment is a file (default `/run/anycastd/stats`) mapped by both processes. It is an array
//! of 64-bit words, accessed only through [`AtomicU64`] (so concurrent access from the other
//! process is never a data race), laid out as:
//!
//! ```text
//! header        HEADER_WORDS words   magic, layout version, size, workers, ports, pid, start time,
//!                                    config generation, heartbeats, state, reload counters
//! worker blocks WORKER_WORDS each    one per worker, 128-byte aligned, written by that worker only
//! port blocks   PORT_WORDS each      one per port, written by the control thread
//! service regions, names region      per-service/per-backend counters and their labels
//!                                    (see [`services`])
//! ```
//!
//! Every worker and port block starts with a sequence word (a seqlock): the single writer makes it
//! odd, stores the values, makes it even again; a reader retries until it sees the same even value
//! before and after copying, so a read is never torn (rx always equals the sum of the verdicts it
//! was published with). The writer never waits.
//!
//! The dataplane creates a new file (temp file + rename) at each start, so a reader notices a
//! restart by the file's identity (device, inode), pid or start time changing.
#![warn(missing_docs)]

pub mod config;
pub mod health;
mod reader;
mod seqlock;
pub mod services;
mod writer;

pub use reader::{file_id, FileId, Reader};
pub use writer::Writer;

pub use seqlock::READ_PATIENCE;

pub use services::{
    Assigned, BackendValues, ServiceCounters, ServiceValues, SlotSince, SlotTable, MAX_BACKENDS,
    MAX_SERVICES,
};

use serde::Serialize;
use std::sync::atomic::AtomicU64;

/// `ANYCSTAT` in little-endian: the first word of every segment.
pub const MAGIC: u64 = u64::from_le_bytes(*b"ANYCSTAT");
/// Layout version; bumped on any incompatible change.
pub const LAYOUT_VERSION: u64 = 2;
/// Words in the header.
pub const HEADER_WORDS: usize = 16;
/// Words in a worker block (512 bytes: a multiple of 128, so no two workers share a cache line
/// or an adjacent-line prefetch pair).
pub const WORKER_WORDS: usize = 64;
/// Words in a port block.
pub const PORT_WORDS: usize = 16;
/// Drop-reason slots in a worker block (the dataplane uses the first [`DROP_REASONS`]`.len()`).
pub const DROP_SLOTS: usize = 16;
/// DNS RCODE slots (0..=15).
pub const RCODE_SLOTS: usize = 16;
/// Bytes of a port name kept in the segment.
pub const PORT_NAME_BYTES: usize = 32;
/// Most workers a segment holds.
pub const MAX_WORKERS: usize = 1024;
/// Most ports a segment holds.
pub const MAX_PORTS: usize = 256;

/// Drop reasons in slot order: the names of `dataplane::verdict::DropReason::name()`, in
/// `DropReason::index()` order (the dataplane checks they agree in a test).
pub const DROP_REASONS: [&str; 11] = [
    "not_for_us",
    "malformed",
    "bad_checksum",
    "unsupported",
    "no_service",
    "no_backend",
    "next_hop_unresolved",
    "too_big",
    "no_room",
    "tx_full",
    "punt_failed",
];

/// Header word indexes.
mod h {
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 1;
    pub const SIZE: usize = 2;
    pub const WORKERS: usize = 3;
    pub const PORTS: usize = 4;
    pub const PID: usize = 5;
    pub const START_UNIX_MS: usize = 6;
    pub const GENERATION: usize = 7;
    pub const HEARTBEAT_UNIX_MS: usize = 8;
    pub const HEARTBEAT_CLOCK_MS: usize = 9;
    pub const STATE: usize = 10;
    pub const RELOADS: usize = 11;
    pub const RELOAD_FAILURES: usize = 12;
}

/// Worker block word indexes.
mod w {
    pub const SEQ: usize = 0;
    pub const HEARTBEAT_MS: usize = 1;
    pub const RX_PACKETS: usize = 2;
    pub const RX_BYTES: usize = 3;
    pub const TX_PACKETS: usize = 4;
    pub const TX_BYTES: usize = 5;
    pub const ANSWERED: usize = 6;
    pub const FORWARDED: usize = 7;
    pub const PUNTED: usize = 8;
    pub const FLOWS: usize = 9;
    pub const FLOW_INSERTS: usize = 10;
    pub const FLOW_EXPIRED: usize = 11;
    pub const FLOW_FULL: usize = 12;
    pub const FLOW_RATE_LIMITED: usize = 13;
    pub const STATELESS: usize = 14;
    pub const DNS_QUERIES: usize = 15;
    pub const DROPS: usize = 16;
    pub const RCODES: usize = 32;
    pub const DNS_CACHE_HITS: usize = 48;
    pub const DNS_CACHE_BYPASSED: usize = 49;
    pub const TOO_BIG_ANSWERED: usize = 50;
    /// Words after the sequence word that carry values.
    pub const VALUES: usize = 50;
}

/// Port block word indexes.
mod p {
    pub const SEQ: usize = 0;
    pub const NAME: usize = 1;
    pub const IPACKETS: usize = 5;
    pub const OPACKETS: usize = 6;
    pub const IBYTES: usize = 7;
    pub const OBYTES: usize = 8;
    pub const IMISSED: usize = 9;
    pub const IERRORS: usize = 10;
    pub const OERRORS: usize = 11;
    pub const RX_NOMBUF: usize = 12;
    pub const END: usize = 13;
}

/// The dataplane's state as written in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Created, workers not started yet.
    Starting,
    /// Serving.
    Running,
    /// Stopped cleanly (the counters are final).
    Stopped,
}

impl RunState {
    fn from_word(v: u64) -> RunState {
        match v {
            1 => RunState::Running,
            2 => RunState::Stopped,
            _ => RunState::Starting,
        }
    }
}

/// The header's values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeaderValues {
    /// Layout version.
    pub version: u64,
    /// Workers in the segment.
    pub workers: usize,
    /// Ports in the segment.
    pub ports: usize,
    /// The dataplane's process id.
    pub pid: u32,
    /// When the dataplane started (Unix time, ms).
    pub start_unix_ms: u64,
    /// Config generation serving (1 at start, +1 per reload).
    pub generation: u64,
    /// Last control-thread heartbeat (Unix time, ms).
    pub heartbeat_unix_ms: u64,
    /// The control thread's reading of the workers' clock at its last heartbeat (ms); compare
    /// with [`WorkerValues::heartbeat_ms`].
    pub heartbeat_clock_ms: u64,
    /// Running, stopped, ...
    pub state: RunState,
    /// Successful reloads.
    pub reloads: u64,
    /// Failed reloads.
    pub reload_failures: u64,
}

/// One worker's published counters (all monotonic except `flows` and `heartbeat_ms`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WorkerValues {
    /// The worker's clock (ms) when it published this.
    pub heartbeat_ms: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets answered in place.
    pub answered: u64,
    /// Packets forwarded to a backend.
    pub forwarded: u64,
    /// Packets handed to the kernel.
    pub punted: u64,
    /// Flows in the worker's flow table now (a gauge).
    pub flows: u64,
    /// Flows inserted.
    pub flow_inserts: u64,
    /// Flows that idled out.
    pub flow_expired: u64,
    /// New flows not inserted: table full.
    pub flow_full: u64,
    /// New flows not inserted: rate limit.
    pub flow_rate_limited: u64,
    /// New flows forwarded by the Maglev table alone (stateless fallback).
    pub stateless: u64,
    /// DNS queries seen.
    pub dns_queries: u64,
    /// Drops per reason, in [`DROP_REASONS`] order (slots past it are zero).
    pub drops: [u64; DROP_SLOTS],
    /// DNS responses per RCODE.
    pub rcodes: [u64; RCODE_SLOTS],
    /// DNS queries answered from the worker's packet cache (0 from dataplanes before it).
    pub dns_cache_hits: u64,
    /// DNS queries the worker's packet cache did not look up because too few of its lookups
    /// hit (0 from dataplanes before it).
    pub dns_cache_bypassed: u64,
    /// Packets too big for their backend's tunnel, answered with ICMP "fragmentation needed"
    /// or ICMPv6 "packet too big" (counted in `answered` too; 0 from dataplanes before it).
    pub too_big_answered: u64,
}

impl WorkerValues {
    /// All drops.
    pub fn dropped(&self) -> u64 {
        self.drops.iter().sum()
    }

    fn to_words(&self, out: &mut [u64; w::VALUES]) {
        // Indexes are block indexes minus one (the sequence word is not a value).
        out[w::HEARTBEAT_MS - 1] = self.heartbeat_ms;
        out[w::RX_PACKETS - 1] = self.rx_packets;
        out[w::RX_BYTES - 1] = self.rx_bytes;
        out[w::TX_PACKETS - 1] = self.tx_packets;
        out[w::TX_BYTES - 1] = self.tx_bytes;
        out[w::ANSWERED - 1] = self.answered;
        out[w::FORWARDED - 1] = self.forwarded;
        out[w::PUNTED - 1] = self.punted;
        out[w::FLOWS - 1] = self.flows;
        out[w::FLOW_INSERTS - 1] = self.flow_inserts;
        out[w::FLOW_EXPIRED - 1] = self.flow_expired;
        out[w::FLOW_FULL - 1] = self.flow_full;
        out[w::FLOW_RATE_LIMITED - 1] = self.flow_rate_limited;
        out[w::STATELESS - 1] = self.stateless;
        out[w::DNS_QUERIES - 1] = self.dns_queries;
        out[w::DROPS - 1..w::DROPS - 1 + DROP_SLOTS].copy_from_slice(&self.drops);
        out[w::RCODES - 1..w::RCODES - 1 + RCODE_SLOTS].copy_from_slice(&self.rcodes);
        out[w::DNS_CACHE_HITS - 1] = self.dns_cache_hits;
        out[w::DNS_CACHE_BYPASSED - 1] = self.dns_cache_bypassed;
        out[w::TOO_BIG_ANSWERED - 1] = self.too_big_answered;
    }

    fn from_words(v: &[u64; w::VALUES]) -> WorkerValues {
        let mut drops = [0; DROP_SLOTS];
        drops.copy_from_slice(&v[w::DROPS - 1..w::DROPS - 1 + DROP_SLOTS]);
        let mut rcodes = [0; RCODE_SLOTS];
        rcodes.copy_from_slice(&v[w::RCODES - 1..w::RCODES - 1 + RCODE_SLOTS]);
        WorkerValues {
            heartbeat_ms: v[w::HEARTBEAT_MS - 1],
            rx_packets: v[w::RX_PACKETS - 1],
            rx_bytes: v[w::RX_BYTES - 1],
            tx_packets: v[w::TX_PACKETS - 1],
            tx_bytes: v[w::TX_BYTES - 1],
            answered: v[w::ANSWERED - 1],
            forwarded: v[w::FORWARDED - 1],
            punted: v[w::PUNTED - 1],
            flows: v[w::FLOWS - 1],
            flow_inserts: v[w::FLOW_INSERTS - 1],
            flow_expired: v[w::FLOW_EXPIRED - 1],
            flow_full: v[w::FLOW_FULL - 1],
            flow_rate_limited: v[w::FLOW_RATE_LIMITED - 1],
            stateless: v[w::STATELESS - 1],
            dns_queries: v[w::DNS_QUERIES - 1],
            drops,
            rcodes,
            dns_cache_hits: v[w::DNS_CACHE_HITS - 1],
            dns_cache_bypassed: v[w::DNS_CACHE_BYPASSED - 1],
            too_big_answered: v[w::TOO_BIG_ANSWERED - 1],
        }
    }
}

/// One port's device counters (from `rte_eth_stats_get`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PortValues {
    /// The port's configured name.
    pub name: String,
    /// Packets received.
    pub ipackets: u64,
    /// Packets sent.
    pub opackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Bytes sent.
    pub obytes: u64,
    /// Packets the device dropped (rx queues full).
    pub imissed: u64,
    /// Receive errors.
    pub ierrors: u64,
    /// Transmit errors.
    pub oerrors: u64,
    /// rx mbuf allocation failures.
    pub rx_nombuf: u64,
}

/// Everything in a segment, read consistently block by block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentValues {
    /// The header.
    pub header: HeaderValues,
    /// Per worker.
    pub workers: Vec<WorkerValues>,
    /// Per port.
    pub ports: Vec<PortValues>,
    /// The config generation the service names were published for.
    pub services_generation: u64,
    /// Per named service slot, in slot order (see [`services`]).
    pub services: Vec<ServiceValues>,
    /// Blocks that did not settle within [`READ_PATIENCE`] and were copied as they are: a
    /// dataplane killed in the middle of a publication leaves one (its values are final but may
    /// mix two consecutive publications). Always 0 while the writer lives.
    pub unsettled_blocks: usize,
}

/// Words a segment for `workers` and `ports` needs.
pub fn segment_words(workers: usize, ports: usize) -> usize {
    HEADER_WORDS + workers * WORKER_WORDS + ports * PORT_WORDS + services::service_words(workers)
}

fn worker_offset(i: usize) -> usize {
    HEADER_WORDS + i * WORKER_WORDS
}

fn port_offset(workers: usize, i: usize) -> usize {
    HEADER_WORDS + workers * WORKER_WORDS + i * PORT_WORDS
}

/// Views `len` bytes at `ptr` (a live mapping, page aligned) as words.
///
/// # Safety
/// `ptr` must point to a mapping of at least `len` bytes, 8-byte aligned, that stays mapped for
/// the returned lifetime; all access to it (in any process) must be atomic.
unsafe fn words<'a>(ptr: *const u8, len: usize) -> &'a [AtomicU64] {
    debug_assert_eq!(ptr as usize % std::mem::align_of::<AtomicU64>(), 0);
    // SAFETY: the caller guarantees the pointer is valid, aligned and mapped for `len` bytes;
    // AtomicU64 has the size and alignment of u64 and every bit pattern is valid.
    unsafe { std::slice::from_raw_parts(ptr.cast::<AtomicU64>(), len / 8) }
}

/// Unix time in ms.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

// The layout fits its blocks, and blocks keep to their own cache lines (checked at compile time).
const _: () = {
    assert!(w::RCODES + RCODE_SLOTS <= WORKER_WORDS);
    assert!(w::VALUES < WORKER_WORDS);
    assert!(w::DROPS + DROP_SLOTS <= w::RCODES);
    assert!(DROP_REASONS.len() <= DROP_SLOTS);
    assert!(p::END <= PORT_WORDS);
    assert!((WORKER_WORDS * 8).is_multiple_of(128));
    assert!((HEADER_WORDS * 8).is_multiple_of(128));
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::atomic::Ordering;

    #[test]
    fn values_round_trip_through_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/stats");
        let wr = Writer::create(
            &path,
            &["edge0", "a-very-long-port-name-cut-at-32-bytes"],
            2,
        )
        .unwrap();
        let mut v = WorkerValues {
            rx_packets: 10,
            answered: 7,
            ..WorkerValues::default()
        };
        v.drops[3] = 3;
        v.rcodes[3] = 5;
        wr.publish_worker(1, &v);
        wr.publish_port(
            0,
            &PortValues {
                ipackets: 9,
                rx_nombuf: 4,
                ..PortValues::default()
            },
        );
        wr.set_state(RunState::Running);
        wr.set_generation(3, 2, 1);
        wr.heartbeat(77);
        let r = Reader::open(&path).unwrap();
        let s = r.read().unwrap();
        assert_eq!(s.header.pid, std::process::id());
        assert_eq!(s.header.state, RunState::Running);
        assert_eq!(s.header.generation, 3);
        assert_eq!(s.header.heartbeat_clock_ms, 77);
        assert_eq!(s.workers[1], v);
        assert_eq!(s.workers[0], WorkerValues::default());
        assert_eq!(s.ports[0].name, "edge0");
        assert_eq!(s.ports[0].ipackets, 9);
        assert_eq!(s.ports[0].rx_nombuf, 4);
        assert_eq!(s.ports[1].name, "a-very-long-port-name-cut-at-32-");
        assert!(!dir
            .path()
            .join(format!("sub/stats.tmp.{}", std::process::id()))
            .exists());
    }

    #[test]
    fn a_held_segment_is_not_taken_over_and_a_new_one_replaces_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats");
        let first = Writer::create(&path, &["p"], 1).unwrap();
        let id1 = file_id(&path).unwrap();
        let e = Writer::create(&path, &["p"], 1).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        drop(first);
        let _second = Writer::create(&path, &["p"], 1).unwrap();
        assert_ne!(file_id(&path).unwrap(), id1);
    }

    #[test]
    fn a_writer_killed_mid_publication_leaves_readable_final_values() {
        let w = Writer::anonymous(&["p"], 1).unwrap();
        let v = WorkerValues {
            rx_packets: 3,
            ..WorkerValues::default()
        };
        w.publish_worker(0, &v);
        // What a kill between the two sequence stores leaves: an odd sequence word.
        let seq = &w.words()[worker_offset(0)];
        seq.store(seq.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let s = w.read().unwrap();
        assert!(started.elapsed() >= READ_PATIENCE);
        assert_eq!(s.unsettled_blocks, 1);
        assert_eq!(s.workers[0], v);
        assert_eq!(w.read_worker(0), None);
    }

    #[test]
    fn garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats");
        std::fs::write(&path, vec![0u8; 4096]).unwrap();
        assert!(Reader::open(&path).is_err());
        std::fs::write(&path, b"short").unwrap();
        assert!(Reader::open(&path).is_err());
    }
}
