//! ICMPv6 for our IPv6 addresses: Neighbor Solicitations are answered by [`super::ndp`], echo
//! requests (RFC 4443 §4.1) become echo replies in place. Everything else is a counted drop.
use super::{ndp, reply_ethernet};
use crate::packet::checksum;
use crate::packet::parse::{ETH_HLEN, IPPROTO_ICMPV6};
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
    if !unicast_source(src) {
        return Verdict::Drop(DropReason::Malformed);
    }
    if frame[6] & 1 != 0 {
        // A group source MAC cannot be replied to.
        return Verdict::Drop(DropReason::Malformed);
    }
    echo_reply_in_place(frame, l3, l4, src, dst, port);
    Verdict::Answer
}

/// The common echo request, answered in one pass over fixed offsets: IPv6 without extension
/// headers, ICMPv6 echo request code 0 to one of `port`'s addresses, from a unicast address and
/// a station MAC, checksum valid. `None` for anything else, which [`handle`] (through the full
/// parse) then answers or drops with its reason. The caller checked the destination MAC.
#[inline(always)]
pub fn answer_plain_echo(frame: &mut [u8], port: &PortSnapshot) -> Option<Verdict> {
    const L3: usize = ETH_HLEN;
    const L4: usize = ETH_HLEN + 40;
    let head = frame.first_chunk::<{ L4 + 2 }>()?;
    if head[12..14] != [0x86, 0xdd]
        || head[L3] >> 4 != 6
        || head[L3 + 6] != IPPROTO_ICMPV6
        || head[L4..L4 + 2] != [ECHO_REQUEST, 0]
        || head[6] & 1 != 0
    {
        return None;
    }
    let payload = usize::from(u16::from_be_bytes([head[L3 + 4], head[L3 + 5]]));
    let src = *head[L3 + 8..].first_chunk::<16>()?;
    let dst = *head[L3 + 24..].first_chunk::<16>()?;
    if payload < 8
        || L4 + payload > frame.len()
        || !port.local.has_v6(&dst)
        || !unicast_source(&src)
    {
        return None;
    }
    let acc = checksum::pseudo_v6(&src, &dst, IPPROTO_ICMPV6, payload as u32);
    if checksum::finish(checksum::sum(acc, &frame[L4..L4 + payload])) != 0 {
        return None;
    }
    echo_reply_in_place(frame, L3, L4, &src, &dst, port);
    Some(Verdict::Answer)
}

/// False for the sources that never get a reply: multicast, unspecified, loopback.
#[inline(always)]
fn unicast_source(src: &[u8; 16]) -> bool {
    !(src[0] == 0xff || *src == [0; 16] || *src == std::net::Ipv6Addr::LOCALHOST.octets())
}

/// Turns a validated echo request (IPv6 header at `l3`, ICMPv6 at `l4`, addresses `src` →
/// `dst`) into the reply: Ethernet and IP addresses swapped, hop limit reset, type 129, the
/// checksum updated incrementally (swapping the addresses leaves the pseudo-header sum as it
/// was).
#[inline(always)]
fn echo_reply_in_place(
    frame: &mut [u8],
    l3: usize,
    l4: usize,
    src: &[u8; 16],
    dst: &[u8; 16],
    port: &PortSnapshot,
) {
    reply_ethernet(frame, &port.mac);
    let Some(ip) = frame.get_mut(l3..l3 + 40) else {
        return;
    };
    ip[8..24].copy_from_slice(dst);
    ip[24..40].copy_from_slice(src);
    ip[7] = REPLY_HOP_LIMIT;
    let Some(icmp) = frame.get_mut(l4..l4 + 4) else {
        return;
    };
    icmp[0] = ECHO_REPLY;
    let check = u16::from_be_bytes([icmp[2], icmp[3]]);
    let check = checksum::update16(
        check,
        u16::from(ECHO_REQUEST) << 8,
        u16::from(ECHO_REPLY) << 8,
    );
    icmp[2..4].copy_from_slice(&check.to_be_bytes());
}

#[cfg(test)]
mod fast_tests;
#[cfg(test)]
mod tests;
