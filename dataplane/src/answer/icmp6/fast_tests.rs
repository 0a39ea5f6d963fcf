//! The plain-echo fast path against the general path ([`handle`] after the full parse).
use super::*;
use crate::packet::{parse, Parsed, TestBuffer};
use crate::testutil::*;
use std::net::Ipv6Addr;

const CLIENT: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);
const VIP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x10, 0, 0, 0, 0, 0x10);

fn port() -> PortSnapshot {
    snapshot(BASIC_CONFIG).ports.remove(0)
}

/// What the general path makes of a frame, and the frame after it.
fn general(frame: &[u8], port: &PortSnapshot) -> (Verdict, Vec<u8>) {
    let mut b = TestBuffer::new(frame);
    let v = match parse(b.data()) {
        Ok(Parsed::Ipv6(ip)) if ip.proto == IPPROTO_ICMPV6 => handle(&mut b, &ip, port),
        Ok(_) => Verdict::Drop(DropReason::Unsupported),
        Err(reason) => Verdict::Drop(reason),
    };
    (v, b.data().to_vec())
}

#[test]
fn answers_the_common_request_exactly_like_the_general_path() {
    let port = port();
    let data: Vec<u8> = (0..57).collect();
    let request = icmpv6_echo_request(CLIENT, VIP, &data);
    let mut fast = request.clone();
    assert_eq!(answer_plain_echo(&mut fast, &port), Some(Verdict::Answer));
    assert_eq!(general(&request, &port), (Verdict::Answer, fast));
}

#[test]
fn leaves_unusual_requests_to_the_general_path() {
    let port = port();
    let mut cases = Vec::new();
    let mut bad_sum = icmpv6_echo_request(CLIENT, VIP, b"abcd");
    let n = bad_sum.len();
    bad_sum[n - 1] ^= 0xff;
    cases.push(bad_sum);
    cases.push(icmpv6_echo_request(
        CLIENT,
        "2001:db8:10::99".parse().unwrap(),
        b"x",
    ));
    cases.push(icmpv6_echo_request(Ipv6Addr::LOCALHOST, VIP, b"lo"));
    let mut group_mac = icmpv6_echo_request(CLIENT, VIP, b"mc");
    group_mac[6] |= 1;
    cases.push(group_mac);
    let mut bad_code = icmpv6_echo_request(CLIENT, VIP, b"c");
    bad_code[55] = 1;
    cases.push(bad_code);
    cases.push(icmpv6_echo_request(CLIENT, VIP, b"short")[..60].to_vec());
    assert_declined_untouched(cases, |f| answer_plain_echo(f, &port));
}

proptest::proptest! {
    /// Whenever the fast path answers a (mutated) request, the general path gives the same
    /// verdict and bytes; when it does not, it left the frame as it was.
    #[test]
    fn agrees_with_the_general_path(
        at in 0usize..80,
        xor in 0u8..=255,
        cut in 0usize..8,
        data in proptest::collection::vec(0u8..=255, 0..40),
    ) {
        let port = port();
        let f = flipped_and_cut(icmpv6_echo_request(CLIENT, VIP, &data), at, xor, cut);
        let mut fast = f.clone();
        if let Some(v) = answer_plain_echo(&mut fast, &port) {
            proptest::prop_assert_eq!(general(&f, &port), (v, fast));
        } else {
            proptest::prop_assert_eq!(fast, f);
        }
    }
}

mod solicitation {
    use super::*;
    use crate::answer::ndp::answer_plain_solicitation;
    use crate::pipeline::{process, WorkerState};

    const NODE: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
    const ASKER_MAC: [u8; 6] = [0x02, 0xcc, 0, 0, 0, 7];

    fn ns(dst: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
        neighbor_solicitation(CLIENT, dst, target, Some(ASKER_MAC))
    }

    #[test]
    fn answers_the_usual_solicitations_exactly_like_the_general_path() {
        let port = port();
        for request in [ns(solicited_node(VIP), VIP), ns(NODE, NODE), ns(VIP, VIP)] {
            let mut fast = request.clone();
            let learned = answer_plain_solicitation(&mut fast, &port);
            assert_eq!(learned, Some((CLIENT.octets(), ASKER_MAC)));
            assert_eq!(general(&request, &port), (Verdict::Answer, fast));
        }
    }

    #[test]
    fn leaves_unusual_solicitations_to_the_general_path() {
        let port = port();
        let mut cases = vec![
            // DAD probe, no SLLA option, a target not ours, a unicast destination not ours.
            neighbor_solicitation(Ipv6Addr::UNSPECIFIED, solicited_node(VIP), VIP, None),
            neighbor_solicitation(CLIENT, solicited_node(VIP), VIP, None),
            ns(solicited_node(VIP), "2001:db8:10::99".parse().unwrap()),
            ns("2001:db8:1::9".parse().unwrap(), VIP),
            ns(solicited_node(NODE), VIP),
            neighbor_solicitation(
                CLIENT,
                solicited_node(VIP),
                VIP,
                Some([0x03, 0, 0, 0, 0, 1]),
            ),
        ];
        let mut hop = ns(solicited_node(VIP), VIP);
        hop[21] = 64;
        cases.push(hop);
        let mut bad_sum = ns(solicited_node(VIP), VIP);
        bad_sum[80] ^= 0x10;
        cases.push(bad_sum);
        let mut padded = ns(solicited_node(VIP), VIP);
        padded.extend_from_slice(&[0; 4]);
        cases.push(padded);
        assert_declined_untouched(cases, |f| answer_plain_solicitation(f, &port));
    }

    #[test]
    fn the_pipeline_answers_through_it_and_the_general_path_alike() {
        let snap = snapshot(BASIC_CONFIG);
        let mut state = WorkerState::default();
        // The usual one (fast path) and a padded one (general path) give the same advertisement.
        let usual = ns(solicited_node(VIP), VIP);
        let mut padded = usual.clone();
        padded.extend_from_slice(&[0; 6]);
        let mut a = TestBuffer::new(&usual);
        let mut b = TestBuffer::new(&padded);
        assert_eq!(process(&mut a, 0, &snap, &mut state), Verdict::Answer);
        assert_eq!(process(&mut b, 0, &snap, &mut state), Verdict::Answer);
        assert_eq!(a.data(), b.data());
    }

    #[test]
    fn a_backends_solicitation_teaches_its_mac_through_the_fast_path() {
        let config = r#"
[[port]]
name = "edge0"
device = "net_null0"
addresses = ["2001:db8:1::1/64"]
[[vip]]
address = "2001:db8:10::10"
[[service]]
name = "web"
vip = "2001:db8:10::10"
protocol = "tcp"
port = 80
kind = "forward"
encap = "ipip"
[[service.backend]]
address = "2001:db8:1::11"
"#;
        let snap = snapshot(config);
        let mut state = WorkerState::default();
        let syn = crate::forward::frames::tcp6(
            CLIENT,
            VIP,
            4000,
            80,
            crate::forward::flow_table::TCP_SYN,
            b"",
        );
        let mut b = TestBuffer::new(&syn);
        // The backend is unresolved: the SYN becomes our solicitation for it.
        assert_eq!(process(&mut b, 0, &snap, &mut state), Verdict::Answer);
        let backend: Ipv6Addr = "2001:db8:1::11".parse().unwrap();
        let backend_mac = [0x02, 0xbb, 0, 0, 0, 3];
        let from_backend =
            neighbor_solicitation(backend, solicited_node(NODE), NODE, Some(backend_mac));
        let mut b = TestBuffer::new(&from_backend);
        assert!(answer_plain_solicitation(&mut from_backend.clone(), &snap.ports[0]).is_some());
        assert_eq!(process(&mut b, 0, &snap, &mut state), Verdict::Answer);
        assert_eq!(state.forward.counters.neighbors_learned, 1);
        let mut b = TestBuffer::new(&syn);
        assert_eq!(process(&mut b, 0, &snap, &mut state), Verdict::Forward);
        assert_eq!(&b.data()[0..6], &backend_mac);
    }

    proptest::proptest! {
        /// Whenever the fast path answers a (mutated) solicitation, the general path gives the
        /// same verdict and bytes; when it does not, it left the frame as it was.
        #[test]
        fn agrees_with_the_general_path(at in 0usize..86, xor in 0u8..=255, multicast: bool) {
            let port = port();
            let dst = if multicast { solicited_node(VIP) } else { VIP };
            let mut f = ns(dst, VIP);
            f[at % 86] ^= xor;
            let mut fast = f.clone();
            if answer_plain_solicitation(&mut fast, &port).is_some() {
                proptest::prop_assert_eq!(general(&f, &port), (Verdict::Answer, fast));
            } else {
                proptest::prop_assert_eq!(fast, f);
            }
        }
    }
}
