//! The config parsers fuzzed: mutated copies of a config that uses every section either fail
//! with an error naming the file and a line or key, or parse into a config that compiles into
//! a snapshot (or fails to with the service named) and compares with the original for a
//! reload. The sidecar's parser of the same file (`[stats]`, `[sidecar]`, `[[vip]]`) likewise.
//! Never a panic. `PROPTEST_CASES=20000` runs a longer campaign.
use super::*;
use crate::mutate;
use crate::snapshot::Snapshot;
use crate::testutil::PORT_MAC;
use proptest::prelude::*;

/// A config with every section and most keys (the zones resolve against `configs/`).
const SEED: &str = r#"[eal]
args = ["-l", "0", "--no-huge", "-m", "512", "--no-pci"]
[dataplane]
workers = 2
cores = [0, 1]
idle = "adaptive"
mbufs = 16383
descriptors = 512
control_socket = "run/anycastd.sock"
watch = true
[flow_table]
capacity = 4096
tcp_syn_timeout_s = 5
tcp_established_timeout_s = 300
tcp_closing_timeout_s = 10
udp_timeout_s = 30
new_flows_per_sec = 100000
new_flow_burst = 1024
[stats]
path = "stats.shm"
[sidecar]
listen = "127.0.0.1:9477"
stale_after_ms = 1000
[sidecar.bgp]
prefixes = ["203.0.113.0/24", "2001:db8:53::/48"]
check_interval_ms = 200
rise = 3
fall = 2
drain_file = "run/drain"
[sidecar.bgp.bird]
include_file = "run/bird-prefixes.conf"
socket = "run/bird.ctl"
birdc = "birdc"
protocol = "anycastd"
[sidecar.bgp.exabgp]
next_hop_v4 = "198.51.100.1"
next_hop_v6 = "self"
[[port]]
name = "edge0"
device = "net_tap0,iface=anyc0"
addresses = ["198.51.100.1/24", "2001:db8:1::1/64"]
punt_tap = "edge0-k"
[[port]]
name = "edge1"
device = "0000:3b:00.0"
addresses = ["192.0.2.1/25"]
mtu = 9000
[[vip]]
address = "203.0.113.10"
[[vip]]
address = "203.0.113.53"
[[vip]]
address = "2001:db8:53::53"
[[service]]
name = "dns"
vip = ["203.0.113.53", "2001:db8:53::53"]
protocol = "udp"
port = 53
kind = "dns"
zones = ["zones/example.test.zone", "zones/2.0.192.in-addr.arpa.zone"]
identity = "fz1"
minimal_responses = true
[[service]]
name = "web"
vip = "203.0.113.10"
protocol = "tcp"
port = 80
kind = "forward"
encap = "gue"
table_size = 251
gue_port = 6080
source_v4 = "198.51.100.1"
source_v6 = "2001:db8:1::1"
[[service.backend]]
address = "198.51.100.11"
[[service.backend]]
address = "198.51.100.12"
weight = 3
state = "draining"
[[service]]
name = "udp-range"
vip = "203.0.113.10"
protocol = "udp"
port = "1000-2000"
kind = "forward"
encap = "l2dsr"
[[service.backend]]
address = "198.51.100.13"
state = "down"
"#;

/// What TOML and these keys are made of, and what breaks them.
const TOKENS: &[&str] = &[
    "[",
    "]",
    "[[",
    "]]",
    "{",
    "}",
    "=",
    "\"",
    "'",
    "\"\"\"",
    ",",
    "#",
    ".",
    "-",
    "\n",
    " ",
    "\\",
    "\\u00e9",
    "\u{ff}",
    "\0",
    "0",
    "-1",
    "1e400",
    "3.5",
    "65536",
    "4294967296",
    "9223372036854775808",
    "true",
    "false",
    "[]",
    "\"\"",
    "[[port]]",
    "[[vip]]",
    "[[service]]",
    "[[service.backend]]",
    "[dataplane]",
    "[flow_table]",
    "[eal]",
    "[stats]",
    "[sidecar]",
    "name",
    "device",
    "mtu",
    "addresses",
    "address",
    "vip",
    "protocol",
    "port",
    "kind",
    "zones",
    "weight",
    "state",
    "encap",
    "workers",
    "cores",
    "\"udp\"",
    "\"tcp\"",
    "\"dns\"",
    "\"forward\"",
    "\"ipip\"",
    "\"0-65535\"",
    "\"2000-1000\"",
    "\"203.0.113.10\"",
    "\"::\"",
    "\"0.0.0.0/0\"",
    "\"198.51.100.1/33\"",
    "\"edge0\"",
    "\"zones/nothere.zone\"",
    "\"/dev/null\"",
];

/// Values put in place of a key's value: wrong types, out of range, malformed, or valid.
const VALUES: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "129",
    "1024",
    "65535",
    "65536",
    "4294967296",
    "3.5",
    "true",
    "[]",
    "[0, 0]",
    "[1, 2, 3]",
    "\"\"",
    "\"x\"",
    "\"udp\"",
    "\"tcp\"",
    "\"sctp\"",
    "\"dns\"",
    "\"forward\"",
    "\"ipip\"",
    "\"gue\"",
    "\"l2dsr\"",
    "\"vxlan\"",
    "\"poll\"",
    "\"active\"",
    "\"down\"",
    "\"0-65535\"",
    "\"80-80\"",
    "\"2000-1000\"",
    "\"1-\"",
    "\"203.0.113.10\"",
    "\"203.0.113.53\"",
    "\"2001:db8:53::53\"",
    "\"::\"",
    "\"0.0.0.0\"",
    "\"255.255.255.255\"",
    "\"198.51.100.1/24\"",
    "\"198.51.100.1/33\"",
    "[\"203.0.113.10\", \"203.0.113.10\"]",
    "[\"10.0.0.1/8\", \"2001:db8::1/129\"]",
    "\"edge0\"",
    "\"edge1\"",
    "\"net_null0\"",
    "\"zones/nothere.zone\"",
    "[\"zones/example.test.zone\", \"zones/example.test.zone\"]",
    "\"127.0.0.1:0\"",
    "\"nowhere:99999\"",
    "{ a = 1 }",
];

/// The config file's path: beside the demo config, for the zones' relative paths.
fn path() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../configs/fuzz.toml")
}

/// Parses `text` and checks the outcome.
fn parse_and_compile(text: &str, seed: &Config) -> Result<(), TestCaseError> {
    // The sidecar reads the same file with its own parser.
    if let Err(e) = stats_layout::config::parse(&path(), text) {
        prop_assert!(
            e.span.is_some() || !e.key.is_empty(),
            "sidecar error with neither place nor key: {}",
            e.message
        );
        prop_assert!(!e.message.is_empty(), "sidecar error without a message");
    }
    let config = match Config::parse(&path(), text) {
        Ok(c) => c,
        Err(e) => {
            let shown = e.to_string();
            prop_assert!(
                shown.starts_with(&path().display().to_string()),
                "error without the file: {shown}"
            );
            prop_assert!(
                e.line.is_some() || e.key.is_some(),
                "error with neither line nor key: {shown}"
            );
            prop_assert!(!e.message.is_empty(), "error without a message: {shown}");
            return Ok(());
        }
    };
    // What a reload computes, and what start-up builds.
    let _ = seed.restart_only_changes(&config);
    let _ = config.watched_files();
    for port in &config.ports {
        let _ = config.local_addresses(port);
    }
    let macs = vec![PORT_MAC; config.ports.len()];
    if let Err(e) = Snapshot::build(&config, &macs, 1) {
        prop_assert!(
            config.services.iter().any(|s| s.name == e.service),
            "build error for no service: {e}"
        );
    }
    Ok(())
}

/// `text` with the values of the `key = value` lines picked by `swaps` replaced.
fn swap_values(text: &str, swaps: &[(usize, usize)]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let keyed: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains(" = "))
        .collect();
    for &(line, value) in swaps {
        let i = keyed[line % keyed.len()];
        let key = lines[i].split_once(" = ").map_or("", |(k, _)| k).to_owned();
        lines[i] = format!("{key} = {}", VALUES[value % VALUES.len()]);
    }
    lines.join("\n") + "\n"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn a_mutated_config_parses_or_fails_with_its_line_or_key(edits in mutate::edits()) {
        let seed = Config::parse(&path(), SEED).expect("the seed config parses");
        let text = mutate::apply(SEED.as_bytes(), &edits, TOKENS);
        // The file is read as UTF-8: text that is not fails to read, before the parser.
        if let Ok(text) = std::str::from_utf8(&text) {
            parse_and_compile(text, &seed)?;
        }
    }

    #[test]
    fn a_config_with_other_values_parses_or_fails_with_its_line_or_key(
        swaps in proptest::collection::vec((any::<usize>(), any::<usize>()), 1..4)
    ) {
        let seed = Config::parse(&path(), SEED).expect("the seed config parses");
        parse_and_compile(&swap_values(SEED, &swaps), &seed)?;
    }
}

#[test]
fn the_seed_compiles_and_a_broken_copy_names_its_line() {
    let seed = Config::parse(&path(), SEED).expect("the seed config parses");
    let macs = vec![PORT_MAC; seed.ports.len()];
    let snap = Snapshot::build(&seed, &macs, 1).expect("the seed config compiles");
    assert_eq!(snap.services.len(), 3);
    let (_, sidecar) = stats_layout::config::parse(&path(), SEED).expect("the sidecar reads it");
    assert!(sidecar.bgp.is_some(), "with its BGP tables");
    let broken = SEED.replace("weight = 3", "weight = \"3\"");
    let Err(e) = Config::parse(&path(), &broken) else {
        panic!("a string weight parsed");
    };
    assert!(e.line.is_some(), "{e}");
}
