//! ICMPv4 echo (RFC 792): echo requests to our addresses become echo replies in place.
use super::{reply_ethernet, swap_ranges};
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
    let src = &frame[ip.l3 + 12..ip.l3 + 16];
    if src[0] >= 224 || src == [0, 0, 0, 0] || src[0] == 127 {
        // Multicast, broadcast, unspecified or loopback sources get no reply.
        return Verdict::Drop(DropReason::Malformed);
    }
    reply_ethernet(frame, &port.mac);
    // IP: swap addresses (the header checksum is a sum, so a swap leaves it valid), reset TTL.
    swap_ranges(frame, ip.l3 + 12, ip.l3 + 16, 4);
    let old_ttl_proto = u16::from_be_bytes([frame[ip.l3 + 8], frame[ip.l3 + 9]]);
    frame[ip.l3 + 8] = REPLY_TTL;
    let new_ttl_proto = u16::from_be_bytes([frame[ip.l3 + 8], frame[ip.l3 + 9]]);
    let check = u16::from_be_bytes([frame[ip.l3 + 10], frame[ip.l3 + 11]]);
    let check = checksum::update16(check, old_ttl_proto, new_ttl_proto);
    frame[ip.l3 + 10..ip.l3 + 12].copy_from_slice(&check.to_be_bytes());
    // ICMP: type 8 → 0, checksum updated incrementally (RFC 1624).
    let l4 = ip.l4;
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
