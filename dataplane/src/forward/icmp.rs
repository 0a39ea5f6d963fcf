//! ICMP errors about forwarded flows (IPv4 destination unreachable, incl. fragmentation needed;
//! ICMPv6 destination unreachable and packet too big) go to the flow's backend.
//!
//! A router on the client's path quotes the packet it could not deliver: a reply the backend
//! sent from the VIP to the client. Reversing the quoted tuple gives the flow's own key, so the
//! flow table (or Maglev, without inserting) picks the same backend as the flow, and the whole
//! ICMP packet is encapsulated to it like the flow's packets.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::service::flow_key;
use super::WorkerForwardState;
use crate::config::Protocol;
use crate::packet::parse::{IPPROTO_TCP, IPPROTO_UDP};
use crate::packet::{IpMeta, PacketBuffer};
use crate::snapshot::{PortSnapshot, ServiceRuntime, Snapshot};
use crate::verdict::{DropReason, Verdict};

/// The quoted packet's addresses, protocol and ports, as quoted (VIP → client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoted {
    /// Quoted source (the VIP).
    pub src: IpAddr,
    /// Quoted destination (the client).
    pub dst: IpAddr,
    /// TCP or UDP.
    pub proto: u8,
    /// Quoted source port (the service port).
    pub sport: u16,
    /// Quoted destination port (the client's).
    pub dport: u16,
}

/// True when the ICMP message `msg` (from its type byte on) is an error we route: destination
/// unreachable (v4/v6) or packet too big (v6).
#[inline]
fn is_error_type(msg: &[u8], v6: bool) -> bool {
    match msg.first() {
        Some(&t) if v6 => t == 1 || t == 2,
        Some(&t) => t == 3,
        None => false,
    }
}

/// Reads the quoted packet of an ICMP error message `msg` (from its type byte on). `None` when
/// it is not an error we route or quotes no TCP/UDP header.
///
/// Always inlined: returned through memory, its narrow stores of the addresses are read back
/// with wide loads right away, which stalls store-to-load forwarding (a quarter of routing an
/// error went there).
#[inline(always)]
pub fn quoted(msg: &[u8], v6: bool) -> Option<Quoted> {
    if msg.len() < 8 || !is_error_type(msg, v6) {
        return None;
    }
    let inner = &msg[8..];
    let (src, dst, proto, l4) = if v6 {
        if inner.len() < 48 || inner[0] >> 4 != 6 {
            return None;
        }
        let mut s = [0u8; 16];
        let mut d = [0u8; 16];
        s.copy_from_slice(&inner[8..24]);
        d.copy_from_slice(&inner[24..40]);
        (
            IpAddr::V6(Ipv6Addr::from(s)),
            IpAddr::V6(Ipv6Addr::from(d)),
            inner[6],
            40,
        )
    } else {
        if inner.len() < 20 || inner[0] >> 4 != 4 {
            return None;
        }
        let ihl = usize::from(inner[0] & 0x0f) * 4;
        if ihl < 20 || inner.len() < ihl + 8 {
            return None;
        }
        (
            IpAddr::V4(Ipv4Addr::new(inner[12], inner[13], inner[14], inner[15])),
            IpAddr::V4(Ipv4Addr::new(inner[16], inner[17], inner[18], inner[19])),
            inner[9],
            ihl,
        )
    };
    if proto != IPPROTO_TCP && proto != IPPROTO_UDP {
        return None;
    }
    let p = inner.get(l4..l4 + 4)?;
    Some(Quoted {
        src,
        dst,
        proto,
        sport: u16::from_be_bytes([p[0], p[1]]),
        dport: u16::from_be_bytes([p[2], p[3]]),
    })
}

/// Forwards an ICMP error addressed to one of our addresses that quotes a packet of a forward
/// service's flow. `None` when the packet is not such an error (the caller handles it).
///
/// The type test is inlined into the caller: most ICMP is echo and NDP, and pays only for it.
#[inline]
pub fn forward_error<B: PacketBuffer>(
    buf: &mut B,
    ip: &IpMeta,
    port: &PortSnapshot,
    snap: &Snapshot,
    state: &mut WorkerForwardState,
    now_ms: u64,
) -> Option<Verdict> {
    let v6 = matches!(ip.dst, IpAddr::V6(_));
    if !is_error_type(buf.data().get(ip.l4..)?, v6) {
        return None;
    }
    route_error(buf, ip, port, snap, state, now_ms)
}

/// [`forward_error`] for a message of an error type.
fn route_error<B: PacketBuffer>(
    buf: &mut B,
    ip: &IpMeta,
    port: &PortSnapshot,
    snap: &Snapshot,
    state: &mut WorkerForwardState,
    now_ms: u64,
) -> Option<Verdict> {
    let v6 = matches!(ip.dst, IpAddr::V6(_));
    let msg = buf.data().get(ip.l4..ip.l4 + ip.l4_len)?;
    // Cheapest test first: most ICMP is echo (and NDP), not an error.
    if !is_error_type(msg, v6) || ip.fragment || !port.local.has(&ip.dst) {
        return None;
    }
    let q = quoted(msg, v6)?;
    let proto = if q.proto == IPPROTO_UDP {
        Protocol::Udp
    } else {
        Protocol::Tcp
    };
    let idx = snap.table.lookup(&q.src, proto, q.sport)?;
    let ServiceRuntime::Forward(f) = &snap.services.get(idx)?.runtime else {
        return None;
    };
    // The flow's own key: client → VIP.
    let key = flow_key(&q.dst, &q.src, q.dport, q.sport, q.proto);
    let hash = key.hash();
    state.counters.icmp_errors += 1;
    Some(match f.pick(&key, hash, None, false, state, now_ms) {
        Some(b) => f.deliver(buf, ip, port, b, hash, state, now_ms),
        None => {
            state.counters.no_backend += 1;
            Verdict::Drop(DropReason::NoBackend)
        }
    })
}

/// The smallest IP packet of the family (its fixed header).
#[inline]
fn hlen_min(v6: bool) -> usize {
    if v6 {
        40
    } else {
        20
    }
}

/// Largest ICMPv4 error we send (RFC 1812 §4.3.2.3: no more than 576 bytes).
const ICMP4_MAX: usize = 576;
/// Largest ICMPv6 error we send (RFC 4443 §2.4(c): no more than the minimum MTU).
const ICMP6_MAX: usize = 1280;

/// Rewrites the IP packet in `buf` (at [`crate::packet::parse::ETH_HLEN`], described by `ip`)
/// into an ICMP "fragmentation needed" (IPv4, only when DF is set) or ICMPv6 "packet too big"
/// back to its sender, from the address it was sent to, advertising `mtu`. Returns false (and
/// leaves the packet to be dropped) when that is not allowed or does not fit.
pub fn write_too_big<B: PacketBuffer>(
    buf: &mut B,
    ip: &IpMeta,
    our_mac: &crate::snapshot::Mac,
    mtu: u16,
) -> bool {
    use crate::packet::checksum;
    use crate::packet::parse::{ETH_HLEN, IPPROTO_ICMP, IPPROTO_ICMPV6};
    let v6 = matches!(ip.src, IpAddr::V6(_));
    let frame = buf.data();
    let orig_len = ip.l4.saturating_sub(ip.l3) + ip.l4_len;
    if ip.l3 != ETH_HLEN || orig_len < hlen_min(v6) || frame.len() < ETH_HLEN + orig_len {
        return false;
    }
    if !v6 && (frame[ETH_HLEN + 6] & 0x40 == 0 || ip.fragment) {
        // No DF: the sender allows fragmentation, which we do not do; drop instead.
        return false;
    }
    let hlen = if v6 { 40 } else { 20 };
    let max = if v6 { ICMP6_MAX } else { ICMP4_MAX };
    let quote = orig_len.min(max - hlen - 8);
    if buf.set_len(ETH_HLEN + orig_len).is_err() || buf.prepend(hlen + 8).is_err() {
        return false;
    }
    let total = hlen + 8 + quote;
    let f = buf.data_mut();
    // Ethernet: back to the sender's MAC, from ours (the old header now sits at hlen + 8).
    let mut eth = [0u8; ETH_HLEN];
    eth.copy_from_slice(&f[hlen + 8..hlen + 8 + ETH_HLEN]);
    f[0..6].copy_from_slice(&eth[6..12]);
    f[6..12].copy_from_slice(our_mac);
    f[12..14].copy_from_slice(&eth[12..14]);
    // Old source/destination addresses, from the quoted header.
    let q = ETH_HLEN + hlen + 8;
    let ipb = ETH_HLEN;
    if v6 {
        let mut src = [0u8; 16];
        let mut dst = [0u8; 16];
        src.copy_from_slice(&f[q + 24..q + 40]); // the VIP
        dst.copy_from_slice(&f[q + 8..q + 24]); // the client
        let h = &mut f[ipb..ipb + 40];
        h[0..4].copy_from_slice(&[0x60, 0, 0, 0]);
        h[4..6].copy_from_slice(&((8 + quote) as u16).to_be_bytes());
        h[6] = IPPROTO_ICMPV6;
        h[7] = 64;
        h[8..24].copy_from_slice(&src);
        h[24..40].copy_from_slice(&dst);
        let m = &mut f[ipb + 40..ipb + 48];
        m.copy_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0]);
        m[4..8].copy_from_slice(&u32::from(mtu).to_be_bytes());
        // The message header's words (type 2, code 0; the MTU) added as values: reading back
        // bytes just written with narrow stores stalls store-to-load forwarding.
        let acc = checksum::pseudo_v6(&src, &dst, IPPROTO_ICMPV6, (8 + quote) as u32)
            + 0x0200
            + u32::from(mtu);
        let c = checksum::finish(checksum::sum(acc, &f[ipb + 48..ipb + total]));
        f[ipb + 42..ipb + 44].copy_from_slice(&c.to_be_bytes());
    } else {
        let mut src = [0u8; 4];
        let mut dst = [0u8; 4];
        src.copy_from_slice(&f[q + 16..q + 20]);
        dst.copy_from_slice(&f[q + 12..q + 16]);
        let h = &mut f[ipb..ipb + 20];
        h[0] = 0x45;
        h[1] = 0;
        h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        h[4..8].copy_from_slice(&[0, 0, 0, 0]);
        h[8] = 64;
        h[9] = IPPROTO_ICMP;
        h[10..12].fill(0);
        h[12..16].copy_from_slice(&src);
        h[16..20].copy_from_slice(&dst);
        // Both sums take the headers just written as values, not from the frame (see above):
        // version/IHL, length, TTL/protocol and the addresses; type 3 code 4 and the MTU.
        let acc = checksum::pseudo_v4(&src, &dst, 0, 0)
            + 0x4500
            + total as u32
            + (64 << 8 | u32::from(IPPROTO_ICMP));
        h[10..12].copy_from_slice(&checksum::finish(acc).to_be_bytes());
        let m = &mut f[ipb + 20..ipb + 28];
        m.copy_from_slice(&[3, 4, 0, 0, 0, 0, 0, 0]);
        m[6..8].copy_from_slice(&mtu.to_be_bytes());
        let acc = 0x0304 + u32::from(mtu);
        let c = checksum::finish(checksum::sum(acc, &f[ipb + 28..ipb + total]));
        f[ipb + 22..ipb + 24].copy_from_slice(&c.to_be_bytes());
    }
    buf.set_len(ETH_HLEN + total).is_ok()
}

#[cfg(test)]
mod tests;
