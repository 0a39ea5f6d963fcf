//! The validation meets whatever a DUT sends back: arbitrary frames, and anycastd's real
//! answers cut short or with bytes changed (their checksums made right again, so that the
//! change reaches the checks behind them: the DNS records, the inner packet). None of it may
//! panic the generator mid-run; an answer cut short is never valid.
use super::*;
use proptest::prelude::*;
use std::sync::OnceLock;

/// Frame sizes of the answers: the smallest, and one with a longer payload.
const SIZES: [usize; 2] = [64, 300];

/// Per profile and size, anycastd's answers (or forwards) to the profile's first frames.
fn good_answers() -> &'static [(Profile, usize, Vec<u8>)] {
    static ANSWERS: OnceLock<Vec<(Profile, usize, Vec<u8>)>> = OnceLock::new();
    ANSWERS.get_or_init(|| {
        let snap = snapshot();
        let mut state = WorkerState::default();
        let mut out = Vec::new();
        for p in Profile::ALL {
            for size in SIZES {
                for f in frames(p, size, 4) {
                    let mut buf = TestBuffer::with_room(&f, 128, 2048);
                    let v = process(&mut buf, 0, &snap, &mut state);
                    assert!(matches!(v, Verdict::Answer | Verdict::Forward), "{v:?}");
                    out.push((p, size, buf.data().to_vec()));
                }
            }
        }
        out
    })
}

/// A builder whose validation expects `p`'s answers (a fresh one: no flow seen yet).
fn builder(p: Profile, size: usize) -> Builder {
    Builder::new(p, size, 1000, 0.5, 7)
}

/// Sets the IPv4 header checksum at `l3` right, when a 20-byte header is there.
fn fix_ipv4(f: &mut [u8], l3: usize) {
    if f.len() >= l3 + 20 && f[l3] == 0x45 {
        f[l3 + 10..l3 + 12].fill(0);
        let c = checksum::checksum(&f[l3..l3 + 20]);
        f[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
    }
}

/// Sets the TCP, UDP or ICMP checksum of the IPv4 packet at `l3` right, when its length fits
/// the frame (a UDP checksum of 0, "none", stays so).
fn fix_l4(f: &mut [u8], l3: usize) {
    let proto = f[l3 + 9];
    let at = l3
        + 20
        + match proto {
            1 => 2,
            6 => 16,
            17 => 6,
            _ => return,
        };
    let total = usize::from(word(f, l3 + 2));
    if f[l3] != 0x45 || l3 + total > f.len() || l3 + total < at + 2 {
        return;
    }
    if proto == 17 && word(f, at) == 0 {
        return;
    }
    f[at..at + 2].fill(0);
    let c = match l4_checksum(f, l3) {
        0 if proto == 17 => 0xffff,
        c => c,
    };
    f[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// Makes the checksums of a changed frame right again where its headers let that be done:
/// the IPv4 header's (outer and, in IPIP, inner) and the innermost TCP, UDP or ICMP one.
fn fix_checksums(f: &mut [u8]) {
    if f.len() < IP || f[12..14] != [8, 0] {
        return;
    }
    fix_ipv4(f, ETH);
    let l3 = if f[ETH + 9] == 4 && f.len() >= IP + 20 && f[IP] == 0x45 {
        fix_ipv4(f, IP);
        IP
    } else {
        ETH
    };
    fix_l4(f, l3);
}

/// How much of a good answer the validation reads: an ARP reply's minimum frame, else the
/// IPv4 packet (Ethernet padding after it is not checked).
fn checked_len(f: &[u8]) -> usize {
    if f[12..14] == [8, 6] {
        MIN_FRAME
    } else {
        ETH + usize::from(word(f, ETH + 2))
    }
}

/// Every check the generator makes of a frame that came back, as both DUTs.
fn check_all(p: Profile, size: usize, f: &[u8]) -> Result<(), String> {
    let mut b = builder(p, size);
    let _ = b.stamp(f);
    let _ = b.validate(f, Dut::Macswap);
    b.validate(f, Dut::Anycastd)
}

/// The answers as they are pass, and the checksum fix-up changes nothing in them (so the
/// properties below change only what they mean to).
#[test]
fn good_answers_pass_and_their_checksums_are_already_right() {
    for (p, size, good) in good_answers() {
        assert_eq!(check_all(*p, *size, good), Ok(()), "{}", p.name());
        let mut fixed = good.clone();
        fix_checksums(&mut fixed);
        assert_eq!(&fixed, good, "{}", p.name());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// An answer cut anywhere short of what the validation reads is an error, never a panic.
    #[test]
    fn cut_answers_are_errors(
        pick in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let (p, size, good) = pick.get(good_answers());
        let len = cut.index(checked_len(good));
        let r = check_all(*p, *size, &good[..len]);
        prop_assert!(r.is_err(), "{} cut to {len} of {} bytes passed", p.name(), good.len());
    }

    /// Up to four bytes of an answer changed (then its checksums made right, or not), and the
    /// frame perhaps cut: checked without a panic.
    #[test]
    fn changed_answers_never_panic(
        pick in any::<prop::sample::Index>(),
        changes in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..=4),
        fix in any::<bool>(),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let (p, size, good) = pick.get(good_answers());
        let mut f = good.clone();
        for (at, v) in &changes {
            let i = at.index(f.len());
            f[i] = *v;
        }
        if fix {
            fix_checksums(&mut f);
        }
        if let Some(c) = cut {
            f.truncate(c.index(f.len() + 1));
        }
        let _ = check_all(*p, *size, &f);
    }

    /// A DNS answer's message cut anywhere and bytes in it changed, its IPv4 and UDP lengths
    /// made to match (no UDP checksum) and its IPv4 checksum right: the record parsers meet
    /// names and records that run past the message's end. Checked without a panic; cut inside
    /// its records, an error.
    #[test]
    fn dns_messages_cut_and_changed_never_panic(
        pick in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
        changes in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..=3),
    ) {
        let answers: Vec<_> = good_answers().iter().filter(|a| a.0 == Profile::Dns).collect();
        let (p, size, good) = pick.get(&answers);
        let msg_len = good.len() - (IP + 8);
        let keep = cut.index(msg_len + 1);
        let mut f = resized_dns(good, msg_len - keep, 0);
        for (at, v) in &changes {
            if keep > 0 {
                f[IP + 8 + at.index(keep)] = *v;
            }
        }
        fix_checksums(&mut f);
        let r = check_all(*p, *size, &f);
        if changes.is_empty() && keep < msg_len {
            prop_assert!(r.is_err(), "message cut to {keep} of {msg_len} bytes passed");
        }
    }

    /// A forwarded frame's inner packet cut anywhere, both IPv4 lengths and the checksums
    /// made to match: an error (the inner headers and payload are checked to the inner
    /// packet's end), never a panic.
    #[test]
    fn forwards_cut_inside_are_errors(
        pick in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let forwards: Vec<_> = good_answers()
            .iter()
            .filter(|a| matches!(a.0, Profile::ForwardTcp | Profile::ForwardUdp | Profile::Flood))
            .collect();
        let (p, size, good) = pick.get(&forwards);
        let inner_len = good.len() - IP;
        let keep = 20 + cut.index(inner_len - 20);
        let mut f = good[..IP + keep].to_vec();
        f[ETH + 2..ETH + 4].copy_from_slice(&((20 + keep) as u16).to_be_bytes());
        f[IP + 2..IP + 4].copy_from_slice(&(keep as u16).to_be_bytes());
        f.resize(f.len().max(MIN_FRAME), 0);
        fix_checksums(&mut f);
        let r = check_all(*p, *size, &f);
        prop_assert!(r.is_err(), "{} inner packet cut to {keep} of {inner_len} passed", p.name());
    }

    /// Arbitrary frames, with our MACs and the IPv4 or ARP type in front (or not) so that
    /// they get past the first checks: validated as every profile without a panic.
    #[test]
    fn arbitrary_frames_never_panic(
        mut f in prop::collection::vec(any::<u8>(), 0..1600),
        head in 0..3u8,
        fix in any::<bool>(),
    ) {
        if f.len() >= 14 && head > 0 {
            f[0..6].copy_from_slice(&GEN_MAC);
            f[6..12].copy_from_slice(&DUT_MAC);
            f[12..14].copy_from_slice(if head == 1 { &[8, 0] } else { &[8, 6] });
            if head == 1 && f.len() > ETH {
                f[ETH] = 0x45;
            }
        }
        if fix {
            fix_checksums(&mut f);
        }
        for p in Profile::ALL {
            let _ = check_all(p, 64, &f);
        }
    }
}
