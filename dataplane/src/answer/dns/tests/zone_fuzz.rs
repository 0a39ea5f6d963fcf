//! The zone loader fuzzed: mutated copies of the demo zone (tokens and bytes put in, lines
//! dropped, repeated or cut short) either fail with an error naming the file and a line, or
//! load, compile and answer every question about them with a well-formed response. Never a
//! panic. `PROPTEST_CASES=20000` runs a longer campaign.
use super::*;
use crate::mutate;
use proptest::prelude::*;

/// What a zone file's lines are made of, and what breaks them.
const TOKENS: &[&str] = &[
    "(",
    ")",
    "\"",
    "\\",
    ";",
    "$TTL",
    "$ORIGIN",
    "$INCLUDE",
    "$GENERATE",
    "@",
    "*",
    ".",
    "..",
    "\\#",
    "\\# 0",
    "\\000",
    "\\999",
    "\\.",
    "IN",
    "CH",
    "CLASS255",
    "TYPE0",
    "TYPE65535",
    "0",
    "-1",
    "4294967296",
    "1w2d",
    " ",
    "\t",
    "\n",
    "\r\n",
    "\u{ff}",
    "\0",
    "SOA",
    "NS",
    "CNAME",
    "DNAME",
    "MX",
    "A",
    "AAAA",
    "TXT",
    "SRV",
    "PTR",
    "CAA",
    "DS",
    "OPT",
    "192.0.2.1",
    "2001:db8::1",
    "ns1",
    "www.example.test.",
    "example.test.",
    "example.org.",
    "sub",
    "*.wild",
    "xn--",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
];

/// Names asked about in every zone that loads, and the types asked for each.
const NAMES: &[&str] = &[
    "example.test",
    "www.example.test",
    "WwW.Example.TEST",
    "mail.example.test",
    "alias.example.test",
    "chain1.example.test",
    "loop1.example.test",
    "x.wild.example.test",
    "www.sub.example.test",
    "ext.example.test",
    "nothere.example.test",
    "included.example.test",
    "long.big.example.test",
    "huge.big.example.test",
    "www.example.org",
];
const TYPES: &[u16] = &[1, 2, 5, 6, 12, 15, 16, 28, 33, 43, 255, 65280];

/// Loads `text` as a zone (the demo's include file beside it) and checks the outcome; true
/// when it loaded.
fn load_and_ask(text: &[u8]) -> Result<bool, TestCaseError> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("fz.zone");
    std::fs::write(&path, text).expect("write zone");
    std::fs::copy(
        zones_dir().join("example.test.include"),
        dir.path().join("example.test.include"),
    )
    .expect("copy the include file");
    let built = DnsService::build(&DnsServiceConfig {
        zones: vec![path],
        identity: "fz".into(),
        minimal_responses: false,
    });
    let svc = match built {
        Ok(svc) => svc,
        Err(e) => {
            // "<dir>/fz.zone:<line>: ..." (or the included file's, with where it was included).
            let has_line = e
                .split_once("fz.zone:")
                .is_some_and(|(_, at)| at.starts_with(|c: char| c.is_ascii_digit()));
            prop_assert!(has_line, "error without file and line: {e}");
            return Ok(false);
        }
    };
    for name in NAMES {
        for &qtype in TYPES {
            for edns in [None, Some((1232, 0, true, false))] {
                let q = query(
                    name,
                    qtype,
                    Q {
                        edns,
                        ..Q::default()
                    },
                );
                // ask() checks the verdict and the headers, decode() the message itself.
                let r = decode(&ask(&svc, &q));
                prop_assert_eq!(r.id, 0x1234);
                prop_assert_eq!(r.flags & 0x8000, 0x8000, "QR set");
            }
        }
    }
    Ok(true)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn a_mutated_zone_loads_and_answers_or_fails_with_its_line(edits in mutate::edits()) {
        let text = std::fs::read(zones_dir().join("example.test.zone")).expect("demo zone");
        load_and_ask(&mutate::apply(&text, &edits, TOKENS))?;
    }
}

#[test]
fn the_unmutated_zone_answers_and_a_broken_one_names_its_line() {
    let text = std::fs::read(zones_dir().join("example.test.zone")).expect("demo zone");
    let loaded = load_and_ask(&text).expect("answers well formed");
    assert!(loaded, "the demo zone loads");
    let mut broken = text.clone();
    broken.extend_from_slice(b"www IN A 192.0.2.300\n");
    let loaded = load_and_ask(&broken).expect("an error naming file and line");
    assert!(!loaded, "a bad address is an error");
}
