//! Encapsulation toward a backend, in place in the packet buffer: IPIP (4in4, 6in6, 4in6,
//! 6in4), GUE (variant 0 over UDP) and L2 DSR (destination MAC rewrite).
//!
//! IPIP/GUE prepend the outer headers with [`PacketBuffer::prepend`] and move the Ethernet
//! header to the new front; the inner IP packet is left byte-for-byte as received (Ethernet
//! padding after it is trimmed). Outer TTL/hop limit is 64; DSCP/ECN are copied from the inner
//! header; IPv4 outer headers carry DF and a computed header checksum. GUE over IPv4 sends a zero
//! UDP checksum (allowed for IPv4, as Linux FOU does by default); over IPv6 the UDP checksum is
//! computed over the whole datagram.
use crate::packet::checksum;
use crate::packet::parse::{ETH_HLEN, IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_UDP};
use crate::packet::PacketBuffer;
use crate::snapshot::Mac;
use crate::verdict::DropReason;

mod template;
pub use template::Template;

/// Outer TTL / hop limit.
pub const OUTER_TTL: u8 = 64;
/// UDP + GUE header length.
pub const GUE_OVERHEAD: usize = 8 + 4;
/// Lowest GUE UDP source port: source ports come from the flow hash in 49152..=65535.
pub const GUE_SPORT_BASE: u16 = 49152;

/// Outer addresses, by the backend's family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outer {
    /// IPv4 outer header.
    V4 {
        /// Our source address.
        src: [u8; 4],
        /// The backend.
        dst: [u8; 4],
    },
    /// IPv6 outer header.
    V6 {
        /// Our source address.
        src: [u8; 16],
        /// The backend.
        dst: [u8; 16],
    },
}

impl Outer {
    /// Outer IP header length.
    #[inline]
    pub fn header_len(&self) -> usize {
        match self {
            Outer::V4 { .. } => 20,
            Outer::V6 { .. } => 40,
        }
    }
}

/// How to encapsulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunnel {
    /// Outer addresses.
    pub outer: Outer,
    /// `Some(destination port)` for GUE, `None` for plain IPIP.
    pub gue_port: Option<u16>,
    /// Largest outer IP packet allowed (the egress MTU).
    pub mtu: usize,
}

/// The GUE UDP source port for a flow hash.
#[inline]
pub fn gue_source_port(flow_hash: u64) -> u16 {
    GUE_SPORT_BASE | ((flow_hash >> 20) as u16 & 0x3fff)
}

/// Encapsulates the IP packet that starts at [`ETH_HLEN`] and is `inner_len` bytes long
/// (`inner_v6` tells its family), then sets the Ethernet addresses to `dst_mac`/`src_mac`.
///
/// Errors: `TooBig` when the result would exceed `tunnel.mtu`, `NoRoom` without headroom,
/// `Malformed` when `inner_len` does not fit the frame.
#[inline]
pub fn encapsulate<B: PacketBuffer>(
    buf: &mut B,
    inner_len: usize,
    inner_v6: bool,
    tunnel: &Tunnel,
    flow_hash: u64,
    dst_mac: &Mac,
    src_mac: &Mac,
) -> Result<(), DropReason> {
    let frame_len = ETH_HLEN + inner_len;
    if inner_len == 0 || frame_len > buf.len() {
        return Err(DropReason::Malformed);
    }
    let ip_hlen = tunnel.outer.header_len();
    let udp_len = if tunnel.gue_port.is_some() {
        GUE_OVERHEAD
    } else {
        0
    };
    let outer_len = ip_hlen + udp_len + inner_len;
    if outer_len > tunnel.mtu {
        return Err(DropReason::TooBig);
    }
    let h = ip_hlen + udp_len;
    if buf.headroom() < h {
        return Err(DropReason::NoRoom);
    }
    // Drop Ethernet padding after the inner packet.
    buf.set_len(frame_len).map_err(|_| DropReason::Malformed)?;
    buf.prepend(h).map_err(|_| DropReason::NoRoom)?;
    let f = buf.data_mut();
    let inner_at = ETH_HLEN + h;
    let inner_proto = if inner_v6 { IPPROTO_IPV6 } else { IPPROTO_IPIP };
    // DSCP + ECN of the inner packet.
    let tos = if inner_v6 {
        (f[inner_at] << 4) | (f[inner_at + 1] >> 4)
    } else {
        f[inner_at + 1]
    };
    f[0..6].copy_from_slice(dst_mac);
    f[6..12].copy_from_slice(src_mac);
    let outer_proto = if tunnel.gue_port.is_some() {
        IPPROTO_UDP
    } else {
        inner_proto
    };
    match &tunnel.outer {
        Outer::V4 { src, dst } => {
            f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
            let ip = &mut f[ETH_HLEN..ETH_HLEN + 20];
            ip[0] = 0x45;
            ip[1] = tos;
            ip[2..4].copy_from_slice(&(outer_len as u16).to_be_bytes());
            ip[4..6].fill(0); // ID: atomic datagram (DF), RFC 6864
            ip[6..8].copy_from_slice(&0x4000u16.to_be_bytes());
            ip[8] = OUTER_TTL;
            ip[9] = outer_proto;
            ip[12..16].copy_from_slice(src);
            ip[16..20].copy_from_slice(dst);
            // Checksum from the values, not by reading back what was just stored.
            let w = |a: &[u8; 4]| {
                u32::from(u16::from_be_bytes([a[0], a[1]]))
                    + u32::from(u16::from_be_bytes([a[2], a[3]]))
            };
            let acc = (0x4500 | u32::from(tos))
                + outer_len as u32
                + 0x4000
                + (u32::from(OUTER_TTL) << 8 | u32::from(outer_proto))
                + w(src)
                + w(dst);
            ip[10..12].copy_from_slice(&checksum::finish(acc).to_be_bytes());
        }
        Outer::V6 { src, dst } => {
            f[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
            let label = (flow_hash as u32) & 0x000f_ffff;
            let ip = &mut f[ETH_HLEN..ETH_HLEN + 40];
            let word = (6u32 << 28) | (u32::from(tos) << 20) | label;
            ip[0..4].copy_from_slice(&word.to_be_bytes());
            ip[4..6].copy_from_slice(&((udp_len + inner_len) as u16).to_be_bytes());
            ip[6] = outer_proto;
            ip[7] = OUTER_TTL;
            ip[8..24].copy_from_slice(src);
            ip[24..40].copy_from_slice(dst);
        }
    }
    if let Some(dport) = tunnel.gue_port {
        let u = ETH_HLEN + ip_hlen;
        let ulen = (udp_len + inner_len) as u16;
        f[u..u + 2].copy_from_slice(&gue_source_port(flow_hash).to_be_bytes());
        f[u + 2..u + 4].copy_from_slice(&dport.to_be_bytes());
        f[u + 4..u + 6].copy_from_slice(&ulen.to_be_bytes());
        f[u + 6..u + 8].fill(0);
        // GUE variant 0: version 0, C 0, Hlen 0; proto/ctype = inner protocol; flags 0.
        f[u + 8..u + 12].copy_from_slice(&[0, inner_proto, 0, 0]);
        if let Outer::V6 { src, dst } = &tunnel.outer {
            let acc = checksum::pseudo_v6(src, dst, IPPROTO_UDP, u32::from(ulen));
            let c = checksum::finish(checksum::sum(acc, &f[u..u + usize::from(ulen)]));
            let c = if c == 0 { 0xffff } else { c };
            f[u + 6..u + 8].copy_from_slice(&c.to_be_bytes());
        }
    }
    Ok(())
}

/// L2 DSR: the packet goes unchanged to the backend's MAC, from ours.
#[inline]
pub fn l2_dsr(frame: &mut [u8], dst_mac: &Mac, src_mac: &Mac) {
    if frame.len() >= 12 {
        frame[0..6].copy_from_slice(dst_mac);
        frame[6..12].copy_from_slice(src_mac);
    }
}

#[cfg(test)]
mod tests;
