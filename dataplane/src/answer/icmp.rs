//! ICMPv4 echo (RFC 792): echo requests to our addresses become echo replies in place.
use super::reply_ethernet;
use crate::packet::checksum;
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
    if src[0] >= 224 || src == [0, 0, 0, 0] || src[0] == 127 {
        // Multicast, broadcast, unspecified or loopback sources get no reply.
        return Verdict::Drop(DropReason::Malformed);
    }
    reply_ethernet(frame, &port.mac);
    let Some(hdr) = frame.get_mut(l3..l3 + 20) else {
        return Verdict::Drop(DropReason::Malformed);
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
    // ICMP: type 8 → 0, checksum updated incrementally (RFC 1624).
    let Some(icmp) = frame.get_mut(ip.l4..ip.l4 + 4) else {
        return Verdict::Drop(DropReason::Malformed);
    };
    icmp[0] = ECHO_REPLY;
    let check = u16::from_be_bytes([icmp[2], icmp[3]]);
    let check = checksum::update16(
        check,
        u16::from(ECHO_REQUEST) << 8,
        u16::from(ECHO_REPLY) << 8,
    );
    icmp[2..4].copy_from_slice(&check.to_be_bytes());
    Verdict::Answer
}

#[cfg(test)]
mod tests;
