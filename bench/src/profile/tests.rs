//! The generator's frames go through anycastd's real pipeline (bench/configs/anycastd.toml) and
//! the answers must pass validation; broken answers must not.
use super::*;
use dataplane::config::Config;
use dataplane::packet::{PacketBuffer, TestBuffer};
use dataplane::pipeline::{process, WorkerState};
use dataplane::snapshot::Snapshot;
use dataplane::verdict::Verdict;

fn snapshot() -> Snapshot {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/anycastd.toml");
    let config = Config::load(&path).expect("bench config");
    Snapshot::build(&config, &[DUT_MAC], 1).expect("bench snapshot")
}

fn frames(p: Profile, size: usize, n: u64) -> Vec<Vec<u8>> {
    let mut b = Builder::new(p, size, 1000, 0.5, 7);
    (0..n)
        .map(|seq| {
            let mut f = vec![0; b.len(seq)];
            b.build(&mut f, seq, 0x1234_5678 + seq as u32);
            f
        })
        .collect()
}

#[test]
fn anycastd_answers_pass_validation() {
    let snap = snapshot();
    let mut state = WorkerState::default();
    for p in Profile::ALL {
        for size in [64, 128, 1000] {
            let mut b = Builder::new(p, size, 1000, 0.5, 7);
            for (seq, f) in frames(p, size, 16).into_iter().enumerate() {
                let mut buf = TestBuffer::with_room(&f, 128, 2048);
                let v = process(&mut buf, 0, &snap, &mut state);
                let want = if matches!(
                    p,
                    Profile::ForwardTcp | Profile::ForwardUdp | Profile::Flood
                ) {
                    Verdict::Forward
                } else {
                    Verdict::Answer
                };
                assert_eq!(v, want, "{} size {size} seq {seq}", p.name());
                let out = buf.data();
                assert_eq!(
                    b.validate(out, Dut::Anycastd),
                    Ok(()),
                    "{} size {size} seq {seq}",
                    p.name()
                );
                let (stamp, mask) = b.stamp(out).unwrap_or_else(|| panic!("{} stamp", p.name()));
                assert_eq!(
                    stamp & mask,
                    (0x1234_5678 + seq as u32) & mask,
                    "{}",
                    p.name()
                );
            }
        }
    }
}

#[test]
fn macswapped_frames_pass_and_requests_fail_anycastd_validation() {
    for p in Profile::ALL {
        let mut b = Builder::new(p, 64, 1000, 0.5, 7);
        for f in frames(p, 64, 8) {
            // Without an answer, the request itself is no valid anycastd answer.
            assert!(b.validate(&f, Dut::Anycastd).is_err(), "{}", p.name());
            let mut m = f.clone();
            m[0..6].copy_from_slice(&GEN_MAC);
            m[6..12].copy_from_slice(&f[0..6]);
            assert_eq!(b.validate(&m, Dut::Macswap), Ok(()), "{}", p.name());
        }
    }
}

#[test]
fn corrupted_answers_fail() {
    let snap = snapshot();
    let mut state = WorkerState::default();
    for p in [
        Profile::Icmp,
        Profile::Dns,
        Profile::ForwardTcp,
        Profile::Arp,
    ] {
        let mut b = Builder::new(p, 128, 1000, 0.5, 7);
        let f = &frames(p, 128, 1)[0];
        let mut buf = TestBuffer::with_room(f, 128, 2048);
        process(&mut buf, 0, &snap, &mut state);
        let good = buf.data().to_vec();
        assert_eq!(b.validate(&good, Dut::Anycastd), Ok(()));
        // Flip one byte in the answer's last part (payload, DNS record or ARP target).
        let mut bad = good.clone();
        let at = match p {
            Profile::Arp => 40,
            Profile::Dns => 14 + 20 + 8 + 3, // RCODE
            _ => good.len() - 1,
        };
        bad[at] ^= 0x01;
        assert!(
            b.validate(&bad, Dut::Anycastd).is_err(),
            "{} byte {at}",
            p.name()
        );
    }
}

#[test]
fn a_flow_that_changes_backend_fails_validation() {
    let snap = snapshot();
    let mut state = WorkerState::default();
    // Four flows, none new: each flow's frames all come back.
    let mut b = Builder::new(Profile::ForwardTcp, 64, 4, 0.0, 7);
    let mut sent = Builder::new(Profile::ForwardTcp, 64, 4, 0.0, 7);
    let mut out = Vec::new();
    for seq in 0..64 {
        let mut f = vec![0; sent.len(seq)];
        sent.build(&mut f, seq, seq as u32);
        let mut buf = TestBuffer::with_room(&f, 128, 2048);
        assert_eq!(process(&mut buf, 0, &snap, &mut state), Verdict::Forward);
        assert_eq!(b.validate(buf.data(), Dut::Anycastd), Ok(()), "frame {seq}");
        out.push(buf.data().to_vec());
    }
    assert_eq!(
        b.affinity_checks(),
        60,
        "every frame after each flow's first"
    );
    // The last frame again, to another backend (outer checksum kept right): an error naming
    // the flow.
    let mut moved = out[63].clone();
    let to = u16::from_be_bytes([moved[ETH + 18], moved[ETH + 19] ^ 1]);
    set_word(&mut moved, ETH + 18, to, &[ETH + 10]);
    let err = b.validate(&moved, Dut::Anycastd).expect_err("moved flow");
    let client = Ipv4Addr::from(u32::from_be_bytes(
        moved[IP + 12..IP + 16].try_into().unwrap(),
    ));
    assert!(err.contains(&format!("flow {client}:")), "{err}");
    // Another flow of the same client address (a new client port) may go elsewhere.
    let sport = word(&moved, IP + 20) + 1;
    set_word(&mut moved, IP + 20, sport, &[IP + 20 + 16]);
    assert_eq!(b.validate(&moved, Dut::Anycastd), Ok(()));
}

/// The `dns` profile's answer to query `i` of the mix, through anycastd's pipeline.
fn dns_answer(i: u64) -> Vec<u8> {
    let snap = snapshot();
    let mut state = WorkerState::default();
    let f = &frames(Profile::Dns, 64, i + 1)[i as usize];
    let mut buf = TestBuffer::with_room(f, 128, 2048);
    assert_eq!(process(&mut buf, 0, &snap, &mut state), Verdict::Answer);
    buf.data().to_vec()
}

#[test]
fn dns_answers_with_other_records_fail() {
    let cases = dns_cases();
    let mail: std::net::Ipv6Addr = "2001:db8::25".parse().unwrap();
    // (query of the mix, bytes of a record's data to change, what the answer is)
    for (i, data) in [
        (0, vec![192, 0, 2, 81]),
        (2, vec![192, 0, 2, 80]),
        (3, mail.octets().to_vec()),
    ] {
        let good = dns_answer(i);
        assert_eq!(dns::validate_dns(&good, &cases), Ok(()), "{i}");
        let at = good
            .windows(data.len())
            .position(|w| w == data)
            .unwrap_or_else(|| panic!("answer {i} holds {data:?}"));
        // Another address, and no UDP checksum (valid in IPv4): only the records differ.
        let mut bad = good.clone();
        bad[at + data.len() - 1] ^= 0x40;
        bad[IP + 6..IP + 8].fill(0);
        let err = dns::validate_dns(&bad, &cases).expect_err("changed record");
        assert!(err.contains("is none of the expected"), "{i}: {err}");
    }
    // NXDOMAIN: the SOA in the authority section, its type changed, is missed.
    let good = dns_answer(1);
    let soa_type = IP + 8 + 12 + cases[1].qname.len() + 4 + 2;
    assert_eq!(word(&good, soa_type), 6, "SOA after a compressed owner");
    let mut bad = good.clone();
    bad[soa_type + 1] = 2;
    bad[IP + 6..IP + 8].fill(0);
    assert!(dns::validate_dns(&bad, &cases)
        .expect_err("no SOA")
        .contains("without an SOA"));
}

/// `good` with its DNS message's last `cut` bytes dropped (or `extra` zero bytes added), the
/// IPv4 and UDP lengths set to match and no UDP checksum.
fn resized_dns(good: &[u8], cut: usize, extra: usize) -> Vec<u8> {
    let mut f = good[..good.len() - cut].to_vec();
    f.resize(f.len() + extra, 0);
    let total = (f.len() - ETH) as u16;
    set_word(&mut f, ETH + 2, total, &[ETH + 10]);
    f[IP + 4..IP + 6].copy_from_slice(&(total - 20).to_be_bytes());
    f[IP + 6..IP + 8].fill(0);
    f
}

#[test]
fn dns_answers_must_hold_every_record_they_count_and_nothing_after() {
    let cases = dns_cases();
    // The EDNS query's answer without its OPT record (11 bytes), ARCOUNT still 1.
    let good = dns_answer(3);
    assert_eq!(dns::validate_dns(&resized_dns(&good, 0, 0), &cases), Ok(()));
    let err = dns::validate_dns(&resized_dns(&good, 11, 0), &cases).expect_err("no OPT");
    assert!(err.contains("record 0 after the answers"), "{err}");
    // Bytes after the last record.
    let err = dns::validate_dns(&resized_dns(&good, 0, 3), &cases).expect_err("trailing");
    assert!(err.contains("3 bytes after the last record"), "{err}");
    // NXDOMAIN whose SOA is cut in half.
    let good = dns_answer(1);
    let err = dns::validate_dns(&resized_dns(&good, 20, 0), &cases).expect_err("cut SOA");
    assert!(err.contains("after the answers"), "{err}");
    // Shorter than a DNS header by its lengths: an error, not a panic.
    let mut tiny = resized_dns(&good, good.len() - (IP + 8), 0);
    assert!(dns::validate_dns(&tiny, &cases).is_err());
    set_word(&mut tiny, ETH + 2, 20, &[ETH + 10]);
    tiny[IP + 4..IP + 6].fill(0);
    tiny.resize(64, 0);
    let err = dns::validate_dns(&tiny, &cases).expect_err("no message");
    assert!(err.contains("shorter than its header"), "{err}");
}

#[test]
fn a_compression_loop_is_an_error() {
    // Header, then a question whose name points at itself.
    let mut m = vec![0u8; 12];
    m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    let mut out = [0u8; 255];
    assert!(dns::read_name(&m, 12, &mut out)
        .expect_err("loop")
        .contains("loop"));
    assert!(
        dns::read_name(&[3, b'w'], 0, &mut out).is_err(),
        "cut label"
    );
    assert!(
        dns::read_name(&[3, b'w', b'w', b'w', 0xc0], 0, &mut out)
            .expect_err("cut pointer")
            .contains("pointer runs past"),
        "cut pointer"
    );
    assert_eq!(
        dns::read_name(&[3, b'w', b'w', b'w', 0, 0xc0, 0], 5, &mut out),
        Ok((5, 7))
    );
    assert_eq!(&out[..5], b"\x03www\x00");
}

#[test]
fn profile_names_round_trip() {
    for p in Profile::ALL {
        assert_eq!(Profile::parse(p.name()), Ok(p));
    }
    assert!(Profile::parse("nope").unwrap_err().contains("forward-tcp"));
}

#[test]
fn too_big_answers_say_so_and_the_largest_frames_forward_at_1498() {
    // The bench config's port keeps Ethernet's MTU: a 1518-byte frame (1500 bytes of IP) cannot
    // take its 20 bytes of IPIP, and anycastd answers "fragmentation needed"; the validation
    // names that. At 1498 bytes the frame fits and forwards.
    let snap = snapshot();
    let mut state = WorkerState::default();
    for p in [Profile::ForwardTcp, Profile::ForwardUdp, Profile::Flood] {
        let mut b = Builder::new(p, 1518, 1000, 0.5, 7);
        let f = &frames(p, 1518, 1)[0];
        let mut buf = TestBuffer::with_room(f, 128, 2048);
        assert_eq!(process(&mut buf, 0, &snap, &mut state), Verdict::Answer);
        let e = b.validate(buf.data(), Dut::Anycastd).unwrap_err();
        assert!(
            e.contains("ICMP fragmentation needed (next-hop MTU 1480)"),
            "{}: {e}",
            p.name()
        );

        let mut b = Builder::new(p, 1498, 1000, 0.5, 7);
        let f = &frames(p, 1498, 1)[0];
        let mut buf = TestBuffer::with_room(f, 128, 2048);
        assert_eq!(process(&mut buf, 0, &snap, &mut state), Verdict::Forward);
        assert_eq!(buf.data().len(), 1498 - 4 + 20, "{}", p.name());
        assert_eq!(
            b.validate(buf.data(), Dut::Anycastd),
            Ok(()),
            "{}",
            p.name()
        );
    }
}

mod fuzz;
