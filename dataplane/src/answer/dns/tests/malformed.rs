//! Queries that must be refused, dropped or answered with FORMERR/NOTIMP, broken transport
//! headers, and random bytes.
use super::*;
use crate::verdict::DropReason;

fn frame_for(msg: &[u8]) -> Vec<u8> {
    testutil::udp4(CLIENT4, VIP4, 40000, 53, msg)
}

fn verdict_of(svc: &DnsService, msg: &[u8]) -> Verdict {
    run_frame(svc, &frame_for(msg), &mut DnsCounters::default()).0
}

#[test]
fn short_headers_and_responses_are_dropped() {
    let svc = service();
    let mut counters = DnsCounters::default();
    for msg in [&b""[..], &[0u8; 11][..]] {
        let (v, _) = run_frame(&svc, &frame_for(msg), &mut counters);
        assert_eq!(v, Verdict::Drop(DropReason::Malformed));
    }
    let mut msg = query("www.example.test", 1, Q::default());
    msg[2] |= 0x80; // QR
    assert_eq!(verdict_of(&svc, &msg), Verdict::Drop(DropReason::Malformed));
    assert_eq!(
        (counters.queries, counters.dropped, counters.responses),
        (2, 2, 0)
    );
}

fn formerr(svc: &DnsService, msg: &[u8]) -> Resp {
    let r = decode(&ask(svc, msg));
    assert_eq!(r.rcode(), 1, "FORMERR");
    assert_eq!((r.qd, r.answer.len(), r.authority.len()), (0, 0, 0));
    r
}

#[test]
fn malformed_questions_are_formerr() {
    let svc = service();
    // QDCOUNT 0 and 2: flags cleared as NSD does.
    for qd in [0u8, 2] {
        let mut msg = query("www.example.test", 1, Q::default());
        msg[5] = qd;
        let r = formerr(&svc, &msg);
        assert_eq!(r.flags & 0x0100, 0, "RD cleared with qdcount {qd}");
    }
    // A 64-octet label (length byte 0x40 is a reserved label type).
    let mut msg = query("x.example.test", 1, Q::default());
    msg[12] = 0x40;
    formerr(&svc, &msg);
    // A name over 255 octets.
    let long = ["a".repeat(63).as_str(); 4].join(".") + ".b";
    let mut msg = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in long.split('.') {
        msg.push(label.len() as u8);
        msg.extend_from_slice(label.as_bytes());
    }
    msg.extend_from_slice(&[0, 0, 1, 0, 1]);
    let r = formerr(&svc, &msg);
    assert_eq!(r.flags & 0x0100, 0x0100, "RD kept");
    // A compression pointer in the question.
    let mut msg = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    msg.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    formerr(&svc, &msg);
    // A question cut short.
    let msg = query("www.example.test", 1, Q::default());
    formerr(&svc, &msg[..msg.len() - 2]);
    formerr(&svc, &msg[..16]);
    // Records in the answer or authority section of a query.
    let mut msg = query("www.example.test", 1, Q::default());
    msg[7] = 1;
    formerr(&svc, &msg);
    let mut msg = query("www.example.test", 1, Q::default());
    msg[9] = 1;
    formerr(&svc, &msg);
    // TC set in a query is ignored (as NSD 4.6).
    let mut msg = query("www.example.test", 1, Q::default());
    msg[2] |= 0x02;
    let r = decode(&ask(&svc, &msg));
    assert_eq!((r.rcode(), r.tc(), r.answer.len()), (0, false, 2));
}

#[test]
fn malformed_additional_sections_are_formerr() {
    let svc = service();
    let edns = Q {
        edns: Some((1232, 0, false, false)),
        ..Q::default()
    };
    // Two OPT records.
    let mut msg = query("www.example.test", 1, edns);
    let opt = msg[msg.len() - 11..].to_vec();
    msg.extend_from_slice(&opt);
    msg[11] = 2;
    formerr(&svc, &msg);
    // ARCOUNT promises a record that is not there.
    let mut msg = query("www.example.test", 1, Q::default());
    msg[11] = 1;
    formerr(&svc, &msg);
    // An option running past the OPT RDATA.
    let mut msg = query("www.example.test", 1, edns);
    let n = msg.len();
    msg[n - 2..].copy_from_slice(&[0, 4]);
    msg.extend_from_slice(&[0, 3, 0, 9]);
    formerr(&svc, &msg);
    // An OPT with a non-root owner.
    let mut msg = query("www.example.test", 1, Q::default());
    msg[11] = 1;
    msg.extend_from_slice(&[1, b'x', 0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0]);
    formerr(&svc, &msg);
}

#[test]
fn opcodes_other_than_query_are_notimp() {
    let svc = service();
    for opcode in [1u16, 2, 4, 5, 15] {
        let msg = query(
            "www.example.test",
            1,
            Q {
                flags: 0x0100 | (opcode << 11),
                ..Q::default()
            },
        );
        let r = decode(&ask(&svc, &msg));
        assert_eq!(r.rcode(), 4, "opcode {opcode}");
        assert_eq!((r.flags >> 11) & 0xf, opcode, "opcode echoed");
        assert_eq!((r.qd, r.answer.len()), (0, 0));
    }
}

#[test]
fn transfers_are_refused_over_udp() {
    let svc = service();
    for qtype in [251u16, 252] {
        assert_eq!(
            decode(&ask(&svc, &query("example.test", qtype, Q::default()))).rcode(),
            5
        );
    }
}

#[test]
fn bad_transport_headers_are_dropped() {
    let svc = service();
    let msg = query("www.example.test", 1, Q::default());
    // Bad UDP checksum.
    let mut f = frame_for(&msg);
    let last = f.len() - 1;
    f[last] ^= 0xff;
    assert_eq!(
        run_frame(&svc, &f, &mut DnsCounters::default()).0,
        Verdict::Drop(DropReason::BadChecksum)
    );
    // No checksum is fine over IPv4 (RFC 768)...
    let mut f = frame_for(&msg);
    f[34 + 6..34 + 8].copy_from_slice(&[0, 0]);
    let (v, buf) = run_frame(&svc, &f, &mut DnsCounters::default());
    assert_eq!(v, Verdict::Answer);
    check_v4_reply(&buf);
    // ...but not over IPv6 (RFC 8200 §8.1).
    let mut f = udp6(CLIENT6, VIP6, 40001, 53, &msg);
    f[54 + 6..54 + 8].copy_from_slice(&[0, 0]);
    assert_eq!(
        run_frame(&svc, &f, &mut DnsCounters::default()).0,
        Verdict::Drop(DropReason::BadChecksum)
    );
    // UDP length beyond the IP payload.
    let mut f = frame_for(&msg);
    f[34 + 4..34 + 6].copy_from_slice(&1000u16.to_be_bytes());
    assert_eq!(
        run_frame(&svc, &f, &mut DnsCounters::default()).0,
        Verdict::Drop(DropReason::Malformed)
    );
    // Source port 0.
    let f = testutil::udp4(CLIENT4, VIP4, 0, 53, &msg);
    assert_eq!(
        run_frame(&svc, &f, &mut DnsCounters::default()).0,
        Verdict::Drop(DropReason::Malformed)
    );
}

#[test]
fn without_tailroom_the_answer_is_truncated_not_overrun() {
    let svc = service();
    let frame = frame_for(&query("www.example.test", 1, Q::default()));
    let mut buf = TestBuffer::with_room(&frame, 128, 128 + frame.len());
    let Ok(Parsed::Ipv4(ip)) = parse(buf.data()) else {
        panic!()
    };
    let v = svc.handle(&mut buf, &ip, &port(), &mut DnsCounters::default());
    assert_eq!(v, Verdict::Answer);
    let r = decode(&check_v4_reply(&buf));
    assert!(r.tc());
    assert_eq!(r.answer.len(), 0);
}

#[test]
fn ethernet_padding_is_ignored() {
    let svc = service();
    let mut f = frame_for(&query("www.example.test", 1, Q::default()));
    f.extend_from_slice(&[0xee; 20]);
    let (v, buf) = run_frame(&svc, &f, &mut DnsCounters::default());
    assert_eq!(v, Verdict::Answer);
    let r = decode(&check_v4_reply(&buf));
    assert_eq!(r.answers(1).len(), 2);
}

#[test]
fn counters_count_rcodes() {
    let svc = service();
    let mut c = DnsCounters::default();
    for (name, t) in [
        ("www.example.test", 1u16),
        ("nope.example.test", 1),
        ("x.org", 1),
        ("long.big.example.test", 16),
    ] {
        run_frame(&svc, &frame_for(&query(name, t, Q::default())), &mut c);
    }
    assert_eq!((c.queries, c.responses), (4, 4));
    assert_eq!(
        (c.rcode[0], c.rcode[3], c.rcode[5], c.truncated),
        (2, 1, 1, 1)
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
    #[test]
    fn random_payloads_never_panic(payload in proptest::collection::vec(0u8..=255, 0..600)) {
        let svc = service_cached();
        let (v, buf) = run_frame(svc, &frame_for(&payload), &mut DnsCounters::default());
        if v == Verdict::Answer {
            // Whatever we send is a well-formed frame carrying a response.
            let msg = check_v4_reply(&buf);
            proptest::prop_assert!(msg.len() >= 12);
            proptest::prop_assert!(msg[2] & 0x80 != 0);
        }
    }

    #[test]
    fn mutated_queries_never_panic(idx in 0usize..60, byte: u8, qtype in 0u16..300) {
        let svc = service_cached();
        let mut msg = query("a.b.wild.example.test", qtype, Q { edns: Some((1232, 0, true, true)), ..Q::default() });
        let i = idx % msg.len();
        msg[i] = byte;
        let (v, buf) = run_frame(svc, &frame_for(&msg), &mut DnsCounters::default());
        if v == Verdict::Answer {
            let _ = decode(&check_v4_reply(&buf));
        }
    }
}

fn service_cached() -> &'static DnsService {
    static SVC: std::sync::OnceLock<DnsService> = std::sync::OnceLock::new();
    SVC.get_or_init(service)
}

fn answer_with_room(svc: &DnsService, msg: &[u8], room: usize) -> Resp {
    let frame = frame_for(msg);
    let mut buf = TestBuffer::with_room(&frame, 128, 128 + 42 + room);
    let Ok(Parsed::Ipv4(ip)) = parse(buf.data()) else {
        panic!()
    };
    let v = svc.handle(&mut buf, &ip, &port(), &mut DnsCounters::default());
    assert_eq!(v, Verdict::Answer);
    let msg = check_v4_reply(&buf);
    assert!(msg.len() <= room);
    decode(&msg)
}

#[test]
fn a_tail_that_does_not_fit_falls_back_to_record_by_record() {
    let svc = service();
    let msg = query("www.example.test", 1, Q::default());
    // Everything: 162 bytes.
    let r = answer_with_room(&svc, &msg, 512);
    assert_eq!(
        (
            r.tc(),
            r.answer.len(),
            r.authority.len(),
            r.additional.len()
        ),
        (false, 2, 2, 3)
    );
    // Room for the answer and the NS RRset but no glue: additional records are optional.
    let r = answer_with_room(&svc, &msg, 110);
    assert_eq!(
        (
            r.tc(),
            r.answer.len(),
            r.authority.len(),
            r.additional.len()
        ),
        (false, 2, 2, 0)
    );
    // Room for part of the glue.
    let r = answer_with_room(&svc, &msg, 120);
    assert_eq!(
        (r.tc(), r.authority.len(), r.additional.len()),
        (false, 2, 1)
    );
    // No room for the NS RRset: an authority RRset that does not fit sets TC (as NSD).
    let r = answer_with_room(&svc, &msg, 80);
    assert_eq!((r.tc(), r.answer.len(), r.authority.len()), (true, 2, 0));
}
