//! A forward service: its backends, Maglev table and encapsulation; the per-packet path.
use std::net::IpAddr;

use super::encap::{self, Outer, Template, Tunnel};
use super::flow_table::{FlowKey, Vacant};
use super::hash::hash_bytes;
use super::maglev::{Maglev, MaglevBackend};
use super::neighbors::{self, v4_in_16, NeighborCache, Resolution};
use super::{ForwardCounters, WorkerForwardState};
use crate::config::{BackendState, Config, Encap, ForwardServiceConfig, DEFAULT_MTU};
use crate::packet::{IpMeta, PacketBuffer};
use crate::snapshot::{Mac, PortSnapshot};
use crate::verdict::{DropReason, Verdict};

/// How a backend's frames find their next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextHop {
    /// On a port's subnet: resolve this address with ARP/NDP, asking from `src`.
    Neighbor {
        /// The address to resolve (the backend's).
        ip: [u8; 16],
        /// IPv6 (NDP) or IPv4 (ARP).
        v6: bool,
        /// Our address on that subnet (ARP sender / NS source).
        src: [u8; 16],
    },
    /// Off-link: send to the router the packet came from (the frame's source MAC).
    Reflect,
}

/// One backend, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// Its address.
    pub address: IpAddr,
    /// Relative share.
    pub weight: u32,
    /// Administrative state.
    pub state: BackendState,
    /// Stable identity (hash of the address).
    pub id: u64,
    /// Where its frames go.
    pub next_hop: NextHop,
    /// Outer headers for IPIP/GUE (`None` for L2 DSR).
    pub tunnel: Option<Tunnel>,
}

impl Backend {
    /// The tag flow entries carry to recognise this backend across reloads.
    #[inline]
    pub fn tag(&self) -> u32 {
        self.id as u32
    }
}

/// What the per-packet path reads of a backend, flattened next to its neighbours (built with
/// the service): identity and state, next hop with its neighbour-cache slot, outer headers.
#[derive(Debug, Clone, Copy)]
struct Hot {
    tag: u32,
    up: bool,
    next_hop: NextHop,
    hint: u8,
    tpl: Option<Template>,
}

impl Hot {
    fn new(b: &Backend) -> Self {
        let hint = match b.next_hop {
            NextHop::Neighbor { ip, v6, .. } => NeighborCache::hint(&ip, v6),
            NextHop::Reflect => 0,
        };
        Self {
            tag: b.tag(),
            up: b.state != BackendState::Down,
            next_hop: b.next_hop,
            hint,
            tpl: b.tunnel.as_ref().map(Template::new),
        }
    }
}

/// A forward service's compiled data (Maglev table, backends, encapsulation).
#[derive(Debug)]
pub struct ForwardService {
    encap: Encap,
    backends: Vec<Backend>,
    hot: Vec<Hot>,
    maglev: Maglev,
    /// The largest inner packet every backend's tunnel lets through, when they agree; else
    /// `usize::MAX` ([`too_big`]).
    too_big_above: usize,
}

/// The 16-byte form of an address and whether it is IPv6.
#[inline]
pub fn addr16(a: &IpAddr) -> ([u8; 16], bool) {
    match a {
        IpAddr::V4(v4) => (v4_in_16(v4.octets()), false),
        IpAddr::V6(v6) => (v6.octets(), true),
    }
}

impl ForwardService {
    /// Builds the service's tables off the hot path. Fails when a backend cannot be reached:
    /// no outer source address of its family for IPIP/GUE, or not on a port's subnet for L2 DSR.
    /// Encapsulated packets may be as long as the smallest of the ports' MTUs (a forwarded
    /// packet leaves by the port it came in on); longer ones are answered "too big".
    pub fn build(config: &ForwardServiceConfig, whole: &Config) -> Result<Self, String> {
        let mtu = usize::from(
            whole
                .ports
                .iter()
                .map(|p| p.mtu)
                .min()
                .unwrap_or(DEFAULT_MTU),
        );
        if config.backends.len() >= usize::from(u16::MAX) {
            return Err(format!(
                "{} backends: at most {} are supported",
                config.backends.len(),
                u16::MAX - 1
            ));
        }
        let first_port = whole.ports.first();
        let src_v4 = config.source_v4.map(|a| a.octets()).or_else(|| {
            first_port.and_then(|p| {
                p.addresses.iter().find_map(|n| match n.addr() {
                    IpAddr::V4(a) => Some(a.octets()),
                    IpAddr::V6(_) => None,
                })
            })
        });
        let src_v6 = config.source_v6.map(|a| a.octets()).or_else(|| {
            first_port.and_then(|p| {
                p.addresses.iter().find_map(|n| match n.addr() {
                    IpAddr::V6(a) => Some(a.octets()),
                    IpAddr::V4(_) => None,
                })
            })
        });
        let mut backends = Vec::with_capacity(config.backends.len());
        for b in &config.backends {
            let (a16, v6) = addr16(&b.address);
            let mut idb = a16.to_vec();
            idb.push(u8::from(v6));
            let id = hash_bytes(&idb, 0x6261_636b);
            let on_link = whole
                .ports
                .iter()
                .flat_map(|p| p.addresses.iter())
                .find(|n| n.contains(&b.address) && n.addr() != b.address);
            let next_hop = match on_link {
                Some(net) => NextHop::Neighbor {
                    ip: a16,
                    v6,
                    src: addr16(&net.addr()).0,
                },
                None if config.encap == Encap::L2dsr => {
                    return Err(format!(
                        "backend {} is on no port's subnet: L2 DSR needs backends on the same \
                         segment",
                        b.address
                    ))
                }
                None => NextHop::Reflect,
            };
            let tunnel = match (config.encap, b.address) {
                (Encap::L2dsr, _) => None,
                (e, IpAddr::V4(dst)) => Some(Tunnel {
                    outer: Outer::V4 {
                        src: src_v4.ok_or_else(|| {
                            format!(
                                "backend {} is IPv4 but there is no source_v4 and the first \
                                 port has no IPv4 address",
                                b.address
                            )
                        })?,
                        dst: dst.octets(),
                    },
                    gue_port: (e == Encap::Gue).then_some(config.gue_port),
                    mtu,
                }),
                (e, IpAddr::V6(dst)) => Some(Tunnel {
                    outer: Outer::V6 {
                        src: src_v6.ok_or_else(|| {
                            format!(
                                "backend {} is IPv6 but there is no source_v6 and the first \
                                 port has no IPv6 address",
                                b.address
                            )
                        })?,
                        dst: dst.octets(),
                    },
                    gue_port: (e == Encap::Gue).then_some(config.gue_port),
                    mtu,
                }),
            };
            backends.push(Backend {
                address: b.address,
                weight: b.weight,
                state: b.state,
                id,
                next_hop,
                tunnel,
            });
        }
        let active: Vec<MaglevBackend> = backends
            .iter()
            .enumerate()
            .filter(|(_, b)| b.state == BackendState::Active)
            .map(|(i, b)| MaglevBackend {
                id: b.id,
                weight: b.weight,
                index: i as u16,
            })
            .collect();
        let maglev = Maglev::build(config.table_size, &active);
        let hot: Vec<Hot> = backends.iter().map(Hot::new).collect();
        Ok(Self {
            encap: config.encap,
            too_big_above: too_big::uniform_max_inner(&hot).unwrap_or(usize::MAX),
            hot,
            backends,
            maglev,
        })
    }

    /// The backends, in config order.
    pub fn backends(&self) -> &[Backend] {
        &self.backends
    }

    /// The Maglev table.
    pub fn maglev(&self) -> &Maglev {
        &self.maglev
    }

    /// The backend a flow entry still names: same index and tag, or (after a reload renumbered
    /// the list) the backend with that tag; `None` when it is gone or down.
    #[inline]
    fn still_valid(&self, idx: u16, tag: u32) -> Option<(u16, &Hot)> {
        match self.hot.get(usize::from(idx)) {
            Some(b) if b.tag == tag && b.up => Some((idx, b)),
            _ => self.renumbered(tag),
        }
    }

    /// The backend Maglev gives a flow hash (the index is always in the list: the table is
    /// built from it).
    #[inline]
    fn maglev_hot(&self, hash: u64) -> Option<(u16, &Hot)> {
        let b = self.maglev.lookup(hash)?;
        Some((b, self.hot.get(usize::from(b))?))
    }

    /// A new backend for a flow whose backend is gone or down.
    #[cold]
    #[inline(never)]
    fn rehash(&self, hash: u64) -> Option<(u16, &Hot)> {
        self.maglev_hot(hash)
    }

    /// The live backend with `tag` after a reload renumbered the list (off the usual path).
    #[inline(never)]
    fn renumbered(&self, tag: u32) -> Option<(u16, &Hot)> {
        self.hot
            .iter()
            .enumerate()
            .find(|(_, b)| b.tag == tag && b.up)
            .map(|(i, b)| (i as u16, b))
    }

    /// Picks the backend of a flow: its flow-table entry if live, else Maglev (inserting the
    /// new flow when `insert`). `tcp_flags` is `None` for UDP.
    #[inline]
    pub fn pick(
        &self,
        key: &FlowKey,
        hash: u64,
        tcp_flags: Option<u8>,
        insert: bool,
        state: &mut WorkerForwardState,
        now_ms: u64,
    ) -> Option<u16> {
        self.pick_hot(key, hash, tcp_flags, insert, state, now_ms)
            .map(|(b, _)| b)
    }

    /// [`ForwardService::pick`], with the backend's hot data.
    #[inline(always)]
    fn pick_hot(
        &self,
        key: &FlowKey,
        hash: u64,
        tcp_flags: Option<u8>,
        insert: bool,
        state: &mut WorkerForwardState,
        now_ms: u64,
    ) -> Option<(u16, &Hot)> {
        let mut f = match state.flows.lookup(hash, key, now_ms) {
            Ok(f) => f,
            Err(v) => {
                let c = &mut state.counters;
                return self.new_flow(v, key, hash, tcp_flags, insert, c, now_ms);
            }
        };
        let e = &mut *f.entry;
        let (b, hot) = match self.still_valid(e.backend, e.tag) {
            Some(b) => b,
            None => {
                let (b, hot) = self.rehash(hash)?;
                e.tag = hot.tag;
                state.counters.rehashed += 1;
                (b, hot)
            }
        };
        // The entry's line stays clean unless something changed.
        if e.backend != b {
            e.backend = b;
        }
        if insert {
            f.touch(tcp_flags, now_ms);
        }
        Some((b, hot))
    }

    /// A flow not in the table: its Maglev backend, and the flow inserted where the lookup
    /// ended when `insert` (else, or when refused, it goes statelessly, counted).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn new_flow(
        &self,
        vacant: Vacant<'_>,
        key: &FlowKey,
        hash: u64,
        tcp_flags: Option<u8>,
        insert: bool,
        counters: &mut ForwardCounters,
        now_ms: u64,
    ) -> Option<(u16, &Hot)> {
        let (b, hot) = self.maglev_hot(hash)?;
        if !insert || vacant.insert(*key, b, hot.tag, tcp_flags, now_ms).is_err() {
            counters.stateless += 1;
        }
        Some((b, hot))
    }

    /// Forwards one packet of this service (TCP or UDP to a VIP) to its backend. For a burst,
    /// [`ForwardService::prepare`] every packet first, then [`ForwardService::handle_prepared`]
    /// each (or [`ForwardService::handle_burst`]): same result, with the flow-table lines
    /// fetched from memory in parallel.
    #[inline]
    pub fn handle<B: PacketBuffer>(
        &self,
        _service: usize,
        buf: &mut B,
        ip: &IpMeta,
        port: &PortSnapshot,
        state: &mut WorkerForwardState,
        now_ms: u64,
    ) -> Verdict {
        let p = Prepared::new(buf.data(), ip);
        self.handle_prepared(&p, buf, port, state, now_ms)
    }

    /// Stage two of a burst: forwards the packet `p` was prepared from (same `buf`, not
    /// changed since) to its backend, and sets [`WorkerForwardState::last_backend`].
    /// Always inlined: the prepared flow then stays in registers.
    #[inline(always)]
    pub fn handle_prepared<B: PacketBuffer>(
        &self,
        p: &Prepared,
        buf: &mut B,
        port: &PortSnapshot,
        state: &mut WorkerForwardState,
        now_ms: u64,
    ) -> Verdict {
        if let Err(r) = p.early {
            return Verdict::Drop(r);
        }
        if let Some(max_inner) = self.too_big_for_all(p) {
            // The worker's stage one answers these before their flow ([`too_big`]); `handle`
            // and `handle_burst` answer them here, the flow untouched, the same way.
            return too_big::refused(buf, port, max_inner, state);
        }
        state.flows.expire_due(now_ms);
        let insert = !p.inner.fragment;
        let Some((b, be)) = self.pick_hot(&p.key, p.hash, p.tcp_flags, insert, state, now_ms)
        else {
            state.counters.no_backend += 1;
            return Verdict::Drop(DropReason::NoBackend);
        };
        state.last_backend = b;
        self.deliver_hot(buf, p.frame_len, p.inner, port, be, p.hash, state, now_ms)
    }

    /// Sends the IP packet in `buf` to backend `b`: resolves the next hop, encapsulates.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn deliver<B: PacketBuffer>(
        &self,
        buf: &mut B,
        ip: &IpMeta,
        port: &PortSnapshot,
        b: u16,
        hash: u64,
        state: &mut WorkerForwardState,
        now_ms: u64,
    ) -> Verdict {
        let Some(be) = self.hot.get(usize::from(b)) else {
            return Verdict::Drop(DropReason::NoBackend);
        };
        let len = buf.len();
        self.deliver_hot(buf, len, Inner::of(ip), port, be, hash, state, now_ms)
    }

    /// [`ForwardService::deliver`] to backend `be` with the buffer's length `frame_len` and
    /// the IP header's summary `inner` known.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn deliver_hot<B: PacketBuffer>(
        &self,
        buf: &mut B,
        frame_len: usize,
        inner: Inner,
        port: &PortSnapshot,
        be: &Hot,
        hash: u64,
        state: &mut WorkerForwardState,
        now_ms: u64,
    ) -> Verdict {
        // By reference: copying the next hop out of `be` costs more than the lookup.
        let mac: Mac = match &be.next_hop {
            NextHop::Reflect => {
                let mut m = [0u8; 6];
                match buf.data().get(6..12) {
                    Some(src) => m.copy_from_slice(src),
                    None => return Verdict::Drop(DropReason::Malformed),
                }
                m
            }
            NextHop::Neighbor { ip: nh, v6, src } => {
                match state.neighbors.resolve_hinted(nh, *v6, be.hint, now_ms) {
                    Resolution::Mac(m) => m,
                    r => return unresolved(buf, port, *v6, *src, *nh, r, state),
                }
            }
        };
        match &be.tpl {
            None => {
                encap::l2_dsr(buf.data_mut(), &mac, &port.mac);
                Verdict::Forward
            }
            Some(t) => {
                match t.encapsulate(buf, frame_len, inner.len, inner.v6, hash, &mac, &port.mac) {
                    Ok(()) => Verdict::Forward,
                    Err(DropReason::TooBig) => too_big::refused(buf, port, t.mtu(), state),
                    Err(r) => Verdict::Drop(r),
                }
            }
        }
    }

    /// The configured encapsulation.
    pub fn encap(&self) -> Encap {
        self.encap
    }
}

/// A next hop without a usable MAC: counts, and turns the packet into a request when one is due.
#[inline(never)]
fn unresolved<B: PacketBuffer>(
    buf: &mut B,
    port: &PortSnapshot,
    v6: bool,
    src: [u8; 16],
    nh: [u8; 16],
    r: Resolution,
    state: &mut WorkerForwardState,
) -> Verdict {
    match r {
        Resolution::Refresh(_) => state.counters.neighbor_refreshes += 1,
        Resolution::Request | Resolution::Wait => state.counters.unresolved += 1,
        Resolution::Mac(_) => {}
    }
    if r == Resolution::Wait {
        return Verdict::Drop(DropReason::NextHopUnresolved);
    }
    request(buf, port, v6, src, nh, state)
}

/// Turns the packet into an ARP request / Neighbor Solicitation for `nh`.
fn request<B: PacketBuffer>(
    buf: &mut B,
    port: &PortSnapshot,
    v6: bool,
    src: [u8; 16],
    nh: [u8; 16],
    state: &mut WorkerForwardState,
) -> Verdict {
    let ok = if v6 {
        neighbors::write_neighbor_solicitation(buf, &port.mac, src, nh)
    } else {
        let mut spa = [0u8; 4];
        let mut tpa = [0u8; 4];
        spa.copy_from_slice(&src[..4]);
        tpa.copy_from_slice(&nh[..4]);
        neighbors::write_arp_request(buf, &port.mac, spa, tpa)
    };
    if ok {
        state.counters.neighbor_requests += 1;
        Verdict::Answer
    } else {
        Verdict::Drop(DropReason::NextHopUnresolved)
    }
}

/// An address as two little-endian 64-bit words of its 16-byte form, and whether it is IPv6.
#[inline(always)]
fn words(a: &IpAddr) -> ([u64; 2], bool) {
    match a {
        IpAddr::V4(v4) => ([u64::from(u32::from_le_bytes(v4.octets())), 0], false),
        IpAddr::V6(v6) => {
            let b = v6.octets();
            let mut lo = [0u8; 8];
            let mut hi = [0u8; 8];
            lo.copy_from_slice(&b[..8]);
            hi.copy_from_slice(&b[8..]);
            ([u64::from_le_bytes(lo), u64::from_le_bytes(hi)], true)
        }
    }
}

/// The flow key of a packet from `src`:`sport` to `dst`:`dport`.
#[inline]
pub fn flow_key(src: &IpAddr, dst: &IpAddr, sport: u16, dport: u16, proto: u8) -> FlowKey {
    flow_key_hashed(src, dst, sport, dport, proto).0
}

/// The flow key and its hash (computed from the parts, equal to [`FlowKey::hash`]).
#[inline(always)]
pub fn flow_key_hashed(
    src: &IpAddr,
    dst: &IpAddr,
    sport: u16,
    dport: u16,
    proto: u8,
) -> (FlowKey, u64) {
    let (sw, v6) = words(src);
    let (dw, _) = words(dst);
    let proto = proto | if v6 { 0x80 } else { 0 };
    let key = FlowKey::from_words(sw, dw, sport, dport, proto);
    (key, key.hash())
}

#[cfg(test)]
mod tests;

mod burst;
mod too_big;
use burst::Inner;
pub use burst::Prepared;
