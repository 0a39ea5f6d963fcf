//! Per-service and per-backend packet counters, which survive reloads that change the service
//! list.
//!
//! Two more kinds of region follow the port blocks:
//!
//! ```text
//! service regions SERVICE_REGION_WORDS each, one per worker, written by that worker only:
//!                 seq, generation, packets[MAX_SERVICES], bytes[MAX_SERVICES],
//!                 backend packets[MAX_BACKENDS]
//! names region    NAMES_WORDS, written by the control thread at start and before each reload
//!                 takes effect: seq, generation, slots used, then per service slot
//!                 (since, name) and per backend slot (since, service slot + family, address)
//! ```
//!
//! Counters live in fixed **slots**. The control thread assigns them ([`SlotTable::assign`]):
//! a service keeps its slot, and so its counts, for as long as its name stays in the config; a
//! backend keeps its slot while the same service keeps the same address. A new name takes the
//! lowest free slot, stamped with the generation it was assigned in (its *since*). A worker that
//! picks up a snapshot zeroes the slots assigned after the generation it was counting under
//! ([`ServiceCounters::rebase`]) and publishes the generation with its counts. A reader takes a
//! worker's count for a slot only when that worker's generation is at least the slot's since
//! (otherwise the worker is still counting the slot's previous owner), so labels stay right
//! across reloads; a renamed service starts from zero under its new name.
//!
//! Services past [`MAX_SERVICES`] and backends past [`MAX_BACKENDS`] are counted in a sink slot
//! that is never published.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::seqlock::{seq_read, seq_read_with, seq_write};
use crate::Writer;

/// Service slots per worker.
pub const MAX_SERVICES: usize = 64;
/// Backend slots per worker (over all services).
pub const MAX_BACKENDS: usize = 256;
/// The slot of a service or backend that has none (counted, never published).
pub const NO_SERVICE_SLOT: u16 = MAX_SERVICES as u16;
/// The slot of a backend that has none (counted, never published).
pub const NO_BACKEND_SLOT: u16 = MAX_BACKENDS as u16;
/// Bytes of a service name kept in the segment; longer names are cut and end in `~slot`.
pub const SERVICE_NAME_BYTES: usize = 48;

/// Words in one worker's service region (a multiple of 16: 128-byte aligned).
pub const SERVICE_REGION_WORDS: usize = 400;
/// Words in the names region.
pub const NAMES_WORDS: usize = 1488;

mod r {
    pub const SEQ: usize = 0;
    pub const GENERATION: usize = 1;
    pub const PACKETS: usize = 2;
    pub const BYTES: usize = PACKETS + super::MAX_SERVICES;
    pub const BACKENDS: usize = BYTES + super::MAX_SERVICES;
    pub const END: usize = BACKENDS + super::MAX_BACKENDS;
}

mod n {
    pub const GENERATION: usize = 1;
    pub const SERVICES_USED: usize = 2;
    pub const BACKENDS_USED: usize = 3;
    pub const SERVICES: usize = 4;
    pub const SERVICE_WORDS: usize = 1 + super::SERVICE_NAME_BYTES / 8;
    pub const BACKENDS: usize = SERVICES + super::MAX_SERVICES * SERVICE_WORDS;
    pub const BACKEND_WORDS: usize = 4;
    pub const END: usize = BACKENDS + super::MAX_BACKENDS * BACKEND_WORDS;
}

const _: () = {
    assert!(r::END <= SERVICE_REGION_WORDS);
    assert!((SERVICE_REGION_WORDS * 8).is_multiple_of(128));
    assert!(n::END <= NAMES_WORDS);
    assert!((NAMES_WORDS * 8).is_multiple_of(128));
    assert!(SERVICE_NAME_BYTES.is_multiple_of(8));
};

/// One worker's per-service and per-backend counters: plain integers the worker alone bumps,
/// one array index per packet. Index [`NO_SERVICE_SLOT`] / [`NO_BACKEND_SLOT`] is the sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCounters {
    /// The snapshot generation these counts are for (see [`ServiceCounters::rebase`]).
    pub generation: u64,
    /// Packets that matched each service slot.
    pub packets: [u64; MAX_SERVICES + 1],
    /// Bytes (whole frames) of those packets.
    pub bytes: [u64; MAX_SERVICES + 1],
    /// Packets forwarded to each backend slot.
    pub backend_packets: [u64; MAX_BACKENDS + 1],
    /// Service slots in use (those published), from the last rebase.
    pub services_used: usize,
    /// Backend slots in use (those published), from the last rebase.
    pub backends_used: usize,
}

impl Default for ServiceCounters {
    fn default() -> Self {
        ServiceCounters {
            generation: 0,
            packets: [0; MAX_SERVICES + 1],
            bytes: [0; MAX_SERVICES + 1],
            backend_packets: [0; MAX_BACKENDS + 1],
            services_used: 0,
            backends_used: 0,
        }
    }
}

impl ServiceCounters {
    /// Counts one packet of `bytes` for service slot `slot`.
    #[inline(always)]
    pub fn count_service(&mut self, slot: u16, bytes: usize) {
        let i = usize::from(slot).min(MAX_SERVICES);
        self.packets[i] += 1;
        self.bytes[i] += bytes as u64;
    }

    /// Counts one packet forwarded to backend slot `slot`.
    #[inline(always)]
    pub fn count_backend(&mut self, slot: u16) {
        self.backend_packets[usize::from(slot).min(MAX_BACKENDS)] += 1;
    }

    /// Moves to the slots of a new snapshot: zeroes every slot assigned after the generation
    /// these counts were for (its previous owner's counts must not carry over). Off the
    /// per-packet path: once per new snapshot.
    pub fn rebase(&mut self, slots: &SlotSince) {
        for (i, since) in slots.services.iter().enumerate() {
            if *since > self.generation {
                self.packets[i] = 0;
                self.bytes[i] = 0;
            }
        }
        for (i, since) in slots.backends.iter().enumerate() {
            if *since > self.generation {
                self.backend_packets[i] = 0;
            }
        }
        self.generation = slots.generation;
        self.services_used = slots.services_used.min(MAX_SERVICES);
        self.backends_used = slots.backends_used.min(MAX_BACKENDS);
    }
}

/// What workers need of an assignment: for each slot the generation it was assigned in (0 when
/// free), and how many slots from the start are in use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlotSince {
    /// The generation of the assignment.
    pub generation: u64,
    /// Per service slot.
    pub services: Vec<u64>,
    /// Per backend slot.
    pub backends: Vec<u64>,
    /// Service slots `0..services_used` hold every assigned one.
    pub services_used: usize,
    /// Backend slots `0..backends_used` hold every assigned one.
    pub backends_used: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct ServiceSlot {
    name: String,
    since: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct BackendSlot {
    service: String,
    service_slot: u16,
    address: IpAddr,
    since: u64,
}

/// The control thread's slot assignment (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotTable {
    generation: u64,
    services: Vec<Option<ServiceSlot>>,
    backends: Vec<Option<BackendSlot>>,
}

impl Default for SlotTable {
    fn default() -> Self {
        SlotTable {
            generation: 0,
            services: vec![None; MAX_SERVICES],
            backends: vec![None; MAX_BACKENDS],
        }
    }
}

/// The slots of one config's services, in config order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assigned {
    /// Per service: its slot ([`NO_SERVICE_SLOT`] when all are taken).
    pub services: Vec<u16>,
    /// Per service, per backend in config order: its slot ([`NO_BACKEND_SLOT`] when none).
    pub backends: Vec<Vec<u16>>,
}

impl SlotTable {
    /// Assigns slots for generation `generation`'s services, given as (name, backend addresses)
    /// in config order: names (and (name, address) pairs) already in this table keep their
    /// slots; new ones take the lowest free slots. Returns the new table and the slots.
    pub fn assign(&self, generation: u64, services: &[(&str, &[IpAddr])]) -> (SlotTable, Assigned) {
        let mut t = SlotTable {
            generation,
            ..SlotTable::default()
        };
        let mut out = Assigned {
            services: vec![NO_SERVICE_SLOT; services.len()],
            backends: services
                .iter()
                .map(|(_, b)| vec![NO_BACKEND_SLOT; b.len()])
                .collect(),
        };
        // Keep what persists.
        for (k, (name, _)) in services.iter().enumerate() {
            if let Some(i) = self
                .services
                .iter()
                .position(|s| s.as_ref().is_some_and(|s| s.name == *name))
            {
                t.services[i] = self.services[i].clone();
                out.services[k] = i as u16;
            }
        }
        // New names take free slots.
        for (k, (name, _)) in services.iter().enumerate() {
            if out.services[k] != NO_SERVICE_SLOT {
                continue;
            }
            if let Some(i) = t.services.iter().position(Option::is_none) {
                t.services[i] = Some(ServiceSlot {
                    name: (*name).to_owned(),
                    since: generation,
                });
                out.services[k] = i as u16;
            }
        }
        for (k, (name, addrs)) in services.iter().enumerate() {
            for (j, a) in addrs.iter().enumerate() {
                let old = self.backends.iter().position(|b| {
                    b.as_ref()
                        .is_some_and(|b| b.service == *name && b.address == *a)
                });
                if let Some(i) = old.filter(|&i| t.backends[i].is_none()) {
                    let mut b = self.backends[i].clone().expect("found above");
                    b.service_slot = out.services[k];
                    t.backends[i] = Some(b);
                    out.backends[k][j] = i as u16;
                }
            }
        }
        for (k, (name, addrs)) in services.iter().enumerate() {
            for (j, a) in addrs.iter().enumerate() {
                if out.backends[k][j] != NO_BACKEND_SLOT {
                    continue;
                }
                if let Some(i) = t.backends.iter().position(Option::is_none) {
                    t.backends[i] = Some(BackendSlot {
                        service: (*name).to_owned(),
                        service_slot: out.services[k],
                        address: *a,
                        since: generation,
                    });
                    out.backends[k][j] = i as u16;
                }
            }
        }
        (t, out)
    }

    /// The generation of the assignment.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// What workers need to rebase their counters on this assignment.
    pub fn since(&self) -> SlotSince {
        let since = |s: Option<u64>| s.unwrap_or(0);
        let services: Vec<u64> = self
            .services
            .iter()
            .map(|s| since(s.as_ref().map(|s| s.since)))
            .collect();
        let backends: Vec<u64> = self
            .backends
            .iter()
            .map(|b| since(b.as_ref().map(|b| b.since)))
            .collect();
        SlotSince {
            generation: self.generation,
            services_used: self
                .services
                .iter()
                .rposition(Option::is_some)
                .map_or(0, |i| i + 1),
            backends_used: self
                .backends
                .iter()
                .rposition(Option::is_some)
                .map_or(0, |i| i + 1),
            services,
            backends,
        }
    }
}

/// A service name as kept in the segment: at most [`SERVICE_NAME_BYTES`], cut at a character
/// boundary and ended with `~slot` when too long (so two long names never share a label).
fn stored_name(name: &str, slot: usize) -> String {
    if name.len() <= SERVICE_NAME_BYTES {
        return name.to_owned();
    }
    let tail = format!("~{slot}");
    let mut end = SERVICE_NAME_BYTES - tail.len();
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{tail}", &name[..end])
}

fn addr_words(a: &IpAddr) -> (u64, [u64; 2]) {
    let (family, b) = match a {
        IpAddr::V4(v4) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&v4.octets());
            (4u64, b)
        }
        IpAddr::V6(v6) => (6u64, v6.octets()),
    };
    let lo = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
    let hi = u64::from_le_bytes(b[8..].try_into().expect("8 bytes"));
    (family, [lo, hi])
}

fn words_addr(family: u64, lo: u64, hi: u64) -> Option<IpAddr> {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&lo.to_le_bytes());
    b[8..].copy_from_slice(&hi.to_le_bytes());
    match family {
        4 => Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
        6 => Some(IpAddr::V6(Ipv6Addr::from(b))),
        _ => None,
    }
}

impl Writer {
    /// Publishes an assignment's names (control thread only): at start, and on reload before
    /// the new snapshot is handed to the workers.
    pub fn publish_service_names(&self, t: &SlotTable) {
        let mut buf = vec![0u64; n::END - 1];
        let since = t.since();
        buf[n::GENERATION - 1] = t.generation;
        buf[n::SERVICES_USED - 1] = since.services_used as u64;
        buf[n::BACKENDS_USED - 1] = since.backends_used as u64;
        for (i, s) in t.services.iter().enumerate() {
            let Some(s) = s else { continue };
            let off = n::SERVICES + i * n::SERVICE_WORDS - 1;
            buf[off] = s.since;
            let mut bytes = [0u8; SERVICE_NAME_BYTES];
            let name = stored_name(&s.name, i);
            bytes[..name.len()].copy_from_slice(name.as_bytes());
            for (k, chunk) in bytes.chunks_exact(8).enumerate() {
                buf[off + 1 + k] = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            }
        }
        for (i, b) in t.backends.iter().enumerate() {
            let Some(b) = b else { continue };
            let off = n::BACKENDS + i * n::BACKEND_WORDS - 1;
            let (family, a) = addr_words(&b.address);
            buf[off] = b.since;
            buf[off + 1] = u64::from(b.service_slot) | family << 16;
            buf[off + 2] = a[0];
            buf[off + 3] = a[1];
        }
        let o = self.names_offset();
        // Word 0 of the region is its sequence word.
        seq_write(&self.words()[o..o + n::END], &buf);
    }

    /// Publishes worker `i`'s service counters (only worker `i` may call this): the slots in use
    /// and the generation, under the region's seqlock. Never waits.
    #[inline]
    pub fn publish_services(&self, i: usize, c: &ServiceCounters) {
        let hw = self.words();
        let off = self.service_offset(i);
        let region = &hw[off..off + r::END];
        let s = region[r::SEQ].load(Ordering::Relaxed);
        region[r::SEQ].store(s.wrapping_add(1), Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Release);
        region[r::GENERATION].store(c.generation, Ordering::Relaxed);
        let used = c.services_used.min(MAX_SERVICES);
        store_all(&region[r::PACKETS..r::PACKETS + used], &c.packets[..used]);
        store_all(&region[r::BYTES..r::BYTES + used], &c.bytes[..used]);
        let used = c.backends_used.min(MAX_BACKENDS);
        store_all(
            &region[r::BACKENDS..r::BACKENDS + used],
            &c.backend_packets[..used],
        );
        region[r::SEQ].store(s.wrapping_add(2), Ordering::Release);
    }

    fn service_offset(&self, i: usize) -> usize {
        service_offset(self.workers, self.ports, i)
    }

    fn names_offset(&self) -> usize {
        names_offset(self.workers, self.ports)
    }
}

#[inline(always)]
fn store_all(slots: &[AtomicU64], values: &[u64]) {
    for (s, v) in slots.iter().zip(values) {
        s.store(*v, Ordering::Relaxed);
    }
}

/// Words of the per-service regions and names region for `workers`.
pub(crate) fn service_words(workers: usize) -> usize {
    workers * SERVICE_REGION_WORDS + NAMES_WORDS
}

fn service_offset(workers: usize, ports: usize, i: usize) -> usize {
    crate::HEADER_WORDS
        + workers * crate::WORKER_WORDS
        + ports * crate::PORT_WORDS
        + i * SERVICE_REGION_WORDS
}

fn names_offset(workers: usize, ports: usize) -> usize {
    service_offset(workers, ports, workers)
}

/// One backend's counters as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackendValues {
    /// The backend's address.
    pub address: IpAddr,
    /// Its slot.
    pub slot: usize,
    /// The generation it got its slot in.
    pub since_generation: u64,
    /// Packets forwarded to it, per worker.
    pub packets: Vec<u64>,
}

/// One service's counters as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceValues {
    /// The service's name.
    pub name: String,
    /// Its slot.
    pub slot: usize,
    /// The generation it got its slot in (its counts start then).
    pub since_generation: u64,
    /// Packets that matched it, per worker.
    pub packets: Vec<u64>,
    /// Bytes of those packets, per worker.
    pub bytes: Vec<u64>,
    /// Its backends (forward services), in slot order.
    pub backends: Vec<BackendValues>,
}

impl ServiceValues {
    /// Packets over all workers.
    pub fn total_packets(&self) -> u64 {
        self.packets.iter().sum()
    }
    /// Bytes over all workers.
    pub fn total_bytes(&self) -> u64 {
        self.bytes.iter().sum()
    }
}

impl BackendValues {
    /// Packets over all workers.
    pub fn total_packets(&self) -> u64 {
        self.packets.iter().sum()
    }
}

/// The services' counters of a segment: the names region's generation and, per named service
/// slot (in slot order), the workers' counts that belong to its current name. Returns the number
/// of regions that did not settle.
pub(crate) fn read_services(
    hw: &[AtomicU64],
    workers: usize,
    ports: usize,
) -> (u64, Vec<ServiceValues>, usize) {
    let mut unsettled = 0;
    let o = names_offset(workers, ports);
    let mut names = vec![0u64; n::END - 1];
    unsettled += usize::from(!seq_read(&hw[o..o + n::END], &mut names));
    let generation = names[n::GENERATION - 1];
    let services_used = (names[n::SERVICES_USED - 1] as usize).min(MAX_SERVICES);
    let backends_used = (names[n::BACKENDS_USED - 1] as usize).min(MAX_BACKENDS);
    // Only the slots in use are copied: the shorter the copy, the likelier it settles at once
    // while the worker keeps publishing.
    let ranges = [
        r::GENERATION..r::GENERATION + 1,
        r::PACKETS..r::PACKETS + services_used,
        r::BYTES..r::BYTES + services_used,
        r::BACKENDS..r::BACKENDS + backends_used,
    ];
    let mut regions = Vec::with_capacity(workers);
    for i in 0..workers {
        let region = &hw[service_offset(workers, ports, i)..][..r::END];
        let mut buf = vec![0u64; r::END - 1];
        let settled = seq_read_with(&region[r::SEQ], || {
            for range in ranges.clone() {
                for k in range {
                    buf[k - 1] = region[k].load(Ordering::Relaxed);
                }
            }
        });
        unsettled += usize::from(!settled);
        regions.push(buf);
    }
    let per_worker = |since: u64, word: usize| -> Vec<u64> {
        regions
            .iter()
            .map(|reg| {
                if reg[r::GENERATION - 1] >= since {
                    reg[word - 1]
                } else {
                    0
                }
            })
            .collect()
    };
    let mut out = Vec::new();
    let mut by_slot = vec![usize::MAX; MAX_SERVICES];
    for (i, slot) in by_slot.iter_mut().enumerate().take(services_used) {
        let off = n::SERVICES + i * n::SERVICE_WORDS - 1;
        let since = names[off];
        if since == 0 {
            continue;
        }
        let mut bytes = Vec::with_capacity(SERVICE_NAME_BYTES);
        for w in &names[off + 1..off + n::SERVICE_WORDS] {
            bytes.extend_from_slice(&w.to_le_bytes());
        }
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        *slot = out.len();
        out.push(ServiceValues {
            name: String::from_utf8_lossy(&bytes[..end]).into_owned(),
            slot: i,
            since_generation: since,
            packets: per_worker(since, r::PACKETS + i),
            bytes: per_worker(since, r::BYTES + i),
            backends: Vec::new(),
        });
    }
    for i in 0..backends_used {
        let off = n::BACKENDS + i * n::BACKEND_WORDS - 1;
        let since = names[off];
        let tag = names[off + 1];
        let service = (tag & 0xffff) as usize;
        let Some(address) = words_addr(tag >> 16, names[off + 2], names[off + 3]) else {
            continue;
        };
        if since == 0 {
            continue;
        }
        let Some(&k) = by_slot.get(service).filter(|&&k| k != usize::MAX) else {
            continue;
        };
        out[k].backends.push(BackendValues {
            address,
            slot: i,
            since_generation: since,
            packets: per_worker(since, r::BACKENDS + i),
        });
    }
    (generation, out, unsettled)
}

#[cfg(test)]
mod tests;
