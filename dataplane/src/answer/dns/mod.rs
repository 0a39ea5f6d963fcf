//! Authoritative DNS answered in the dataplane from compiled zones.
//!
//! [`DnsService::build`] reads the zone files ([`zonefile`]) and compiles them ([`db`]) into a
//! hash map from lowercase wire name to node with pre-encoded RRsets. [`DnsService::handle`]
//! answers one UDP query in place: it parses the question ([`query`]), resolves it the way NSD
//! does ([`resolve`]), writes the response over the query ([`respond`], [`writer`]) and turns
//! Ethernet/IP/UDP around. Nothing on that path allocates.
pub mod cache;
pub mod db;
pub mod encloser;
pub mod fast;
pub mod hash;
pub mod name;
pub mod offset_bodies;
pub mod prerender;
pub mod query;
pub mod resolve;
pub mod respond;
pub mod table;
pub mod tail;
pub mod turn;
pub mod under_apex;
pub mod wire;
pub mod writer;
pub mod zonefile;

use crate::config::DnsServiceConfig;
use crate::packet::checksum;
use crate::packet::parse::IPPROTO_UDP;
use crate::packet::{IpMeta, PacketBuffer};
use crate::snapshot::PortSnapshot;
use crate::verdict::{DropReason, Verdict};

use query::Parsed;
use wire::{
    CLASSIC_UDP_SIZE, CLASS_ANY, CLASS_CH, CLASS_IN, HEADER_LEN, OUR_UDP_SIZE, RCODE_FORMERR,
    RCODE_NOTIMP, RCODE_REFUSED, TYPE_ANY, TYPE_AXFR, TYPE_IXFR, TYPE_TXT,
};
use writer::Writer;

/// Per-worker DNS counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsCounters {
    /// Queries seen (UDP datagrams handed to the service).
    pub queries: u64,
    /// Responses sent.
    pub responses: u64,
    /// Responses by RCODE (0..=15; BADVERS counted under `badvers`).
    pub rcode: [u64; 16],
    /// BADVERS responses (EDNS version > 0).
    pub badvers: u64,
    /// Responses with TC set.
    pub truncated: u64,
    /// Referrals (delegations answered with AA clear).
    pub referrals: u64,
    /// Queries with EDNS.
    pub edns: u64,
    /// Queries dropped (not answered).
    pub dropped: u64,
}

/// A DNS service's compiled zones.
pub struct DnsService {
    /// Boxed: keeps the service small inside the snapshot's service enum.
    db: Box<db::Db>,
    identity: Vec<u8>,
    /// Answer what [`fast`] can from pre-rendered bytes (off only to compare the two paths).
    fast: bool,
    /// Unique to this build of the service: the key of its entries in workers'
    /// [`cache::PacketCache`]s, so no entry outlives the zones it was answered from.
    id: u64,
}

/// Counts a query and what became of it around `answer`.
#[inline(always)]
fn count(counters: &mut DnsCounters, answer: impl FnOnce(&mut DnsCounters) -> Verdict) -> Verdict {
    counters.queries += 1;
    let v = answer(counters);
    if let Verdict::Drop(_) = v {
        counters.dropped += 1;
    } else {
        counters.responses += 1;
    }
    v
}

/// The next [`DnsService`] id (0 marks an empty cache entry).
static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl std::fmt::Debug for DnsService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsService")
            .field("zones", &self.db.zones.len())
            .field("records", &self.db.record_count)
            .field("minimal_responses", &self.db.minimal)
            .finish()
    }
}

impl DnsService {
    /// Loads and compiles the service's zone files. Errors name the file and line.
    pub fn build(config: &DnsServiceConfig) -> Result<Self, String> {
        let mut zones = Vec::with_capacity(config.zones.len());
        for path in &config.zones {
            zones.push(zonefile::load(path)?);
        }
        Self::compile(&zones, &config.identity, config.minimal_responses)
    }

    /// Compiles zones already read (benchmarks and tests), for full responses.
    pub fn from_zones(zones: &[zonefile::LoadedZone], identity: &str) -> Result<Self, String> {
        Self::compile(zones, identity, false)
    }

    /// Compiles zones already read, for minimal responses when `minimal`.
    fn compile(
        zones: &[zonefile::LoadedZone],
        identity: &str,
        minimal: bool,
    ) -> Result<Self, String> {
        if identity.len() > 255 {
            return Err("identity is longer than 255 bytes".into());
        }
        Ok(Self {
            db: Box::new(db::Db::compile(zones, minimal)?),
            identity: identity.as_bytes().to_vec(),
            fast: true,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// The same service with the fast path ([`fast`]) turned off: every query takes the
    /// general resolver and encoder (tests and benchmarks compare the two).
    pub fn without_fast_path(mut self) -> Self {
        self.fast = false;
        self
    }

    /// Number of records loaded.
    pub fn record_count(&self) -> usize {
        self.db.record_count
    }

    /// Approximate heap bytes of the compiled zones.
    pub fn heap_bytes(&self) -> usize {
        self.db.heap_bytes()
    }

    /// Answers a UDP query in place: the frame becomes the response (Ethernet, IP and UDP turned
    /// around, lengths and checksums set) and the verdict is [`Verdict::Answer`]; queries that
    /// get no response are dropped with a reason.
    ///
    /// Out of line: [`DnsService::handle_cached`] calls it for what its cache does not answer,
    /// and the fast path's and resolver's code would crowd the cache hit's registers.
    #[inline(never)]
    pub fn handle<B: PacketBuffer>(
        &self,
        buf: &mut B,
        ip: &IpMeta,
        port: &PortSnapshot,
        counters: &mut DnsCounters,
    ) -> Verdict {
        count(counters, |c| self.handle_inner(buf, ip, port, c))
    }

    /// [`DnsService::handle`] with the worker's packet cache in front of the fast path
    /// ([`cache`]): the same frame, verdict and counters as without it.
    ///
    /// A hit is answered inline, in the caller; a miss goes to a function out of line
    /// ([`DnsService::handle`], or the miss handler that also stores the answer), so that the
    /// fast path's and resolver's code does not crowd the hit's registers.
    #[inline(always)]
    pub fn handle_cached<B: PacketBuffer>(
        &self,
        buf: &mut B,
        ip: &IpMeta,
        port: &PortSnapshot,
        counters: &mut DnsCounters,
        cache: &mut cache::PacketCache,
    ) -> Verdict {
        if !self.fast || ip.proto != IPPROTO_UDP || ip.fragment {
            return self.handle(buf, ip, port, counters);
        }
        match cache.lookup(self.id, buf, ip, &port.mac, counters) {
            cache::Lookup::Hit => count(counters, |_| Verdict::Answer),
            cache::Lookup::Miss(None) => self.handle(buf, ip, port, counters),
            cache::Lookup::Miss(Some(key)) => self.handle_miss(buf, ip, port, counters, cache, key),
        }
    }

    /// A query the cache did not answer but admits: the fast path (its answer stored under
    /// `key`), else the general path.
    #[inline(never)]
    fn handle_miss<B: PacketBuffer>(
        &self,
        buf: &mut B,
        ip: &IpMeta,
        port: &PortSnapshot,
        counters: &mut DnsCounters,
        cache: &mut cache::PacketCache,
        key: cache::Key,
    ) -> Verdict {
        count(counters, |counters| {
            let (edns, referrals) = (counters.edns, counters.referrals);
            match self.try_fast(buf, ip, port, counters) {
                Some(Verdict::Answer) => {
                    if let Some(resp) = buf.data().get(ip.l4 + 8..) {
                        let edns = counters.edns != edns;
                        let referral = counters.referrals != referrals;
                        cache.insert(self.id, &key, resp, edns, referral);
                    }
                    Verdict::Answer
                }
                Some(v) => v,
                None => self.general(buf, ip, port, counters),
            }
        })
    }

    fn handle_inner<B: PacketBuffer>(
        &self,
        buf: &mut B,
        ip: &IpMeta,
        port: &PortSnapshot,
        counters: &mut DnsCounters,
    ) -> Verdict {
        if ip.proto != IPPROTO_UDP {
            return Verdict::Drop(DropReason::Unsupported);
        }
        if ip.fragment {
            return Verdict::Drop(DropReason::Unsupported);
        }
        if self.fast {
            if let Some(v) = self.try_fast(buf, ip, port, counters) {
                return v;
            }
        }
        self.general(buf, ip, port, counters)
    }

    /// The general path: any UDP query (not a fragment), parsed, resolved and encoded in full.
    fn general<B: PacketBuffer>(
        &self,
        buf: &mut B,
        ip: &IpMeta,
        port: &PortSnapshot,
        counters: &mut DnsCounters,
    ) -> Verdict {
        let v6 = ip.src.is_ipv6();
        let l4 = ip.l4;
        let frame = buf.data();
        let Some(udp) = frame.get(l4..l4 + ip.l4_len) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        let Some(udp_len) = wire::get_u16(udp, 4).map(usize::from) else {
            return Verdict::Drop(DropReason::Malformed);
        };
        if udp_len < 8 || udp_len > udp.len() {
            return Verdict::Drop(DropReason::Malformed);
        }
        let udp = &udp[..udp_len];
        let sum = wire::get_u16(udp, 6).unwrap_or(0);
        if sum != 0 || v6 {
            // Zero means "no checksum" for IPv4 only (RFC 768; RFC 8200 §8.1).
            if sum == 0 || checksum::finish(checksum::sum(pseudo(frame, ip, udp_len), udp)) != 0 {
                return Verdict::Drop(DropReason::BadChecksum);
            }
        }
        let src_port = wire::get_u16(udp, 0).unwrap_or(0);
        if src_port == 0 {
            return Verdict::Drop(DropReason::Malformed);
        }
        let msg_at = l4 + 8;
        let frame = buf.data();
        let udp = &frame[l4..l4 + udp_len];
        let parsed = query::parse(&udp[8..]);
        if let Parsed::Drop = parsed {
            return Verdict::Drop(DropReason::Malformed);
        }
        // Room for the response: the client's limit, within the buffer's tailroom.
        let max = match &parsed {
            Parsed::Query(q) => match q.edns {
                Some(e) => usize::from(e.udp_size.clamp(CLASSIC_UDP_SIZE as u16, OUR_UDP_SIZE)),
                None => CLASSIC_UDP_SIZE,
            },
            _ => CLASSIC_UDP_SIZE,
        };
        let have = buf.len() + buf.tailroom();
        let want = (msg_at + max).min(have);
        if want < msg_at + HEADER_LEN || buf.set_len(want).is_err() {
            return Verdict::Drop(DropReason::NoRoom);
        }
        let Some(msg) = buf.data_mut().get_mut(msg_at..) else {
            return Verdict::Drop(DropReason::NoRoom);
        };
        let limit = msg.len();
        let mut w = Writer::new(msg, HEADER_LEN, limit);
        self.respond(&mut w, &parsed, counters);
        let msg_len = w.pos;
        if buf.set_len(msg_at + msg_len).is_err() {
            return Verdict::Drop(DropReason::NoRoom);
        }
        finish_headers(buf.data_mut(), ip, port, msg_len, None);
        Verdict::Answer
    }

    /// The fast path: `None`, with the frame untouched, when the general path must answer
    /// (it then checks the datagram again and drops what is malformed). It checks the UDP
    /// checksum itself, from the sums of the message's pieces, and builds the response's from
    /// them. Out of line: inlined, every early `None` reloaded the general path's arguments
    /// into registers first, and the register pressure spilled more of its own values.
    #[inline(never)]
    fn try_fast<B: PacketBuffer>(
        &self,
        buf: &mut B,
        ip: &IpMeta,
        port: &PortSnapshot,
        counters: &mut DnsCounters,
    ) -> Option<Verdict> {
        let l4 = ip.l4;
        let frame = buf.data();
        let udp = frame.get(l4..l4 + ip.l4_len)?;
        let udp_len = usize::from(wire::get_u16(udp, 4)?);
        let udp = udp.get(..udp_len)?;
        let msg = udp.get(8..)?;
        let q = fast::parse(msg)?;
        let q_end = q.q_end();
        let head_sum = checksum::sum(0, msg.get(..q_end)?);
        let addrs = turn::addr_sum(frame, ip)?;
        let ports = turn::port_sum(frame, l4)?;
        let sum = wire::get_u16(udp, 6)?;
        let v6 = ip.src.is_ipv6();
        if sum != 0 || v6 {
            // Zero means "no checksum" for IPv4 only (RFC 768; RFC 8200 §8.1).
            let rest = match msg.get(q_end..)? {
                [] => 0,
                rest => {
                    let s = tail::fold16(checksum::sum(0, rest));
                    u32::from(if q_end & 1 == 0 { s } else { s.swap_bytes() })
                }
            };
            if sum == 0 || !turn::udp_checksum_ok(addrs, ports, udp_len, sum, head_sum + rest) {
                return Some(Verdict::Drop(DropReason::BadChecksum));
            }
        }
        if udp[..2] == [0, 0] {
            return None; // source port 0: the general path drops it
        }
        let len = frame.len();
        let sums = (head_sum, addrs, ports);
        // Four calls of the same inlined sender: the common answer's and the NXDOMAIN's under
        // an apex get their bodies' kind and headers folded in, the shortcuts' their kind.
        match fast::find(&self.db, &q, msg)? {
            fast::Found::Full(a) => self.send_fast(buf, ip, port, counters, &q, &a, len, sums),
            fast::Found::NxUnderApex(a) => {
                self.send_fast(buf, ip, port, counters, &q, &a, len, sums)
            }
            fast::Found::Below(a) => self.send_fast(buf, ip, port, counters, &q, &a, len, sums),
            fast::Found::Node(idx, exact) => {
                let a = fast::plan_at(&self.db, &q, msg, idx, exact)?;
                self.send_fast(buf, ip, port, counters, &q, &a, len, sums)
            }
        }
    }

    /// Writes the fast path's `answer` to `q` over the query in `buf` (`len` bytes long) and
    /// turns the frame around; `sums` are the query's header-and-question, address and port
    /// sums. `None` when the answer does not fit (found before the frame is touched).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn send_fast<B: PacketBuffer>(
        &self,
        buf: &mut B,
        ip: &IpMeta,
        port: &PortSnapshot,
        counters: &mut DnsCounters,
        q: &fast::FastQuery,
        answer: &fast::Answer<'_>,
        len: usize,
        (head_sum, addrs, ports): (u32, u32, u32),
    ) -> Option<Verdict> {
        let msg_at = ip.l4 + 8;
        let room = (len + buf.tailroom()).checked_sub(msg_at)?;
        let total = answer.fits(q, room)?;
        turn::resize(buf, len, msg_at + total)?;
        let frame = buf.data_mut();
        let msg = frame.get_mut(msg_at..msg_at + total)?;
        let (msg_len, rcode, msg_sum) = answer.write(q, msg, head_sum)?;
        if q.has_edns() {
            counters.edns += 1;
        }
        counters.rcode[usize::from(rcode & 0xf)] += 1;
        if answer.flags & wire::FLAG_AA == 0 {
            counters.referrals += 1; // the only answers the fast path sends without AA
        }
        let udp_len = 8 + msg_len;
        let c = turn::udp_checksum(addrs, ports, udp_len, msg_sum);
        let _ = turn::turn(frame, ip, &port.mac, udp_len, c, addrs);
        Some(Verdict::Answer)
    }

    /// Writes the response for a parsed message.
    fn respond(&self, w: &mut Writer<'_>, parsed: &Parsed, counters: &mut DnsCounters) {
        let flags = w.get_u16(2);
        let q = match parsed {
            Parsed::Drop => return,
            &Parsed::FormErr { clear_flags } => {
                // NSD's query_formerr: RD kept (unless the flags are cleared), opcode kept.
                let keep = if clear_flags {
                    0
                } else {
                    flags & wire::FLAG_RD
                };
                respond::error_response(w, keep | (flags & 0x7800), RCODE_FORMERR);
                counters.rcode[usize::from(RCODE_FORMERR)] += 1;
                return;
            }
            Parsed::NotImp => {
                respond::error_response(w, flags & !wire::FLAG_TC, RCODE_NOTIMP);
                counters.rcode[usize::from(RCODE_NOTIMP)] += 1;
                return;
            }
            Parsed::Query(q) => q,
        };
        if q.edns.is_some() {
            counters.edns += 1;
        }
        if let Some(e) = q.edns.filter(|e| e.version > 0) {
            // RFC 6891 §6.1.3: BADVERS, extended RCODE 1, header RCODE 0; the question is kept
            // (as NSD 4.6 does).
            respond::error_response(w, flags, 0);
            w.set_u16(4, 1);
            w.pos = q.question_end;
            let opt = respond::OptOut {
                ext_rcode: 1,
                dnssec_ok: e.dnssec_ok,
                nsid: None,
                ede: None,
            };
            w.limit = w.limit.max(HEADER_LEN + respond::OPT_LEN);
            respond::write_opt(w, &opt);
            counters.badvers += 1;
            return;
        }
        let opt = respond::opt_for(&q.edns, &self.identity, 0);
        let reserve = opt.map_or(0, |o| o.wire_len());
        let full_limit = w.limit;
        w.limit = full_limit.saturating_sub(reserve);
        let rcode = match q.qclass {
            CLASS_IN | CLASS_ANY if q.qtype == TYPE_AXFR || q.qtype == TYPE_IXFR => {
                // Zone transfers need TCP (RFC 5936 §4.2): not over this path.
                respond::error_response(w, flags, RCODE_REFUSED);
                RCODE_REFUSED
            }
            CLASS_IN | CLASS_ANY => {
                let mut plan = resolve::Plan::new();
                let class_any = q.qclass == CLASS_ANY;
                resolve::resolve(&self.db, q.qname(), q.qtype, class_any, &mut plan);
                if respond::encode_answer(w, &self.db, q, &mut plan) {
                    counters.truncated += 1;
                }
                if !plan.aa && plan.rcode == 0 && plan.len > 0 {
                    counters.referrals += 1;
                }
                plan.rcode
            }
            CLASS_CH => {
                let is_id = matches!(
                    q.qname(),
                    b"\x02id\x06server\x00" | b"\x08hostname\x04bind\x00"
                );
                let answer = is_id && (q.qtype == TYPE_TXT || q.qtype == TYPE_ANY);
                if respond::encode_chaos(w, q, &self.identity, answer) {
                    counters.truncated += 1;
                }
                if answer {
                    0
                } else {
                    RCODE_REFUSED
                }
            }
            _ => {
                respond::error_response(w, flags, RCODE_REFUSED);
                RCODE_REFUSED
            }
        };
        counters.rcode[usize::from(rcode & 0xf)] += 1;
        w.limit = full_limit;
        if let Some(mut o) = opt {
            // RFC 8914 Extended DNS Errors on REFUSED, as NSD 4.6 sends them.
            if rcode == RCODE_REFUSED {
                let version = matches!(
                    q.qname(),
                    b"\x07version\x06server\x00" | b"\x07version\x04bind\x00"
                ) && (q.qtype == TYPE_TXT || q.qtype == TYPE_ANY);
                o.ede = Some(match q.qclass {
                    // The version is not disclosed: 18, Prohibited (RFC 8914 §4.19).
                    CLASS_CH if version => wire::EDE_PROHIBITED,
                    CLASS_CH => wire::EDE_NOT_SUPPORTED,
                    _ => wire::EDE_NOT_AUTHORITATIVE,
                });
            }
            respond::write_opt(w, &o);
        }
    }
}

/// The pseudo-header sum of the received datagram (addresses as received), folded to at most
/// 17 bits like [`checksum::sum`].
#[inline]
fn pseudo(frame: &[u8], ip: &IpMeta, udp_len: usize) -> u32 {
    let l3 = ip.l3;
    let addrs = if ip.src.is_ipv6() {
        frame.get(l3 + 8..l3 + 40)
    } else {
        frame.get(l3 + 12..l3 + 20)
    };
    let len = udp_len as u32;
    checksum::sum(0, addrs.unwrap_or(&[])) + u32::from(IPPROTO_UDP) + (len >> 16) + (len & 0xffff)
}

/// Turns Ethernet/IP/UDP around for a `msg_len`-byte response and sets lengths and checksums.
/// The caller checked every offset against the frame when it parsed the query.
/// `msg_sum` is the one's-complement sum of the message when the caller has it already.
fn finish_headers(
    frame: &mut [u8],
    ip: &IpMeta,
    port: &PortSnapshot,
    msg_len: usize,
    msg_sum: Option<u32>,
) {
    let l4 = ip.l4;
    let udp_len = 8 + msg_len;
    if frame.len() < l4 + udp_len {
        return;
    }
    let (Some(addrs), Some(ports)) = (turn::addr_sum(frame, ip), turn::port_sum(frame, l4)) else {
        return;
    };
    let msg = msg_sum.unwrap_or_else(|| checksum::sum(0, &frame[l4 + 8..l4 + udp_len]));
    let c = turn::udp_checksum(addrs, ports, udp_len, msg);
    let _ = turn::turn(frame, ip, &port.mac, udp_len, c, addrs);
}

#[cfg(test)]
mod tests;
