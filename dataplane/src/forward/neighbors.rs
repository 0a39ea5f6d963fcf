//! Per-worker neighbour cache (ARP for IPv4, NDP for IPv6 next hops), preallocated and lock-free.
//!
//! Design: a worker only ever rewrites the packet it holds, so when a next hop is unknown (or its
//! entry is due for a refresh) the packet that needed it is **turned into the ARP request or
//! Neighbor Solicitation** for it and sent back out of the port it came in on
//! ([`crate::verdict::Verdict::Answer`]); that packet is lost and counted as unresolved, and
//! further packets to the same next hop are dropped as `NextHopUnresolved` until the answer is
//! learned, with one new request per next hop per [`RETRY_MS`]. A learned entry is used for
//! [`REACHABLE_MS`]; after that one packet per [`RETRY_MS`] becomes a refresh request while the
//! old MAC keeps being used, for up to [`STALE_MS`] more; then the entry is unresolved again.
//!
//! Answers are learned from ARP packets and Neighbor Advertisements (Target Link-Layer Address)
//! or Solicitations (Source Link-Layer Address) seen by the pipeline, but only for addresses
//! already in the cache (RFC 826's merge rule): unsolicited traffic cannot fill it.
//!
//! The runtime can avoid losing those packets: [`crate::forward::WorkerForwardState::solicit`]
//! writes the next due request into a spare buffer (unknown next hops of the snapshot's
//! backends, and refreshes ahead of time), to be sent from the worker's idle loop.
//!
//! The cache is per worker: an answer that arrives on another worker's queue is not seen here.
//! The runtime can share what one worker learns with [`NeighborCache::learn`] on the others.
use crate::answer::arp;
use crate::packet::checksum;
use crate::packet::parse::{ETH_HLEN, IPPROTO_ICMPV6};
use crate::packet::{IpMeta, PacketBuffer};
use crate::snapshot::Mac;

/// Slots in the cache (a power of two).
pub const NEIGHBOR_SLOTS: usize = 256;
/// Slots probed for a key.
const PROBE: usize = 8;
/// How long a learned MAC is used without asking again (ms).
pub const REACHABLE_MS: u64 = 60_000;
/// How much longer a MAC is used while refresh requests go unanswered (ms).
pub const STALE_MS: u64 = 120_000;
/// Least time between two requests for the same next hop (ms).
pub const RETRY_MS: u64 = 1_000;
/// How long before going stale [`NeighborCache::due`] asks again (ms).
pub const REFRESH_AHEAD_MS: u64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Empty,
    Incomplete,
    Reachable,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    ip: [u8; 16],
    v6: bool,
    state: State,
    mac: Mac,
    confirmed_ms: u64,
    requested_ms: u64,
}

const EMPTY: Entry = Entry {
    ip: [0; 16],
    v6: false,
    state: State::Empty,
    mac: [0; 6],
    confirmed_ms: 0,
    requested_ms: 0,
};

/// What the cache says about a next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Use this MAC.
    Mac(Mac),
    /// Use of this MAC is due for a refresh: send a request now (the MAC is still valid).
    Refresh(Mac),
    /// Unknown: send a request now.
    Request,
    /// Unknown and a request is in flight: drop.
    Wait,
}

/// A worker's neighbour cache.
#[derive(Debug, Clone)]
pub struct NeighborCache {
    /// A fixed-size array: a `u8` hint indexes it without a bounds check.
    slots: Box<[Entry; NEIGHBOR_SLOTS]>,
}

impl Default for NeighborCache {
    fn default() -> Self {
        Self::new()
    }
}

#[inline]
fn slot_of(ip: &[u8; 16], v6: bool) -> usize {
    let mut a = [0u8; 8];
    let mut b = [0u8; 8];
    a.copy_from_slice(&ip[..8]);
    b.copy_from_slice(&ip[8..]);
    // One multiply: next hops are few and not chosen by an attacker.
    let x = u64::from_le_bytes(a) ^ u64::from_le_bytes(b).rotate_left(29) ^ u64::from(v6);
    (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as usize & (NEIGHBOR_SLOTS - 1)
}

impl NeighborCache {
    /// An empty cache of [`NEIGHBOR_SLOTS`] entries.
    pub fn new() -> Self {
        Self {
            slots: Box::new([EMPTY; NEIGHBOR_SLOTS]),
        }
    }

    #[inline]
    fn find(&self, ip: &[u8; 16], v6: bool) -> Option<usize> {
        let s = slot_of(ip, v6);
        for i in (0..PROBE).map(|i| (s + i) & (NEIGHBOR_SLOTS - 1)) {
            let e = &self.slots[i];
            // A probe window fills front to back (`resolve` takes its first empty slot) and a
            // slot never becomes empty again: past an empty slot the address cannot be. Most
            // lookups that miss (NDP/ARP from clients, learned only if asked for) stop here.
            if e.state == State::Empty {
                return None;
            }
            if e.v6 == v6 && e.ip == *ip {
                return Some(i);
            }
        }
        None
    }

    /// The slot `ip` is looked for first: pass it to [`NeighborCache::resolve_hinted`] (computed
    /// once per backend when its service is built).
    #[inline]
    pub fn hint(ip: &[u8; 16], v6: bool) -> u8 {
        slot_of(ip, v6) as u8
    }

    /// [`NeighborCache::resolve`] with the entry's home slot `hint` ([`NeighborCache::hint`])
    /// known: a fresh entry there is answered with one compare of the slot; anything else
    /// takes the full path.
    #[inline]
    pub fn resolve_hinted(&mut self, ip: &[u8; 16], v6: bool, hint: u8, now_ms: u64) -> Resolution {
        const _: () = assert!(NEIGHBOR_SLOTS == 256, "a u8 hint indexes every slot");
        let e = &self.slots[usize::from(hint)];
        if e.state == State::Reachable
            && e.ip == *ip
            && e.v6 == v6
            && now_ms.saturating_sub(e.confirmed_ms) < REACHABLE_MS
        {
            return Resolution::Mac(e.mac);
        }
        self.resolve_slow(ip, v6, now_ms)
    }

    #[inline(never)]
    fn resolve_slow(&mut self, ip: &[u8; 16], v6: bool, now_ms: u64) -> Resolution {
        self.resolve(ip, v6, now_ms)
    }

    /// Resolves `ip`, creating an incomplete entry (and asking for a request) when unknown.
    #[inline]
    pub fn resolve(&mut self, ip: &[u8; 16], v6: bool, now_ms: u64) -> Resolution {
        let Some(i) = self.find(ip, v6) else {
            // Take an empty slot in the probe window, else the least recently useful one.
            let s = slot_of(ip, v6);
            let victim = (0..PROBE)
                .map(|i| (s + i) & (NEIGHBOR_SLOTS - 1))
                .min_by_key(|&i| {
                    let e = &self.slots[i];
                    if e.state == State::Empty {
                        (0, 0)
                    } else {
                        (1, e.confirmed_ms.max(e.requested_ms))
                    }
                })
                .unwrap_or(s);
            self.slots[victim] = Entry {
                ip: *ip,
                v6,
                state: State::Incomplete,
                mac: [0; 6],
                confirmed_ms: 0,
                requested_ms: now_ms,
            };
            return Resolution::Request;
        };
        let e = &mut self.slots[i];
        let may_ask = now_ms.saturating_sub(e.requested_ms) >= RETRY_MS;
        if e.state == State::Reachable {
            let age = now_ms.saturating_sub(e.confirmed_ms);
            if age < REACHABLE_MS {
                return Resolution::Mac(e.mac);
            }
            if age < REACHABLE_MS + STALE_MS {
                if may_ask {
                    e.requested_ms = now_ms;
                    return Resolution::Refresh(e.mac);
                }
                return Resolution::Mac(e.mac);
            }
            e.state = State::Incomplete;
        }
        if may_ask {
            e.requested_ms = now_ms;
            Resolution::Request
        } else {
            Resolution::Wait
        }
    }

    /// Proactive resolution, off the hot path: true when a request for `ip` should be sent now
    /// (unknown, unanswered for [`RETRY_MS`], or within [`REFRESH_AHEAD_MS`] of going stale),
    /// and records that it was. With this called regularly, the hot path never has to give up
    /// a packet to ask.
    pub fn due(&mut self, ip: &[u8; 16], v6: bool, now_ms: u64) -> bool {
        let Some(i) = self.find(ip, v6) else {
            return self.resolve(ip, v6, now_ms) == Resolution::Request;
        };
        let e = &mut self.slots[i];
        let may_ask = now_ms.saturating_sub(e.requested_ms) >= RETRY_MS;
        let fresh = e.state == State::Reachable
            && now_ms.saturating_sub(e.confirmed_ms) + REFRESH_AHEAD_MS < REACHABLE_MS;
        if may_ask && !fresh {
            e.requested_ms = now_ms;
            true
        } else {
            false
        }
    }

    /// Records `mac` for `ip` if `ip` is in the cache (we asked for it). Returns whether it was.
    pub fn learn(&mut self, ip: &[u8; 16], v6: bool, mac: Mac, now_ms: u64) -> bool {
        if mac[0] & 1 != 0 || mac == [0; 6] {
            return false;
        }
        match self.find(ip, v6) {
            Some(i) => {
                let e = &mut self.slots[i];
                e.state = State::Reachable;
                e.mac = mac;
                e.confirmed_ms = now_ms;
                true
            }
            None => false,
        }
    }

    /// Learns from an ARP frame (request or reply): the sender's address and MAC.
    pub fn learn_arp(&mut self, frame: &[u8], now_ms: u64) -> bool {
        match arp::parse(frame) {
            Ok(f) => self.learn(&v4_in_16(f.spa), false, f.sha, now_ms),
            Err(_) => false,
        }
    }

    /// Learns from an ICMPv6 Neighbor Advertisement (target and its Target Link-Layer Address
    /// option) or Neighbor Solicitation (source and its Source Link-Layer Address option).
    pub fn learn_ndp(&mut self, frame: &[u8], ip: &IpMeta, now_ms: u64) -> bool {
        if ip.proto != IPPROTO_ICMPV6 || ip.ttl != 255 {
            return false;
        }
        let Some(msg) = frame.get(ip.l4..ip.l4 + ip.l4_len) else {
            return false;
        };
        if msg.len() < 24 || msg[1] != 0 {
            return false;
        }
        let (addr, want_opt) = match (msg[0], ip.src) {
            (136, _) => {
                let mut t = [0u8; 16];
                t.copy_from_slice(&msg[8..24]);
                (t, 2u8)
            }
            (135, std::net::IpAddr::V6(src)) if !src.is_unspecified() => (src.octets(), 1u8),
            _ => return false,
        };
        let mut opts = &msg[24..];
        while opts.len() >= 8 {
            let len = usize::from(opts[1]) * 8;
            if len == 0 || len > opts.len() {
                return false;
            }
            if opts[0] == want_opt && len == 8 {
                let mut mac = [0u8; 6];
                mac.copy_from_slice(&opts[2..8]);
                return self.learn(&addr, true, mac, now_ms);
            }
            opts = &opts[len..];
        }
        false
    }
}

/// An IPv4 address in the 16-byte form used by keys (first 4 bytes, rest zero).
#[inline]
pub fn v4_in_16(a: [u8; 4]) -> [u8; 16] {
    let mut o = [0u8; 16];
    o[..4].copy_from_slice(&a);
    o
}

/// Rewrites `buf` into a broadcast ARP request from `our_mac`/`spa` for `tpa` (60 bytes).
pub fn write_arp_request<B: PacketBuffer>(
    buf: &mut B,
    our_mac: &Mac,
    spa: [u8; 4],
    tpa: [u8; 4],
) -> bool {
    if buf.set_len(60).is_err() {
        return false;
    }
    let f = buf.data_mut();
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(our_mac);
    f[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    let a = &mut f[ETH_HLEN..];
    a[0..8].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    a[8..14].copy_from_slice(our_mac);
    a[14..18].copy_from_slice(&spa);
    a[18..24].fill(0);
    a[24..28].copy_from_slice(&tpa);
    a[28..].fill(0);
    true
}

/// Rewrites `buf` into a Neighbor Solicitation from `our_mac`/`src` for `target`, sent to the
/// target's solicited-node multicast address, with a Source Link-Layer Address option.
pub fn write_neighbor_solicitation<B: PacketBuffer>(
    buf: &mut B,
    our_mac: &Mac,
    src: [u8; 16],
    target: [u8; 16],
) -> bool {
    const LEN: usize = ETH_HLEN + 40 + 32;
    if buf.set_len(LEN).is_err() {
        return false;
    }
    let mut dst = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0];
    dst[13..].copy_from_slice(&target[13..]);
    let f = buf.data_mut();
    f[0..6].copy_from_slice(&[0x33, 0x33, dst[12], dst[13], dst[14], dst[15]]);
    f[6..12].copy_from_slice(our_mac);
    f[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    let ip = &mut f[ETH_HLEN..];
    ip[0..4].copy_from_slice(&[0x60, 0, 0, 0]);
    ip[4..6].copy_from_slice(&32u16.to_be_bytes());
    ip[6] = IPPROTO_ICMPV6;
    ip[7] = 255;
    ip[8..24].copy_from_slice(&src);
    ip[24..40].copy_from_slice(&dst);
    let m = &mut ip[40..72];
    m[0..8].copy_from_slice(&[135, 0, 0, 0, 0, 0, 0, 0]);
    m[8..24].copy_from_slice(&target);
    m[24..26].copy_from_slice(&[1, 1]);
    m[26..32].copy_from_slice(our_mac);
    let acc = checksum::pseudo_v6(&src, &dst, IPPROTO_ICMPV6, 32);
    let c = checksum::finish(checksum::sum(acc, m));
    m[2..4].copy_from_slice(&c.to_be_bytes());
    true
}

#[cfg(test)]
mod tests;
