//! The fast path against the general path: for every name of the test zones (and names below
//! them, in mixed case, with and without EDNS), both must give the same frame byte for byte,
//! the same verdict and the same counters.
use super::*;
use crate::answer::dns::db::APEX_SHORTCUTS;
use crate::answer::dns::{fast, name};

/// The demo zones plus a zone without apex NS, with an SOA whose names are odd, an RRset too
/// big for 512 bytes, and a slice of the generated benchmark zone; and the demo zones without
/// whole pre-rendered bodies.
pub(super) fn services() -> Vec<DnsService> {
    let dir = tempfile::tempdir().unwrap();
    let mut odd = String::from(
        "$ORIGIN odd.test.\n$TTL 60\n@ SOA ns.elsewhere.example. Hostmaster.Odd.Test. 1 2 3 4 5\n\
         Mixed A 192.0.2.1\nx.y.z TXT \"deep\"\nc1 CNAME Mixed\nc2 CNAME nowhere.odd.test.\n\
         c3 CNAME x.y.z\nhostmaster.sub AAAA 2001:db8::5\n",
    );
    for i in 0..40 {
        odd.push_str(&format!("many A 192.0.2.{i}\n"));
    }
    std::fs::write(dir.path().join("odd.zone"), odd).unwrap();
    std::fs::write(dir.path().join("big.zone"), testutil::generated_zone(300)).unwrap();
    let other = DnsService::build(&DnsServiceConfig {
        zones: vec![dir.path().join("odd.zone"), dir.path().join("big.zone")],
        identity: "t".into(),
        minimal_responses: false,
    })
    .expect("test zones load");
    // The demo zones once more with no whole bodies: answers composed at query time.
    let mut composed = service();
    let tables = crate::answer::dns::prerender::Tables::build_with_budget(&composed.db, 0);
    composed.db.set_tables(tables);
    vec![service(), other, composed, minimal_service()]
}

/// Flips the case of the letters of `name` where `mask` has a bit set.
pub(super) fn mixed_case(name: &str, mask: u64) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask >> (i % 64) & 1 == 1 {
                if c.is_ascii_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            } else {
                c
            }
        })
        .collect()
}

/// Runs `msg` through both paths; returns whether the fast path answered it.
fn compare(fast_svc: &DnsService, slow_svc: &DnsService, msg: &[u8], v6: bool) -> bool {
    let frame = if v6 {
        udp6(CLIENT6, VIP6, 40000, 53, msg)
    } else {
        testutil::udp4(CLIENT4, VIP4, 40000, 53, msg)
    };
    let (mut cf, mut cs) = (DnsCounters::default(), DnsCounters::default());
    let (vf, bf) = run_frame(fast_svc, &frame, &mut cf);
    let (vs, bs) = run_frame(slow_svc, &frame, &mut cs);
    let name = super::super::name::to_text(&msg[12..msg.len().min(12 + 255)]);
    assert_eq!(vf, vs, "verdict for {name}");
    assert_eq!(bf.data(), bs.data(), "frame for {name} {msg:02x?}");
    assert_eq!(cf, cs, "counters for {name}");
    let took = fast::parse(msg).is_some_and(|q| {
        fast::plan(&fast_svc.db, &q, msg).is_some_and(|a| a.fits(&q, 4096).is_some())
    });
    if vf == Verdict::Answer && !v6 && took {
        check_v4_reply(&bf);
    }
    took
}

const QTYPES: [u16; 15] = [1, 28, 16, 15, 2, 6, 5, 12, 33, 48, 43, 99, 255, 41, 257];

const EDNS: [Option<(u16, u8, bool, bool)>; 6] = [
    None,
    Some((512, 0, false, false)),
    Some((1232, 0, true, false)),
    Some((4096, 0, false, false)),
    Some((600, 0, false, true)),
    Some((1232, 1, false, false)),
];

/// Walks the corpus: every name of `svc` (index `i`), each of `variants(i, name)` that is a
/// valid name (index `k`), asked for every type of [`QTYPES`] (index `j`) with the EDNS and RD
/// the indexes pick; `each(name, qtype, message, i + j + k, j)`.
pub(super) fn for_each_question(
    svc: &DnsService,
    variants: impl Fn(usize, &str) -> Vec<String>,
    mut each: impl FnMut(&str, u16, &[u8], usize, usize),
) {
    let names: Vec<String> = svc
        .db
        .nodes
        .iter()
        .map(|n| super::super::name::to_text(svc.db.bytes(n.name, usize::from(n.name_len))))
        .collect();
    for (i, name) in names.iter().enumerate() {
        let base = name.trim_end_matches('.');
        for (k, v) in variants(i, base).iter().enumerate() {
            if super::super::name::from_text(v).is_none() || v.contains('\\') {
                continue;
            }
            for (j, qtype) in QTYPES.iter().enumerate() {
                let edns = EDNS[(i + j + k) % EDNS.len()];
                let flags = if (i + j) % 3 == 0 { 0 } else { 0x0100 };
                let msg = query(
                    v,
                    *qtype,
                    Q {
                        flags,
                        class: 1,
                        edns,
                    },
                );
                each(v, *qtype, &msg, i + j + k, j);
            }
        }
    }
}

#[test]
fn fast_and_general_paths_write_the_same_bytes_for_every_name() {
    let mut fast_hits = 0usize;
    let mut total = 0usize;
    let slow_ones = services().into_iter().map(DnsService::without_fast_path);
    for (svc, slow) in services().into_iter().zip(slow_ones) {
        let variants = |i: usize, base: &str| {
            vec![
                base.to_string(),
                mixed_case(base, 0x5555_5555_5555_5555 ^ i as u64),
                format!("nope.{base}"),
                format!("A.b.{}", mixed_case(base, 0xf0f0_f0f0)),
                format!("hostmaster.{base}"),
                format!("ns1.{base}"),
            ]
        };
        for_each_question(&svc, variants, |_, _, msg, ijk, _| {
            total += 1;
            if compare(&svc, &slow, msg, ijk % 7 == 0) {
                fast_hits += 1;
            }
        });
    }
    eprintln!("fast path took {fast_hits} of {total}");
    // The comparison means something only if the fast path answered much of it.
    assert!(
        fast_hits * 3 > total,
        "fast path took {fast_hits} of {total}"
    );
}

#[test]
fn the_benchmark_questions_take_the_fast_path() {
    let svc = service();
    let slow = service().without_fast_path();
    for (name, qtype) in [
        ("www.example.test", 1),
        ("WwW.ExAmPlE.TeSt", 28),
        ("nope.example.test", 1),
        ("chain1.example.test", 1),
        ("www.example.test", 16),
        ("example.test", 33),
        ("a.b.c.nope.example.test", 1),
    ] {
        for edns in [None, Some((1232, 0, true, false))] {
            let msg = query(
                name,
                qtype,
                Q {
                    edns,
                    ..Q::default()
                },
            );
            assert!(compare(&svc, &slow, &msg, false), "{name} {qtype}");
            assert!(compare(&svc, &slow, &msg, true), "{name} {qtype} over IPv6");
        }
    }
    // Wildcard synthesis, any case, any depth.
    for name in [
        "foo.wild.example.test",
        "A.b.WILD.example.test",
        "x.y.z.wild.example.test",
    ] {
        for qtype in [1, 16, 28, 15] {
            let msg = query(name, qtype, Q::default());
            assert!(compare(&svc, &slow, &msg, false), "{name} {qtype}");
        }
    }
    // Referrals, below the cut and at it.
    for name in [
        "www.sub.example.test",
        "sub.example.test",
        "A.B.Ext.example.test",
    ] {
        let msg = query(name, 1, Q::default());
        assert!(compare(&svc, &slow, &msg, false), "{name}");
    }
    // And these do not: a wildcard CNAME, a referral whose glue names the question,
    // SOA-sensitive NXDOMAIN, options, ANY.
    for (name, qtype, edns) in [
        ("foo.cwild.example.test", 1, None),
        ("x.ns.sub.example.test", 1, None),
        ("x.ns1.example.test", 1, None),
        ("hostmaster.example.test", 1, None),
        ("www.example.test", 1, Some((1232, 0, false, true))),
        ("www.example.test", 255, None),
    ] {
        let msg = query(
            name,
            qtype,
            Q {
                edns,
                ..Q::default()
            },
        );
        assert!(!compare(&svc, &slow, &msg, false), "{name} {qtype}");
    }
}

proptest::proptest! {
    #[test]
    fn random_names_and_case_agree(node in 0usize..200, mask: u64, prefix in "[a-zA-Z0-9-]{0,8}(\\.[a-z]{1,3})?", qtype in proptest::sample::select(QTYPES.to_vec()), edns in 0usize..6, rd: bool) {
        thread_local! {
            static SVCS: (DnsService, DnsService) = (service(), service().without_fast_path());
        }
        SVCS.with(|(svc, slow)| {
            let n = &svc.db.nodes[node % svc.db.nodes.len()];
            let name = super::super::name::to_text(svc.db.bytes(n.name, usize::from(n.name_len)));
            let name = mixed_case(name.trim_end_matches('.'), mask);
            let name = if prefix.is_empty() { name } else { format!("{prefix}.{name}") };
            if name.contains('\\') || super::super::name::from_text(&name).is_none() {
                return;
            }
            let flags = if rd { 0x0100 } else { 0 };
            let msg = query(&name, qtype, Q { flags, class: 1, edns: EDNS[edns] });
            compare(svc, slow, &msg, mask & 1 == 1);
        });
    }
}

/// `msg` (with an option-less OPT last) with the OPT RDATA replaced by `rdata`.
fn with_options(mut msg: Vec<u8>, rdata: &[u8]) -> Vec<u8> {
    let n = msg.len();
    msg[n - 2..].copy_from_slice(&(rdata.len() as u16).to_be_bytes());
    msg.extend_from_slice(rdata);
    msg
}

#[test]
fn edns_options_other_than_nsid_take_the_fast_path() {
    let svc = service();
    let slow = service().without_fast_path();
    let cookie = [0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8];
    let server_cookie = [
        0, 10, 0, 24, 1, 2, 3, 4, 5, 6, 7, 8, 1, 0, 0, 0, 0x65, 0x43, 0x21, 0, 9, 9, 9, 9, 9, 9, 9,
        9,
    ];
    let padding = [0, 12, 0, 3, 0, 0, 0];
    let mut two = cookie.to_vec();
    two.extend_from_slice(&padding);
    let mut nsid_too = cookie.to_vec();
    nsid_too.extend_from_slice(&[0, 3, 0, 0]);
    for name in [
        "www.example.test",
        "nope.example.test",
        "chain1.example.test",
        "Ab.example.test",
    ] {
        for edns in [Some((1232, 0, true, false)), Some((4096, 0, false, false))] {
            let base = query(
                name,
                1,
                Q {
                    edns,
                    ..Q::default()
                },
            );
            for (rdata, fast) in [
                (&cookie[..], true),
                (&server_cookie[..], true),
                (&padding[..], true),
                (&two[..], true),
                (&nsid_too[..], false),
                (&cookie[..10], false),
                (&cookie[..3], false),
                (&[0u8, 8, 0, 0][..], true),
            ] {
                let msg = with_options(base.clone(), rdata);
                for v6 in [false, true] {
                    assert_eq!(compare(&svc, &slow, &msg, v6), fast, "{name} {rdata:02x?}");
                }
            }
            // An option whose length runs past the RDATA, into trailing bytes.
            let mut msg = with_options(base.clone(), &[0, 10, 0, 8, 1, 2]);
            msg.extend_from_slice(&[0; 8]);
            assert!(!compare(&svc, &slow, &msg, false), "{name} overlong option");
        }
    }
}

/// A query message for the raw wire name `name` (not checked), type A, class IN.
fn raw_query(name: &[u8]) -> Vec<u8> {
    let mut msg = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    msg.extend_from_slice(name);
    msg.extend_from_slice(&[0, 1, 0, 1]);
    msg
}

#[test]
fn names_with_zero_octets_or_bad_labels_get_the_general_paths_answer() {
    let svc = service();
    let slow = service().without_fast_path();
    let www = b"\x03www\x07example\x04test\x00";
    assert!(compare(&svc, &slow, &raw_query(www), false), "the A hit");
    // Well-formed names with a zero octet inside a label (not where they end): either path
    // may answer, with the same bytes (`compare` checks them).
    let zeros: [&[u8]; 3] = [
        b"\x05w\x00w\x00w\x07example\x04test\x00",
        b"\x03a\x00b\x07example\x04test\x00",
        b"\x03w\x00w\x07example\x04test\x00",
    ];
    // Malformed: a label length over 63; labels running past the message.
    let bad: [&[u8]; 3] = [
        b"\x03www\x47example\x04test\x00",
        b"\x09www\x00\x07example\x04test\x00",
        b"\x3fwww",
    ];
    for name in zeros.into_iter().chain(bad) {
        let msg = raw_query(name);
        for v6 in [false, true] {
            let took = compare(&svc, &slow, &msg, v6);
            assert!(
                !(took && bad.contains(&name)),
                "{name:02x?} took the fast path"
            );
        }
    }
}

/// How the fast path finds the answer to `name` asked with `qtype`: straight from the name's
/// table entry (`true`), or through the node (`false`).
fn found_direct(svc: &DnsService, name: &str, qtype: u16) -> bool {
    let msg = query(name, qtype, Q::default());
    let q = fast::parse(&msg).expect("a plain query");
    match fast::find(&svc.db, &q, &msg) {
        Some(fast::Found::Full(_) | fast::Found::NxUnderApex(_)) => true,
        Some(fast::Found::Node(..) | fast::Found::Below(_)) => false,
        None => panic!("{name} {qtype}: no node"),
    }
}

#[test]
fn a_name_with_a_cname_alone_answers_a_and_aaaa_from_its_table_entry() {
    let svc = service();
    let slow = service().without_fast_path();
    for name in [
        "alias.example.test",
        "chain1.example.test",
        "OutSide.example.test",
    ] {
        for qtype in [1, 28] {
            assert!(found_direct(&svc, name, qtype), "{name} {qtype}");
            let msg = query(name, qtype, Q::default());
            assert!(compare(&svc, &slow, &msg, false), "{name} {qtype}");
        }
        // Other types at a CNAME are planned: the CNAME itself, or NODATA after the chain.
        assert!(!found_direct(&svc, name, 15), "{name} MX");
    }
    // A chain that ends in NXDOMAIN keeps its own header: planned, still the fast path's.
    let all = services();
    let (odd, composed) = (&all[1], &all[2]);
    let odd_slow = services().swap_remove(1).without_fast_path();
    let msg = query("c2.odd.test", 1, Q::default());
    assert!(!found_direct(odd, "c2.odd.test", 1));
    assert!(compare(odd, &odd_slow, &msg, false));
    assert!(found_direct(odd, "c1.odd.test", 1));
    // Without whole bodies (no budget) nothing is direct.
    assert!(!found_direct(composed, "alias.example.test", 1));
    assert!(!found_direct(composed, "www.example.test", 1));
}

/// `n` small zones `z0.test.` .. (each an SOA, apex NS, a name and a delegation), and a zone
/// under the first (`in.z0.test.`) served too; the fast and the general service of them.
pub(super) fn many_zones(n: usize) -> (DnsService, DnsService) {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut write = |apex: &str| {
        let path = dir.path().join(format!("{apex}zone"));
        let text = format!(
            "$ORIGIN {apex}\n$TTL 60\n@ SOA ns1 hostmaster 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n\
             www A 192.0.2.2\ncut NS ns.elsewhere.example.\n"
        );
        std::fs::write(&path, text).unwrap();
        files.push(path);
    };
    for i in 0..n {
        write(&format!("z{i}.test."));
    }
    write("in.z0.test.");
    fast_and_slow(files)
}

/// A service of the zone files `zones`, and the same without its fast path.
pub(super) fn fast_and_slow(zones: Vec<std::path::PathBuf>) -> (DnsService, DnsService) {
    let cfg = DnsServiceConfig {
        zones,
        identity: "t".into(),
        minimal_responses: false,
    };
    let svc = DnsService::build(&cfg).expect("zones load");
    let slow = DnsService::build(&cfg)
        .expect("zones load")
        .without_fast_path();
    (svc, slow)
}

#[test]
fn names_under_any_apex_get_the_general_paths_nxdomain_with_more_zones_than_shortcuts() {
    let n = APEX_SHORTCUTS + 3;
    let (svc, slow) = many_zones(n);
    assert_eq!(svc.db.zones.len(), n + 1);
    let apexes: Vec<String> = (0..n)
        .map(|i| format!("z{i}.test"))
        .chain(["in.z0.test".into()])
        .collect();
    for (i, apex) in apexes.iter().enumerate() {
        let node = svc.db.find(&name::from_text(apex).unwrap());
        // The first zones' apexes are found by comparison, in any case; the others by lookup.
        let upper = name::from_text(&apex.to_ascii_uppercase()).unwrap();
        let by_comparison = svc.db.apex_node(&upper);
        if i < APEX_SHORTCUTS {
            assert_eq!(by_comparison, node, "{apex}");
            assert!(node.is_some(), "{apex}");
        } else {
            assert_eq!(by_comparison, None, "{apex}");
        }
        // Not an apex: never found by comparison.
        let www = name::from_text(&format!("www.{apex}")).unwrap();
        assert_eq!(svc.db.apex_node(&www), None, "www.{apex}");
        // NXDOMAIN, NODATA, referrals and answers under every apex: the same bytes as the
        // general path's, and the fast path's.
        for (q, qtype) in [
            (format!("nope.{apex}"), 1),
            (format!("NoPe.{}", apex.to_ascii_uppercase()), 28),
            (format!("a.b.nope.{apex}"), 1),
            (format!("www.{apex}"), 16),
            (format!("x.cut.{apex}"), 1),
            (format!("www.{apex}"), 1),
        ] {
            let msg = query(&q, qtype, Q::default());
            assert!(compare(&svc, &slow, &msg, false), "{q} {qtype}");
        }
    }
    // A name under the inner zone's apex belongs to it, not to the zone above.
    let msg = query("nope.in.z0.test", 1, Q::default());
    let q = fast::parse(&msg).unwrap();
    let inner = svc.db.find(&name::from_text("in.z0.test").unwrap());
    match fast::find(&svc.db, &q, &msg) {
        Some(fast::Found::Node(idx, false)) => assert_eq!(Some(idx), inner),
        _ => panic!("nope.in.z0.test: not planned from its closest encloser"),
    }
}

/// Runs `name` asked with `qtype` through both paths ([`compare`]), without EDNS and with it.
pub(super) fn compare_with_and_without_edns(
    svc: &DnsService,
    slow: &DnsService,
    name: &str,
    qtype: u16,
) {
    for edns in [None, Some((1232, 0, true, false))] {
        let q = Q {
            edns,
            ..Q::default()
        };
        compare(svc, slow, &query(name, qtype, q), false);
    }
}

/// A label of `len` octets (letters in turn), in mixed case.
pub(super) fn label(len: usize) -> String {
    let l: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    mixed_case(&l, 0x5555_5555_5555_5555 >> (len % 2))
}

/// How the fast path answers `name` (`qtype` A): from an NXDOMAIN body under the apex (`true`),
/// or not; and that the answer is the general path's, with and without EDNS.
fn nx_under_apex(svc: &DnsService, slow: &DnsService, name: &str) -> bool {
    compare_with_and_without_edns(svc, slow, name, 1);
    let msg = query(name, 1, Q::default());
    let q = fast::parse(&msg).expect("a plain query");
    matches!(
        fast::find(&svc.db, &q, &msg),
        Some(fast::Found::NxUnderApex(_))
    )
}

#[test]
fn nxdomain_one_label_under_an_apex_is_a_whole_body_for_every_label_length() {
    let svc = service();
    let slow = service().without_fast_path();
    for len in 1..=63 {
        let name = label(len);
        assert!(
            nx_under_apex(&svc, &slow, &format!("{name}.example.test")),
            "{len}"
        );
        // Two labels under the apex, or one under another name, are planned.
        assert!(
            !nx_under_apex(&svc, &slow, &format!("{name}.x.example.test")),
            "{len}"
        );
        assert!(
            !nx_under_apex(&svc, &slow, &format!("{name}.www.example.test")),
            "{len}"
        );
    }
    // The SOA's RNAME compresses against such a question: planned by the general path.
    assert!(!nx_under_apex(&svc, &slow, "hostmaster.example.test"));
    // Under an apex with a `*` child, or in a zone past the compared ones: no body.
    let (many, many_slow) = many_zones(APEX_SHORTCUTS + 1);
    assert!(nx_under_apex(&many, &many_slow, "nope.z0.test"));
    let last = format!("nope.z{APEX_SHORTCUTS}.test");
    assert!(!nx_under_apex(&many, &many_slow, &last));
    // Without whole bodies (no budget), none.
    let composed = services().swap_remove(2);
    assert!(!nx_under_apex(&composed, &slow, "nope.example.test"));
}

#[test]
fn an_apex_with_a_wildcard_child_plans_its_answers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.zone");
    std::fs::write(
        &path,
        "$ORIGIN w.test.\n$TTL 60\n@ SOA ns1 hostmaster 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\n\
         * A 192.0.2.9\n",
    )
    .unwrap();
    let cfg = DnsServiceConfig {
        zones: vec![path],
        identity: "t".into(),
        minimal_responses: false,
    };
    let svc = DnsService::build(&cfg).unwrap();
    let slow = DnsService::build(&cfg).unwrap().without_fast_path();
    assert!(!nx_under_apex(&svc, &slow, "anything.w.test"));
}
