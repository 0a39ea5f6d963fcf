//! ARP (RFC 826): answer requests for our node addresses and VIPs on the port they arrive on.
use super::reply_ethernet;
use crate::packet::parse::ETH_HLEN;
use crate::snapshot::PortSnapshot;
use crate::verdict::{DropReason, Verdict};

/// Length of an Ethernet/IPv4 ARP message.
pub const ARP_LEN: usize = 28;
/// ARP request opcode.
pub const OP_REQUEST: u16 = 1;
/// ARP reply opcode.
pub const OP_REPLY: u16 = 2;

/// A checked Ethernet/IPv4 ARP message's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpFields {
    /// Request or reply.
    pub op: u16,
    /// Sender hardware address.
    pub sha: [u8; 6],
    /// Sender protocol address.
    pub spa: [u8; 4],
    /// Target protocol address.
    pub tpa: [u8; 4],
}

/// Reads and checks an ARP message (Ethernet hardware, IPv4 protocol).
pub fn parse(frame: &[u8]) -> Result<ArpFields, DropReason> {
    let arp = frame
        .get(ETH_HLEN..ETH_HLEN + ARP_LEN)
        .ok_or(DropReason::Malformed)?;
    if arp[0..2] != [0, 1] || arp[2..4] != [0x08, 0x00] || arp[4] != 6 || arp[5] != 4 {
        return Err(DropReason::Malformed);
    }
    let mut f = ArpFields {
        op: u16::from_be_bytes([arp[6], arp[7]]),
        sha: [0; 6],
        spa: [0; 4],
        tpa: [0; 4],
    };
    f.sha.copy_from_slice(&arp[8..14]);
    f.spa.copy_from_slice(&arp[14..18]);
    f.tpa.copy_from_slice(&arp[24..28]);
    if f.sha[0] & 1 != 0 {
        // A multicast or broadcast sender hardware address is never valid.
        return Err(DropReason::Malformed);
    }
    Ok(f)
}

/// Answers an ARP request for one of `port`'s local addresses, rewriting `frame` into the reply.
pub fn handle(frame: &mut [u8], port: &PortSnapshot) -> Verdict {
    let f = match parse(frame) {
        Ok(f) => f,
        Err(r) => return Verdict::Drop(r),
    };
    if f.op != OP_REQUEST {
        return Verdict::Drop(DropReason::Unsupported);
    }
    if !port.local.has_v4(&f.tpa) {
        return Verdict::Drop(DropReason::NotForUs);
    }
    reply_ethernet(frame, &port.mac);
    // The reply goes to the requester's hardware address, whatever the frame's source was.
    frame[0..6].copy_from_slice(&f.sha);
    let arp = &mut frame[ETH_HLEN..ETH_HLEN + ARP_LEN];
    arp[6..8].copy_from_slice(&OP_REPLY.to_be_bytes());
    arp[8..14].copy_from_slice(&port.mac);
    arp[14..18].copy_from_slice(&f.tpa);
    arp[18..24].copy_from_slice(&f.sha);
    arp[24..28].copy_from_slice(&f.spa);
    Verdict::Answer
}

#[cfg(test)]
mod tests;
