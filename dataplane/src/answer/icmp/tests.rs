use super::*;
use crate::packet::{parse, Parsed};
use crate::testutil::*;
use std::net::Ipv4Addr;

const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const VIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);

fn port() -> PortSnapshot {
    snapshot(BASIC_CONFIG).ports.remove(0)
}

fn run(f: &mut [u8]) -> Verdict {
    let Ok(Parsed::Ipv4(ip)) = parse(f) else {
        panic!("not ipv4")
    };
    handle(f, &ip, &port())
}

#[test]
fn echo_request_becomes_the_exact_reply() {
    let data: Vec<u8> = (0..56).collect();
    let mut f = echo_request(CLIENT, VIP, &data);
    assert_eq!(run(&mut f), Verdict::Answer);
    // Build the expected reply independently: fresh headers and full checksums.
    let mut want = ipv4(
        CLIENT_MAC,
        VIP,
        CLIENT,
        1,
        64,
        &icmp4(0, 0, 0x4242, 7, &data),
    );
    want[6..12].copy_from_slice(&PORT_MAC);
    assert_eq!(f, want);
    assert_eq!(checksum::checksum(&f[14..34]), 0);
    assert_eq!(checksum::checksum(&f[34..]), 0);
}

#[test]
fn ttl_is_reset_and_checksums_stay_valid() {
    let mut f = ipv4(PORT_MAC, CLIENT, VIP, 1, 3, &icmp4(8, 0, 1, 1, b"odd"));
    assert_eq!(run(&mut f), Verdict::Answer);
    assert_eq!(f[22], REPLY_TTL);
    assert_eq!(checksum::checksum(&f[14..34]), 0);
    assert_eq!(checksum::checksum(&f[34..]), 0);
}

#[test]
fn drops_everything_but_valid_echo_requests() {
    let mut other_type = ipv4(PORT_MAC, CLIENT, VIP, 1, 64, &icmp4(13, 0, 1, 1, b"ts"));
    assert_eq!(run(&mut other_type), Verdict::Drop(DropReason::Unsupported));
    let mut reply = ipv4(PORT_MAC, CLIENT, VIP, 1, 64, &icmp4(0, 0, 1, 1, b""));
    assert_eq!(run(&mut reply), Verdict::Drop(DropReason::Unsupported));
    let mut bad_code = ipv4(PORT_MAC, CLIENT, VIP, 1, 64, &icmp4(8, 1, 1, 1, b""));
    assert_eq!(run(&mut bad_code), Verdict::Drop(DropReason::Unsupported));
    let mut bad_sum = echo_request(CLIENT, VIP, b"abcd");
    let n = bad_sum.len();
    bad_sum[n - 1] ^= 0xff;
    assert_eq!(run(&mut bad_sum), Verdict::Drop(DropReason::BadChecksum));
    let mut short = ipv4(PORT_MAC, CLIENT, VIP, 1, 64, &[8, 0, 0xf7, 0xff]);
    assert_eq!(run(&mut short), Verdict::Drop(DropReason::Malformed));
    let mut from_bcast = echo_request(Ipv4Addr::BROADCAST, VIP, b"x");
    assert_eq!(run(&mut from_bcast), Verdict::Drop(DropReason::Malformed));
}

#[test]
fn fragments_are_not_answered() {
    let mut f = echo_request(CLIENT, VIP, b"frag");
    f[20] = 0x20; // MF
    let c = checksum::update16(u16::from_be_bytes([f[24], f[25]]), 0x4000, 0x2000);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    assert_eq!(run(&mut f), Verdict::Drop(DropReason::Unsupported));
}

/// What the general path (full parse, destination check, [`handle`]) makes of a frame.
fn general(f: &mut [u8], port: &PortSnapshot) -> Verdict {
    match parse(f) {
        Ok(Parsed::Ipv4(ip)) if ip.proto == crate::packet::parse::IPPROTO_ICMP => {
            if !port.local.has(&ip.dst) {
                return Verdict::Drop(DropReason::NotForUs);
            }
            handle(f, &ip, port)
        }
        Ok(_) => Verdict::Drop(DropReason::Unsupported),
        Err(reason) => Verdict::Drop(reason),
    }
}

#[test]
fn the_plain_echo_fast_path_answers_the_common_request_exactly_like_the_general_path() {
    let port = port();
    let data: Vec<u8> = (0..56).collect();
    let request = echo_request(CLIENT, VIP, &data);
    let (mut fast, mut slow) = (request.clone(), request.clone());
    assert_eq!(answer_plain_echo(&mut fast, &port), Some(Verdict::Answer));
    assert_eq!(general(&mut slow, &port), Verdict::Answer);
    assert_eq!(fast, slow);
    // Another destination with a valid header: not for us, without the general path.
    let mut other = echo_request(CLIENT, Ipv4Addr::new(203, 0, 113, 99), &data);
    let before = other.clone();
    assert_eq!(
        answer_plain_echo(&mut other, &port),
        Some(Verdict::Drop(DropReason::NotForUs))
    );
    assert_eq!(other, before);
}

#[test]
fn the_plain_echo_fast_path_leaves_unusual_requests_to_the_general_path() {
    let port = port();
    let mut cases = Vec::new();
    let mut bad_icmp_sum = echo_request(CLIENT, VIP, b"abcd");
    let n = bad_icmp_sum.len();
    bad_icmp_sum[n - 1] ^= 0xff;
    cases.push(bad_icmp_sum);
    let mut bad_ip_sum = echo_request(CLIENT, VIP, b"abcd");
    bad_ip_sum[24] ^= 1;
    cases.push(bad_ip_sum);
    cases.push(echo_request(Ipv4Addr::new(224, 0, 0, 1), VIP, b"mc"));
    cases.push(ipv4(
        PORT_MAC,
        CLIENT,
        VIP,
        1,
        64,
        &icmp4(13, 0, 1, 1, b"ts"),
    ));
    cases.push(echo_request(CLIENT, VIP, b"x")[..40].to_vec());
    assert_declined_untouched(cases, |f| answer_plain_echo(f, &port));
}

proptest::proptest! {
    /// Whatever the fast path decides about a (mutated) request, the general path decides the
    /// same, byte for byte.
    #[test]
    fn the_plain_echo_fast_path_agrees_with_the_general_path(
        at in 0usize..64,
        xor in 0u8..=255,
        cut in 0usize..8,
        data in proptest::collection::vec(0u8..=255, 0..40),
    ) {
        let port = port();
        let f = flipped_and_cut(echo_request(CLIENT, VIP, &data), at, xor, cut);
        let (mut fast, mut slow) = (f.clone(), f.clone());
        if let Some(v) = answer_plain_echo(&mut fast, &port) {
            proptest::prop_assert_eq!(general(&mut slow, &port), v);
            proptest::prop_assert_eq!(fast, slow);
        } else {
            proptest::prop_assert_eq!(fast, f);
        }
    }
}
