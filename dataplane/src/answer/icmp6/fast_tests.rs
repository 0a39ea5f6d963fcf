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
    for mut f in cases {
        let before = f.clone();
        assert_eq!(answer_plain_echo(&mut f, &port), None, "{before:02x?}");
        assert_eq!(f, before, "a frame left to the general path is untouched");
    }
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
        let mut f = icmpv6_echo_request(CLIENT, VIP, &data);
        let i = at % f.len();
        f[i] ^= xor;
        let n = f.len() - cut.min(f.len());
        f.truncate(n);
        let mut fast = f.clone();
        if let Some(v) = answer_plain_echo(&mut fast, &port) {
            proptest::prop_assert_eq!(general(&f, &port), (v, fast));
        } else {
            proptest::prop_assert_eq!(fast, f);
        }
    }
}
