use super::*;
use crate::answer::ndp::{self, ALL_NODES_MAC};
use crate::packet::{parse, Parsed, TestBuffer};
use crate::pipeline::{process, WorkerState};
use crate::testutil::*;
use etherparse::{Icmpv6Type, LinkSlice, NetSlice, SlicedPacket, TransportSlice};
use std::net::Ipv6Addr;

const CLIENT: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
const NODE: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
const VIP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x10, 0, 0, 0, 0, 0x10);
const OTHER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 9);
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
const OTHER_MAC: [u8; 6] = [0x02, 0xcc, 0, 0, 0, 3];

fn port() -> PortSnapshot {
    snapshot(BASIC_CONFIG).ports.remove(0)
}

/// Runs `frame` through the ICMPv6 handler on a buffer with mbuf-like room.
fn run(frame: &[u8]) -> (Verdict, Vec<u8>) {
    let mut b = TestBuffer::new(frame);
    let Ok(Parsed::Ipv6(ip)) = parse(b.data()) else {
        panic!("not ipv6")
    };
    let v = handle(&mut b, &ip, &port());
    (v, b.data().to_vec())
}

/// The ICMPv6 checksum of `msg` computed from scratch: the RFC 8200 §8.1 pseudo-header laid out
/// as bytes, followed by the message with its checksum field zeroed.
fn icmp6_checksum(src: &[u8], dst: &[u8], msg: &[u8]) -> u16 {
    let mut p = Vec::new();
    p.extend_from_slice(src);
    p.extend_from_slice(dst);
    p.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 58]);
    p.extend_from_slice(msg);
    p[40 + 2] = 0;
    p[40 + 3] = 0;
    crate::packet::checksum::checksum(&p)
}

/// Asserts the frame's ICMPv6 checksum is what a from-scratch computation gives.
fn assert_icmp6_checksum(f: &[u8]) {
    let got = u16::from_be_bytes([f[56], f[57]]);
    assert_eq!(got, icmp6_checksum(&f[22..38], &f[38..54], &f[54..]));
}

/// The Neighbor Advertisement we expect, built byte by byte.
fn expected_na(eth_dst: [u8; 6], src: Ipv6Addr, dst: Ipv6Addr, flags: u8) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&eth_dst);
    f.extend_from_slice(&PORT_MAC);
    f.extend_from_slice(&[0x86, 0xdd]);
    f.extend_from_slice(&[0x60, 0, 0, 0, 0, 32, 58, 255]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    let mut m = vec![136, 0, 0, 0, flags, 0, 0, 0];
    m.extend_from_slice(&src.octets());
    m.extend_from_slice(&[2, 1]);
    m.extend_from_slice(&PORT_MAC);
    let c = icmp6_checksum(&src.octets(), &dst.octets(), &m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&m);
    f
}

/// An NS-shaped frame with arbitrary hop limit, code and body (checksum filled).
fn ns_raw(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, code: u8, body: &[u8]) -> Vec<u8> {
    ipv6(
        ipv6_dst_mac(dst),
        src,
        dst,
        58,
        hop_limit,
        &icmp6(src, dst, 135, code, body),
    )
}

fn ns_body(target: Ipv6Addr, opts: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 4];
    b.extend_from_slice(&target.octets());
    b.extend_from_slice(opts);
    b
}

/// Decodes an advertisement with etherparse and checks what an independent parser sees.
fn etherparse_na(f: &[u8]) -> (Ipv6Addr, Ipv6Addr, u8, [u8; 4], Vec<u8>) {
    let p = SlicedPacket::from_ethernet(f).expect("etherparse accepts the frame");
    let Some(LinkSlice::Ethernet2(eth)) = &p.link else {
        panic!("no ethernet")
    };
    assert_eq!(eth.source(), PORT_MAC);
    let Some(NetSlice::Ipv6(ip)) = &p.net else {
        panic!("no ipv6")
    };
    let h = ip.header();
    let (src, dst, hl) = (h.source_addr(), h.destination_addr(), h.hop_limit());
    let Some(TransportSlice::Icmpv6(icmp)) = &p.transport else {
        panic!("no icmpv6")
    };
    assert!(icmp.is_checksum_valid(src.octets(), dst.octets()));
    let Icmpv6Type::Unknown {
        type_u8,
        code_u8,
        bytes5to8,
    } = icmp.icmp_type()
    else {
        panic!("not an NA: {:?}", icmp.icmp_type())
    };
    assert_eq!((type_u8, code_u8), (136, 0));
    (src, dst, hl, bytes5to8, icmp.payload().to_vec())
}

#[test]
fn multicast_ns_becomes_the_exact_na() {
    let ns = neighbor_solicitation(CLIENT, solicited_node(NODE), NODE, Some(CLIENT_MAC));
    assert_eq!(&ns[0..6], &[0x33, 0x33, 0xff, 0, 0, 1]);
    let (v, f) = run(&ns);
    assert_eq!(v, Verdict::Answer);
    assert_eq!(f, expected_na(CLIENT_MAC, NODE, CLIENT, 0x60));
    assert_icmp6_checksum(&f);
    let (src, dst, hl, flags, payload) = etherparse_na(&f);
    assert_eq!((src, dst, hl), (NODE, CLIENT, 255));
    assert_eq!(flags, [0x60, 0, 0, 0], "S and O set, R clear");
    assert_eq!(&payload[..16], &NODE.octets());
    assert_eq!(&payload[16..], &[2, 1, 2, 0xaa, 0, 0, 0, 1]);
}

#[test]
fn unicast_ns_for_a_vip_without_slla_goes_to_the_frame_source() {
    let mut ns = neighbor_solicitation(CLIENT, VIP, VIP, None);
    ns[6..12].copy_from_slice(&OTHER_MAC);
    assert_eq!(ns.len(), 14 + 40 + 24);
    let (v, f) = run(&ns);
    assert_eq!(v, Verdict::Answer);
    assert_eq!(f, expected_na(OTHER_MAC, VIP, CLIENT, 0x60));
    assert_icmp6_checksum(&f);
    let (src, dst, _, flags, _) = etherparse_na(&f);
    assert_eq!((src, dst, flags), (VIP, CLIENT, [0x60, 0, 0, 0]));
}

#[test]
fn slla_wins_over_the_frame_source_and_padding_is_dropped() {
    // Unicast to the node address, asking for the VIP (any of our addresses may be the
    // destination); trailing Ethernet padding must not survive into the reply.
    let mut ns = neighbor_solicitation(CLIENT, NODE, VIP, Some(CLIENT_MAC));
    ns[6..12].copy_from_slice(&OTHER_MAC);
    ns.extend_from_slice(&[0xee; 10]);
    let (v, f) = run(&ns);
    assert_eq!(v, Verdict::Answer);
    assert_eq!(f, expected_na(CLIENT_MAC, VIP, CLIENT, 0x60));
}

#[test]
fn dad_probe_is_answered_to_all_nodes_without_s() {
    let ns = neighbor_solicitation(Ipv6Addr::UNSPECIFIED, solicited_node(VIP), VIP, None);
    let (v, f) = run(&ns);
    assert_eq!(v, Verdict::Answer);
    assert_eq!(f, expected_na(ALL_NODES_MAC, VIP, ALL_NODES, 0x20));
    assert_icmp6_checksum(&f);
    let (src, dst, hl, flags, _) = etherparse_na(&f);
    assert_eq!((src, dst, hl), (VIP, ALL_NODES, 255));
    assert_eq!(flags, [0x20, 0, 0, 0], "O only");
    // With a nonce option (RFC 7527 type 14), still answered.
    let nonce = ns_body(VIP, &[14, 1, 1, 2, 3, 4, 5, 6]);
    let ns = ns_raw(Ipv6Addr::UNSPECIFIED, solicited_node(VIP), 255, 0, &nonce);
    let (v, f) = run(&ns);
    assert_eq!(v, Verdict::Answer);
    assert_eq!(f, expected_na(ALL_NODES_MAC, VIP, ALL_NODES, 0x20));
}

#[test]
fn ns_for_someone_else_is_not_for_us() {
    let ns = neighbor_solicitation(CLIENT, solicited_node(OTHER), OTHER, Some(CLIENT_MAC));
    assert_eq!(run(&ns).0, Verdict::Drop(DropReason::NotForUs));
    // Our target, but sent to another address's solicited-node group.
    let ns = neighbor_solicitation(CLIENT, solicited_node(VIP), NODE, Some(CLIENT_MAC));
    assert_eq!(run(&ns).0, Verdict::Drop(DropReason::NotForUs));
    // Unicast to an address not ours.
    let ns = neighbor_solicitation(CLIENT, OTHER, NODE, Some(CLIENT_MAC));
    assert_eq!(run(&ns).0, Verdict::Drop(DropReason::NotForUs));
}

#[test]
fn every_rfc4861_validity_failure_is_dropped() {
    let sn = solicited_node(NODE);
    let slla = [1, 1, 2, 0xcc, 0, 0, 0, 2];
    let good = ns_raw(CLIENT, sn, 255, 0, &ns_body(NODE, &slla));
    assert_eq!(run(&good).0, Verdict::Answer, "the baseline is valid");
    let cases: Vec<(&str, Vec<u8>, DropReason)> = vec![
        (
            "hop limit 254",
            ns_raw(CLIENT, sn, 254, 0, &ns_body(NODE, &slla)),
            DropReason::Malformed,
        ),
        (
            "code 1",
            ns_raw(CLIENT, sn, 255, 1, &ns_body(NODE, &slla)),
            DropReason::Malformed,
        ),
        (
            "ICMP length 20",
            ns_raw(CLIENT, sn, 255, 0, &ns_body(NODE, &[])[..16]),
            DropReason::Malformed,
        ),
        (
            "zero-length option",
            ns_raw(
                CLIENT,
                sn,
                255,
                0,
                &ns_body(NODE, &[1, 0, 2, 0xcc, 0, 0, 0, 2]),
            ),
            DropReason::Malformed,
        ),
        (
            "option longer than the message",
            ns_raw(
                CLIENT,
                sn,
                255,
                0,
                &ns_body(NODE, &[1, 2, 2, 0xcc, 0, 0, 0, 2]),
            ),
            DropReason::Malformed,
        ),
        (
            "truncated option header",
            ns_raw(CLIENT, sn, 255, 0, &ns_body(NODE, &[1])),
            DropReason::Malformed,
        ),
        (
            "multicast target",
            ns_raw(
                CLIENT,
                solicited_node(ALL_NODES),
                255,
                0,
                &ns_body(ALL_NODES, &slla),
            ),
            DropReason::Malformed,
        ),
        (
            "DAD with SLLA",
            ns_raw(Ipv6Addr::UNSPECIFIED, sn, 255, 0, &ns_body(NODE, &slla)),
            DropReason::Malformed,
        ),
        (
            "DAD to a unicast destination",
            ns_raw(Ipv6Addr::UNSPECIFIED, NODE, 255, 0, &ns_body(NODE, &[])),
            DropReason::Malformed,
        ),
        (
            "multicast source",
            ns_raw(ALL_NODES, sn, 255, 0, &ns_body(NODE, &[])),
            DropReason::Malformed,
        ),
        (
            "multicast SLLA",
            ns_raw(
                CLIENT,
                sn,
                255,
                0,
                &ns_body(NODE, &[1, 1, 0x33, 0x33, 0, 0, 0, 1]),
            ),
            DropReason::Malformed,
        ),
    ];
    for (name, f, want) in cases {
        assert_eq!(run(&f).0, Verdict::Drop(want), "{name}");
    }
    let mut bad_sum = good.clone();
    let n = bad_sum.len();
    bad_sum[n - 1] ^= 0x01;
    assert_eq!(run(&bad_sum).0, Verdict::Drop(DropReason::BadChecksum));
    // Payload length says 24 but the checksum was made over 32 bytes: the check covers exactly
    // the IPv6 payload.
    let mut short_len = good.clone();
    short_len[18..20].copy_from_slice(&24u16.to_be_bytes());
    assert_eq!(run(&short_len).0, Verdict::Drop(DropReason::BadChecksum));
}

#[test]
fn no_tailroom_for_the_na_is_a_counted_drop() {
    let ns = neighbor_solicitation(CLIENT, NODE, NODE, None);
    let mut b = TestBuffer::with_room(&ns, 128, 128 + ns.len());
    let Ok(Parsed::Ipv6(ip)) = parse(b.data()) else {
        panic!("not ipv6")
    };
    assert_eq!(
        handle(&mut b, &ip, &port()),
        Verdict::Drop(DropReason::NoRoom)
    );
    assert_eq!(b.data(), &ns[..], "untouched");
}

#[test]
fn echo_request_becomes_the_exact_reply() {
    let data: Vec<u8> = (0..57).collect();
    let req = icmpv6_echo_request(CLIENT, VIP, &data);
    let (v, f) = run(&req);
    assert_eq!(v, Verdict::Answer);
    // Independently built reply.
    let mut want = Vec::new();
    want.extend_from_slice(&CLIENT_MAC);
    want.extend_from_slice(&PORT_MAC);
    want.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    want.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    want.extend_from_slice(&[58, 64]);
    want.extend_from_slice(&VIP.octets());
    want.extend_from_slice(&CLIENT.octets());
    let mut m = vec![129, 0, 0, 0, 0x42, 0x42, 0, 7];
    m.extend_from_slice(&data);
    let c = icmp6_checksum(&VIP.octets(), &CLIENT.octets(), &m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    want.extend_from_slice(&m);
    assert_eq!(f, want);
    assert_icmp6_checksum(&f);

    let p = SlicedPacket::from_ethernet(&f).expect("etherparse accepts the reply");
    let Some(NetSlice::Ipv6(ip)) = &p.net else {
        panic!("no ipv6")
    };
    let h = ip.header();
    assert_eq!(
        (h.source_addr(), h.destination_addr(), h.hop_limit()),
        (VIP, CLIENT, 64)
    );
    let Some(TransportSlice::Icmpv6(icmp)) = &p.transport else {
        panic!("no icmpv6")
    };
    assert!(icmp.is_checksum_valid(VIP.octets(), CLIENT.octets()));
    let Icmpv6Type::EchoReply(echo) = icmp.icmp_type() else {
        panic!("not an echo reply: {:?}", icmp.icmp_type())
    };
    assert_eq!((echo.id, echo.seq), (0x4242, 7));
    assert_eq!(icmp.payload(), &data[..]);
}

#[test]
fn echo_to_the_node_address_with_low_hop_limit() {
    let mut req = icmpv6_echo_request(CLIENT, NODE, b"x");
    req[21] = 1; // hop limit is not covered by the checksum
    let (v, f) = run(&req);
    assert_eq!(v, Verdict::Answer);
    assert_eq!(f[21], REPLY_HOP_LIMIT);
    assert_icmp6_checksum(&f);
}

#[test]
fn drops_everything_but_valid_echo_requests_and_solicitations() {
    let cases: Vec<(&str, Vec<u8>, DropReason)> = vec![
        (
            "echo to an address not ours",
            icmpv6_echo_request(CLIENT, OTHER, b"x"),
            DropReason::NotForUs,
        ),
        (
            "echo to all-nodes",
            icmpv6_echo_request(CLIENT, ALL_NODES, b"x"),
            DropReason::NotForUs,
        ),
        (
            "echo from a multicast source",
            icmpv6_echo_request(ALL_NODES, VIP, b"x"),
            DropReason::Malformed,
        ),
        (
            "echo from the unspecified address",
            icmpv6_echo_request(Ipv6Addr::UNSPECIFIED, VIP, b"x"),
            DropReason::Malformed,
        ),
        (
            "echo with code 1",
            ipv6(
                PORT_MAC,
                CLIENT,
                VIP,
                58,
                64,
                &icmp6(CLIENT, VIP, 128, 1, &[0; 4]),
            ),
            DropReason::Unsupported,
        ),
        (
            "short echo",
            ipv6(
                PORT_MAC,
                CLIENT,
                VIP,
                58,
                64,
                &icmp6(CLIENT, VIP, 128, 0, &[0; 2]),
            ),
            DropReason::Malformed,
        ),
        (
            "echo reply",
            ipv6(
                PORT_MAC,
                CLIENT,
                VIP,
                58,
                64,
                &icmp6(CLIENT, VIP, 129, 0, &[0; 4]),
            ),
            DropReason::Unsupported,
        ),
        (
            "router advertisement",
            ipv6(
                ipv6_dst_mac(ALL_NODES),
                CLIENT,
                ALL_NODES,
                58,
                255,
                &icmp6(CLIENT, ALL_NODES, 134, 0, &[0; 12]),
            ),
            DropReason::Unsupported,
        ),
        (
            "neighbor advertisement",
            ipv6(
                PORT_MAC,
                CLIENT,
                NODE,
                58,
                255,
                &icmp6(CLIENT, NODE, 136, 0, &[0; 20]),
            ),
            DropReason::Unsupported,
        ),
        (
            "truncated ICMPv6 header",
            ipv6(PORT_MAC, CLIENT, VIP, 58, 64, &[128, 0]),
            DropReason::Malformed,
        ),
    ];
    for (name, f, want) in cases {
        assert_eq!(run(&f).0, Verdict::Drop(want), "{name}");
    }
    let mut bad_sum = icmpv6_echo_request(CLIENT, VIP, b"abcd");
    let n = bad_sum.len();
    bad_sum[n - 1] ^= 0xff;
    assert_eq!(run(&bad_sum).0, Verdict::Drop(DropReason::BadChecksum));
}

fn run_pipeline(frame: &[u8]) -> (Verdict, Vec<u8>) {
    let snap = snapshot(BASIC_CONFIG);
    let mut state = WorkerState::default();
    let mut b = TestBuffer::new(frame);
    let v = process(&mut b, 0, &snap, &mut state);
    (v, b.data().to_vec())
}

#[test]
fn pipeline_takes_solicited_node_multicast_and_drops_other_unicast_macs() {
    let ns = neighbor_solicitation(CLIENT, solicited_node(VIP), VIP, Some(CLIENT_MAC));
    let (v, f) = run_pipeline(&ns);
    assert_eq!(v, Verdict::Answer);
    assert_eq!(f, expected_na(CLIENT_MAC, VIP, CLIENT, 0x60));
    let (v, f) = run_pipeline(&icmpv6_echo_request(CLIENT, NODE, b"ping"));
    assert_eq!(v, Verdict::Answer);
    assert_eq!(f[54], ECHO_REPLY);
    let mut other_mac = neighbor_solicitation(CLIENT, NODE, NODE, Some(CLIENT_MAC));
    other_mac[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 9]);
    assert_eq!(
        run_pipeline(&other_mac).0,
        Verdict::Drop(DropReason::NotForUs)
    );
    let mut other_mac = icmpv6_echo_request(CLIENT, VIP, b"ping");
    other_mac[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 9]);
    assert_eq!(
        run_pipeline(&other_mac).0,
        Verdict::Drop(DropReason::NotForUs)
    );
}

#[test]
fn solicited_node_helpers_agree() {
    let t = VIP.octets();
    assert!(ndp::is_solicited_node_of(&solicited_node(VIP).octets(), &t));
    assert!(!ndp::is_solicited_node_of(
        &solicited_node(NODE).octets(),
        &t
    ));
    assert!(ndp::is_solicited_node(&solicited_node(NODE).octets()));
    assert!(!ndp::is_solicited_node(&ALL_NODES.octets()));
}

proptest::proptest! {
    #[test]
    fn random_frames_never_panic(data in proptest::collection::vec(0u8..=255, 0..200)) {
        let _ = run_pipeline(&data);
        let mut b = TestBuffer::new(&data);
        if let Ok(Parsed::Ipv6(ip)) = parse(b.data()) {
            let _ = handle(&mut b, &ip, &port());
        }
    }

    #[test]
    fn random_icmpv6_bodies_never_panic(
        ty in proptest::sample::select(vec![128u8, 129, 133, 134, 135, 136, 0]),
        code in 0u8..2,
        hop_limit in proptest::sample::select(vec![255u8, 64]),
        dad: bool,
        body in proptest::collection::vec(0u8..=255, 0..64),
        tailroom in 0usize..40,
    ) {
        let src = if dad { Ipv6Addr::UNSPECIFIED } else { CLIENT };
        let dst = solicited_node(NODE);
        // Valid checksums half the time keep the fuzzing past the checksum test.
        let mut body = body;
        if body.len() >= 20 && code == 0 {
            body[4..20].copy_from_slice(&NODE.octets());
        }
        let f = ipv6(ipv6_dst_mac(dst), src, dst, 58, hop_limit, &icmp6(src, dst, ty, code, &body));
        let mut b = TestBuffer::with_room(&f, 128, 128 + f.len() + tailroom);
        let Ok(Parsed::Ipv6(ip)) = parse(b.data()) else {
            panic!("builder makes ipv6")
        };
        if handle(&mut b, &ip, &port()) == Verdict::Answer {
            // Every answer is a well-formed NA with a valid checksum.
            let out = b.data();
            proptest::prop_assert_eq!(out.len(), 14 + 40 + 32);
            proptest::prop_assert_eq!(out[54], 136);
            let c = u16::from_be_bytes([out[56], out[57]]);
            proptest::prop_assert_eq!(c, icmp6_checksum(&out[22..38], &out[38..54], &out[54..]));
        }
    }
}
