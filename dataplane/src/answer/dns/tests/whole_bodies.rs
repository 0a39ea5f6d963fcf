//! Whole bodies per offset of a name in the question ([`crate::answer::dns::offset_bodies`]):
//! the general path's bytes, from a whole body where one was rendered, planned elsewhere.
use super::fast::{compare_with_and_without_edns, fast_and_slow, label, many_zones, services};
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

/// How the fast path finds `name` asked with `qtype`: through a closest-encloser shortcut
/// (`true`, [`crate::answer::dns::encloser`]) or not; and that the answer is the general
/// path's, with and without EDNS.
fn by_shortcut(svc: &DnsService, slow: &DnsService, name: &str, qtype: u16) -> bool {
    compare_with_and_without_edns(svc, slow, name, qtype);
    let msg = query(name, qtype, Q::default());
    let q = fast::parse(&msg).expect("a plain query");
    matches!(fast::find(&svc.db, &q, &msg), Some(fast::Found::Below(_)))
}

#[test]
fn a_name_one_label_under_a_cut_or_a_wildcard_parent_is_answered_by_its_shortcut() {
    let svc = service();
    let slow = service().without_fast_path();
    for len in [1, 2, 17, 62, 63] {
        let l = label(len);
        // `name` under this label, asked with `qtype`: by the shortcut, or not.
        let under = |name: &str, qtype| by_shortcut(&svc, &slow, &format!("{l}.{name}"), qtype);
        // The wildcard's A (AAAA is NODATA there: planned, from the parent's node).
        assert!(under("wild.example.test", 1));
        assert!(under("WiLd.example.TEST", 1));
        assert!(!under("wild.example.test", 28));
        // Other types are planned, from whole bodies when there are some (TXT).
        assert!(!under("wild.example.test", 16));
        assert!(from_whole_body(
            &svc,
            &slow,
            &format!("{l}.wild.example.test"),
            16
        ));
        // A referral whatever the type (ANY is the general path's).
        for qtype in [1, 28, 15, 16] {
            assert!(under("sub.example.test", qtype));
        }
        // Two labels down: the shortcut's name is not the parent.
        assert!(!under("x.sub.example.test", 1));
        assert!(!under("x.wild.example.test", 1));
    }
    // Names that exist are found by their own lookup: the wildcard's sibling, the glue.
    assert!(!by_shortcut(&svc, &slow, "host.wild.example.test", 28));
    assert!(!by_shortcut(&svc, &slow, "ns.sub.example.test", 1));
    // Without whole bodies (no budget), no shortcuts; the same bytes.
    let composed = services().swap_remove(2);
    assert!(!by_shortcut(&composed, &slow, "x.wild.example.test", 1));
    assert!(!by_shortcut(&composed, &slow, "x.sub.example.test", 1));
}

#[test]
fn a_question_for_a_missing_name_the_referral_ends_in_is_planned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.zone");
    // NS targets under their cuts without glue: `ns.cut`, and `b.deep` above `a.b.deep`.
    let text = "$ORIGIN z.test.\n$TTL 60\n@ SOA ns1 hostmaster 1 2 3 4 5\n@ NS ns1\n\
                ns1 A 192.0.2.1\ncut NS ns.cut\ndeep NS a.b.deep\n";
    std::fs::write(&path, text).unwrap();
    let (svc, slow) = fast_and_slow(vec![path]);
    // The names the referrals compress against: planned (then answered by the general path).
    assert!(!by_shortcut(&svc, &slow, "ns.cut.z.test", 1));
    assert!(!by_shortcut(&svc, &slow, "NS.cut.z.test", 1));
    assert!(!by_shortcut(&svc, &slow, "b.deep.z.test", 1));
    // Their neighbours: the shortcut.
    assert!(by_shortcut(&svc, &slow, "nt.cut.z.test", 1));
    assert!(by_shortcut(&svc, &slow, "ns.deep.z.test", 1));
    assert!(by_shortcut(&svc, &slow, "a.deep.z.test", 1));
    assert!(!by_shortcut(&svc, &slow, "a.b.deep.z.test", 1));
}
