//! ICMPv6 for our IPv6 addresses: Neighbor Solicitations are answered by [`super::ndp`], echo
//! requests (RFC 4443 §4.1) become echo replies in place. Everything else is a counted drop.
use super::{ndp, reply_ethernet};
use crate::packet::checksum;
use crate::packet::parse::IPPROTO_ICMPV6;
use crate::packet::{IpMeta, PacketBuffer};
use crate::snapshot::PortSnapshot;
use crate::verdict::{DropReason, Verdict};

/// Echo request type.
pub const ECHO_REQUEST: u8 = 128;
/// Echo reply type.
pub const ECHO_REPLY: u8 = 129;
/// Hop limit of our echo replies.
pub const REPLY_HOP_LIMIT: u8 = 64;

/// Answers an ICMPv6 message in `buf` (the IPv6 header's next header is ICMPv6).
///
/// The destination is checked here, not by the caller: Neighbor Solicitations arrive on
/// solicited-node multicast addresses. Unicast destinations not ours are `NotForUs`; types other
/// than Neighbor Solicitation and echo request (Router Advertisements, ...) are `Unsupported`.
pub fn handle<B: PacketBuffer>(buf: &mut B, ip: &IpMeta, port: &PortSnapshot) -> Verdict {
    let (std::net::IpAddr::V6(src), std::net::IpAddr::V6(dst)) = (ip.src, ip.dst) else {
        return Verdict::Drop(DropReason::Malformed);
    };
    let (src, dst) = (src.octets(), dst.octets());
    let ours = port.local.has_v6(&dst);
    if !ours && dst[0] != 0xff {
        return Verdict::Drop(DropReason::NotForUs);
    }
    let Some(icmp) = buf.data().get(ip.l4..ip.l4.saturating_add(ip.l4_len)) else {
        return Verdict::Drop(DropReason::Malformed);
    };
    if icmp.len() < 4 {
        return Verdict::Drop(DropReason::Malformed);
    }
    match icmp[0] {
        ndp::NEIGHBOR_SOLICITATION => ndp::handle(buf, ip, port),
        ECHO_REQUEST if !ours => Verdict::Drop(DropReason::NotForUs),
        ECHO_REQUEST => echo(buf.data_mut(), ip, &src, &dst, port),
        _ => Verdict::Drop(DropReason::Unsupported),
    }
}

/// Turns an echo request to one of our addresses into the echo reply.
#[inline]
fn echo(
    frame: &mut [u8],
    ip: &IpMeta,
    src: &[u8; 16],
    dst: &[u8; 16],
    port: &PortSnapshot,
) -> Verdict {
    let l3 = ip.l3;
    let l4 = ip.l4;
    let Some(icmp) = frame.get(l4..l4.saturating_add(ip.l4_len)) else {
        return Verdict::Drop(DropReason::Malformed);
    };
    if icmp.len() < 8 || l4 != l3 + 40 {
        return Verdict::Drop(DropReason::Malformed);
    }
    if icmp[1] != 0 {
        return Verdict::Drop(DropReason::Unsupported);
    }
    let acc = checksum::pseudo_v6(src, dst, IPPROTO_ICMPV6, icmp.len() as u32);
    if checksum::finish(checksum::sum(acc, icmp)) != 0 {
        return Verdict::Drop(DropReason::BadChecksum);
    }
    if src[0] == 0xff || *src == [0; 16] || *src == std::net::Ipv6Addr::LOCALHOST.octets() {
        // Multicast, unspecified or loopback sources get no reply.
        return Verdict::Drop(DropReason::Malformed);
    }
    if frame[6] & 1 != 0 {
        // A group source MAC cannot be replied to.
        return Verdict::Drop(DropReason::Malformed);
    }
    reply_ethernet(frame, &port.mac);
    // Swapping the addresses leaves the pseudo-header sum, and so the checksum, unchanged.
    frame[l3 + 8..l3 + 24].copy_from_slice(dst);
    frame[l3 + 24..l3 + 40].copy_from_slice(src);
    frame[l3 + 7] = REPLY_HOP_LIMIT;
    frame[l4] = ECHO_REPLY;
    let check = u16::from_be_bytes([frame[l4 + 2], frame[l4 + 3]]);
    let check = checksum::update16(
        check,
        u16::from(ECHO_REQUEST) << 8,
        u16::from(ECHO_REPLY) << 8,
    );
    frame[l4 + 2..l4 + 4].copy_from_slice(&check.to_be_bytes());
    Verdict::Answer
}

#[cfg(test)]
mod tests;
