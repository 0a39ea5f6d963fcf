use super::*;
use crate::testutil::*;
use std::net::Ipv4Addr;

fn port() -> PortSnapshot {
    snapshot(BASIC_CONFIG).ports.remove(0)
}

const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

#[test]
fn answers_a_request_for_a_vip_with_exact_bytes() {
    let mut f = arp_request(CLIENT_MAC, CLIENT, Ipv4Addr::new(203, 0, 113, 10));
    assert_eq!(handle(&mut f, &port()), Verdict::Answer);
    let mut want = Vec::new();
    want.extend_from_slice(&CLIENT_MAC); // eth dst
    want.extend_from_slice(&PORT_MAC); // eth src
    want.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 2]);
    want.extend_from_slice(&PORT_MAC);
    want.extend_from_slice(&[203, 0, 113, 10]);
    want.extend_from_slice(&CLIENT_MAC);
    want.extend_from_slice(&[198, 51, 100, 2]);
    want.resize(60, 0);
    assert_eq!(f, want);
}

#[test]
fn answers_for_the_node_address() {
    let mut f = arp_request(CLIENT_MAC, CLIENT, Ipv4Addr::new(198, 51, 100, 1));
    assert_eq!(handle(&mut f, &port()), Verdict::Answer);
    assert_eq!(&f[28..32], &[198, 51, 100, 1]);
}

#[test]
fn drops_what_is_not_a_request_for_us() {
    let p = port();
    let mut other = arp_request(CLIENT_MAC, CLIENT, Ipv4Addr::new(198, 51, 100, 9));
    assert_eq!(handle(&mut other, &p), Verdict::Drop(DropReason::NotForUs));
    let mut reply = arp_request(CLIENT_MAC, CLIENT, Ipv4Addr::new(203, 0, 113, 10));
    reply[21] = 2;
    assert_eq!(
        handle(&mut reply, &p),
        Verdict::Drop(DropReason::Unsupported)
    );
    let good = arp_request(CLIENT_MAC, CLIENT, Ipv4Addr::new(203, 0, 113, 10));
    assert_eq!(
        handle(&mut good[..41].to_vec(), &p),
        Verdict::Drop(DropReason::Malformed)
    );
    for (i, v) in [(15usize, 6u8), (16, 0x86), (18, 8), (19, 16)] {
        let mut bad = good.clone();
        bad[i] = v;
        assert_eq!(
            handle(&mut bad, &p),
            Verdict::Drop(DropReason::Malformed),
            "byte {i}"
        );
    }
    let mut bcast_sender = good.clone();
    bcast_sender[22..28].copy_from_slice(&[0xff; 6]);
    assert_eq!(
        handle(&mut bcast_sender, &p),
        Verdict::Drop(DropReason::Malformed)
    );
}

proptest::proptest! {
    #[test]
    fn never_panics(mut data in proptest::collection::vec(0u8..=255, 0..80)) {
        let _ = handle(&mut data, &port());
    }
}
