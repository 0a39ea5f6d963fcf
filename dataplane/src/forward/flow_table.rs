//! Per-worker flow table: 5-tuple → backend, owned by one worker (no locks, no atomics).
//!
//! Open addressing with linear probing, one cache line per slot holding everything a hit needs
//! (hash tag, deadline, key, backend, state: a hit at its home slot reads one line)
//! ([`FlowTable`]), allocated once for a configured capacity (on transparent huge pages when it
//! is large: [`HugeAlloc`]) and never grown: an insert that would need more room is refused and
//! the flow goes by the Maglev table alone (stateless), counted. Each flow has an absolute
//! deadline (worker clock, wrapping `u32` ms) set from the protocol and TCP state on every
//! packet; expired entries are removed by a bounded sweep over a slice of the buckets each
//! millisecond ([`FlowTable::expire_due`]), an expired entry met by a lookup counts as gone,
//! and a new flow takes the slot of an expired one its probe passes ([`FlowTable::lookup`]).
//! New flows also pass a per-worker token bucket, so a flood of new tuples fills neither the
//! table nor evicts live flows: once the bucket is empty new flows are stateless until it
//! refills.
use allocator_api2::vec::Vec;

use crate::dpdk::{prefetch, HugeAlloc};

mod flow;
pub use flow::{FlowKey, FlowState, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN};

/// One flow: key, backend and TCP state (its deadline lives beside it in the slot). 48 bytes,
/// on a 64-byte line of its own in the table with its hash tag and deadline (see
/// `entry_is_small`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowEntry {
    /// The 5-tuple.
    pub key: FlowKey,
    /// Identity of the backend (low 32 bits of its id hash): detects reloads that renumber.
    pub tag: u32,
    /// Index of the backend in its service's list.
    pub backend: u16,
    /// [`FlowState`] as `u8`.
    pub state: FlowState,
}

/// Timeouts and limits of a worker's flow table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowTableConfig {
    /// Most flows held.
    pub capacity: usize,
    /// Idle timeout while only SYNs were seen (ms).
    pub syn_timeout_ms: u32,
    /// Idle timeout of an established TCP connection (ms).
    pub established_timeout_ms: u32,
    /// Idle timeout after FIN or RST (ms).
    pub closing_timeout_ms: u32,
    /// Idle timeout of a UDP flow (ms).
    pub udp_timeout_ms: u32,
    /// New flows admitted per second (token bucket rate); beyond it new flows are stateless.
    pub new_flows_per_sec: u32,
    /// Token bucket depth (burst of new flows admitted at once).
    pub new_flow_burst: u32,
}

impl Default for FlowTableConfig {
    fn default() -> Self {
        Self {
            capacity: 1 << 16,
            syn_timeout_ms: 10_000,
            established_timeout_ms: 300_000,
            closing_timeout_ms: 10_000,
            udp_timeout_ms: 30_000,
            new_flows_per_sec: 1_000_000,
            new_flow_burst: 65_536,
        }
    }
}

impl FlowTableConfig {
    /// The idle timeout of a flow in `state`.
    #[inline]
    pub fn timeout(&self, state: FlowState) -> u32 {
        match state {
            FlowState::Udp => self.udp_timeout_ms,
            FlowState::SynSent => self.syn_timeout_ms,
            FlowState::Established => self.established_timeout_ms,
            FlowState::Closing => self.closing_timeout_ms,
        }
    }
}

/// Why an insert did not happen (the flow is then forwarded statelessly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The table holds `capacity` flows (or has no free bucket left).
    Full,
    /// New flows arrive faster than the per-worker limit.
    RateLimited,
}

/// Counters the flow table keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowCounters {
    /// Flows inserted.
    pub inserts: u64,
    /// Packets that found their flow.
    pub hits: u64,
    /// Flows removed because they idled out.
    pub expired: u64,
    /// New flows not inserted because the table was full.
    pub full: u64,
    /// New flows not inserted because of the rate limit.
    pub rate_limited: u64,
}

/// True when `deadline` has passed at `now` (wrapping clock, valid for ages under 24 days).
#[inline]
fn dead(deadline: u32, now: u32) -> bool {
    (now.wrapping_sub(deadline) as i32) >= 0
}

/// One slot: its hash tag and deadline, then its entry, on a cache line of its own (a lookup
/// that hits at the flow's home reads this one line; [`FlowTable::prefetch`] asks for it ahead
/// of time, and [`FlowTable::fetch_lines`] reads it and asks for the next one).
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Slot {
    meta: Meta,
    entry: FlowEntry,
}

const EMPTY_SLOT: Slot = Slot {
    meta: EMPTY_META,
    entry: FlowEntry {
        key: FlowKey::ZERO,
        tag: 0,
        backend: 0,
        state: FlowState::Udp,
    },
};

/// A slot's first word: its hash tag (0 = empty) and its flow's deadline, which a hit
/// refreshes on the line it already reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(8))]
struct Meta {
    tag: u32,
    deadline: u32,
}

const EMPTY_META: Meta = Meta {
    tag: 0,
    deadline: 0,
};

/// Largest capacity a table takes: the tag keeps the low 31 bits of the hash, so slot indices
/// (homes) must fit in them.
pub const MAX_CAPACITY: usize = 1 << 30;

/// The tag of a hash: its low 31 bits with bit 31 set (never 0, which marks an empty slot).
/// The home slot is `tag & mask` (masks stay below bit 31), so a removal that moves entries
/// finds their homes without hashing their keys again.
#[inline(always)]
fn tag_of(hash: u64) -> u32 {
    hash as u32 | 0x8000_0000
}

/// A live flow a lookup found: its entry, and its deadline beside it.
#[derive(Debug)]
pub struct Flow<'a> {
    /// The entry.
    pub entry: &'a mut FlowEntry,
    deadline: &'a mut u32,
    timeouts: &'a [u32; 4],
}

impl Flow<'_> {
    /// Worker clock (ms, wrapping) after which the flow is dead.
    #[inline]
    pub fn deadline(&self) -> u32 {
        *self.deadline
    }

    /// Records a packet with `tcp_flags` (`None` for UDP): next state and a new deadline, both
    /// on the slot's line the lookup read.
    #[inline(always)]
    pub fn touch(&mut self, tcp_flags: Option<u8>, now_ms: u64) {
        let state = self.entry.state.next(tcp_flags);
        self.entry.state = state;
        *self.deadline = (now_ms as u32).wrapping_add(self.timeouts[state as usize]);
    }
}

/// Where a flow [`FlowTable::lookup`] did not find would go: insert it there with
/// [`Vacant::insert`] (holds the table borrowed, so nothing moves in between).
#[derive(Debug)]
pub struct Vacant<'a> {
    table: &'a mut FlowTable,
    hash: u64,
    slot: Option<usize>,
}

impl Vacant<'_> {
    /// [`FlowTable::insert`] of the flow looked up (`key` is the key looked up).
    #[inline]
    pub fn insert(
        self,
        key: FlowKey,
        backend: u16,
        tag: u32,
        tcp_flags: Option<u8>,
        now_ms: u64,
    ) -> Result<(), Refused> {
        let hash = self.hash;
        self.table
            .insert_at(self.slot, hash, key, backend, tag, tcp_flags, now_ms)
    }
}

/// A worker's flow table: open addressing with linear probing over a power-of-two array of
/// `Slot`s (tag 0 = empty). Deletion shifts the rest of the cluster back (no tombstones), so
/// churn never lengthens probes. At most `capacity` entries in at least 1.5× as many slots.
pub struct FlowTable {
    slots: Vec<Slot, HugeAlloc>,
    mask: usize,
    len: usize,
    cfg: FlowTableConfig,
    /// `cfg`'s idle timeouts indexed by `FlowState as usize`.
    timeouts: [u32; 4],
    cursor: usize,
    swept_ms: u64,
    /// The millisecond in which making room for a new flow last freed nothing
    /// ([`FlowTable::make_room`]); `u64::MAX` before any.
    full_ms: u64,
    tokens_milli: u64,
    last_refill_ms: u64,
    /// Counters.
    pub counters: FlowCounters,
}

impl std::fmt::Debug for FlowTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowTable")
            .field("len", &self.len)
            .field("buckets", &self.slots.len())
            .field("cfg", &self.cfg)
            .field("counters", &self.counters)
            .finish()
    }
}

/// The hot path sweeps the whole table once per this many milliseconds of the worker clock, in
/// slices of `buckets / SWEEP_PERIOD_MS` per elapsed millisecond ([`FlowTable::expire_due`]).
pub const SWEEP_PERIOD_MS: u64 = 1000;
/// Most buckets one [`FlowTable::expire_due`] call sweeps (bounds the work a packet can meet
/// after the clock jumped; a table larger than this × [`SWEEP_PERIOD_MS`] is swept more slowly).
pub const SWEEP_MAX_PER_CALL: usize = 1024;
/// Extra buckets swept when a new flow finds the table full.
pub const EXPIRE_WHEN_FULL: usize = 16;

impl FlowTable {
    /// Allocates the table for `cfg.capacity` flows (at most [`MAX_CAPACITY`]): the next power
    /// of two of at least 1.5× the capacity slots (so probes stay short), 64 bytes each.
    pub fn new(cfg: FlowTableConfig) -> Self {
        let capacity = cfg.capacity.clamp(1, MAX_CAPACITY);
        let n = (capacity + capacity / 2 + 1).next_power_of_two();
        let mut slots = Vec::with_capacity_in(n, HugeAlloc);
        slots.resize(n, EMPTY_SLOT);
        Self {
            slots,
            mask: n - 1,
            len: 0,
            cfg: FlowTableConfig { capacity, ..cfg },
            timeouts: [
                FlowState::Udp,
                FlowState::SynSent,
                FlowState::Established,
                FlowState::Closing,
            ]
            .map(|s| cfg.timeout(s)),
            cursor: 0,
            swept_ms: 0,
            full_ms: u64::MAX,
            tokens_milli: u64::from(cfg.new_flow_burst) * 1000,
            last_refill_ms: 0,
            counters: FlowCounters::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &FlowTableConfig {
        &self.cfg
    }

    /// Flows held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no flow is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Buckets (slots) allocated.
    pub fn buckets(&self) -> usize {
        self.slots.len()
    }

    /// Bytes allocated by the table.
    pub fn allocation_size(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
    }

    /// Asks the CPU for the cache line a lookup of `hash` reads first (its home slot), so a
    /// burst can hash every packet, prefetch, and find the lines there when it looks them up.
    /// Call [`FlowTable::fetch_lines`] for the burst afterwards, in a second pass.
    #[inline(always)]
    pub fn prefetch(&self, hash: u64) {
        if let Some(s) = self.slots.get(hash as usize & self.mask) {
            prefetch(s);
        }
    }

    /// A burst's second pass, once [`FlowTable::prefetch`] asked for every home line: reads the
    /// home line (a load, whose value is discarded) and asks for the line after it, where most
    /// displaced flows are. The read is what brings the line in: on a machine whose memory the
    /// host maps with small pages (a VM), a table far larger than the TLB's reach needs a page
    /// walk on most lookups, and 32 loads issued back to back overlap their walks better than
    /// 32 prefetches (the `translation_cost` example's bursts of 32 lines of 128 MiB: 22–23 ns a
    /// line with its work, against 36 behind prefetches and 11 for the work alone; the 1M-flow
    /// hit row about 10 ns a packet faster). The next line is asked for here rather than beside
    /// the home line in the first pass: there it waited with the home line for the walk (the
    /// two share a page) and the burst's other home lines were asked for later.
    #[inline(always)]
    pub fn fetch_lines(&self, hash: u64) {
        let home = hash as usize & self.mask;
        if let Some(s) = self.slots.get(home) {
            std::hint::black_box(s.meta.tag);
        }
        if let Some(s) = self.slots.get((home + 1) & self.mask) {
            prefetch(s);
        }
    }

    /// The slot holding `key`, or `Err` with the first empty slot of its probe sequence.
    #[inline(always)]
    fn find(&self, hash: u64, key: &FlowKey) -> Result<usize, usize> {
        let tag = tag_of(hash);
        let mut i = hash as usize & self.mask;
        // Terminates: there are always more slots than entries (capacity < slots).
        loop {
            let Some(s) = self.slots.get(i) else {
                return Err(i);
            };
            if s.meta.tag == tag && s.entry.key == *key {
                return Ok(i);
            }
            if s.meta.tag == 0 {
                return Err(i);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The first slot from `hash`'s home up to `end` (the first empty slot of its probe
    /// sequence, which [`FlowTable::find`] just read up to) whose flow is dead at `now`. A new
    /// flow of that probe sequence may take it: it stays on its own probe sequence, and every
    /// other entry keeps its slot, so nothing moves, and the sweep has one flow fewer to
    /// remove (with the backward shift [`FlowTable::remove_at`] does). A walk of its own, not
    /// a test in `find`'s loop (there it cost hits 12 instructions), and out of line (inlined,
    /// it made the hits' code slower).
    #[inline(never)]
    fn first_dead(&self, hash: u64, end: usize, now: u32) -> Option<usize> {
        let mut i = hash as usize & self.mask;
        while i != end {
            if dead(self.slots.get(i)?.meta.deadline, now) {
                return Some(i);
            }
            i = (i + 1) & self.mask;
        }
        None
    }

    /// The live flow for `key`, if any (an expired one is removed and counted).
    #[inline]
    pub fn get(&mut self, hash: u64, key: &FlowKey, now_ms: u64) -> Option<Flow<'_>> {
        self.lookup(hash, key, now_ms).ok()
    }

    /// [`FlowTable::get`], or where the flow would go when it is not there (for
    /// [`Vacant::insert`], which then needs no second probe): the first slot of its probe
    /// sequence that is empty or holds a flow dead at `now_ms`, whose slot the new flow takes.
    #[inline]
    pub fn lookup(
        &mut self,
        hash: u64,
        key: &FlowKey,
        now_ms: u64,
    ) -> Result<Flow<'_>, Vacant<'_>> {
        let i = match self.find(hash, key) {
            Ok(i) => i,
            Err(i) => {
                // An idle flow on the way to the empty slot gives the new one its slot (when
                // there is a way: the home slot itself is empty for most new flows).
                let slot = if i == hash as usize & self.mask {
                    i
                } else {
                    self.first_dead(hash, i, now_ms as u32).unwrap_or(i)
                };
                return Err(Vacant {
                    table: self,
                    hash,
                    slot: Some(slot),
                });
            }
        };
        let live = self
            .slots
            .get(i)
            .is_some_and(|s| !dead(s.meta.deadline, now_ms as u32));
        if !live {
            self.remove_at(i);
            self.counters.expired += 1;
            return Err(Vacant {
                table: self,
                hash,
                slot: None,
            });
        }
        self.counters.hits += 1;
        // In bounds: checked just above.
        let s = &mut self.slots[i];
        Ok(Flow {
            entry: &mut s.entry,
            deadline: &mut s.meta.deadline,
            timeouts: &self.timeouts,
        })
    }

    /// Removes the entry in slot `i` and shifts later members of its cluster back into the hole
    /// where their probe sequence allows (Knuth's algorithm R), so no tombstone is left.
    fn remove_at(&mut self, mut i: usize) {
        let mask = self.mask;
        if self.slots.get(i).is_none_or(|s| s.meta.tag == 0) {
            return;
        }
        self.len -= 1;
        loop {
            self.slots[i].meta = EMPTY_META;
            let mut j = i;
            loop {
                j = (j + 1) & mask;
                let t = self.slots[j].meta.tag;
                if t == 0 {
                    return;
                }
                let home = t as usize & mask;
                // The entry at j may fill the hole at i unless its home lies in (i, j].
                let stays = if i <= j {
                    i < home && home <= j
                } else {
                    i < home || home <= j
                };
                if !stays {
                    break;
                }
            }
            self.slots[i] = self.slots[j];
            i = j;
        }
    }

    /// Inserts a new flow (the caller checked it is absent), unless the table is full or the
    /// new-flow rate limit is hit. Never allocates.
    #[inline]
    pub fn insert(
        &mut self,
        hash: u64,
        key: FlowKey,
        backend: u16,
        tag: u32,
        tcp_flags: Option<u8>,
        now_ms: u64,
    ) -> Result<(), Refused> {
        self.insert_at(None, hash, key, backend, tag, tcp_flags, now_ms)
    }

    /// [`FlowTable::insert`] into `slot` when it is known to be the first empty slot of the
    /// probe sequence or a dead flow's slot before it ([`FlowTable::first_dead`]; it still is:
    /// an expiry that makes room forgets it).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn insert_at(
        &mut self,
        mut slot: Option<usize>,
        hash: u64,
        key: FlowKey,
        backend: u16,
        tag: u32,
        tcp_flags: Option<u8>,
        now_ms: u64,
    ) -> Result<(), Refused> {
        if !self.take_token(now_ms) {
            self.counters.rate_limited += 1;
            return Err(Refused::RateLimited);
        }
        // Taking a dead flow's slot does not grow the table.
        let reuse = slot
            .and_then(|i| self.slots.get(i))
            .is_some_and(|s| s.meta.tag != 0);
        if !reuse && self.len >= self.cfg.capacity {
            slot = None;
            if !self.make_room(now_ms) {
                self.counters.full += 1;
                return Err(Refused::Full);
            }
        }
        let state = FlowState::first(tcp_flags);
        let deadline = (now_ms as u32).wrapping_add(self.timeouts[state as usize]);
        let entry = FlowEntry {
            key,
            tag,
            backend,
            state,
        };
        // The first empty slot of the probe sequence (the caller checked the key is absent).
        let i = match slot {
            Some(i) => i,
            None => {
                let mut i = hash as usize & self.mask;
                while self.slots.get(i).is_some_and(|s| s.meta.tag != 0) {
                    i = (i + 1) & self.mask;
                }
                i
            }
        };
        if let Some(s) = self.slots.get_mut(i) {
            if s.meta.tag == 0 {
                self.len += 1;
            } else {
                self.counters.expired += 1; // the dead flow whose slot this takes
            }
            s.meta = Meta {
                tag: tag_of(hash),
                deadline,
            };
            // The entry's fields alone (a whole `Slot` went through the stack first).
            s.entry = entry;
        }
        self.counters.inserts += 1;
        Ok(())
    }

    /// A full table: tries to make room from idle flows ([`EXPIRE_WHEN_FULL`] more buckets of
    /// the sweep) before the insert is refused. Once such a sweep has freed nothing, the new
    /// flows of the rest of that millisecond are refused without one: a table full of live
    /// flows (more flows than its capacity, or a flood of new ones) then costs one short sweep
    /// per millisecond, not one per packet of every flow it could not take (at 7.6 Mpps of
    /// 1M flows with 1% new ones, a 1.2M-flow table was full after three seconds and refused
    /// 1.1M new flows in the next two, each after sweeping 16 buckets of 128 MiB).
    #[cold]
    #[inline(never)]
    fn make_room(&mut self, now_ms: u64) -> bool {
        if self.full_ms == now_ms {
            return false;
        }
        self.expire(now_ms, EXPIRE_WHEN_FULL);
        let room = self.len < self.cfg.capacity;
        if !room {
            self.full_ms = now_ms;
        }
        room
    }

    #[inline]
    fn take_token(&mut self, now_ms: u64) -> bool {
        if now_ms > self.last_refill_ms {
            self.refill(now_ms);
        }
        if self.tokens_milli >= 1000 {
            self.tokens_milli -= 1000;
            true
        } else {
            false
        }
    }

    /// Adds the tokens earned since the last refill (once per millisecond at most).
    #[inline(never)]
    fn refill(&mut self, now_ms: u64) {
        let elapsed = now_ms - self.last_refill_ms;
        self.last_refill_ms = now_ms;
        let cap = u64::from(self.cfg.new_flow_burst) * 1000;
        self.tokens_milli = cap.min(
            self.tokens_milli
                .saturating_add(elapsed.saturating_mul(u64::from(self.cfg.new_flows_per_sec))),
        );
    }

    /// Iterates the live and not-yet-swept entries (diagnostics and tests).
    pub fn iter(&self) -> impl Iterator<Item = &FlowEntry> {
        self.slots
            .iter()
            .filter(|s| s.meta.tag != 0)
            .map(|s| &s.entry)
    }
}

mod sweep;
#[cfg(test)]
mod tests;
