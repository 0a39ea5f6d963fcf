//! Whole bodies per offset of a name in the question ([`crate::answer::dns::offset_bodies`]):
//! the general path's bytes, from a whole body where one was rendered, planned elsewhere.
use super::fast::{compare_with_and_without_edns, label, many_zones, services};
use super::*;
use crate::answer::dns::fast;

/// How the fast path answers `name` asked with `qtype`: from a whole body (`true`) or not;
/// and that the answer is the general path's, with and without EDNS.
fn from_whole_body(svc: &DnsService, slow: &DnsService, name: &str, qtype: u16) -> bool {
    compare_with_and_without_edns(svc, slow, name, qtype);
    let msg = query(name, qtype, Q::default());
    let q = fast::parse(&msg).expect("a plain query");
    matches!(
        fast::plan(&svc.db, &q, &msg),
        Some(fast::Answer {
            body: fast::Body::Full(_),
            ..
        })
    )
}

#[test]
fn a_wildcard_answer_under_a_name_one_label_down_is_a_whole_body_for_every_label_length() {
    let svc = service();
    let slow = service().without_fast_path();
    for len in 1..=63 {
        let l = label(len);
        // A and TXT at `*.wild`: whole bodies; AAAA is NODATA there, planned.
        assert!(
            from_whole_body(&svc, &slow, &format!("{l}.wild.example.test"), 1),
            "{len}"
        );
        assert!(
            from_whole_body(&svc, &slow, &format!("{l}.WILD.example.test"), 16),
            "{len}"
        );
        assert!(
            !from_whole_body(&svc, &slow, &format!("{l}.wild.example.test"), 28),
            "{len}"
        );
        // Two labels down the same wildcard answers, planned.
        assert!(
            !from_whole_body(&svc, &slow, &format!("{l}.x.wild.example.test"), 1),
            "{len}"
        );
    }
    // A wildcard CNAME is the general path's.
    assert!(!from_whole_body(&svc, &slow, "x.cwild.example.test", 1));
    // Without whole bodies (no budget), none.
    let composed = services().swap_remove(2);
    assert!(!from_whole_body(&composed, &slow, "x.wild.example.test", 1));
}

#[test]
fn a_referral_is_a_whole_body_for_every_offset_of_the_cut_up_to_64_octets() {
    let svc = service();
    let slow = service().without_fast_path();
    for qtype in [1, 28, 15] {
        assert!(
            from_whole_body(&svc, &slow, "sub.example.test", qtype),
            "{qtype}"
        );
        assert!(
            from_whole_body(&svc, &slow, "SuB.Example.TEST", qtype),
            "{qtype}"
        );
    }
    for len in 1..=63 {
        let l = label(len);
        // The cut `len + 1` octets into the question: one label, or two adding up to it.
        assert!(
            from_whole_body(&svc, &slow, &format!("{l}.sub.example.test"), 1),
            "{len}"
        );
        if len >= 3 {
            let two = format!("{}.{}.sub.example.test", label(1), label(len - 2));
            assert!(from_whole_body(&svc, &slow, &two, 28), "{len}");
        }
    }
    // Deeper than 64 octets: planned, the same bytes.
    let deep = format!("{}.{}.sub.example.test", label(63), label(1));
    assert!(!from_whole_body(&svc, &slow, &deep, 1));
    // The glue's name compresses the referral against the question: planned.
    assert!(!from_whole_body(&svc, &slow, "ns.sub.example.test", 1));
    assert!(!from_whole_body(&svc, &slow, "x.ns.sub.example.test", 1));
}

#[test]
fn only_the_first_cuts_get_whole_referrals() {
    use crate::answer::dns::offset_bodies::SHORTCUTS;
    let n = SHORTCUTS + 2;
    let (svc, slow) = many_zones(n);
    let whole = (0..n)
        .filter(|i| from_whole_body(&svc, &slow, &format!("www.cut.z{i}.test"), 1))
        .count();
    assert_eq!(whole, SHORTCUTS);
    assert!(from_whole_body(&svc, &slow, "www.cut.z0.test", 1));
}
