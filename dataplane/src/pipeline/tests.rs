use super::*;
use crate::packet::TestBuffer;
use crate::testutil::*;
use std::net::Ipv4Addr;

const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

fn run(frame: Vec<u8>) -> (Verdict, Vec<u8>) {
    let snap = snapshot(BASIC_CONFIG);
    let mut state = WorkerState::default();
    let mut b = TestBuffer::new(&frame);
    let v = process(&mut b, 0, &snap, &mut state);
    (v, b.data().to_vec())
}

#[test]
fn classifies_and_answers() {
    let (v, _) = run(arp_request(
        CLIENT_MAC,
        CLIENT,
        Ipv4Addr::new(203, 0, 113, 10),
    ));
    assert_eq!(v, Verdict::Answer);
    let (v, out) = run(echo_request(CLIENT, Ipv4Addr::new(198, 51, 100, 1), b"hi"));
    assert_eq!(v, Verdict::Answer);
    assert_eq!(out[34], 0);
}

#[test]
fn drops_by_reason() {
    let (v, _) = run(echo_request(CLIENT, Ipv4Addr::new(203, 0, 113, 99), b"hi"));
    assert_eq!(v, Verdict::Drop(DropReason::NotForUs));
    let mut other_mac = echo_request(CLIENT, Ipv4Addr::new(203, 0, 113, 10), b"hi");
    other_mac[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 9]);
    assert_eq!(run(other_mac).0, Verdict::Drop(DropReason::NotForUs));
    let (v, _) = run(udp4(CLIENT, Ipv4Addr::new(203, 0, 113, 10), 5555, 53, b"q"));
    assert_eq!(v, Verdict::Drop(DropReason::NoService));
    let (v, _) = run(udp4(CLIENT, Ipv4Addr::new(198, 51, 100, 1), 5555, 53, b"q"));
    assert_eq!(v, Verdict::Drop(DropReason::NotForUs));
    let (v, _) = run(ipv4(
        PORT_MAC,
        CLIENT,
        Ipv4Addr::new(203, 0, 113, 10),
        47,
        64,
        b"gre",
    ));
    assert_eq!(v, Verdict::Drop(DropReason::Unsupported));
    let (v, _) = run(ethernet(PORT_MAC, CLIENT_MAC, 0x88cc));
    assert_eq!(v, Verdict::Drop(DropReason::Unsupported));
    let (v, _) = run(vec![0xff; 10]);
    assert_eq!(v, Verdict::Drop(DropReason::Malformed));
}

proptest::proptest! {
    #[test]
    fn never_panics(data in proptest::collection::vec(0u8..=255, 0..200)) {
        let _ = run(data);
    }
}
