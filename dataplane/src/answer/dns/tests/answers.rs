//! Authoritative semantics: answers, negative answers, CNAMEs, wildcards, referrals, EDNS, TC,
//! ANY, CHAOS and NSID.
use super::*;

const A: u16 = 1;
const NS: u16 = 2;
const CNAME: u16 = 5;
const SOA: u16 = 6;
const MX: u16 = 15;
const TXT: u16 = 16;
const AAAA: u16 = 28;
const SRV: u16 = 33;
const DS: u16 = 43;
const ANY: u16 = 255;

fn owners(rrs: &[Rr], rtype: u16) -> Vec<String> {
    let mut v: Vec<String> = rrs
        .iter()
        .filter(|r| r.rtype == rtype)
        .map(|r| r.owner.clone())
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn a_hit_is_authoritative_with_ns_authority_and_glue() {
    let svc = service();
    let raw = ask(&svc, &query("WwW.Example.TEST", A, Q::default()));
    let r = decode(&raw);
    assert_eq!(r.id, 0x1234);
    assert_eq!(r.flags & 0x8000, 0x8000, "QR");
    assert!(r.aa());
    assert_eq!(r.flags & 0x0100, 0x0100, "RD copied");
    assert_eq!(r.flags & 0x0080, 0, "RA clear");
    assert_eq!(r.rcode(), 0);
    assert_eq!(
        r.qname.as_deref(),
        Some("WwW.Example.TEST."),
        "qname case preserved"
    );
    let mut addrs: Vec<Vec<u8>> = r.answers(A).iter().map(|x| x.rdata.clone()).collect();
    addrs.sort();
    assert_eq!(addrs, vec![vec![192, 0, 2, 80], vec![192, 0, 2, 81]]);
    assert!(r
        .answer
        .iter()
        .all(|x| x.ttl == 3600 && x.owner == "www.example.test."));
    // The answer's owner is a pointer to the question.
    let q_end = 12 + "WwW.Example.TEST".len() + 2 + 4;
    assert_eq!(&raw[q_end..q_end + 2], &[0xc0, 12]);
    assert_eq!(owners(&r.authority, NS), vec!["example.test."]);
    assert_eq!(r.authority.len(), 2);
    assert_eq!(
        owners(&r.additional, A),
        vec!["ns1.example.test.", "ns2.example.test."]
    );
    assert_eq!(owners(&r.additional, AAAA), vec!["ns1.example.test."]);
    let ns2 = r
        .additional
        .iter()
        .find(|x| x.owner == "ns2.example.test.")
        .unwrap();
    assert_eq!(ns2.ttl, 600);
}

#[test]
fn owner_names_match_case_insensitively() {
    let svc = service();
    let r = ask_decoded(&svc, "www.example.test", AAAA, Q::default());
    assert_eq!(r.answers(AAAA).len(), 1, "WWW AAAA is the same node as www");
}

#[test]
fn nodata_and_nxdomain_carry_the_soa_with_the_negative_ttl() {
    let svc = service();
    let r = ask_decoded(&svc, "www.example.test", MX, Q::default());
    assert_eq!((r.rcode(), r.aa(), r.answer.len()), (0, true, 0));
    assert_eq!(r.authority.len(), 1);
    assert_eq!(r.authority[0].rtype, SOA);
    assert_eq!(r.authority[0].owner, "example.test.");
    assert_eq!(
        r.authority[0].ttl, 300,
        "min(SOA TTL 3600, MINIMUM 300), RFC 2308 §3"
    );
    let r = ask_decoded(&svc, "nope.example.test", A, Q::default());
    assert_eq!((r.rcode(), r.aa(), r.answer.len()), (3, true, 0));
    assert_eq!(r.authority[0].rtype, SOA);
    assert_eq!(r.authority[0].ttl, 300);
    // The reverse zone: SOA TTL 86400, MINIMUM 3600.
    let r = ask_decoded(&svc, "1.2.0.192.in-addr.arpa", 12, Q::default());
    assert_eq!(r.rcode(), 3);
    assert_eq!(r.authority[0].ttl, 3600);
}

#[test]
fn empty_non_terminals_are_nodata_not_nxdomain() {
    let svc = service();
    for name in [
        "deep.example.test",
        "c.deep.example.test",
        "b.c.deep.example.test",
    ] {
        let r = ask_decoded(&svc, name, A, Q::default());
        assert_eq!(r.rcode(), 0, "{name}");
        assert_eq!(r.answer.len(), 0, "{name}");
        assert_eq!(r.authority[0].rtype, SOA, "{name}");
    }
    let r = ask_decoded(&svc, "a.b.c.deep.example.test", A, Q::default());
    assert_eq!(r.answers(A).len(), 1);
}

#[test]
fn cname_chains_are_followed_within_our_zones() {
    let svc = service();
    let r = ask_decoded(&svc, "chain1.example.test", A, Q::default());
    assert_eq!(r.rcode(), 0);
    assert!(r.aa());
    assert_eq!(
        owners(&r.answer, CNAME),
        vec![
            "chain1.example.test.",
            "chain2.example.test.",
            "chain3.example.test."
        ]
    );
    assert_eq!(owners(&r.answer, A), vec!["www.example.test."]);
    assert_eq!(r.answers(A).len(), 2);
    // Asking for the CNAME itself does not follow it.
    let r = ask_decoded(&svc, "alias.example.test", CNAME, Q::default());
    assert_eq!(r.answer.len(), 1);
    assert_eq!(
        r.answer[0].rdata,
        b"\x03www\x07example\x04test\x00".to_vec()
    );
    // A chain into another zone we serve.
    let r = ask_decoded(&svc, "toreverse.example.test", 12, Q::default());
    assert_eq!(r.answers(CNAME).len(), 1);
    assert_eq!(owners(&r.answer, 12), vec!["80.2.0.192.in-addr.arpa."]);
    assert_eq!(owners(&r.authority, NS), vec!["2.0.192.in-addr.arpa."]);
}

#[test]
fn cnames_to_missing_or_foreign_names_and_loops_end_quietly() {
    let svc = service();
    // A target missing from our zone: NXDOMAIN with the SOA (RFC 6604 §2.1, as NSD 4.6).
    let r = ask_decoded(&svc, "dangling.example.test", A, Q::default());
    assert_eq!((r.rcode(), r.aa(), r.answer.len()), (3, true, 1));
    assert_eq!((r.authority[0].rtype, r.authority[0].ttl), (SOA, 300));
    // A target outside our zones: the CNAME alone, NOERROR.
    let r = ask_decoded(&svc, "outside.example.test", A, Q::default());
    assert_eq!(
        (r.rcode(), r.aa(), r.answer.len(), r.authority.len()),
        (0, true, 1, 0)
    );
    // A target without the type: NODATA with the target zone's SOA.
    let r = ask_decoded(&svc, "toreverse.example.test", TXT, Q::default());
    assert_eq!((r.rcode(), r.answer.len()), (0, 1));
    assert_eq!(r.authority[0].owner, "2.0.192.in-addr.arpa.");
    let r = ask_decoded(&svc, "loop1.example.test", A, Q::default());
    assert_eq!(r.rcode(), 0);
    assert_eq!(
        owners(&r.answer, CNAME),
        vec!["loop1.example.test.", "loop2.example.test."]
    );
    assert_eq!(r.answer.len(), 2);
}

#[test]
fn wildcards_synthesize_for_missing_names_only() {
    let svc = service();
    for name in ["foo.wild.example.test", "x.y.wild.example.test"] {
        let r = ask_decoded(&svc, name, A, Q::default());
        assert_eq!((r.rcode(), r.aa()), (0, true), "{name}");
        assert_eq!(r.answer.len(), 1);
        assert_eq!(
            r.answer[0].owner,
            format!("{name}."),
            "owner is the query name"
        );
        assert_eq!(r.answer[0].rdata, vec![192, 0, 2, 42]);
    }
    // An existing name is not covered by the wildcard (RFC 4592 §2.2.1).
    let r = ask_decoded(&svc, "host.wild.example.test", A, Q::default());
    assert_eq!((r.rcode(), r.answer.len()), (0, 0));
    assert_eq!(r.authority[0].rtype, SOA);
    // Wildcard NODATA.
    let r = ask_decoded(&svc, "foo.wild.example.test", MX, Q::default());
    assert_eq!(
        (r.rcode(), r.answer.len(), r.authority[0].rtype),
        (0, 0, SOA)
    );
    // A wildcard CNAME is expanded and followed.
    let r = ask_decoded(&svc, "any.cwild.example.test", A, Q::default());
    assert_eq!(owners(&r.answer, CNAME), vec!["any.cwild.example.test."]);
    assert_eq!(r.answers(A).len(), 2);
    // The wildcard itself can be asked for.
    let r = ask_decoded(&svc, "*.wild.example.test", TXT, Q::default());
    assert_eq!(r.answers(TXT).len(), 1);
}

#[test]
fn delegations_are_referrals_with_glue() {
    let svc = service();
    for name in [
        "www.sub.example.test",
        "sub.example.test",
        "ns.sub.example.test",
    ] {
        let r = ask_decoded(&svc, name, A, Q::default());
        assert_eq!((r.rcode(), r.aa(), r.answer.len()), (0, false, 0), "{name}");
        assert_eq!(owners(&r.authority, NS), vec!["sub.example.test."]);
        assert_eq!(r.authority.len(), 2);
        assert_eq!(
            owners(&r.additional, A),
            vec!["ns.sub.example.test.", "ns1.example.test."]
        );
        assert_eq!(
            owners(&r.additional, AAAA),
            vec!["ns.sub.example.test.", "ns1.example.test."]
        );
    }
    let r = ask_decoded(&svc, "a.ext.example.test", AAAA, Q::default());
    assert_eq!(
        (r.aa(), r.authority.len(), r.additional.len()),
        (false, 1, 0)
    );
    // DS is the parent's: answered authoritatively at the cut (NODATA here).
    let r = ask_decoded(&svc, "sub.example.test", DS, Q::default());
    assert_eq!((r.aa(), r.rcode(), r.authority[0].rtype), (true, 0, SOA));
}

#[test]
fn minimal_responses_leave_out_what_is_optional() {
    let (svc, full) = (minimal_service(), service());
    // A positive answer: the answer section alone, the same records as in the full one.
    let (r, f) = (
        ask_decoded(&svc, "www.example.test", A, Q::default()),
        ask_decoded(&full, "www.example.test", A, Q::default()),
    );
    assert_eq!((r.rcode(), r.aa()), (0, true));
    assert_eq!(
        (r.answer.len(), r.authority.len(), r.additional.len()),
        (2, 0, 0)
    );
    let rdata = |x: &Resp| {
        x.answers(A)
            .iter()
            .map(|a| a.rdata.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(rdata(&r), rdata(&f));
    assert!(!f.authority.is_empty() && !f.additional.is_empty());
    // After a CNAME, and with EDNS (the OPT record stays).
    let r = ask_decoded(&svc, "alias.example.test", A, Q::default());
    assert_eq!(
        (r.answer.len(), r.authority.len(), r.additional.len()),
        (3, 0, 0)
    );
    let edns = Q {
        edns: Some((1232, 0, false, false)),
        ..Q::default()
    };
    let r = ask_decoded(&svc, "mail.example.test", AAAA, edns);
    assert_eq!((r.answer.len(), r.authority.len()), (1, 0));
    let additional: Vec<u16> = r.additional.iter().map(|x| x.rtype).collect();
    assert_eq!(additional, vec![41], "the OPT record alone");
    // MX targets' addresses are optional; an NS query's are kept, as NSD keeps them.
    let r = ask_decoded(&svc, "example.test", MX, Q::default());
    assert_eq!((r.answer.len(), r.additional.len()), (2, 0));
    let r = ask_decoded(&svc, "example.test", NS, Q::default());
    assert_eq!(
        owners(&r.additional, A),
        vec!["ns1.example.test.", "ns2.example.test."]
    );
    // Negative answers keep their SOA, referrals their NS and glue.
    let r = ask_decoded(&svc, "nothere.example.test", A, Q::default());
    assert_eq!(
        (r.rcode(), r.authority.len(), r.authority[0].rtype),
        (3, 1, SOA)
    );
    let r = ask_decoded(&svc, "www.sub.example.test", A, Q::default());
    assert_eq!(owners(&r.authority, NS), vec!["sub.example.test."]);
    assert_eq!(r.additional.len(), 4);
}

#[test]
fn names_outside_our_zones_are_refused() {
    let svc = service();
    for name in ["www.example.org", "test", "."] {
        let r = ask_decoded(&svc, name, A, Q::default());
        assert_eq!((r.rcode(), r.aa(), r.answer.len()), (5, false, 0), "{name}");
    }
    // With EDNS: Extended DNS Error 20, Not Authoritative (RFC 8914 §4.21).
    let o = Q {
        edns: Some((1232, 0, false, false)),
        ..Q::default()
    };
    let r = ask_decoded(&svc, "www.example.org", A, o);
    assert_eq!(r.opt().unwrap().rdata, vec![0, 15, 0, 2, 0, 20]);
}

#[test]
fn mx_and_ns_targets_get_their_addresses_in_additional() {
    let svc = service();
    let r = ask_decoded(&svc, "example.test", MX, Q::default());
    assert_eq!(r.answers(MX).len(), 2);
    let a = owners(&r.additional, A);
    assert!(a.contains(&"mail.example.test.".to_string()));
    assert!(a.contains(&"mail2.example.test.".to_string()));
    assert!(owners(&r.additional, AAAA).contains(&"mail.example.test.".to_string()));
    // An MX target under a wildcard gets the expanded wildcard's address.
    let r = ask_decoded(&svc, "mx-wild.example.test", MX, Q::default());
    assert_eq!(owners(&r.additional, A)[0], "foo.wild.example.test.");
    // NS at the apex: the NS RRset is in the answer, not repeated in authority.
    let r = ask_decoded(&svc, "example.test", NS, Q::default());
    assert_eq!((r.answer.len(), r.authority.len()), (2, 0));
    assert_eq!(
        owners(&r.additional, A),
        vec!["ns1.example.test.", "ns2.example.test."]
    );
    // SRV targets get their addresses too (as NSD 4.6).
    let r = ask_decoded(&svc, "_sip._udp.example.test", SRV, Q::default());
    assert_eq!(r.answers(SRV).len(), 1);
    assert!(owners(&r.additional, A).contains(&"sip.example.test.".to_string()));
}

#[test]
fn responses_use_name_compression() {
    let svc = service();
    let raw = ask(&svc, &query("example.test", MX, Q::default()));
    // "example" appears once: in the question; everything else points at it.
    let hits = raw
        .windows(8)
        .filter(|w| w.eq_ignore_ascii_case(b"\x07example"))
        .count();
    assert_eq!(hits, 1);
}

#[test]
fn every_record_type_loads_and_answers() {
    let svc = service();
    let cases: &[(&str, u16, &[u8])] = &[
        ("unknown.example.test", 65280, &[10, 0, 0, 1]),
        ("generic-a.example.test", A, &[192, 0, 2, 99]),
        ("caa.example.test", 257, b"\x80\x09issuewild;"),
        ("example.test", 257, b"\x00\x05issueletsencrypt.org"),
        (
            "_sip._udp.example.test",
            SRV,
            b"\x00\x0a\x00\x3c\x13\xc4\x03sip\x07example\x04test\x00",
        ),
        ("ptr.example.test", 12, b"\x03www\x07example\x04test\x00"),
        (
            "80.2.0.192.in-addr.arpa",
            12,
            b"\x03www\x07example\x04test\x00",
        ),
        (
            "txt.example.test",
            TXT,
            b"\x05hello\x05world\x1fwith \"quotes\" and a ; semicolon",
        ),
        (
            "escaped\\.dot.example.test",
            TXT,
            b"\x19label with an escaped dot",
        ),
        ("included.example.test", A, &[192, 0, 2, 77]),
        (
            "example.test",
            AAAA,
            &[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        ),
    ];
    for (name, rtype, rdata) in cases {
        let msg = if name.contains("\\.") {
            // A label with a literal dot: build the question by hand.
            let mut m = query("x.example.test", *rtype, Q::default());
            let label = b"\x0bescaped.dot";
            m.splice(12..14, label.iter().copied());
            m
        } else {
            query(name, *rtype, Q::default())
        };
        let r = decode(&ask(&svc, &msg));
        assert_eq!(r.rcode(), 0, "{name}");
        let got: Vec<&Rr> = r.answers(*rtype);
        assert_eq!(got.len(), 1, "{name} {rtype}");
        assert_eq!(got[0].rdata, rdata.to_vec(), "{name} {rtype}");
    }
}

#[test]
fn any_is_answered_with_one_rrset() {
    let svc = service();
    let r = ask_decoded(&svc, "example.test", ANY, Q::default());
    assert_eq!(r.rcode(), 0);
    assert!(r.aa());
    let mut types: Vec<u16> = r.answer.iter().map(|x| x.rtype).collect();
    types.dedup();
    assert_eq!(types.len(), 1, "RFC 8482 §4.1: one RRset, not all of them");
    let r = ask_decoded(&svc, "nope.example.test", ANY, Q::default());
    assert_eq!(r.rcode(), 3);
}

#[test]
fn edns_is_echoed_with_our_size_and_nsid() {
    let svc = service();
    let o = Q {
        edns: Some((4096, 0, true, true)),
        ..Q::default()
    };
    let r = ask_decoded(&svc, "www.example.test", A, o);
    let opt = r.opt().expect("OPT echoed");
    assert_eq!(opt.owner, "");
    assert_eq!(opt.class, 1232, "our UDP size");
    assert_eq!(opt.ttl, 0x8000, "DO echoed, version 0, no extended rcode");
    assert_eq!(
        opt.rdata,
        b"\x00\x03\x00\x04ams1".to_vec(),
        "NSID (RFC 5001)"
    );
    assert_eq!(r.additional.last().map(|x| x.rtype), Some(41), "OPT last");
    // Without NSID: no option; without EDNS: no OPT.
    let o = Q {
        edns: Some((1232, 0, false, false)),
        ..Q::default()
    };
    let r = ask_decoded(&svc, "www.example.test", A, o);
    assert_eq!(r.opt().map(|x| (x.ttl, x.rdata.len())), Some((0, 0)));
    assert!(ask_decoded(&svc, "www.example.test", A, Q::default())
        .opt()
        .is_none());
}

#[test]
fn edns_version_above_zero_is_badvers() {
    let svc = service();
    let o = Q {
        edns: Some((1232, 1, false, true)),
        ..Q::default()
    };
    let r = ask_decoded(&svc, "www.example.test", A, o);
    assert_eq!(r.rcode(), 0, "header part of BADVERS is 0");
    assert_eq!((r.qd, r.answer.len()), (1, 0));
    let opt = r.opt().expect("OPT");
    assert_eq!(opt.ttl >> 24, 1, "extended RCODE 1 → BADVERS (16)");
    assert_eq!((opt.ttl >> 16) & 0xff, 0, "our version");
}

#[test]
fn answers_that_do_not_fit_set_tc() {
    let svc = service();
    // Three 200-byte TXT records: over 512 bytes without EDNS.
    let r = ask_decoded(&svc, "long.big.example.test", TXT, Q::default());
    assert!(r.tc());
    assert_eq!((r.rcode(), r.answer.len()), (0, 0));
    // The client's EDNS size is honoured...
    let o = Q {
        edns: Some((1232, 0, false, false)),
        ..Q::default()
    };
    let r = ask_decoded(&svc, "long.big.example.test", TXT, o);
    assert!(!r.tc());
    assert_eq!(r.answers(TXT).len(), 3);
    // ...and a size under 512 means 512 (RFC 6891 §6.2.5).
    let o = Q {
        edns: Some((100, 0, false, false)),
        ..Q::default()
    };
    let r = ask_decoded(&svc, "long.big.example.test", TXT, o);
    assert!(r.tc());
    assert!(r.opt().is_some(), "OPT still sent");
    // The authority NS not fitting is also TC (NSD truncates answer and authority alike).
    let o = Q {
        edns: Some((4096, 0, false, false)),
        ..Q::default()
    };
    let raw = ask(&svc, &query("huge.big.example.test", TXT, o));
    assert!(raw.len() <= 1232);
    let r = decode(&raw);
    assert!(r.tc() || r.answers(TXT).len() == 2);
}

#[test]
fn chaos_identity_queries_answer_the_identity() {
    let svc = service();
    let ch = Q {
        class: 3,
        ..Q::default()
    };
    for name in ["id.server", "HOSTNAME.BIND"] {
        let r = ask_decoded(&svc, name, TXT, ch);
        assert_eq!((r.rcode(), r.aa()), (0, false), "{name}");
        assert_eq!(r.answer.len(), 1);
        assert_eq!((r.answer[0].class, r.answer[0].ttl), (3, 0));
        assert_eq!(r.answer[0].rdata, b"\x04ams1".to_vec());
    }
    let r = ask_decoded(&svc, "version.bind", TXT, ch);
    assert_eq!((r.rcode(), r.answer.len()), (5, 0));
    // With EDNS, REFUSED carries an Extended DNS Error (RFC 8914): 18, Prohibited, for the
    // version; 21, Not Supported, for other names.
    let e = Q {
        edns: Some((1232, 0, false, false)),
        ..ch
    };
    let r = ask_decoded(&svc, "version.bind", TXT, e);
    assert_eq!(r.opt().unwrap().rdata, vec![0, 15, 0, 2, 0, 18]);
    let r = ask_decoded(&svc, "foo.bar", TXT, e);
    assert_eq!(r.opt().unwrap().rdata, vec![0, 15, 0, 2, 0, 21]);
    let r = ask_decoded(&svc, "id.server", A, ch);
    assert_eq!(r.rcode(), 5);
}

#[test]
fn class_any_clears_aa_and_omits_the_soa() {
    let svc = service();
    let o = Q {
        class: 255,
        ..Q::default()
    };
    let r = ask_decoded(&svc, "www.example.test", A, o);
    assert_eq!(
        (r.rcode(), r.aa(), r.answers(A).len(), r.authority.len()),
        (0, false, 2, 0)
    );
    let r = ask_decoded(&svc, "nope.example.test", A, o);
    assert_eq!((r.rcode(), r.authority.len()), (3, 0));
    // Other classes are refused.
    let o = Q {
        class: 4,
        ..Q::default()
    };
    assert_eq!(ask_decoded(&svc, "www.example.test", A, o).rcode(), 5);
}

#[test]
fn ipv6_queries_are_answered_with_headers_turned_around() {
    let svc = service();
    let frame = udp6(
        CLIENT6,
        VIP6,
        40001,
        53,
        &query("www.example.test", AAAA, Q::default()),
    );
    let mut counters = DnsCounters::default();
    let (v, buf) = run_frame(&svc, &frame, &mut counters);
    assert_eq!(v, Verdict::Answer);
    let f = buf.data();
    assert_eq!((&f[0..6], &f[6..12]), (&CLIENT_MAC[..], &PORT_MAC[..]));
    let Ok(Parsed::Ipv6(ip)) = parse(f) else {
        panic!("not IPv6")
    };
    assert_eq!(ip.src, std::net::IpAddr::V6(VIP6));
    assert_eq!(ip.dst, std::net::IpAddr::V6(CLIENT6));
    assert_eq!(ip.ttl, 64);
    assert_eq!(ip.l4 + ip.l4_len, f.len());
    let udp = &f[ip.l4..];
    assert_eq!(&udp[0..4], &[0, 53, 0x9c, 0x41]);
    let acc = checksum::pseudo_v6(&VIP6.octets(), &CLIENT6.octets(), 17, udp.len() as u32);
    assert_eq!(checksum::finish(checksum::sum(acc, udp)), 0);
    let r = decode(&udp[8..]);
    assert_eq!(r.answers(AAAA).len(), 1);
    assert_eq!(
        (counters.queries, counters.responses, counters.rcode[0]),
        (1, 1, 1)
    );
}

#[test]
fn included_records_take_the_includers_ttl() {
    let svc = service();
    let r = ask_decoded(&svc, "included.example.test", A, Q::default());
    assert_eq!(r.answer[0].ttl, 7200, "$TTL 7200 before the $INCLUDE");
}
