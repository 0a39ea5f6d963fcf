use super::*;
use crate::forward::frames::{arp_reply, neighbor_advertisement};
use crate::packet::{parse, Parsed, TestBuffer};
use crate::testutil::{udp4, PORT_MAC};
use std::net::{Ipv4Addr, Ipv6Addr};

const BE_MAC: Mac = [0x02, 0xbb, 0, 0, 0, 11];
const BE: [u8; 4] = [198, 51, 100, 11];

#[test]
fn unknown_then_learned_then_refreshed_then_expired() {
    let mut c = NeighborCache::new();
    let ip = v4_in_16(BE);
    assert_eq!(c.resolve(&ip, false, 0), Resolution::Request);
    assert_eq!(c.resolve(&ip, false, 10), Resolution::Wait);
    assert_eq!(
        c.resolve(&ip, false, RETRY_MS),
        Resolution::Request,
        "retry"
    );
    assert!(c.learn(&ip, false, BE_MAC, 1_500));
    assert_eq!(c.resolve(&ip, false, 2_000), Resolution::Mac(BE_MAC));
    let stale = 1_500 + REACHABLE_MS;
    assert_eq!(c.resolve(&ip, false, stale), Resolution::Refresh(BE_MAC));
    assert_eq!(c.resolve(&ip, false, stale + 1), Resolution::Mac(BE_MAC));
    assert_eq!(
        c.resolve(&ip, false, stale + RETRY_MS),
        Resolution::Refresh(BE_MAC)
    );
    // A refresh answer makes it reachable again.
    assert!(c.learn(&ip, false, BE_MAC, stale + RETRY_MS + 5));
    assert_eq!(
        c.resolve(&ip, false, stale + 2 * RETRY_MS),
        Resolution::Mac(BE_MAC)
    );
    // Unanswered past the stale window: unresolved again.
    let dead = stale + RETRY_MS + 5 + REACHABLE_MS + STALE_MS;
    assert_eq!(c.resolve(&ip, false, dead), Resolution::Request);
    assert_eq!(c.resolve(&ip, false, dead + 1), Resolution::Wait);
}

#[test]
fn only_asked_for_addresses_are_learned() {
    let mut c = NeighborCache::new();
    assert!(!c.learn(&v4_in_16(BE), false, BE_MAC, 0));
    assert_eq!(c.resolve(&v4_in_16(BE), false, 0), Resolution::Request);
    assert!(
        !c.learn(&v4_in_16(BE), false, [0xff; 6], 0),
        "broadcast MAC"
    );
    assert!(!c.learn(&v4_in_16(BE), true, BE_MAC, 0), "other family");
    assert!(c.learn(&v4_in_16(BE), false, BE_MAC, 0));
}

#[test]
fn a_full_cache_evicts_instead_of_failing() {
    let mut c = NeighborCache::new();
    for i in 0..4 * NEIGHBOR_SLOTS as u32 {
        let ip = v4_in_16(i.to_be_bytes());
        assert_eq!(c.resolve(&ip, false, u64::from(i)), Resolution::Request);
        assert!(c.learn(&ip, false, BE_MAC, u64::from(i)));
    }
    let last = v4_in_16((4 * NEIGHBOR_SLOTS as u32 - 1).to_be_bytes());
    assert_eq!(c.resolve(&last, false, 5_000), Resolution::Mac(BE_MAC));
}

#[test]
fn learns_from_arp_and_ndp_frames() {
    let mut c = NeighborCache::new();
    c.resolve(&v4_in_16(BE), false, 0);
    let f = arp_reply(
        BE_MAC,
        Ipv4Addr::from(BE),
        PORT_MAC,
        Ipv4Addr::new(198, 51, 100, 1),
    );
    assert!(c.learn_arp(&f, 1));
    assert_eq!(c.resolve(&v4_in_16(BE), false, 2), Resolution::Mac(BE_MAC));

    let be6: Ipv6Addr = "2001:db8:1::11".parse().unwrap();
    let us6: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
    c.resolve(&be6.octets(), true, 0);
    let na = neighbor_advertisement(be6, us6, be6, BE_MAC);
    let Ok(Parsed::Ipv6(ip)) = parse(&na) else {
        panic!("ipv6")
    };
    assert!(c.learn_ndp(&na, &ip, 1));
    assert_eq!(c.resolve(&be6.octets(), true, 2), Resolution::Mac(BE_MAC));
    // Hop limit other than 255 is not NDP.
    let mut bad = na.clone();
    bad[21] = 64;
    let Ok(Parsed::Ipv6(ip)) = parse(&bad) else {
        panic!("ipv6")
    };
    assert!(!c.learn_ndp(&bad, &ip, 3));
}

#[test]
fn writes_an_arp_request() {
    let mut b = TestBuffer::new(&udp4(
        Ipv4Addr::new(1, 2, 3, 4),
        Ipv4Addr::new(5, 6, 7, 8),
        1,
        2,
        b"x",
    ));
    assert!(write_arp_request(&mut b, &PORT_MAC, [198, 51, 100, 1], BE));
    let f = b.data();
    assert_eq!(f.len(), 60);
    let a = arp::parse(f).expect("valid ARP");
    assert_eq!(a.op, arp::OP_REQUEST);
    assert_eq!((a.sha, a.spa, a.tpa), (PORT_MAC, [198, 51, 100, 1], BE));
    assert_eq!(&f[0..6], &[0xff; 6]);
    assert_eq!(&f[6..12], &PORT_MAC);
}

#[test]
fn writes_a_neighbor_solicitation() {
    let us: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
    let target: Ipv6Addr = "2001:db8:1::abcd:11".parse().unwrap();
    let mut b = TestBuffer::new(&udp4(
        Ipv4Addr::new(1, 2, 3, 4),
        Ipv4Addr::new(5, 6, 7, 8),
        1,
        2,
        b"x",
    ));
    assert!(write_neighbor_solicitation(
        &mut b,
        &PORT_MAC,
        us.octets(),
        target.octets()
    ));
    let f = b.data();
    let ip = etherparse::Ipv6Slice::from_slice(&f[14..]).expect("ipv6");
    let h = ip.header();
    assert_eq!(h.hop_limit(), 255);
    assert_eq!(h.next_header().0, 58);
    assert_eq!(
        h.destination_addr(),
        "ff02::1:ffcd:11".parse::<Ipv6Addr>().unwrap()
    );
    assert_eq!(&f[0..6], &[0x33, 0x33, 0xff, 0xcd, 0x00, 0x11]);
    let icmp = etherparse::Icmpv6Slice::from_slice(ip.payload().payload).unwrap();
    assert_eq!(icmp.type_u8(), 135);
    assert!(
        icmp.is_checksum_valid(us.octets(), h.destination()),
        "ICMPv6 checksum"
    );
    let body = &icmp.slice()[8..];
    assert_eq!(&body[0..16], &target.octets());
    assert_eq!(&body[16..24], &[1, 1, 2, 0xaa, 0, 0, 0, 1]);
}

#[test]
fn requests_need_room() {
    let mut b = TestBuffer::with_room(&[0u8; 20], 0, 20);
    assert!(!write_arp_request(&mut b, &PORT_MAC, [1; 4], BE));
    assert!(!write_neighbor_solicitation(
        &mut b, &PORT_MAC, [1; 16], [2; 16]
    ));
}
