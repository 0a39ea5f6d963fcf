//! Outputs are decoded with etherparse (not the code that wrote them).
use super::*;
use crate::forward::frames::{tcp6, udp6};
use crate::packet::TestBuffer;
use crate::testutil::{udp4, PORT_MAC};
use etherparse::{Ethernet2HeaderSlice, Ipv4Slice, Ipv6Slice, UdpHeaderSlice};
use std::net::{Ipv4Addr, Ipv6Addr};

const NH_MAC: Mac = [0x02, 0xbb, 0, 0, 0, 11];
const OUR4: [u8; 4] = [198, 51, 100, 1];
const BE4: [u8; 4] = [10, 0, 0, 11];
const OUR6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const BE6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11,
];
const HASH: u64 = 0x1234_5678_9abc_def0;

/// A UDP/IPv4 frame to the VIP (also used by the template's tests).
pub(super) fn v4_frame() -> Vec<u8> {
    udp4(
        Ipv4Addr::new(192, 0, 2, 7),
        Ipv4Addr::new(203, 0, 113, 10),
        40000,
        80,
        b"hello, backend",
    )
}

/// A TCP SYN/IPv6 frame to the VIP (also used by the template's tests).
pub(super) fn v6_frame() -> Vec<u8> {
    tcp6(
        "2001:db8:99::7".parse().unwrap(),
        "2001:db8:10::10".parse().unwrap(),
        40000,
        443,
        0x02,
        b"syn payload",
    )
}

fn tunnel(outer: Outer, gue: Option<u16>) -> Tunnel {
    Tunnel {
        outer,
        gue_port: gue,
        mtu: 1500,
    }
}

/// Encapsulates `frame` and returns the output and the inner IP packet that went in.
fn run(frame: &[u8], t: &Tunnel) -> (Vec<u8>, Vec<u8>) {
    let inner = frame[14..].to_vec();
    let v6 = frame[12..14] == [0x86, 0xdd];
    let mut b = TestBuffer::new(frame);
    encapsulate(&mut b, inner.len(), v6, t, HASH, &NH_MAC, &PORT_MAC).expect("encapsulates");
    (b.data().to_vec(), inner)
}

fn check_ethernet(out: &[u8], ethertype: u16) {
    let eth = Ethernet2HeaderSlice::from_slice(out).unwrap();
    assert_eq!(eth.destination(), NH_MAC);
    assert_eq!(eth.source(), PORT_MAC);
    assert_eq!(eth.ether_type().0, ethertype);
}

/// Checks the outer IPv4 header and returns its payload.
fn check_outer_v4(out: &[u8], proto: u8) -> Vec<u8> {
    check_ethernet(out, 0x0800);
    let ip = Ipv4Slice::from_slice(&out[14..]).expect("outer ipv4");
    let h = ip.header();
    assert_eq!(h.ihl(), 5);
    assert_eq!(h.ttl(), 64);
    assert!(h.dont_fragment());
    assert_eq!(h.protocol().0, proto);
    assert_eq!(h.source(), OUR4);
    assert_eq!(h.destination(), BE4);
    assert_eq!(usize::from(h.total_len()), out.len() - 14);
    assert_eq!(
        h.header_checksum(),
        h.to_header().calc_header_checksum(),
        "outer IPv4 checksum"
    );
    ip.payload().payload.to_vec()
}

/// Checks the outer IPv6 header and returns its payload.
fn check_outer_v6(out: &[u8], next: u8) -> Vec<u8> {
    check_ethernet(out, 0x86dd);
    let ip = Ipv6Slice::from_slice(&out[14..]).expect("outer ipv6");
    let h = ip.header();
    assert_eq!(h.hop_limit(), 64);
    assert_eq!(h.next_header().0, next);
    assert_eq!(h.source(), OUR6);
    assert_eq!(h.destination(), BE6);
    assert_eq!(usize::from(h.payload_length()), out.len() - 14 - 40);
    assert_eq!(h.flow_label().value(), (HASH as u32) & 0xf_ffff);
    ip.payload().payload.to_vec()
}

#[test]
fn ipip_4in4() {
    let t = tunnel(
        Outer::V4 {
            src: OUR4,
            dst: BE4,
        },
        None,
    );
    let (out, inner) = run(&v4_frame(), &t);
    assert_eq!(out.len(), 14 + 20 + inner.len());
    assert_eq!(
        check_outer_v4(&out, 4),
        inner,
        "inner packet byte-identical"
    );
    // The inner packet still decodes with valid checksums.
    let ip = Ipv4Slice::from_slice(&inner).unwrap();
    assert_eq!(
        ip.header().header_checksum(),
        ip.header().to_header().calc_header_checksum()
    );
}

#[test]
fn ipip_6in6() {
    let t = tunnel(
        Outer::V6 {
            src: OUR6,
            dst: BE6,
        },
        None,
    );
    let (out, inner) = run(&v6_frame(), &t);
    assert_eq!(out.len(), 14 + 40 + inner.len());
    assert_eq!(check_outer_v6(&out, 41), inner);
}

#[test]
fn ipip_4in6() {
    let t = tunnel(
        Outer::V6 {
            src: OUR6,
            dst: BE6,
        },
        None,
    );
    let (out, inner) = run(&v4_frame(), &t);
    assert_eq!(check_outer_v6(&out, 4), inner);
}

#[test]
fn ipip_6in4() {
    let t = tunnel(
        Outer::V4 {
            src: OUR4,
            dst: BE4,
        },
        None,
    );
    let (out, inner) = run(&v6_frame(), &t);
    assert_eq!(check_outer_v4(&out, 41), inner);
}

#[test]
fn outer_copies_dscp_and_ecn() {
    let mut f = v4_frame();
    f[15] = 0xb9; // DSCP 46 (EF), ECN 01
    let c = crate::packet::checksum::checksum(&{
        let mut h = f[14..34].to_vec();
        h[10] = 0;
        h[11] = 0;
        h
    });
    f[24..26].copy_from_slice(&c.to_be_bytes());
    let t = tunnel(
        Outer::V4 {
            src: OUR4,
            dst: BE4,
        },
        None,
    );
    let (out, _) = run(&f, &t);
    assert_eq!(out[15], 0xb9);
}

/// Checks UDP + GUE and returns the GUE payload.
fn check_gue(udp: &[u8], inner_proto: u8) -> Vec<u8> {
    let u = UdpHeaderSlice::from_slice(udp).unwrap();
    assert_eq!(u.destination_port(), 6080);
    assert_eq!(u.source_port(), gue_source_port(HASH));
    assert!(u.source_port() >= GUE_SPORT_BASE);
    assert_eq!(usize::from(u.length()), udp.len());
    // GUE variant 0: version 0, C 0, Hlen 0, proto = inner protocol, flags 0.
    assert_eq!(&udp[8..12], &[0, inner_proto, 0, 0]);
    udp[12..].to_vec()
}

#[test]
fn gue_over_ipv4() {
    let t = tunnel(
        Outer::V4 {
            src: OUR4,
            dst: BE4,
        },
        Some(6080),
    );
    let (out, inner) = run(&v4_frame(), &t);
    assert_eq!(out.len(), 14 + 20 + 8 + 4 + inner.len());
    let udp = check_outer_v4(&out, 17);
    // IPv4: zero UDP checksum ("no checksum").
    assert_eq!(UdpHeaderSlice::from_slice(&udp).unwrap().checksum(), 0);
    assert_eq!(check_gue(&udp, 4), inner);
}

#[test]
fn gue_over_ipv6_with_checksum() {
    let t = tunnel(
        Outer::V6 {
            src: OUR6,
            dst: BE6,
        },
        Some(6080),
    );
    let (out, inner) = run(&v6_frame(), &t);
    let udp = check_outer_v6(&out, 17);
    let h = UdpHeaderSlice::from_slice(&udp).unwrap().to_header();
    let want = h.calc_checksum_ipv6_raw(OUR6, BE6, &udp[8..]).unwrap();
    assert_ne!(h.checksum, 0);
    assert_eq!(h.checksum, want, "UDP checksum over IPv6");
    assert_eq!(check_gue(&udp, 41), inner);
}

#[test]
fn gue_4in6() {
    let t = tunnel(
        Outer::V6 {
            src: OUR6,
            dst: BE6,
        },
        Some(6080),
    );
    let (out, inner) = run(&v4_frame(), &t);
    let udp = check_outer_v6(&out, 17);
    assert_eq!(check_gue(&udp, 4), inner);
}

#[test]
fn source_ports_spread_with_the_flow_hash() {
    let ports: std::collections::HashSet<u16> = (0..1000u64)
        .map(|i| gue_source_port(crate::forward::hash::hash5([i, 0, 0, 0, 0], 0)))
        .collect();
    assert!(ports.len() > 900, "{} distinct ports", ports.len());
}

#[test]
fn ethernet_padding_is_trimmed() {
    let mut f = udp4(
        Ipv4Addr::new(192, 0, 2, 7),
        Ipv4Addr::new(203, 0, 113, 10),
        1,
        80,
        b"",
    );
    let inner = f[14..].to_vec();
    f.resize(60, 0xee);
    let mut b = TestBuffer::new(&f);
    let t = tunnel(
        Outer::V4 {
            src: OUR4,
            dst: BE4,
        },
        None,
    );
    encapsulate(&mut b, inner.len(), false, &t, HASH, &NH_MAC, &PORT_MAC).unwrap();
    assert_eq!(check_outer_v4(b.data(), 4), inner);
}

#[test]
fn too_big_and_no_room() {
    // 1480-byte inner packet: exactly 1500 with IPIP over IPv4.
    let payload = vec![0x5a; 1480 - 28];
    let f = udp4(
        Ipv4Addr::new(192, 0, 2, 7),
        Ipv4Addr::new(203, 0, 113, 10),
        1,
        80,
        &payload,
    );
    let t = tunnel(
        Outer::V4 {
            src: OUR4,
            dst: BE4,
        },
        None,
    );
    let mut b = TestBuffer::new(&f);
    assert_eq!(
        encapsulate(&mut b, 1480, false, &t, HASH, &NH_MAC, &PORT_MAC),
        Ok(())
    );
    assert_eq!(b.len(), 1514);
    let mut b = TestBuffer::new(&f);
    let gue = tunnel(
        Outer::V4 {
            src: OUR4,
            dst: BE4,
        },
        Some(6080),
    );
    assert_eq!(
        encapsulate(&mut b, 1480, false, &gue, HASH, &NH_MAC, &PORT_MAC),
        Err(DropReason::TooBig)
    );
    assert_eq!(b.data(), &f[..], "untouched on error");
    let mut b = TestBuffer::with_room(&f, 10, 4000);
    assert_eq!(
        encapsulate(&mut b, 1480, false, &t, HASH, &NH_MAC, &PORT_MAC),
        Err(DropReason::NoRoom)
    );
    assert_eq!(b.data(), &f[..]);
    let mut b = TestBuffer::new(&f);
    assert_eq!(
        encapsulate(&mut b, 5000, false, &t, HASH, &NH_MAC, &PORT_MAC),
        Err(DropReason::Malformed)
    );
}

#[test]
fn l2_dsr_rewrites_only_the_macs() {
    let f = udp6(
        Ipv6Addr::LOCALHOST,
        "2001:db8:10::10".parse().unwrap(),
        5,
        53,
        b"x",
    );
    let mut out = f.clone();
    l2_dsr(&mut out, &NH_MAC, &PORT_MAC);
    let eth = Ethernet2HeaderSlice::from_slice(&out).unwrap();
    assert_eq!(eth.destination(), NH_MAC);
    assert_eq!(eth.source(), PORT_MAC);
    assert_eq!(out[12..], f[12..]);
    let mut short = vec![1u8; 5];
    l2_dsr(&mut short, &NH_MAC, &PORT_MAC);
    assert_eq!(short, vec![1u8; 5]);
}
