//! L4 load balancing: Maglev hashing, per-worker flow tables, encapsulation to backends.
//!
//! - [`maglev`]: weighted Maglev lookup tables, built off the hot path per service.
//! - [`flow_table`]: the per-worker 5-tuple → backend table (linear probing, one cache line per
//!   flow, fixed capacity, idle timeouts by TCP state, amortised expiry, new-flow rate limit).
//! - [`encap`]: IPIP, GUE and L2 DSR, in place in the packet buffer.
//! - [`neighbors`]: the per-worker ARP/NDP cache for next hops.
//! - [`service`]: [`ForwardService`], the per-packet path gluing them, and its burst form
//!   ([`ForwardService::prepare`] then [`ForwardService::handle_prepared`]).
//! - [`icmp`]: ICMP errors about forwarded flows follow the flow to its backend.
//!
//! Everything a worker writes lives in its own [`WorkerForwardState`]: no locks, no atomics,
//! nothing allocated per packet.
pub mod encap;
pub mod flow_table;
pub mod frames;
pub mod hash;
pub mod icmp;
pub mod maglev;
pub mod neighbors;
pub mod service;

pub use flow_table::{FlowKey, FlowTable, FlowTableConfig};
pub use neighbors::NeighborCache;
pub use service::{Backend, ForwardService, NextHop, Prepared};

use crate::config::BackendState;
use crate::packet::parse::{IPPROTO_ICMP, IPPROTO_ICMPV6};
use crate::packet::{PacketBuffer, Parsed};
use crate::snapshot::{Mac, PortSnapshot, ServiceRuntime, Snapshot};
use crate::verdict::{DropReason, Verdict};

/// Flows a worker's table holds when built with [`Default`].
pub const DEFAULT_FLOW_CAPACITY: usize = 1 << 16;

/// Forward-path counters of one worker (flow-table counters live in
/// [`FlowTable::counters`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ForwardCounters {
    /// New flows sent by the Maglev table alone (table full, rate limit, fragments).
    pub stateless: u64,
    /// Flows whose backend went down or away, moved to a new one.
    pub rehashed: u64,
    /// Packets that found no resolved next hop (turned into a request or dropped).
    pub unresolved: u64,
    /// ARP requests and Neighbor Solicitations sent.
    pub neighbor_requests: u64,
    /// Of those, refreshes of a still-usable entry.
    pub neighbor_refreshes: u64,
    /// Neighbour entries learned or confirmed.
    pub neighbors_learned: u64,
    /// ICMP errors sent after their flow.
    pub icmp_errors: u64,
    /// Packets with no backend to go to.
    pub no_backend: u64,
    /// Packets too big for their tunnel once encapsulated (found before or after the flow).
    pub too_big: u64,
    /// Of those, turned into ICMP fragmentation-needed / packet-too-big to the client.
    pub too_big_icmp: u64,
}

/// A worker's own forwarding state (flow table, neighbour cache), owned by the worker.
#[derive(Debug)]
pub struct WorkerForwardState {
    /// The flow table.
    pub flows: FlowTable,
    /// Next-hop MACs.
    pub neighbors: NeighborCache,
    /// Counters.
    pub counters: ForwardCounters,
    /// The backend index the last forwarded packet went to (for per-backend counters).
    pub last_backend: u16,
}

impl Default for WorkerForwardState {
    fn default() -> Self {
        Self::new(DEFAULT_FLOW_CAPACITY)
    }
}

impl WorkerForwardState {
    /// Preallocates the worker's state for `flow_capacity` flows, default timeouts and limits.
    pub fn new(flow_capacity: usize) -> Self {
        Self::with_config(FlowTableConfig {
            capacity: flow_capacity,
            ..FlowTableConfig::default()
        })
    }

    /// Preallocates the worker's state with explicit flow-table settings.
    pub fn with_config(cfg: FlowTableConfig) -> Self {
        Self {
            flows: FlowTable::new(cfg),
            neighbors: NeighborCache::new(),
            counters: ForwardCounters::default(),
            last_backend: 0,
        }
    }

    /// Records `mac` for next hop `ip` if the cache asked for it, counting what it learned.
    #[inline]
    pub fn learn_neighbor(&mut self, ip: &[u8; 16], v6: bool, mac: Mac, now_ms: u64) {
        if self.neighbors.learn(ip, v6, mac, now_ms) {
            self.counters.neighbors_learned += 1;
        }
    }

    /// A one-line summary of the forward counters, for logs: `flows=.. inserts=.. hits=.. ...`.
    pub fn summary(&self) -> String {
        let f = &self.flows.counters;
        let c = &self.counters;
        format!(
            "flows={} inserts={} hits={} expired={} full={} rate_limited={} stateless={} \
             rehashed={} unresolved={} neighbor_requests={} neighbor_refreshes={} \
             neighbors_learned={} icmp_errors={} no_backend={} too_big={} too_big_icmp={}",
            self.flows.len(),
            f.inserts,
            f.hits,
            f.expired,
            f.full,
            f.rate_limited,
            c.stateless,
            c.rehashed,
            c.unresolved,
            c.neighbor_requests,
            c.neighbor_refreshes,
            c.neighbors_learned,
            c.icmp_errors,
            c.no_backend,
            c.too_big,
            c.too_big_icmp
        )
    }

    /// Proactive next-hop resolution for the runtime: writes into `buf` (a spare, empty packet
    /// buffer) the next ARP request / Neighbor Solicitation due for a backend reachable through
    /// port `port_idx` of `snap`, and returns true; false when none is due (then `buf` holds
    /// nothing useful). Call it from the idle loop (or every few ms) until it returns false,
    /// sending each buffer on the port; at start-up this resolves every backend before the first
    /// packet, afterwards it refreshes entries before they go stale. Bounded by the number of
    /// backends; never on the per-packet path.
    pub fn solicit<B: PacketBuffer>(
        &mut self,
        snap: &Snapshot,
        port_idx: usize,
        buf: &mut B,
        now_ms: u64,
    ) -> bool {
        let Some(port) = snap.ports.get(port_idx) else {
            return false;
        };
        for svc in &snap.services {
            let ServiceRuntime::Forward(f) = &svc.runtime else {
                continue;
            };
            for b in f.backends() {
                let NextHop::Neighbor { ip, v6, src } = b.next_hop else {
                    continue;
                };
                let mut src4 = [0u8; 4];
                src4.copy_from_slice(&src[..4]);
                let ours = if v6 {
                    port.node.has_v6(&src)
                } else {
                    port.node.has_v4(&src4)
                };
                if b.state == BackendState::Down || !ours || !self.neighbors.due(&ip, v6, now_ms) {
                    continue;
                }
                let mut ip4 = [0u8; 4];
                ip4.copy_from_slice(&ip[..4]);
                let ok = if v6 {
                    neighbors::write_neighbor_solicitation(buf, &port.mac, src, ip)
                } else {
                    neighbors::write_arp_request(buf, &port.mac, src4, ip4)
                };
                if ok {
                    self.counters.neighbor_requests += 1;
                }
                return ok;
            }
        }
        false
    }

    /// Idle-time upkeep: sweeps `buckets` flow-table buckets for idle flows. The hot path also
    /// sweeps a slice of the table each millisecond ([`FlowTable::expire_due`]); an idle worker
    /// calls this from its upkeep rounds.
    pub fn housekeeping(&mut self, now_ms: u64, buckets: usize) -> usize {
        self.flows.expire(now_ms, buckets)
    }
}

/// Runs before the answer path: learns next-hop MACs from ARP and NDP (the frame then goes on
/// to the answer path as usual) and forwards ICMP errors about forwarded flows to their
/// backend. Returns a verdict only when it consumed the packet.
#[inline]
pub fn intercept<B: PacketBuffer>(
    buf: &mut B,
    parsed: &Result<Parsed, DropReason>,
    port: &PortSnapshot,
    snap: &Snapshot,
    state: &mut WorkerForwardState,
    now_ms: u64,
) -> Option<Verdict> {
    match parsed {
        Ok(Parsed::Arp) => {
            if state.neighbors.learn_arp(buf.data(), now_ms) {
                state.counters.neighbors_learned += 1;
            }
            None
        }
        Ok(Parsed::Ipv4(ip)) if ip.proto == IPPROTO_ICMP => {
            icmp::forward_error(buf, ip, port, snap, state, now_ms)
        }
        Ok(Parsed::Ipv6(ip)) if ip.proto == IPPROTO_ICMPV6 => {
            if state.neighbors.learn_ndp(buf.data(), ip, now_ms) {
                state.counters.neighbors_learned += 1;
            }
            icmp::forward_error(buf, ip, port, snap, state, now_ms)
        }
        _ => None,
    }
}
