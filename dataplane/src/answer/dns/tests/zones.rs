//! Zone files with errors: every error names the file and the line.
use super::*;

fn build(files: &[(&str, &str)]) -> Result<DnsService, String> {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    DnsService::build(&DnsServiceConfig {
        zones: vec![dir.path().join(files[0].0)],
        identity: "t".into(),
        minimal_responses: false,
    })
}

const HEAD: &str = "$ORIGIN z.test.\n$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n";

fn err_of(files: &[(&str, &str)]) -> String {
    match build(files) {
        Ok(_) => panic!("{files:?} loaded"),
        Err(e) => e,
    }
}

#[test]
fn syntax_errors_name_file_and_line() {
    let cases: &[(&str, &str)] = &[
        ("www A 192.0.2.300\n", "z.zone:6:"),
        ("www AAAA 192.0.2.1\n", "z.zone:6:"),
        ("www NOSUCHTYPE 1\n", "z.zone:6:"),
        ("www MX mail\n", "z.zone:6:"),
        ("\n\nwww TXT ( \"a\"\n", "z.zone:"),
        ("www TYPE65280 \\# 3 0a00\n", "z.zone:6:"),
        ("$FOO bar\n", "z.zone:6:"),
    ];
    for (tail, want) in cases {
        let e = err_of(&[("z.zone", &format!("{HEAD}{tail}"))]);
        assert!(e.contains(want), "{tail:?}: {e}");
    }
}

#[test]
fn semantic_errors_name_file_and_line() {
    let e = err_of(&[("z.zone", &format!("{HEAD}\nwww.other.test. A 192.0.2.1\n"))]);
    assert!(
        e.contains("z.zone:7:") && e.contains("outside the zone"),
        "{e}"
    );
    let e = err_of(&[("z.zone", &format!("{HEAD}www CNAME ns\nwww A 192.0.2.1\n"))]);
    assert!(
        e.contains("z.zone:7:") && e.contains("CNAME and other data"),
        "{e}"
    );
    let e = err_of(&[("z.zone", &format!("{HEAD}www CNAME ns\nwww CNAME ns2\n"))]);
    assert!(e.contains("z.zone:7:"), "{e}");
    let e = err_of(&[("z.zone", "$ORIGIN z.test.\nwww 60 A 192.0.2.1\n")]);
    assert!(e.contains("z.zone:1:") && e.contains("no SOA"), "{e}");
    let e = err_of(&[("z.zone", &format!("{HEAD}www CH TXT \"x\"\n"))]);
    assert!(e.contains("z.zone:6:"), "{e}");
}

#[test]
fn include_errors_name_the_included_file() {
    let e = err_of(&[("z.zone", &format!("{HEAD}$INCLUDE missing.inc\n"))]);
    assert!(e.contains("missing.inc") && e.contains("z.zone:6"), "{e}");
    let e = err_of(&[
        ("z.zone", &format!("{HEAD}$INCLUDE bad.inc\n")),
        ("bad.inc", "; comment\nok A 192.0.2.2\nbad A nonsense\n"),
    ]);
    assert!(
        e.contains("bad.inc:3:") && e.contains("included from"),
        "{e}"
    );
    // An include loop stops.
    let e = err_of(&[("z.zone", &format!("{HEAD}$INCLUDE z.zone\n"))]);
    assert!(e.contains("nested too deeply"), "{e}");
}

#[test]
fn includes_with_an_origin_and_relative_names_load() {
    let svc = build(&[
        (
            "z.zone",
            &format!("{HEAD}$INCLUDE sub.inc sub.z.test.\nafter A 192.0.2.9\n"),
        ),
        ("sub.inc", "x A 192.0.2.3\n@ TXT \"at sub\"\n"),
    ])
    .expect("loads");
    let r = ask_decoded(&svc, "x.sub.z.test", 1, Q::default());
    assert_eq!(r.answers(1).len(), 1);
    let r = ask_decoded(&svc, "sub.z.test", 16, Q::default());
    assert_eq!(r.answers(16).len(), 1);
    // After the include the origin is z.test. again (RFC 1035 §5.1).
    let r = ask_decoded(&svc, "after.z.test", 1, Q::default());
    assert_eq!(r.answers(1).len(), 1);
    assert_eq!(svc.record_count(), 6);
}

#[test]
fn the_same_zone_twice_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.zone"), HEAD).unwrap();
    std::fs::write(dir.path().join("b.zone"), HEAD).unwrap();
    let e = DnsService::build(&DnsServiceConfig {
        zones: vec![dir.path().join("a.zone"), dir.path().join("b.zone")],
        identity: "t".into(),
        minimal_responses: false,
    })
    .unwrap_err();
    assert!(e.contains("already loaded"), "{e}");
}

#[test]
fn without_origin_the_soa_owner_is_the_origin() {
    let svc = build(&[(
        "o.zone",
        "$TTL 60\no.test. SOA ns.o.test. hm.o.test. 1 2 3 4 5\n NS ns\nns A 192.0.2.1\nwww A 192.0.2.2\n",
    )])
    .expect("loads");
    let r = ask_decoded(&svc, "www.o.test", 1, Q::default());
    assert_eq!(r.answers(1).len(), 1);
    let r = ask_decoded(&svc, "o.test", 2, Q::default());
    assert_eq!(r.answers(2)[0].rdata, b"\x02ns\x01o\x04test\x00".to_vec());
}

#[test]
fn included_files_inherit_the_ttl_in_force() {
    let svc = build(&[
        ("z.zone", &format!("{HEAD}$TTL 300\n$INCLUDE t.inc\n")),
        (
            "t.inc",
            "; no $TTL here\nx A 192.0.2.3\n$TTL 77\ny A 192.0.2.4\n",
        ),
    ])
    .expect("loads");
    assert_eq!(
        ask_decoded(&svc, "x.z.test", 1, Q::default()).answer[0].ttl,
        300
    );
    assert_eq!(
        ask_decoded(&svc, "y.z.test", 1, Q::default()).answer[0].ttl,
        77
    );
    // Line numbers in the included file are its own.
    let e = err_of(&[
        ("z.zone", &format!("{HEAD}$TTL 300\n$INCLUDE t.inc\n")),
        ("t.inc", "x A 192.0.2.3\ny A nonsense\n"),
    ]);
    assert!(e.contains("t.inc:2:"), "{e}");
}
