//! Per-worker flow table: 5-tuple → backend, owned by one worker (no locks, no atomics).
//!
//! Built on hashbrown's [`HashTable`], allocated once for a configured capacity (on transparent
//! huge pages when it is large: [`HugeAlloc`]) and never grown: an insert that would need more
//! room is refused and the flow goes by the Maglev table alone (stateless), counted. Entries
//! carry an absolute deadline (worker clock, wrapping `u32` ms) set from the protocol and TCP
//! state on every packet; expired entries are removed by a bounded sweep over a slice of the
//! buckets each millisecond ([`FlowTable::expire_due`]), and an expired entry met by a lookup
//! counts as gone. New flows also pass a per-worker token bucket, so a flood of new tuples fills
//! neither the table nor evicts live flows: once the bucket is empty new flows are stateless
//! until it refills.
use hashbrown::HashTable;

use crate::dpdk::HugeAlloc;

/// A flow's 5-tuple. IPv4 addresses sit in the first 4 bytes of the 16, the rest zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FlowKey {
    /// Client address.
    pub src: [u8; 16],
    /// VIP.
    pub dst: [u8; 16],
    /// Client port.
    pub sport: u16,
    /// Service port.
    pub dport: u16,
    /// IP protocol (6 or 17); bit 7 set for IPv6.
    pub proto: u8,
}

impl FlowKey {
    /// The key's 64-bit hash: indexes the flow table and the Maglev table, and seeds GUE
    /// source ports and IPv6 flow labels.
    #[inline]
    pub fn hash(&self) -> u64 {
        let w = |a: &[u8; 16], i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&a[i..i + 8]);
            u64::from_le_bytes(b)
        };
        Self::hash_words(
            [w(&self.src, 0), w(&self.src, 8)],
            [w(&self.dst, 0), w(&self.dst, 8)],
            self.sport,
            self.dport,
            self.proto,
        )
    }

    /// [`FlowKey::hash`] from the key's parts, as little-endian 64-bit words of the addresses
    /// (lets the hot path hash values it holds in registers rather than re-read the key).
    #[inline(always)]
    pub fn hash_words(src: [u64; 2], dst: [u64; 2], sport: u16, dport: u16, proto: u8) -> u64 {
        let last = u64::from(sport) | u64::from(dport) << 16 | u64::from(proto) << 32;
        super::hash::hash5([src[0], src[1], dst[0], dst[1], last], 0)
    }
}

/// TCP connection state as seen from the client's side (replies bypass us with DSR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FlowState {
    /// UDP (or any non-TCP protocol).
    Udp = 0,
    /// Only SYNs seen so far.
    SynSent,
    /// The client acknowledged: a live connection (also any flow first met mid-stream).
    Established,
    /// FIN or RST seen.
    Closing,
}

/// TCP flags.
pub const TCP_FIN: u8 = 0x01;
/// TCP SYN flag.
pub const TCP_SYN: u8 = 0x02;
/// TCP RST flag.
pub const TCP_RST: u8 = 0x04;
/// TCP ACK flag.
pub const TCP_ACK: u8 = 0x10;

impl FlowState {
    /// The state of a new flow whose first packet carries `tcp_flags` (`None` for UDP).
    #[inline]
    pub fn first(tcp_flags: Option<u8>) -> FlowState {
        match tcp_flags {
            None => FlowState::Udp,
            Some(f) if f & (TCP_FIN | TCP_RST) != 0 => FlowState::Closing,
            Some(f) if f & TCP_SYN != 0 && f & TCP_ACK == 0 => FlowState::SynSent,
            Some(_) => FlowState::Established,
        }
    }

    /// The state after a packet with `tcp_flags` (`None` for UDP).
    #[inline]
    pub fn next(self, tcp_flags: Option<u8>) -> FlowState {
        let Some(f) = tcp_flags else {
            return FlowState::Udp;
        };
        if f & (TCP_FIN | TCP_RST) != 0 {
            return FlowState::Closing;
        }
        match self {
            // A fresh SYN on a closing tuple starts a new connection (port reuse).
            FlowState::Closing if f & TCP_SYN != 0 && f & TCP_ACK == 0 => FlowState::SynSent,
            FlowState::Closing => FlowState::Closing,
            FlowState::SynSent if f & TCP_ACK != 0 => FlowState::Established,
            FlowState::SynSent => FlowState::SynSent,
            FlowState::Established | FlowState::Udp => FlowState::Established,
        }
    }
}

/// One flow: key, backend and deadline. 52 bytes (see `entry_is_small`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowEntry {
    /// The 5-tuple.
    pub key: FlowKey,
    /// Worker clock (ms, wrapping) after which the entry is dead.
    pub deadline: u32,
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

/// A worker's flow table.
pub struct FlowTable {
    table: HashTable<FlowEntry, HugeAlloc>,
    cfg: FlowTableConfig,
    cursor: usize,
    swept_ms: u64,
    tokens_milli: u64,
    last_refill_ms: u64,
    /// Counters.
    pub counters: FlowCounters,
}

impl std::fmt::Debug for FlowTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowTable")
            .field("len", &self.table.len())
            .field("buckets", &self.table.num_buckets())
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
    /// Allocates the table for `cfg.capacity` flows. Buckets are sized for 1.25× the capacity
    /// so the table stays at most ~70% loaded and deletions rarely leave tombstones.
    pub fn new(cfg: FlowTableConfig) -> Self {
        let capacity = cfg.capacity.max(1);
        Self {
            table: HashTable::with_capacity_in(capacity + capacity / 4, HugeAlloc),
            cfg: FlowTableConfig { capacity, ..cfg },
            cursor: 0,
            swept_ms: 0,
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
        self.table.len()
    }

    /// True when no flow is held.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Buckets allocated.
    pub fn buckets(&self) -> usize {
        self.table.num_buckets()
    }

    /// Bytes allocated by the table.
    pub fn allocation_size(&self) -> usize {
        self.table.allocation_size()
    }

    /// The live entry for `key`, if any (an expired one is removed and counted).
    #[inline]
    pub fn get(&mut self, hash: u64, key: &FlowKey, now_ms: u64) -> Option<&mut FlowEntry> {
        let now = now_ms as u32;
        match self.table.find_entry(hash, |e| e.key == *key) {
            Ok(entry) if dead(entry.get().deadline, now) => {
                entry.remove();
                self.counters.expired += 1;
                None
            }
            Ok(entry) => {
                self.counters.hits += 1;
                Some(entry.into_mut())
            }
            Err(_) => None,
        }
    }

    /// Records a packet with `tcp_flags` on `entry`: next state and a new deadline.
    #[inline]
    pub fn touch(cfg: &FlowTableConfig, entry: &mut FlowEntry, tcp_flags: Option<u8>, now_ms: u64) {
        entry.state = entry.state.next(tcp_flags);
        entry.deadline = (now_ms as u32).wrapping_add(cfg.timeout(entry.state));
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
        if !self.take_token(now_ms) {
            self.counters.rate_limited += 1;
            return Err(Refused::RateLimited);
        }
        if self.table.len() >= self.cfg.capacity || self.table.capacity() <= self.table.len() {
            // Try to make room from idle flows before refusing (bounded: a flood against a full
            // table costs a few bucket checks per packet, no more).
            self.expire(now_ms, EXPIRE_WHEN_FULL);
            if self.table.len() >= self.cfg.capacity || self.table.capacity() <= self.table.len() {
                self.counters.full += 1;
                return Err(Refused::Full);
            }
        }
        let state = FlowState::first(tcp_flags);
        let deadline = (now_ms as u32).wrapping_add(self.cfg.timeout(state));
        let entry = FlowEntry {
            key,
            deadline,
            tag,
            backend,
            state,
        };
        // Room was checked above: the hasher is never called (no resize).
        self.table.insert_unique(hash, entry, |e| e.key.hash());
        self.counters.inserts += 1;
        Ok(())
    }

    fn take_token(&mut self, now_ms: u64) -> bool {
        let elapsed = now_ms.saturating_sub(self.last_refill_ms);
        if elapsed > 0 {
            self.last_refill_ms = now_ms;
            let cap = u64::from(self.cfg.new_flow_burst) * 1000;
            self.tokens_milli = cap.min(
                self.tokens_milli
                    .saturating_add(elapsed.saturating_mul(u64::from(self.cfg.new_flows_per_sec))),
            );
        }
        if self.tokens_milli >= 1000 {
            self.tokens_milli -= 1000;
            true
        } else {
            false
        }
    }

    /// Sweeps up to `buckets` buckets from where the last sweep stopped, removing idle flows.
    /// Returns how many it removed. Bounded work: call it once per packet or burst.
    #[inline]
    pub fn expire(&mut self, now_ms: u64, buckets: usize) -> usize {
        let now = now_ms as u32;
        let n = self.table.num_buckets();
        if n == 0 || self.table.is_empty() {
            return 0;
        }
        let mut removed = 0;
        for _ in 0..buckets.min(n) {
            let i = self.cursor;
            self.cursor = if i + 1 >= n { 0 } else { i + 1 };
            if let Ok(e) = self.table.get_bucket_entry(i) {
                if dead(e.get().deadline, now) {
                    e.remove();
                    removed += 1;
                }
            }
        }
        self.counters.expired += removed as u64;
        removed
    }

    /// The hot path's share of expiry: when the worker clock moved on since the last call,
    /// sweeps the buckets due for the elapsed milliseconds (the whole table per
    /// [`SWEEP_PERIOD_MS`], at least one bucket per millisecond), else returns at once. Cost per
    /// packet is a comparison; the sweep itself is amortised over every packet of that
    /// millisecond, whatever the packet rate. Returns how many flows it removed.
    #[inline]
    pub fn expire_due(&mut self, now_ms: u64) -> usize {
        if now_ms <= self.swept_ms {
            return 0;
        }
        let elapsed = now_ms - self.swept_ms;
        self.swept_ms = now_ms;
        let n = self.table.num_buckets() as u64;
        let due = (elapsed.min(SWEEP_PERIOD_MS) * n).div_ceil(SWEEP_PERIOD_MS);
        self.expire(now_ms, (due as usize).min(SWEEP_MAX_PER_CALL))
    }

    /// Iterates the live and not-yet-swept entries (diagnostics and tests).
    pub fn iter(&self) -> impl Iterator<Item = &FlowEntry> {
        self.table.iter()
    }
}

#[cfg(test)]
mod tests;
