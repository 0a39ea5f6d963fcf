//! Neighbor Discovery (RFC 4861): Neighbor Solicitations for our IPv6 addresses (node addresses
//! and VIPs) become Neighbor Advertisements, written in place into the solicitation's buffer.
use crate::packet::checksum;
use crate::packet::parse::{ETH_HLEN, IPPROTO_ICMPV6};
use crate::packet::{IpMeta, PacketBuffer};
use crate::snapshot::{Mac, PortSnapshot};
use crate::verdict::{DropReason, Verdict};

/// Neighbor Solicitation type.
pub const NEIGHBOR_SOLICITATION: u8 = 135;
/// Neighbor Advertisement type.
pub const NEIGHBOR_ADVERTISEMENT: u8 = 136;
/// The hop limit every ND message carries (RFC 4861 §7.1.1, §7.2.4).
pub const ND_HOP_LIMIT: u8 = 255;
/// Option type of the Source Link-Layer Address option.
pub const OPT_SOURCE_LLA: u8 = 1;
/// Option type of the Target Link-Layer Address option.
pub const OPT_TARGET_LLA: u8 = 2;
/// NA flag: the sender is a router (never set by us).
pub const FLAG_ROUTER: u8 = 0x80;
/// NA flag: sent in response to a solicitation.
pub const FLAG_SOLICITED: u8 = 0x40;
/// NA flag: the advertisement overrides an existing cache entry.
pub const FLAG_OVERRIDE: u8 = 0x20;
/// Length of an NS/NA without options: type, code, checksum, reserved/flags, target.
pub const ND_FIXED_LEN: usize = 24;
/// Length of the NA we send: the fixed part plus one Target Link-Layer Address option.
pub const NA_LEN: usize = ND_FIXED_LEN + 8;
/// ff02::1, the all-nodes multicast address (destination of answers to DAD probes).
pub const ALL_NODES: [u8; 16] = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
/// The Ethernet address of ff02::1 (RFC 2464 §7).
pub const ALL_NODES_MAC: Mac = [0x33, 0x33, 0, 0, 0, 1];

/// True when `a` is the solicited-node multicast address (ff02::1:ffXX:XXXX, RFC 4291 §2.7.1)
/// of `target`.
#[inline]
pub fn is_solicited_node_of(a: &[u8; 16], target: &[u8; 16]) -> bool {
    a[..13] == [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff] && a[13..] == target[13..]
}

/// True when `a` is a solicited-node multicast address (ff02::1:ff00:0/104).
#[inline]
pub fn is_solicited_node(a: &[u8; 16]) -> bool {
    a[..13] == [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff]
}

/// The fields of a Neighbor Solicitation that passed the RFC 4861 §7.1.1 checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Solicitation {
    /// IPv6 source (unspecified for Duplicate Address Detection).
    pub src: [u8; 16],
    /// IPv6 destination (one of ours or a solicited-node multicast address).
    pub dst: [u8; 16],
    /// The address being resolved.
    pub target: [u8; 16],
    /// The Source Link-Layer Address option's address, if present.
    pub source_lla: Option<Mac>,
}

impl Solicitation {
    /// True for a Duplicate Address Detection probe (unspecified source).
    #[inline]
    pub fn is_dad(&self) -> bool {
        self.src == [0; 16]
    }
}

/// Reads a Neighbor Solicitation and validates it as RFC 4861 §7.1.1 requires: hop limit 255,
/// code 0, checksum, length ≥ 24, non-multicast target, options of non-zero length, and for DAD
/// probes a solicited-node destination without a Source Link-Layer Address option.
///
/// `frame[ip.l4..]` must hold an ICMPv6 message of type 135 (checked again here).
#[inline]
pub fn parse(frame: &[u8], ip: &IpMeta) -> Result<Solicitation, DropReason> {
    let l3 = frame.get(ip.l3..ip.l3 + 40).ok_or(DropReason::Malformed)?;
    let icmp = frame
        .get(ip.l4..ip.l4.saturating_add(ip.l4_len))
        .ok_or(DropReason::Malformed)?;
    if icmp.len() < ND_FIXED_LEN || icmp[0] != NEIGHBOR_SOLICITATION {
        return Err(DropReason::Malformed);
    }
    if l3[7] != ND_HOP_LIMIT || icmp[1] != 0 {
        return Err(DropReason::Malformed);
    }
    let mut s = Solicitation {
        src: [0; 16],
        dst: [0; 16],
        target: [0; 16],
        source_lla: None,
    };
    s.src.copy_from_slice(&l3[8..24]);
    s.dst.copy_from_slice(&l3[24..40]);
    s.target.copy_from_slice(&icmp[8..24]);
    if s.target[0] == 0xff || s.src[0] == 0xff {
        return Err(DropReason::Malformed);
    }
    let acc = checksum::pseudo_v6(&s.src, &s.dst, IPPROTO_ICMPV6, icmp.len() as u32);
    // The usual solicitation carries one Source Link-Layer Address option: 32 bytes, summed
    // with the length known.
    let sum = match icmp.first_chunk::<{ ND_FIXED_LEN + 8 }>() {
        Some(usual) if icmp.len() == ND_FIXED_LEN + 8 => checksum::sum_array(acc, usual),
        _ => checksum::sum(acc, icmp),
    };
    if checksum::finish(sum) != 0 {
        return Err(DropReason::BadChecksum);
    }
    let mut opts = &icmp[ND_FIXED_LEN..];
    while !opts.is_empty() {
        let [ty, len, ..] = *opts else {
            return Err(DropReason::Malformed);
        };
        let len = usize::from(len) * 8;
        if len == 0 || len > opts.len() {
            return Err(DropReason::Malformed);
        }
        if ty == OPT_SOURCE_LLA && s.source_lla.is_none() {
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&opts[2..8]);
            if mac[0] & 1 != 0 {
                // We would send the advertisement to a group: never a valid station address.
                return Err(DropReason::Malformed);
            }
            s.source_lla = Some(mac);
        }
        opts = &opts[len..];
    }
    if s.is_dad() && (!is_solicited_node(&s.dst) || s.source_lla.is_some()) {
        return Err(DropReason::Malformed);
    }
    Ok(s)
}

/// Answers a Neighbor Solicitation for one of `port`'s addresses with a Neighbor Advertisement,
/// rewriting `buf` in place (its length becomes that of the advertisement).
///
/// The solicitation must be addressed to the target's solicited-node multicast address or to one
/// of our addresses, and the target must be one of ours; anything else is `NotForUs`.
pub fn handle<B: PacketBuffer>(buf: &mut B, ip: &IpMeta, port: &PortSnapshot) -> Verdict {
    let s = match parse(buf.data(), ip) {
        Ok(s) => s,
        Err(r) => return Verdict::Drop(r),
    };
    if !is_solicited_node_of(&s.dst, &s.target) && !port.local.has_v6(&s.dst) {
        return Verdict::Drop(DropReason::NotForUs);
    }
    if !port.local.has_v6(&s.target) {
        return Verdict::Drop(DropReason::NotForUs);
    }
    let frame = buf.data();
    if frame.len() < ETH_HLEN || ip.l4 != ip.l3 + 40 {
        return Verdict::Drop(DropReason::Malformed);
    }
    let (eth_dst, ip_dst, flags) = if s.is_dad() {
        // RFC 4861 §7.2.4: a DAD probe is answered to all-nodes, with S clear.
        (ALL_NODES_MAC, ALL_NODES, FLAG_OVERRIDE)
    } else {
        let mut frame_src = [0u8; 6];
        frame_src.copy_from_slice(&frame[6..12]);
        let eth_dst = s.source_lla.unwrap_or(frame_src);
        if eth_dst[0] & 1 != 0 {
            return Verdict::Drop(DropReason::Malformed);
        }
        (eth_dst, s.src, FLAG_SOLICITED | FLAG_OVERRIDE)
    };
    if buf.set_len(ip.l4 + NA_LEN).is_err() {
        return Verdict::Drop(DropReason::NoRoom);
    }
    let Some(frame) = buf.data_mut().get_mut(..ip.l4 + NA_LEN) else {
        return Verdict::Drop(DropReason::NoRoom);
    };
    write_advertisement(frame, ip.l3, &eth_dst, &s.target, &ip_dst, flags, port);
    Verdict::Answer
}

/// The usual solicitation, answered in one pass over fixed offsets: IPv6 without extension
/// headers, hop limit 255, a 32-byte NS (one Source Link-Layer Address option, the frame ends
/// there) from a unicast address (not DAD) for one of `port`'s addresses, sent to its
/// solicited-node address or to one of ours, checksum valid. It returns the solicitor's address
/// and link-layer address (for the neighbour cache) when it answered, `None` for anything else,
/// which [`handle`] (through the full parse) then answers or drops with its reason.
#[inline(always)]
pub fn answer_plain_solicitation(frame: &mut [u8], port: &PortSnapshot) -> Option<([u8; 16], Mac)> {
    const L3: usize = ETH_HLEN;
    const L4: usize = ETH_HLEN + 40;
    // The fixed part and one Source Link-Layer Address option: as long as our answer.
    const NS_LEN: usize = ND_FIXED_LEN + 8;
    let ns = frame.first_chunk::<{ L4 + NS_LEN }>()?;
    // EtherType IPv6, version 6, payload 32, next header ICMPv6, hop limit 255; NS code 0 with
    // one 8-byte Source Link-Layer Address option.
    if frame.len() != L4 + NS_LEN
        || ns[12..14] != [0x86, 0xdd]
        || ns[L3] >> 4 != 6
        || ns[L3 + 4..L3 + 8] != [0, NS_LEN as u8, IPPROTO_ICMPV6, ND_HOP_LIMIT]
        || ns[L4..L4 + 2] != [NEIGHBOR_SOLICITATION, 0]
        || ns[L4 + 24..L4 + 26] != [OPT_SOURCE_LLA, 1]
    {
        return None;
    }
    let src = *ns[L3 + 8..].first_chunk::<16>()?;
    let dst = *ns[L3 + 24..].first_chunk::<16>()?;
    let target = *ns[L4 + 8..].first_chunk::<16>()?;
    let mac = *ns[L4 + 26..].first_chunk::<6>()?;
    let icmp = ns[L4..].first_chunk::<NS_LEN>()?;
    if mac[0] & 1 != 0
        || target[0] == 0xff
        || src[0] == 0xff
        || src == [0; 16]
        || !(is_solicited_node_of(&dst, &target) || port.local.has_v6(&dst))
        || !port.local.has_v6(&target)
    {
        return None;
    }
    let acc = checksum::pseudo_v6(&src, &dst, IPPROTO_ICMPV6, NS_LEN as u32);
    if checksum::finish(checksum::sum_array(acc, icmp)) != 0 {
        return None;
    }
    let flags = FLAG_SOLICITED | FLAG_OVERRIDE;
    write_advertisement(frame, L3, &mac, &target, &src, flags, port);
    Some((src, mac))
}

/// Writes our advertisement for `target` to `eth_dst`/`ip_dst` over `frame`, which ends where
/// it does (IPv6 header at `l3`, the NA after it).
#[inline(always)]
fn write_advertisement(
    frame: &mut [u8],
    l3: usize,
    eth_dst: &Mac,
    target: &[u8; 16],
    ip_dst: &[u8; 16],
    flags: u8,
    port: &PortSnapshot,
) {
    let Some(eth) = frame.first_chunk_mut::<12>() else {
        return;
    };
    eth[0..6].copy_from_slice(eth_dst);
    eth[6..12].copy_from_slice(&port.mac);
    let Some(ip) = frame.get_mut(l3..).and_then(|f| f.first_chunk_mut::<40>()) else {
        return;
    };
    // Version 6, traffic class and flow label zero.
    ip[0..4].copy_from_slice(&[0x60, 0, 0, 0]);
    ip[4..6].copy_from_slice(&(NA_LEN as u16).to_be_bytes());
    ip[6] = IPPROTO_ICMPV6;
    ip[7] = ND_HOP_LIMIT;
    ip[8..24].copy_from_slice(target);
    ip[24..40].copy_from_slice(ip_dst);
    let Some(icmp) = frame
        .get_mut(l3 + 40..)
        .and_then(|f| f.first_chunk_mut::<NA_LEN>())
    else {
        return;
    };
    icmp[0] = NEIGHBOR_ADVERTISEMENT;
    icmp[1] = 0;
    icmp[2..4].copy_from_slice(&[0, 0]);
    icmp[4..8].copy_from_slice(&[flags, 0, 0, 0]);
    icmp[8..24].copy_from_slice(target);
    icmp[24] = OPT_TARGET_LLA;
    icmp[25] = 1;
    icmp[26..32].copy_from_slice(&port.mac);
    let acc = checksum::pseudo_v6(target, ip_dst, IPPROTO_ICMPV6, NA_LEN as u32);
    let c = checksum::finish(checksum::sum_array(acc, icmp));
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
}
