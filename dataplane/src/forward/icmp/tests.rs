//! ICMP errors we write are decoded with etherparse.
use super::*;
use crate::forward::frames::tcp6;
use crate::packet::{parse, Parsed, TestBuffer};
use crate::testutil::{udp4, CLIENT_MAC, PORT_MAC};
use etherparse::{Icmpv4Slice, Icmpv6Slice, Ipv4Slice, Ipv6Slice};

fn meta(f: &[u8]) -> IpMeta {
    match parse(f) {
        Ok(Parsed::Ipv4(m)) | Ok(Parsed::Ipv6(m)) => m,
        other => panic!("{other:?}"),
    }
}

#[test]
fn frag_needed_quotes_the_packet_and_checks_out() {
    let client = Ipv4Addr::new(192, 0, 2, 7);
    let vip = Ipv4Addr::new(203, 0, 113, 10);
    let f = udp4(client, vip, 4000, 53, &[7u8; 1400]);
    let mut b = TestBuffer::new(&f);
    assert!(write_too_big(&mut b, &meta(&f), &PORT_MAC, 1480));
    let out = b.data();
    assert_eq!(&out[0..6], &CLIENT_MAC);
    assert_eq!(&out[6..12], &PORT_MAC);
    assert_eq!(out.len(), 14 + 576);
    let ip = Ipv4Slice::from_slice(&out[14..]).unwrap();
    let h = ip.header();
    assert_eq!(h.header_checksum(), h.to_header().calc_header_checksum());
    assert_eq!((h.source_addr(), h.destination_addr()), (vip, client));
    assert_eq!(h.protocol().0, 1);
    let icmp = Icmpv4Slice::from_slice(ip.payload().payload).unwrap();
    assert_eq!((icmp.type_u8(), icmp.code_u8()), (3, 4));
    assert!(icmp.header().icmp_type.calc_checksum(icmp.payload()) == icmp.checksum());
    assert_eq!(&icmp.bytes5to8()[2..], &1480u16.to_be_bytes());
    assert_eq!(
        icmp.payload(),
        &f[14..14 + 548],
        "quotes the start of the packet"
    );
    // What we wrote is itself an error our forward path recognises, quoting client → VIP.
    let q = quoted(ip.payload().payload, false).unwrap();
    assert_eq!(
        (q.src, q.dst, q.sport, q.dport),
        (IpAddr::V4(client), IpAddr::V4(vip), 4000, 53)
    );
}

#[test]
fn packet_too_big_for_ipv6() {
    let client: Ipv6Addr = "2001:db8:99::7".parse().unwrap();
    let vip: Ipv6Addr = "2001:db8:10::10".parse().unwrap();
    let f = tcp6(client, vip, 4000, 80, 0x10, &[9u8; 1440]);
    let mut b = TestBuffer::new(&f);
    assert!(write_too_big(&mut b, &meta(&f), &PORT_MAC, 1460));
    let out = b.data();
    assert_eq!(out.len(), 14 + 1280);
    let ip = Ipv6Slice::from_slice(&out[14..]).unwrap();
    assert_eq!(
        (ip.header().source_addr(), ip.header().destination_addr()),
        (vip, client)
    );
    let icmp = Icmpv6Slice::from_slice(ip.payload().payload).unwrap();
    assert_eq!(icmp.type_u8(), 2);
    assert!(icmp.is_checksum_valid(vip.octets(), client.octets()));
    assert_eq!(icmp.bytes5to8(), 1460u32.to_be_bytes());
    assert_eq!(icmp.payload(), &f[14..14 + 1232]);
}

#[test]
fn no_error_without_df_or_room() {
    let client = Ipv4Addr::new(192, 0, 2, 7);
    let vip = Ipv4Addr::new(203, 0, 113, 10);
    let mut f = udp4(client, vip, 4000, 53, &[7u8; 100]);
    f[20] = 0; // clear DF (checksum no longer matters here)
    let mut b = TestBuffer::new(&f);
    let mut m = meta(&udp4(client, vip, 4000, 53, &[7u8; 100]));
    m.fragment = false;
    assert!(!write_too_big(&mut b, &m, &PORT_MAC, 1480));
    let f = udp4(client, vip, 4000, 53, &[7u8; 100]);
    let mut b = TestBuffer::with_room(&f, 4, 4000);
    assert!(!write_too_big(&mut b, &meta(&f), &PORT_MAC, 1480));
}

#[test]
fn quoted_rejects_what_is_not_an_error_about_tcp_or_udp() {
    assert_eq!(quoted(&[8, 0, 0, 0, 0, 0, 0, 0], false), None);
    assert_eq!(quoted(&[3, 4, 0, 0], false), None);
    let mut m = vec![3u8, 4, 0, 0, 0, 0, 5, 0xdc];
    m.extend_from_slice(&[0x45; 20]);
    assert_eq!(quoted(&m, false), None, "too short for ports");
    assert_eq!(quoted(&[2, 0, 0, 0, 0, 0, 5, 0], true), None);
}

proptest::proptest! {
    #[test]
    fn quoted_never_panics(data in proptest::collection::vec(0u8..=255, 0..120), v6: bool) {
        let _ = quoted(&data, v6);
    }
}
