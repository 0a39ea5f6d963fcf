//! Frame builders for forward-path tests and benchmarks (not used by the dataplane itself).
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::packet::checksum;
use crate::testutil::{ipv4, ipv6, PORT_MAC};

/// A TCP segment (20-byte header, checksum filled) with `flags` and `payload`, given the
/// pseudo-header sum.
fn tcp_segment(pseudo: u32, sport: u16, dport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + payload.len());
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&0x0102_0304u32.to_be_bytes()); // seq
    t.extend_from_slice(&0u32.to_be_bytes()); // ack
    t.push(5 << 4);
    t.push(flags);
    t.extend_from_slice(&64240u16.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0]);
    t.extend_from_slice(payload);
    let c = checksum::finish(checksum::sum(pseudo, &t));
    t[16..18].copy_from_slice(&c.to_be_bytes());
    t
}

/// A TCP segment in an IPv4 frame to [`PORT_MAC`].
pub fn tcp4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let len = (20 + payload.len()) as u16;
    let p = checksum::pseudo_v4(&src.octets(), &dst.octets(), 6, len);
    ipv4(
        PORT_MAC,
        src,
        dst,
        6,
        64,
        &tcp_segment(p, sport, dport, flags, payload),
    )
}

/// A TCP segment in an IPv6 frame to [`PORT_MAC`].
pub fn tcp6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    sport: u16,
    dport: u16,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let len = (20 + payload.len()) as u32;
    let p = checksum::pseudo_v6(&src.octets(), &dst.octets(), 6, len);
    ipv6(
        PORT_MAC,
        src,
        dst,
        6,
        64,
        &tcp_segment(p, sport, dport, flags, payload),
    )
}

/// A UDP datagram (checksum filled) in an IPv6 frame to [`PORT_MAC`].
pub fn udp6(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut u = Vec::with_capacity(usize::from(len));
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&len.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let acc = checksum::pseudo_v6(&src.octets(), &dst.octets(), 17, u32::from(len));
    let c = checksum::finish(checksum::sum(acc, &u));
    let c = if c == 0 { 0xffff } else { c };
    u[6..8].copy_from_slice(&c.to_be_bytes());
    ipv6(PORT_MAC, src, dst, 17, 64, &u)
}

/// An ARP reply from `sha`/`spa` to `tha`/`tpa`, padded to 60 bytes.
pub fn arp_reply(sha: [u8; 6], spa: Ipv4Addr, tha: [u8; 6], tpa: Ipv4Addr) -> Vec<u8> {
    let mut f = crate::testutil::ethernet(tha, sha, 0x0806);
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2]);
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa.octets());
    f.extend_from_slice(&tha);
    f.extend_from_slice(&tpa.octets());
    f.resize(60, 0);
    f
}

/// A Neighbor Advertisement from `src` for `target` with a Target Link-Layer Address option.
pub fn neighbor_advertisement(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    target: Ipv6Addr,
    mac: [u8; 6],
) -> Vec<u8> {
    let mut m = vec![136, 0, 0, 0, 0x60, 0, 0, 0];
    m.extend_from_slice(&target.octets());
    m.extend_from_slice(&[2, 1]);
    m.extend_from_slice(&mac);
    let acc = checksum::pseudo_v6(&src.octets(), &dst.octets(), 58, m.len() as u32);
    let c = checksum::finish(checksum::sum(acc, &m));
    m[2..4].copy_from_slice(&c.to_be_bytes());
    ipv6(PORT_MAC, src, dst, 58, 255, &m)
}
