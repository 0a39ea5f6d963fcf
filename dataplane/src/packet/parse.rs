//! Parses Ethernet + IPv4/IPv6 headers once per packet into offsets and addresses.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::checksum;
use crate::verdict::DropReason;

/// Ethernet header length (no VLAN tag).
pub const ETH_HLEN: usize = 14;
/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// IP protocol numbers.
pub const IPPROTO_ICMP: u8 = 1;
/// TCP.
pub const IPPROTO_TCP: u8 = 6;
/// UDP.
pub const IPPROTO_UDP: u8 = 17;
/// IPv6-in-IP.
pub const IPPROTO_IPV6: u8 = 41;
/// IPv4-in-IP.
pub const IPPROTO_IPIP: u8 = 4;
/// ICMPv6.
pub const IPPROTO_ICMPV6: u8 = 58;

/// Where the IP header and its payload sit in a frame, and what it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpMeta {
    /// Offset of the IP header.
    pub l3: usize,
    /// Offset of the L4 header (after the IPv4 options / the fixed IPv6 header).
    pub l4: usize,
    /// L4 length from the IP header (excludes Ethernet padding).
    pub l4_len: usize,
    /// IPv4 protocol or IPv6 next header.
    pub proto: u8,
    /// TTL or hop limit.
    pub ttl: u8,
    /// IPv4: a fragment (MF set or non-zero offset).
    pub fragment: bool,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
}

/// A frame's outer classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// ARP; the ARP header starts at [`ETH_HLEN`].
    Arp,
    /// IPv4 with a valid header (checksum verified).
    Ipv4(IpMeta),
    /// IPv6 with a consistent payload length.
    Ipv6(IpMeta),
    /// Some other EtherType.
    Other(u16),
}

/// Classifies a frame and validates its L3 header. Never panics on any input.
///
/// Always inlined: it is called once per packet, and inlined its result stays in registers.
#[inline(always)]
pub fn parse(frame: &[u8]) -> Result<Parsed, DropReason> {
    if frame.len() < ETH_HLEN {
        return Err(DropReason::Malformed);
    }
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    match ethertype {
        ETHERTYPE_ARP => Ok(Parsed::Arp),
        ETHERTYPE_IPV4 => parse_ipv4(frame, ETH_HLEN).map(Parsed::Ipv4),
        ETHERTYPE_IPV6 => parse_ipv6(frame, ETH_HLEN).map(Parsed::Ipv6),
        other => Ok(Parsed::Other(other)),
    }
}

/// Validates an IPv4 header at `l3`: version, IHL, total length, header checksum.
#[inline(always)]
pub fn parse_ipv4(frame: &[u8], l3: usize) -> Result<IpMeta, DropReason> {
    let ip = frame.get(l3..).ok_or(DropReason::Malformed)?;
    let Some(fixed) = ip.first_chunk::<20>() else {
        return Err(DropReason::Malformed);
    };
    if fixed[0] >> 4 != 4 {
        return Err(DropReason::Malformed);
    }
    let ihl = usize::from(fixed[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([fixed[2], fixed[3]]));
    if ihl < 20 || total < ihl || total > ip.len() {
        return Err(DropReason::Malformed);
    }
    // Options are rare: the common 20-byte header is summed from the fixed-size copy.
    let sum = if ihl == 20 {
        checksum::finish(checksum::sum_array(0, fixed))
    } else {
        checksum::checksum(&ip[..ihl])
    };
    if sum != 0 {
        return Err(DropReason::BadChecksum);
    }
    let flags_frag = u16::from_be_bytes([fixed[6], fixed[7]]);
    Ok(IpMeta {
        l3,
        l4: l3 + ihl,
        l4_len: total - ihl,
        proto: fixed[9],
        ttl: fixed[8],
        fragment: flags_frag & 0x3fff != 0,
        src: IpAddr::V4(Ipv4Addr::new(fixed[12], fixed[13], fixed[14], fixed[15])),
        dst: IpAddr::V4(Ipv4Addr::new(fixed[16], fixed[17], fixed[18], fixed[19])),
    })
}

/// Validates a fixed IPv6 header at `l3`: version and payload length. Extension headers are not
/// walked: `proto` is the first next-header value.
#[inline]
pub fn parse_ipv6(frame: &[u8], l3: usize) -> Result<IpMeta, DropReason> {
    let ip = frame.get(l3..).ok_or(DropReason::Malformed)?;
    if ip.len() < 40 || ip[0] >> 4 != 6 {
        return Err(DropReason::Malformed);
    }
    let payload = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    if 40 + payload > ip.len() {
        return Err(DropReason::Malformed);
    }
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(&ip[8..24]);
    dst.copy_from_slice(&ip[24..40]);
    Ok(IpMeta {
        l3,
        l4: l3 + 40,
        l4_len: payload,
        proto: ip[6],
        ttl: ip[7],
        fragment: false,
        src: IpAddr::V6(Ipv6Addr::from(src)),
        dst: IpAddr::V6(Ipv6Addr::from(dst)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_frame() -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 8];
        f[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&28u16.to_be_bytes());
        ip[8] = 64;
        ip[9] = IPPROTO_UDP;
        ip[12..16].copy_from_slice(&[198, 51, 100, 2]);
        ip[16..20].copy_from_slice(&[203, 0, 113, 10]);
        let c = checksum::checksum(ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f
    }

    #[test]
    fn parses_a_valid_ipv4_header() {
        let f = ipv4_frame();
        let Ok(Parsed::Ipv4(m)) = parse(&f) else {
            panic!("not ipv4")
        };
        assert_eq!(
            (m.l3, m.l4, m.l4_len, m.proto, m.ttl),
            (14, 34, 8, IPPROTO_UDP, 64)
        );
        assert_eq!(m.dst, "203.0.113.10".parse::<IpAddr>().unwrap());
        assert!(!m.fragment);
    }

    #[test]
    fn rejects_bad_ipv4_headers() {
        let mut f = ipv4_frame();
        f[24] ^= 1; // checksum
        assert_eq!(parse(&f), Err(DropReason::BadChecksum));
        let mut f = ipv4_frame();
        f[14] = 0x44; // IHL 16
        assert_eq!(parse(&f), Err(DropReason::Malformed));
        let mut f = ipv4_frame();
        f[16..18].copy_from_slice(&100u16.to_be_bytes()); // total length beyond frame
        assert_eq!(parse(&f), Err(DropReason::Malformed));
        assert_eq!(parse(&f[..20]), Err(DropReason::Malformed));
        assert_eq!(parse(&f[..10]), Err(DropReason::Malformed));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(0u8..=255, 0..200)) {
            let _ = parse(&data);
        }
    }
}
