//! ICMPv6: Neighbor Discovery (RFC 4861) and echo (RFC 4443) for our IPv6 addresses.
//! Placeholder until the IPv6 work lands: every ICMPv6 packet is a counted drop.
use crate::packet::IpMeta;
use crate::snapshot::PortSnapshot;
use crate::verdict::{DropReason, Verdict};

/// Answers Neighbor Solicitations and echo requests for `port`'s addresses.
pub fn handle(_frame: &mut [u8], _ip: &IpMeta, _port: &PortSnapshot) -> Verdict {
    Verdict::Drop(DropReason::Unsupported)
}
