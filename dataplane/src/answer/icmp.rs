//! ICMPv4 echo (RFC 792): echo requests to our addresses become echo replies in place.
use super::reply_ethernet;
use crate::packet::checksum;
use crate::packet::parse::{ETH_HLEN, IPPROTO_ICMP};
use crate::packet::IpMeta;
use crate::snapshot::PortSnapshot;
use crate::verdict::{DropReason, Verdict};

/// Echo request type.
pub const ECHO_REQUEST: u8 = 8;
/// Echo reply type.
pub const ECHO_REPLY: u8 = 0;
/// TTL of our replies.
pub const REPLY_TTL: u8 = 64;

/// Answers an ICMPv4 echo request addressed to us (the caller checked the destination).
#[inline(always)]
pub fn handle(frame: &mut [u8], ip: &IpMeta, port: &PortSnapshot) -> Verdict {
    if ip.fragment {
        return Verdict::Drop(DropReason::Unsupported);
    }
    let Some(icmp) = frame.get(ip.l4..ip.l4 + ip.l4_len) else {
        return Verdict::Drop(DropReason::Malformed);
    };
    if icmp.len() < 8 {
        return Verdict::Drop(DropReason::Malformed);
    }
    if icmp[0] != ECHO_REQUEST || icmp[1] != 0 {
        return Verdict::Drop(DropReason::Unsupported);
    }
    if checksum::checksum(icmp) != 0 {
        return Verdict::Drop(DropReason::BadChecksum);
    }
    let l3 = ip.l3;
    let Some(hdr) = frame.get(l3..l3 + 20) else {
        return Verdict::Drop(DropReason::Malformed);
    };
    let src = [hdr[12], hdr[13], hdr[14], hdr[15]];
    if !unicast_source(&src) {
        return Verdict::Drop(DropReason::Malformed);
    }
    echo_reply_in_place(frame, l3, ip.l4, src, port);
    Verdict::Answer
}

/// Where a plain echo request's IPv4 header starts (untagged Ethernet).
const L3: usize = ETH_HLEN;
/// Where a plain echo request's ICMP message starts (a 20-byte IPv4 header).
const L4: usize = ETH_HLEN + 20;

/// The common echo request, answered in one pass over fixed offsets: an IPv4 frame with a
/// 20-byte header, not a fragment, to one of `port`'s addresses, from a unicast source, both
/// checksums valid; a drop as not-for-us when its valid header is for another address. `None`
/// for anything else, which [`handle`] (through the full parse) then answers or drops with its
/// reason. The caller checked the destination MAC.
#[inline(always)]
pub fn answer_plain_echo(frame: &mut [u8], port: &PortSnapshot) -> Option<Verdict> {
    let head = frame.first_chunk::<{ L4 + 2 }>()?;
    // EtherType IPv4, version 4 with IHL 5, protocol ICMP, echo request code 0, no fragment.
    if head[12..15] != [0x08, 0x00, 0x45]
        || head[23] != IPPROTO_ICMP
        || head[L4..L4 + 2] != [ECHO_REQUEST, 0]
        || head[20] & 0x3f != 0
        || head[21] != 0
    {
        return None;
    }
    echo_after_the_type_test(frame, port)
}

/// The rest of [`answer_plain_echo`], once the frame looked like a plain echo request. Not
/// inlined: on its own it keeps its sums in registers, inlined into the pipeline it spilled them.
#[inline(never)]
fn echo_after_the_type_test(frame: &mut [u8], port: &PortSnapshot) -> Option<Verdict> {
    let head = frame.first_chunk::<{ L4 + 2 }>()?;
    let total = usize::from(u16::from_be_bytes([head[16], head[17]]));
    let src = [head[26], head[27], head[28], head[29]];
    let dst = [head[30], head[31], head[32], head[33]];
    let ip_header = head[L3..L4].first_chunk::<20>()?;
    if total < 28
        || L3 + total > frame.len()
        || checksum::finish(checksum::sum_array(0, ip_header)) != 0
    {
        return None;
    }
    // A valid IPv4 header: what the general path would say of another destination.
    if !port.local.has_v4(&dst) {
        return Some(Verdict::Drop(DropReason::NotForUs));
    }
    if !unicast_source(&src) || checksum::checksum(&frame[L4..L3 + total]) != 0 {
        return None;
    }
    echo_reply_in_place(frame, L3, L4, src, port);
    Some(Verdict::Answer)
}

/// False for the sources that never get a reply: multicast, broadcast, unspecified, loopback.
#[inline(always)]
fn unicast_source(src: &[u8; 4]) -> bool {
    !(src[0] >= 224 || *src == [0, 0, 0, 0] || src[0] == 127)
}

/// Turns a validated echo request (IPv4 header at `l3`, 20 bytes or more; ICMP at `l4`, 8 bytes
/// or more; `src` its source address) into the reply: Ethernet and IP addresses swapped, TTL
/// reset, type 0, both checksums updated incrementally (RFC 1624).
#[inline(always)]
fn echo_reply_in_place(frame: &mut [u8], l3: usize, l4: usize, src: [u8; 4], port: &PortSnapshot) {
    reply_ethernet(frame, &port.mac);
    let Some(hdr) = frame.get_mut(l3..l3 + 20) else {
        return;
    };
    // IP: swap addresses (the header checksum is a sum, so a swap leaves it valid), reset TTL.
    hdr.copy_within(16..20, 12);
    hdr[16..20].copy_from_slice(&src);
    let old_ttl_proto = u16::from_be_bytes([hdr[8], hdr[9]]);
    hdr[8] = REPLY_TTL;
    let new_ttl_proto = u16::from_be_bytes([hdr[8], hdr[9]]);
    let check = u16::from_be_bytes([hdr[10], hdr[11]]);
    let check = checksum::update16(check, old_ttl_proto, new_ttl_proto);
    hdr[10..12].copy_from_slice(&check.to_be_bytes());
    // ICMP: type 8 → 0, checksum updated incrementally.
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
mod tests;
