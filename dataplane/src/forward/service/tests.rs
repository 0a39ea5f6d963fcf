//! The forward path end to end through [`crate::pipeline::process`], on byte buffers.
use super::*;
use crate::forward::flow_table::{FlowTableConfig, TCP_ACK, TCP_SYN};
use crate::forward::frames::{arp_reply, neighbor_advertisement, tcp4, tcp6};
use crate::packet::TestBuffer;
use crate::pipeline::{process, WorkerState};
use crate::snapshot::{ServiceRuntime, Snapshot};
use crate::testutil::{snapshot, udp4, CLIENT_MAC, PORT_MAC};
use etherparse::{Ipv4Slice, Ipv6Slice};
use std::net::{Ipv4Addr, Ipv6Addr};

const VIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const VIP6: &str = "2001:db8:10::10";

fn config(encap: &str, backends: &[(&str, u32, &str)]) -> String {
    let mut c = format!(
        r#"
[[port]]
name = "edge0"
device = "net_null0"
addresses = ["198.51.100.1/24", "2001:db8:1::1/64"]
[[vip]]
address = "203.0.113.10"
[[vip]]
address = "2001:db8:10::10"
[[service]]
name = "web"
vip = ["203.0.113.10", "2001:db8:10::10"]
protocol = "tcp"
port = 80
kind = "forward"
encap = "{encap}"
[[service]]
name = "udp"
vip = "203.0.113.10"
protocol = "udp"
port = 0
kind = "forward"
encap = "{encap}"
"#
    );
    let mut backends_toml = String::new();
    for (a, w, s) in backends {
        backends_toml.push_str(&format!(
            "[[service.backend]]\naddress = \"{a}\"\nweight = {w}\nstate = \"{s}\"\n"
        ));
    }
    // Both services get the same backends.
    let at = c.find("[[service]]\nname = \"udp\"").unwrap();
    c.insert_str(at, &backends_toml);
    c.push_str(&backends_toml);
    c
}

fn mac_of(i: usize) -> Mac {
    [0x02, 0xbb, 0, 0, 0, i as u8]
}

fn service(snap: &Snapshot, idx: usize) -> &ForwardService {
    match &snap.services[idx].runtime {
        ServiceRuntime::Forward(f) => f,
        ServiceRuntime::Dns(_) => panic!("not forward"),
    }
}

/// Resolves every on-link backend of service 0 in `st`'s neighbour cache.
fn learn_all(snap: &Snapshot, st: &mut WorkerState) {
    for (i, b) in service(snap, 0).backends().iter().enumerate() {
        if let NextHop::Neighbor { ip, v6, .. } = b.next_hop {
            st.forward.neighbors.resolve(&ip, v6, 0);
            assert!(st.forward.neighbors.learn(&ip, v6, mac_of(i), st.now_ms));
        }
    }
}

fn run(snap: &Snapshot, st: &mut WorkerState, frame: &[u8]) -> (Verdict, Vec<u8>) {
    let mut b = TestBuffer::new(frame);
    let v = process(&mut b, 0, snap, st);
    (v, b.data().to_vec())
}

fn syn(client: u32, sport: u16) -> Vec<u8> {
    tcp4(Ipv4Addr::from(client), VIP, sport, 80, TCP_SYN, b"")
}

fn ack(client: u32, sport: u16) -> Vec<u8> {
    tcp4(
        Ipv4Addr::from(client),
        VIP,
        sport,
        80,
        TCP_ACK,
        b"GET / HTTP/1.1\r\n\r\n",
    )
}

/// The backend index an IPIP-over-IPv4 output went to (by outer destination).
fn backend_of(snap: &Snapshot, out: &[u8]) -> usize {
    let ip = Ipv4Slice::from_slice(&out[14..]).expect("outer ipv4");
    let dst = IpAddr::V4(ip.header().destination_addr());
    service(snap, 0)
        .backends()
        .iter()
        .position(|b| b.address == dst)
        .expect("a backend")
}

const FOUR: [(&str, u32, &str); 4] = [
    ("198.51.100.11", 1, "active"),
    ("198.51.100.12", 1, "active"),
    ("198.51.100.13", 1, "active"),
    ("198.51.100.14", 1, "active"),
];

#[test]
fn unresolved_next_hop_becomes_an_arp_request_then_forwards_once_learned() {
    let snap = snapshot(&config("ipip", &FOUR[..1]));
    let mut st = WorkerState {
        now_ms: 1_000,
        ..WorkerState::default()
    };
    let (v, out) = run(&snap, &mut st, &syn(0xc000_0207, 40000));
    assert_eq!(v, Verdict::Answer, "the packet became an ARP request");
    let a = crate::answer::arp::parse(&out).unwrap();
    assert_eq!(a.op, crate::answer::arp::OP_REQUEST);
    assert_eq!(
        (a.spa, a.tpa, a.sha),
        ([198, 51, 100, 1], [198, 51, 100, 11], PORT_MAC)
    );
    let (v, _) = run(&snap, &mut st, &ack(0xc000_0207, 40000));
    assert_eq!(v, Verdict::Drop(DropReason::NextHopUnresolved));
    assert_eq!(st.forward.counters.unresolved, 2);
    assert_eq!(st.forward.counters.neighbor_requests, 1);
    // The backend answers; the pipeline learns it (and still drops the reply).
    let reply = arp_reply(
        mac_of(9),
        Ipv4Addr::new(198, 51, 100, 11),
        PORT_MAC,
        Ipv4Addr::new(198, 51, 100, 1),
    );
    let (v, _) = run(&snap, &mut st, &reply);
    assert!(matches!(v, Verdict::Drop(_)));
    assert_eq!(st.forward.counters.neighbors_learned, 1);
    let (v, out) = run(&snap, &mut st, &ack(0xc000_0207, 40000));
    assert_eq!(v, Verdict::Forward);
    assert_eq!(&out[0..6], &mac_of(9));
    assert_eq!(&out[6..12], &PORT_MAC);
    assert_eq!(backend_of(&snap, &out), 0);
}

#[test]
fn a_flow_sticks_to_its_backend_and_flows_spread() {
    let snap = snapshot(&config("ipip", &FOUR));
    let mut st = WorkerState::default();
    learn_all(&snap, &mut st);
    let mut per = [0usize; 4];
    for c in 0..4000u32 {
        let (v, out) = run(
            &snap,
            &mut st,
            &syn(0x0a00_0000 + c, 1024 + (c % 60000) as u16),
        );
        assert_eq!(v, Verdict::Forward);
        let b = backend_of(&snap, &out);
        per[b] += 1;
        for _ in 0..2 {
            let (_, out) = run(
                &snap,
                &mut st,
                &ack(0x0a00_0000 + c, 1024 + (c % 60000) as u16),
            );
            assert_eq!(backend_of(&snap, &out), b, "flow {c} moved");
        }
    }
    for n in per {
        assert!((850..1150).contains(&n), "{per:?}");
    }
    let fc = st.forward.flows.counters;
    assert_eq!(fc.inserts, 4000);
    assert_eq!(fc.hits, 8000);
    let s = st.forward.summary();
    assert!(s.contains("flows=4000 inserts=4000 hits=8000"), "{s}");
}

#[test]
fn weights_change_the_share() {
    let snap = snapshot(&config(
        "ipip",
        &[
            ("198.51.100.11", 1, "active"),
            ("198.51.100.12", 3, "active"),
        ],
    ));
    let mut st = WorkerState::default();
    learn_all(&snap, &mut st);
    let mut per = [0usize; 2];
    for c in 0..8000u32 {
        let (_, out) = run(&snap, &mut st, &syn(0x0a00_0000 + c, 5555));
        per[backend_of(&snap, &out)] += 1;
    }
    assert!((1800..2200).contains(&per[0]), "{per:?}");
}

#[test]
fn draining_keeps_flows_and_takes_no_new_ones_down_moves_them() {
    let all = snapshot(&config("ipip", &FOUR));
    let mut drain = FOUR;
    drain[1].2 = "draining";
    let draining = snapshot(&config("ipip", &drain));
    let mut down = FOUR;
    down[1].2 = "down";
    let down = snapshot(&config("ipip", &down));
    let mut st = WorkerState::default();
    learn_all(&all, &mut st);
    let mut before = Vec::new();
    for c in 0..2000u32 {
        let (_, out) = run(&all, &mut st, &syn(0x0a00_0000 + c, 7000));
        before.push(backend_of(&all, &out));
    }
    assert!(before.iter().filter(|&&b| b == 1).count() > 300);
    // Draining: every existing flow stays; new flows avoid backend 1.
    for c in 0..2000u32 {
        let (_, out) = run(&draining, &mut st, &ack(0x0a00_0000 + c, 7000));
        assert_eq!(backend_of(&draining, &out), before[c as usize]);
    }
    for c in 0..2000u32 {
        let (_, out) = run(&draining, &mut st, &syn(0x0b00_0000 + c, 7000));
        assert_ne!(backend_of(&draining, &out), 1);
    }
    // Down: backend 1's flows move, the others stay.
    for c in 0..2000u32 {
        let (_, out) = run(&down, &mut st, &ack(0x0a00_0000 + c, 7000));
        let b = backend_of(&down, &out);
        if before[c as usize] == 1 {
            assert_ne!(b, 1);
        } else {
            assert_eq!(b, before[c as usize]);
        }
    }
    let moved = before.iter().filter(|&&b| b == 1).count() as u64;
    assert_eq!(st.forward.counters.rehashed, moved);
}

#[test]
fn a_reload_that_renumbers_backends_keeps_flows() {
    let a = snapshot(&config("ipip", &FOUR));
    let mut rev = FOUR;
    rev.reverse();
    let b = snapshot(&config("ipip", &rev));
    let mut st = WorkerState::default();
    learn_all(&a, &mut st);
    for c in 0..500u32 {
        let (_, out1) = run(&a, &mut st, &syn(0x0a00_0000 + c, 9));
        let (_, out2) = run(&b, &mut st, &ack(0x0a00_0000 + c, 9));
        assert_eq!(out1[30..34], out2[30..34], "same outer destination");
    }
}

#[test]
fn no_active_backend_is_a_counted_drop() {
    let snap = snapshot(&config(
        "ipip",
        &[
            ("198.51.100.11", 1, "down"),
            ("198.51.100.12", 1, "draining"),
        ],
    ));
    let mut st = WorkerState::default();
    let (v, _) = run(&snap, &mut st, &syn(1, 2));
    assert_eq!(v, Verdict::Drop(DropReason::NoBackend));
    assert_eq!(st.forward.counters.no_backend, 1);
}

#[test]
fn off_link_backends_go_back_to_the_router() {
    let snap = snapshot(&config("gue", &[("10.9.0.11", 1, "active")]));
    let mut st = WorkerState::default();
    let f = udp4(Ipv4Addr::new(192, 0, 2, 1), VIP, 3333, 53, b"q");
    let (v, out) = run(&snap, &mut st, &f);
    assert_eq!(v, Verdict::Forward);
    assert_eq!(&out[0..6], &CLIENT_MAC, "next hop is the frame's source");
    let ip = Ipv4Slice::from_slice(&out[14..]).unwrap();
    assert_eq!(ip.header().protocol().0, 17);
    assert_eq!(ip.header().destination(), [10, 9, 0, 11]);
    assert_eq!(
        &ip.payload().payload[12..],
        &f[14..],
        "inner byte-identical"
    );
}

#[test]
fn l2_dsr_sends_the_frame_to_the_backend_mac() {
    let snap = snapshot(&config("l2dsr", &FOUR[..2]));
    let mut st = WorkerState::default();
    learn_all(&snap, &mut st);
    let f = syn(0x0a00_0001, 1234);
    let (v, out) = run(&snap, &mut st, &f);
    assert_eq!(v, Verdict::Forward);
    assert!(out[0..6] == mac_of(0) || out[0..6] == mac_of(1));
    assert_eq!(&out[6..12], &PORT_MAC);
    assert_eq!(&out[12..], &f[12..]);
}

#[test]
fn l2_dsr_needs_on_link_backends() {
    let text = config("l2dsr", &[("10.9.0.11", 1, "active")]);
    let cfg = crate::config::Config::parse(std::path::Path::new("t.toml"), &text).unwrap();
    let err = Snapshot::build(&cfg, &[PORT_MAC], 1)
        .err()
        .expect("build error");
    assert!(err.message.contains("same segment"), "{err}");
}

#[test]
fn ipv6_flows_resolve_with_ndp_and_go_6in6() {
    let snap = snapshot(&config("ipip", &[("2001:db8:1::11", 1, "active")]));
    let mut st = WorkerState {
        now_ms: 5,
        ..WorkerState::default()
    };
    let client: Ipv6Addr = "2001:db8:99::7".parse().unwrap();
    let vip6: Ipv6Addr = VIP6.parse().unwrap();
    let f = tcp6(client, vip6, 4000, 80, TCP_SYN, b"");
    let (v, out) = run(&snap, &mut st, &f);
    assert_eq!(v, Verdict::Answer);
    let ns = Ipv6Slice::from_slice(&out[14..]).unwrap();
    assert_eq!(ns.payload().payload[0], 135, "a Neighbor Solicitation");
    let be: Ipv6Addr = "2001:db8:1::11".parse().unwrap();
    let na = neighbor_advertisement(be, "2001:db8:1::1".parse().unwrap(), be, mac_of(3));
    run(&snap, &mut st, &na);
    assert_eq!(st.forward.counters.neighbors_learned, 1);
    let (v, out) = run(&snap, &mut st, &f);
    assert_eq!(v, Verdict::Forward);
    assert_eq!(&out[0..6], &mac_of(3));
    let ip = Ipv6Slice::from_slice(&out[14..]).unwrap();
    assert_eq!(ip.header().next_header().0, 41);
    assert_eq!(ip.header().destination_addr(), be);
    assert_eq!(
        ip.header().source_addr(),
        "2001:db8:1::1".parse::<Ipv6Addr>().unwrap()
    );
    assert_eq!(ip.payload().payload, &f[14..]);
}

#[test]
fn build_errors_name_the_missing_source() {
    let text =
        config("ipip", &[("2001:db8:77::11", 1, "active")]).replace(", \"2001:db8:1::1/64\"", "");
    let cfg = crate::config::Config::parse(std::path::Path::new("t.toml"), &text).unwrap();
    let err = Snapshot::build(&cfg, &[PORT_MAC], 1)
        .err()
        .expect("build error");
    assert!(err.message.contains("source_v6"), "{err}");
}

#[test]
fn too_big_after_encapsulation_answers_frag_needed_or_drops() {
    let snap = snapshot(&config("ipip", &FOUR[..1]));
    let mut st = WorkerState::default();
    learn_all(&snap, &mut st);
    let client = Ipv4Addr::new(192, 0, 2, 1);
    let big = tcp4(client, VIP, 1, 80, TCP_ACK, &[0u8; 1460]);
    let (v, out) = run(&snap, &mut st, &big);
    assert_eq!(
        v,
        Verdict::Answer,
        "DF set: ICMP fragmentation needed back to the client"
    );
    assert_eq!(&out[0..6], &CLIENT_MAC);
    let ip = Ipv4Slice::from_slice(&out[14..]).unwrap();
    assert_eq!(ip.header().source_addr(), VIP);
    assert_eq!(ip.header().destination_addr(), client);
    let icmp = ip.payload().payload;
    assert_eq!((icmp[0], icmp[1]), (3, 4));
    assert_eq!(u16::from_be_bytes([icmp[6], icmp[7]]), 1480, "next-hop MTU");
    assert_eq!(st.forward.counters.too_big, 1);
    assert_eq!(st.forward.counters.too_big_icmp, 1);
    // Without DF: a counted drop.
    let mut no_df = big.clone();
    no_df[20] = 0;
    let c = crate::packet::checksum::checksum(&{
        let mut h = no_df[14..34].to_vec();
        h[10..12].fill(0);
        h
    });
    no_df[24..26].copy_from_slice(&c.to_be_bytes());
    assert_eq!(
        run(&snap, &mut st, &no_df).0,
        Verdict::Drop(DropReason::TooBig)
    );
    assert_eq!(st.forward.counters.too_big, 2);
    let fits = tcp4(client, VIP, 1, 80, TCP_ACK, &[0u8; 1440]);
    assert_eq!(run(&snap, &mut st, &fits).0, Verdict::Forward);
}

#[test]
fn the_ports_mtu_sets_how_big_a_forwarded_packet_may_grow() {
    let client = Ipv4Addr::new(192, 0, 2, 1);
    // A full-size packet (1500 bytes of IP): 1520 once in IPIP.
    let full = tcp4(client, VIP, 1, 80, TCP_ACK, &[0u8; 1460]);
    let with_mtu = |mtu: &str| {
        config("ipip", &FOUR[..1]).replace(
            "device = \"net_null0\"",
            &format!("device = \"net_null0\"\nmtu = {mtu}"),
        )
    };
    let snap = snapshot(&with_mtu("1520"));
    let mut st = WorkerState::default();
    learn_all(&snap, &mut st);
    let (v, out) = run(&snap, &mut st, &full);
    assert_eq!(v, Verdict::Forward);
    assert_eq!(out.len(), 14 + 1520);
    assert_eq!(&out[34..], &full[14..], "the inner packet, whole");
    assert_eq!(st.forward.counters.too_big, 0);

    // One byte less: too big, and the client is told 1499 - 20.
    let snap = snapshot(&with_mtu("1519"));
    let mut st = WorkerState::default();
    learn_all(&snap, &mut st);
    let (v, out) = run(&snap, &mut st, &full);
    assert_eq!(v, Verdict::Answer);
    assert_eq!(u16::from_be_bytes([out[40], out[41]]), 1499, "next-hop MTU");
    assert_eq!(st.forward.counters.too_big, 1);

    // Two ports: the smaller MTU is the limit (a packet leaves by the port it came in on).
    let two = with_mtu("9000").replacen(
        "[[vip]]",
        "[[port]]\nname = \"edge1\"\ndevice = \"net_null1\"\nmtu = 1500\n[[vip]]",
        1,
    );
    let snap = snapshot(&two);
    let mut st = WorkerState::default();
    learn_all(&snap, &mut st);
    assert_eq!(run(&snap, &mut st, &full).0, Verdict::Answer);
}

#[test]
fn too_big_for_every_tunnel_is_answered_before_the_flow_lookup() {
    // One IPIP tunnel MTU for all backends: decided in stage one, so neither the flow table
    // nor the (unresolved) next hop is touched.
    let snap = snapshot(&config("ipip", &FOUR));
    let mut st = WorkerState::default();
    let client = Ipv4Addr::new(192, 0, 2, 1);
    let big = tcp4(client, VIP, 1, 80, TCP_ACK, &[0u8; 1441]);
    let (v, out) = run(&snap, &mut st, &big);
    assert_eq!(v, Verdict::Answer);
    let ip = Ipv4Slice::from_slice(&out[14..]).unwrap();
    let icmp = ip.payload().payload;
    assert_eq!((icmp[0], icmp[1]), (3, 4));
    assert_eq!(u16::from_be_bytes([icmp[6], icmp[7]]), 1480, "next-hop MTU");
    assert_eq!(
        icmp.len(),
        8 + 548,
        "RFC 1812: as much as fits in 576 bytes"
    );
    let c = &st.forward.counters;
    assert_eq!((c.too_big, c.too_big_icmp, c.neighbor_requests), (1, 1, 0));
    assert_eq!(st.forward.flows.counters.inserts, 0);
    assert_eq!(st.forward.flows.len(), 0);
    // One byte less fits: its flow is looked up and inserted, its next hop asked for.
    let fits = tcp4(client, VIP, 1, 80, TCP_ACK, &[0u8; 1440]);
    let (_, out) = run(&snap, &mut st, &fits);
    assert_eq!(
        &out[12..14],
        &[0x08, 0x06],
        "an ARP request for the next hop"
    );
    assert_eq!(st.forward.counters.neighbor_requests, 1);
    assert_eq!(st.forward.flows.counters.inserts, 1);
    assert_eq!(st.forward.counters.too_big, 1);
}

#[test]
fn too_big_with_tunnels_of_two_sizes_goes_by_the_chosen_backend() {
    // IPIP over IPv4 lets 1480 bytes through, over IPv6 1460: a 1470-byte packet is too big
    // for some backends only, so its flow and backend decide, after the lookup.
    let snap = snapshot(&config(
        "ipip",
        &[
            ("198.51.100.11", 1, "active"),
            ("2001:db8:1::11", 1, "active"),
        ],
    ));
    let mut st = WorkerState::default();
    learn_all(&snap, &mut st);
    let (mut forwarded, mut answered) = (0, 0);
    for i in 0..64u32 {
        let client = Ipv4Addr::from(0xc000_0200 + i);
        let f = tcp4(client, VIP, 1, 80, TCP_ACK, &[0u8; 1430]);
        let (v, out) = run(&snap, &mut st, &f);
        let b = &service(&snap, 0).backends()[usize::from(st.forward.last_backend)];
        match v {
            Verdict::Forward => {
                assert!(
                    b.address.is_ipv4(),
                    "client {client}: forwarded to {}",
                    b.address
                );
                forwarded += 1;
            }
            Verdict::Answer => {
                assert!(
                    b.address.is_ipv6(),
                    "client {client}: too big for {}",
                    b.address
                );
                let icmp = &out[14 + 20..];
                assert_eq!(u16::from_be_bytes([icmp[6], icmp[7]]), 1460);
                answered += 1;
            }
            v => panic!("client {client}: {v:?}"),
        }
    }
    assert!(
        forwarded > 0 && answered > 0,
        "{forwarded} forwarded, {answered} answered"
    );
    assert_eq!(st.forward.flows.counters.inserts, 64);
}

#[test]
fn full_table_and_floods_go_stateless_and_counted() {
    let snap = snapshot(&config("ipip", &FOUR));
    let mut st = WorkerState {
        forward: WorkerForwardState::with_config(FlowTableConfig {
            capacity: 100,
            ..FlowTableConfig::default()
        }),
        ..WorkerState::default()
    };
    learn_all(&snap, &mut st);
    let mut first = Vec::new();
    for c in 0..1000u32 {
        let (v, out) = run(&snap, &mut st, &syn(0x0a00_0000 + c, 80));
        assert_eq!(v, Verdict::Forward);
        first.push(backend_of(&snap, &out));
    }
    assert_eq!(st.forward.flows.len(), 100);
    assert_eq!(st.forward.counters.stateless, 900);
    // Stateless flows still map consistently (Maglev alone).
    for c in 0..1000u32 {
        let (_, out) = run(&snap, &mut st, &ack(0x0a00_0000 + c, 80));
        assert_eq!(backend_of(&snap, &out), first[c as usize]);
    }
}

/// An ICMP "fragmentation needed" from a router on the client's path, quoting the reply the
/// backend sent from the VIP to the client.
fn frag_needed(client: Ipv4Addr, client_port: u16) -> Vec<u8> {
    let quoted = tcp4(VIP, client, 80, client_port, TCP_ACK, &[0u8; 8]);
    // Unused word, next-hop MTU 1500, then the quoted IP header and 8 bytes of TCP.
    let icmp = crate::testutil::icmp4(3, 4, 0, 0x05dc, &quoted[14..14 + 28]);
    crate::testutil::ipv4(PORT_MAC, Ipv4Addr::new(192, 0, 2, 254), VIP, 1, 60, &icmp)
}

#[test]
fn icmp_errors_follow_their_flow() {
    let snap = snapshot(&config("ipip", &FOUR));
    let mut st = WorkerState::default();
    learn_all(&snap, &mut st);
    for c in 0..200u32 {
        let client = Ipv4Addr::from(0x0a00_0000 + c);
        let (_, out) = run(&snap, &mut st, &syn(0x0a00_0000 + c, 4321));
        let flow_backend = backend_of(&snap, &out);
        let err = frag_needed(client, 4321);
        let (v, out) = run(&snap, &mut st, &err);
        assert_eq!(v, Verdict::Forward);
        assert_eq!(backend_of(&snap, &out), flow_backend, "client {client}");
        let ip = Ipv4Slice::from_slice(&out[14..]).unwrap();
        assert_eq!(ip.payload().payload, &err[14..]);
    }
    assert_eq!(st.forward.counters.icmp_errors, 200);
    // Echo requests still get answered.
    let echo = crate::testutil::echo_request(Ipv4Addr::new(192, 0, 2, 1), VIP, b"hi");
    assert_eq!(run(&snap, &mut st, &echo).0, Verdict::Answer);
}

proptest::proptest! {
    /// Random bytes after valid Ethernet + IPv4/IPv6 headers to a forward VIP never panic,
    /// whatever the encapsulation.
    #[test]
    fn random_l4_never_panics(payload in proptest::collection::vec(0u8..=255, 0..120),
                              proto in proptest::sample::select(vec![1u8, 6, 17, 58]),
                              v6: bool, encap in 0usize..3) {
        let snap = snapshot(&config(["ipip", "gue", "l2dsr"][encap], &FOUR));
        let mut st = WorkerState::default();
        learn_all(&snap, &mut st);
        let mut p = payload.clone();
        if p.len() >= 4 { p[2] = 0; p[3] = 80; }
        let f = if v6 {
            crate::testutil::ipv6(PORT_MAC, "2001:db8:99::1".parse().unwrap(), VIP6.parse().unwrap(), proto, 64, &p)
        } else {
            crate::testutil::ipv4(PORT_MAC, Ipv4Addr::new(192, 0, 2, 1), VIP, proto, 64, &p)
        };
        let _ = run(&snap, &mut st, &f);
        let mut t = f.clone();
        t.truncate(f.len().saturating_sub(3));
        let _ = run(&snap, &mut st, &t);
    }

    /// Fully random frames (ARP, ICMP, anything) through the pipeline never panic.
    #[test]
    fn random_frames_never_panic(data in proptest::collection::vec(0u8..=255, 0..200)) {
        let snap = snapshot(&config("gue", &FOUR));
        let mut st = WorkerState::default();
        let _ = run(&snap, &mut st, &data);
    }
}

#[test]
fn solicit_resolves_backends_before_traffic_and_refreshes_ahead() {
    use crate::forward::neighbors::{REACHABLE_MS, REFRESH_AHEAD_MS};
    let snap = snapshot(&config("l2dsr", &FOUR[..2]));
    let mut st = WorkerState::default();
    let mut spare = TestBuffer::new(&[0u8; 60]);
    let mut asked = Vec::new();
    while st.forward.solicit(&snap, 0, &mut spare, 100) {
        let a = crate::answer::arp::parse(spare.data()).expect("an ARP request");
        assert_eq!(a.spa, [198, 51, 100, 1]);
        asked.push(a.tpa);
    }
    asked.sort();
    assert_eq!(asked, vec![[198, 51, 100, 11], [198, 51, 100, 12]]);
    assert!(
        !st.forward.solicit(&snap, 9, &mut spare, 100),
        "no such port"
    );
    for (i, tpa) in asked.iter().enumerate() {
        let reply = arp_reply(
            mac_of(i),
            Ipv4Addr::from(*tpa),
            PORT_MAC,
            Ipv4Addr::new(198, 51, 100, 1),
        );
        st.now_ms = 200;
        run(&snap, &mut st, &reply);
    }
    assert_eq!(st.forward.counters.neighbors_learned, 2);
    assert!(!st.forward.solicit(&snap, 0, &mut spare, 300), "all fresh");
    // The first packet is forwarded: nothing is given up to ask.
    st.now_ms = 400;
    assert_eq!(run(&snap, &mut st, &syn(1, 1)).0, Verdict::Forward);
    // Shortly before the entries go stale, they are asked for again.
    let later = 200 + REACHABLE_MS - REFRESH_AHEAD_MS;
    let mut n = 0;
    while st.forward.solicit(&snap, 0, &mut spare, later) {
        n += 1;
    }
    assert_eq!(n, 2);
    assert_eq!(st.forward.counters.neighbor_requests, 4);
}

#[test]
fn the_two_stage_burst_pipeline_matches_one_packet_at_a_time() {
    use crate::pipeline::{stage_one, stage_two, Stage};
    use crate::testutil::{arp_request, echo_request};
    let snap = snapshot(&config("ipip", &FOUR));
    // A burst where a flow's SYN and its first ACK arrive together (the ACK is prepared before
    // the SYN's flow exists), with answers, UDP and a drop in between.
    let mut burst = Vec::new();
    for c in 0..8u32 {
        burst.push(syn(0x0a00_0100 + c, 2000 + c as u16));
        burst.push(ack(0x0a00_0100 + c, 2000 + c as u16));
    }
    burst.push(echo_request(Ipv4Addr::new(198, 51, 100, 2), VIP, b"ping"));
    burst.push(arp_request(CLIENT_MAC, Ipv4Addr::new(198, 51, 100, 2), VIP));
    burst.push(udp4(Ipv4Addr::new(198, 51, 100, 7), VIP, 5000, 443, b"q"));
    burst.push(syn(0x0a00_0100, 2000));
    burst.push(echo_request(
        Ipv4Addr::new(198, 51, 100, 2),
        Ipv4Addr::new(203, 0, 113, 99),
        b"x",
    ));
    let mut one = WorkerState::default();
    learn_all(&snap, &mut one);
    let mut two = WorkerState::default();
    learn_all(&snap, &mut two);
    let expected: Vec<(Verdict, Vec<u8>)> = burst.iter().map(|f| run(&snap, &mut one, f)).collect();
    let mut bufs: Vec<TestBuffer> = burst.iter().map(|f| TestBuffer::new(f)).collect();
    let mut stages: Vec<Stage> = bufs
        .iter_mut()
        .map(|b| stage_one(b, 0, &snap, &mut two))
        .collect();
    let pending = stages
        .iter()
        .filter(|s| matches!(s, Stage::Forward(_)))
        .count();
    assert_eq!(
        pending,
        8 * 2 + 2,
        "every TCP and UDP packet waits for stage two"
    );
    for (b, s) in bufs.iter_mut().zip(stages.iter_mut()) {
        if let Stage::Forward(p) = s {
            *s = Stage::Done(stage_two(b, p, &snap, &mut two));
        }
    }
    for (i, ((s, b), (v, out))) in stages.iter().zip(&bufs).zip(&expected).enumerate() {
        let Stage::Done(got) = s else {
            panic!("packet {i} still pending")
        };
        assert_eq!(got, v, "verdict of packet {i}");
        assert_eq!(b.data(), &out[..], "bytes of packet {i}");
    }
    assert_eq!(two.forward.flows.counters, one.forward.flows.counters);
    assert_eq!(two.forward.summary(), one.forward.summary());
    assert_eq!(
        expected
            .iter()
            .filter(|(v, _)| *v == Verdict::Forward)
            .count(),
        8 * 2 + 2
    );
}
