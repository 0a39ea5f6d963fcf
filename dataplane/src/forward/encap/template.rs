//! Prerendered outer headers: a backend's IPIP/GUE headers are built once, when the service is
//! compiled, with every per-packet field zero; the hot path copies them with fixed-size moves and
//! patches DSCP/ECN, lengths, the GUE source port / IPv6 flow label and the checksums (the IPv4
//! header checksum incrementally from the template's partial sum). The output is byte-for-byte
//! that of [`super::encapsulate`] (see the tests).
use super::{gue_source_port, Outer, Tunnel, GUE_OVERHEAD, OUTER_TTL};
use crate::packet::checksum;
use crate::packet::parse::{ETH_HLEN, IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_UDP};
use crate::packet::PacketBuffer;
use crate::snapshot::Mac;
use crate::verdict::DropReason;

/// Longest prerendered header: IPv6 + UDP + GUE.
const MAX_HDR: usize = 40 + GUE_OVERHEAD;

/// The outer family and whether GUE follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    V4,
    V4Gue,
    V6,
    V6Gue,
}

/// A backend's outer headers, rendered ahead of the packets (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    kind: Kind,
    /// Outer IP header (+ UDP + GUE), per-packet fields zero.
    hdr: [u8; MAX_HDR],
    /// IPv4: one's-complement sum of the header's constant words (IPIP and GUE alike, minus the
    /// protocol). IPv6 GUE: the pseudo-header sum of the addresses and the protocol.
    sum: u32,
    /// Largest inner packet that fits the MTU once encapsulated.
    max_inner: usize,
}

impl Template {
    /// Renders `tunnel`'s headers.
    pub fn new(tunnel: &Tunnel) -> Self {
        let gue = tunnel.gue_port.is_some();
        let udp_len = if gue { GUE_OVERHEAD } else { 0 };
        let mut hdr = [0u8; MAX_HDR];
        let (kind, ip_hlen, sum) = match &tunnel.outer {
            Outer::V4 { src, dst } => {
                hdr[0] = 0x45;
                hdr[6..8].copy_from_slice(&0x4000u16.to_be_bytes());
                hdr[8] = OUTER_TTL;
                // Protocol: fixed for GUE, the inner family's for IPIP (patched per packet).
                hdr[9] = if gue { IPPROTO_UDP } else { 0 };
                hdr[12..16].copy_from_slice(src);
                hdr[16..20].copy_from_slice(dst);
                let sum = checksum::sum(0, &hdr[..20]);
                (if gue { Kind::V4Gue } else { Kind::V4 }, 20, sum)
            }
            Outer::V6 { src, dst } => {
                hdr[6] = if gue { IPPROTO_UDP } else { 0 };
                hdr[7] = OUTER_TTL;
                hdr[8..24].copy_from_slice(src);
                hdr[24..40].copy_from_slice(dst);
                let sum = checksum::pseudo_v6(src, dst, IPPROTO_UDP, 0);
                (if gue { Kind::V6Gue } else { Kind::V6 }, 40, sum)
            }
        };
        if let Some(dport) = tunnel.gue_port {
            hdr[ip_hlen + 2..ip_hlen + 4].copy_from_slice(&dport.to_be_bytes());
        }
        Self {
            kind,
            hdr,
            sum,
            max_inner: tunnel.mtu.saturating_sub(ip_hlen + udp_len),
        }
    }

    /// The largest inner packet the MTU lets through (what a packet-too-big tells the client).
    #[inline]
    pub fn mtu(&self) -> usize {
        self.max_inner
    }

    /// Bytes the outer headers add in front of the inner IP packet.
    #[inline]
    pub fn overhead(&self) -> usize {
        match self.kind {
            Kind::V4 => 20,
            Kind::V4Gue => 20 + GUE_OVERHEAD,
            Kind::V6 => 40,
            Kind::V6Gue => 40 + GUE_OVERHEAD,
        }
    }

    /// [`super::encapsulate`] from the template: `frame_len` is the buffer's current length (the
    /// caller has it), the rest as there. Same errors, same output.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub fn encapsulate<B: PacketBuffer>(
        &self,
        buf: &mut B,
        frame_len: usize,
        inner_len: usize,
        inner_v6: bool,
        flow_hash: u64,
        dst_mac: &Mac,
        src_mac: &Mac,
    ) -> Result<(), DropReason> {
        let want = ETH_HLEN + inner_len;
        if inner_len == 0 || want > frame_len {
            return Err(DropReason::Malformed);
        }
        if inner_len > self.max_inner {
            return Err(DropReason::TooBig);
        }
        let h = self.overhead();
        if buf.headroom() < h {
            return Err(DropReason::NoRoom);
        }
        // Drop Ethernet padding after the inner packet (rare: skip the call when there is none).
        if frame_len > want {
            buf.trim(frame_len - want)
                .map_err(|_| DropReason::Malformed)?;
        }
        buf.prepend(h).map_err(|_| DropReason::NoRoom)?;
        let f = buf.data_mut();
        let p = Patch {
            inner_v6,
            inner_len,
            flow_hash,
            dst_mac,
            src_mac,
        };
        // Fixed-size views of the new headers: every store below has a constant offset.
        let done = match self.kind {
            Kind::V4 => self.v4::<{ ETH_HLEN + 20 }>(f, &p),
            Kind::V4Gue => self.v4::<{ ETH_HLEN + 20 + GUE_OVERHEAD }>(f, &p),
            Kind::V6 => self.v6::<{ ETH_HLEN + 40 }>(f, &p),
            Kind::V6Gue => self.v6::<{ ETH_HLEN + 40 + GUE_OVERHEAD }>(f, &p),
        };
        done.ok_or(DropReason::Malformed)
    }

    /// Writes Ethernet + IPv4 (+ UDP + GUE) headers, `N` bytes, at the front of `f`.
    #[inline(always)]
    fn v4<const N: usize>(&self, f: &mut [u8], p: &Patch) -> Option<()> {
        let (hdr, inner) = f.split_first_chunk_mut::<N>()?;
        let (tos, inner_proto) = inner_tos(inner, p.inner_v6)?;
        eth(hdr, p, 0x0800);
        let gue = N > ETH_HLEN + 20;
        hdr[ETH_HLEN..].copy_from_slice(&self.hdr[..N - ETH_HLEN]);
        let outer_len = N - ETH_HLEN + p.inner_len;
        let ip = &mut hdr[ETH_HLEN..];
        let proto = if gue { 0 } else { inner_proto };
        ip[1] = tos;
        ip[2..4].copy_from_slice(&(outer_len as u16).to_be_bytes());
        let acc = self.sum + u32::from(tos) + outer_len as u32 + u32::from(proto);
        ip[10..12].copy_from_slice(&checksum::finish(acc).to_be_bytes());
        if gue {
            let u = &mut ip[20..];
            u[0..2].copy_from_slice(&gue_source_port(p.flow_hash).to_be_bytes());
            u[4..6].copy_from_slice(&((GUE_OVERHEAD + p.inner_len) as u16).to_be_bytes());
            u[9] = inner_proto;
        } else {
            ip[9] = proto;
        }
        Some(())
    }

    /// Writes Ethernet + IPv6 (+ UDP + GUE) headers, `N` bytes, at the front of `f`.
    #[inline(always)]
    fn v6<const N: usize>(&self, f: &mut [u8], p: &Patch) -> Option<()> {
        let (hdr, inner) = f.split_first_chunk_mut::<N>()?;
        let (tos, inner_proto) = inner_tos(inner, p.inner_v6)?;
        eth(hdr, p, 0x86dd);
        let gue = N > ETH_HLEN + 40;
        hdr[ETH_HLEN..].copy_from_slice(&self.hdr[..N - ETH_HLEN]);
        let ip = &mut hdr[ETH_HLEN..];
        let label = (p.flow_hash as u32) & 0x000f_ffff;
        let word = (6u32 << 28) | (u32::from(tos) << 20) | label;
        ip[0..4].copy_from_slice(&word.to_be_bytes());
        let payload = (N - ETH_HLEN - 40 + p.inner_len) as u16;
        ip[4..6].copy_from_slice(&payload.to_be_bytes());
        if gue {
            let u = &mut ip[40..];
            u[0..2].copy_from_slice(&gue_source_port(p.flow_hash).to_be_bytes());
            u[4..6].copy_from_slice(&payload.to_be_bytes());
            u[9] = inner_proto;
            let acc = self.sum + u32::from(payload);
            let acc = checksum::sum(checksum::sum(acc, u), inner);
            let c = checksum::finish(acc);
            let c = if c == 0 { 0xffff } else { c };
            u[6..8].copy_from_slice(&c.to_be_bytes());
        } else {
            ip[6] = inner_proto;
        }
        Some(())
    }
}

/// The per-packet values patched into a template.
struct Patch<'a> {
    inner_v6: bool,
    inner_len: usize,
    flow_hash: u64,
    dst_mac: &'a Mac,
    src_mac: &'a Mac,
}

/// DSCP + ECN of the inner packet, and the IPIP protocol number of its family.
#[inline(always)]
fn inner_tos(inner: &[u8], v6: bool) -> Option<(u8, u8)> {
    let &[a, b] = inner.first_chunk::<2>()?;
    Some(if v6 {
        ((a << 4) | (b >> 4), IPPROTO_IPV6)
    } else {
        (b, IPPROTO_IPIP)
    })
}

/// The Ethernet header: next hop, our MAC, `ethertype`.
#[inline(always)]
fn eth<const N: usize>(hdr: &mut [u8; N], p: &Patch, ethertype: u16) {
    hdr[0..6].copy_from_slice(p.dst_mac);
    hdr[6..12].copy_from_slice(p.src_mac);
    hdr[12..14].copy_from_slice(&ethertype.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward::encap::encapsulate;
    use crate::forward::encap::tests::{v4_frame, v6_frame};
    use crate::forward::frames::udp6;
    use crate::packet::TestBuffer;
    use crate::testutil::PORT_MAC;

    const NH: Mac = [0x02, 0xbb, 0, 0, 0, 11];

    fn frames() -> Vec<Vec<u8>> {
        let mut v4 = v4_frame();
        v4[15] = 0xb9; // DSCP/ECN
        let mut padded = v4.clone();
        padded.resize(64, 0);
        let v6 = v6_frame();
        let u6 = udp6(
            "2001:db8:99::7".parse().unwrap(),
            "2001:db8:10::10".parse().unwrap(),
            5353,
            53,
            b"odd-length payload!",
        );
        vec![v4, padded, v6, u6]
    }

    fn tunnels() -> Vec<Tunnel> {
        let o4 = Outer::V4 {
            src: [198, 51, 100, 1],
            dst: [10, 0, 0, 11],
        };
        let o6 = Outer::V6 {
            src: "2001:db8:1::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
            dst: "2001:db8:2::11"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        };
        let mut v = Vec::new();
        for outer in [o4, o6] {
            for gue_port in [None, Some(6080)] {
                for mtu in [1500, 80] {
                    v.push(Tunnel {
                        outer,
                        gue_port,
                        mtu,
                    });
                }
            }
        }
        v
    }

    #[test]
    fn same_bytes_and_errors_as_encapsulate() {
        for t in tunnels() {
            let tpl = Template::new(&t);
            for f in frames() {
                let v6 = f[12..14] == [0x86, 0xdd];
                let inner = if v6 {
                    40 + usize::from(u16::from_be_bytes([f[18], f[19]]))
                } else {
                    usize::from(u16::from_be_bytes([f[16], f[17]]))
                };
                for hash in [0u64, 0x1234_5678_9abc_def0, u64::MAX] {
                    for inner_len in [inner, 0, f.len()] {
                        let mut a = TestBuffer::new(&f);
                        let mut b = TestBuffer::new(&f);
                        let ra = encapsulate(&mut a, inner_len, v6, &t, hash, &NH, &PORT_MAC);
                        let rb =
                            tpl.encapsulate(&mut b, f.len(), inner_len, v6, hash, &NH, &PORT_MAC);
                        assert_eq!(ra, rb, "{t:?} len {inner_len}");
                        if ra.is_ok() {
                            assert_eq!(a.data(), b.data(), "{t:?} hash {hash:x}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn no_headroom_is_no_room() {
        let t = tunnels()[0];
        let f = &frames()[0];
        let mut b = TestBuffer::with_room(f, 4, 2048);
        let inner = f.len() - ETH_HLEN;
        assert_eq!(
            Template::new(&t).encapsulate(&mut b, f.len(), inner, false, 0, &NH, &PORT_MAC),
            Err(DropReason::NoRoom)
        );
    }
}
