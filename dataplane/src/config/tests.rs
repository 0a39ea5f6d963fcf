use super::*;

const GOOD: &str = r#"
[eal]
args = ["--no-huge", "-m", "512", "--no-pci"]
[dataplane]
workers = 1
[[port]]
name = "edge0"
device = "net_tap0,iface=anyc0"
addresses = ["198.51.100.1/24", "2001:db8:1::1/64"]
[[vip]]
address = "203.0.113.10"
[[vip]]
address = "203.0.113.53"
[[service]]
name = "dns"
vip = ["203.0.113.53"]
protocol = "udp"
port = 53
kind = "dns"
zones = ["zones/example.test.zone"]
identity = "ams1"
[[service]]
name = "web"
vip = "203.0.113.10"
protocol = "tcp"
port = 80
kind = "forward"
encap = "gue"
[[service.backend]]
address = "10.0.0.11"
[[service.backend]]
address = "10.0.0.12"
weight = 3
state = "draining"
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/anycastd/test.toml"), text)
}

#[test]
fn parses_a_good_config() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.workers, 1);
    assert_eq!(c.eal_args, ["--no-huge", "-m", "512", "--no-pci"]);
    assert_eq!(c.ports[0].dpdk_name(), "net_tap0");
    assert!(!c.ports[0].is_pci());
    assert_eq!(c.ports[0].addresses.len(), 2);
    assert_eq!(c.vips.len(), 2);
    let ServiceKind::Dns(d) = &c.services[0].kind else {
        panic!()
    };
    assert_eq!(
        d.zones[0],
        Path::new("/etc/anycastd/zones/example.test.zone")
    );
    assert_eq!(d.identity, "ams1");
    assert!(!d.minimal_responses, "full responses unless asked");
    let minimal = parse(&GOOD.replace(
        "identity = \"ams1\"",
        "identity = \"ams1\"\nminimal_responses = true",
    ))
    .unwrap();
    let ServiceKind::Dns(m) = &minimal.services[0].kind else {
        panic!()
    };
    assert!(m.minimal_responses);
    let ServiceKind::Forward(f) = &c.services[1].kind else {
        panic!()
    };
    assert_eq!(f.table_size, 65537);
    assert_eq!(f.backends[1].weight, 3);
    assert_eq!(f.backends[1].state, BackendState::Draining);
    assert!(c.services[1].matches_port(80) && !c.services[1].matches_port(81));
    assert_eq!(c.local_addresses(&c.ports[0]).len(), 4);
}

#[test]
fn pci_devices_are_recognised() {
    let p = PortConfig {
        name: "x".into(),
        device: "0000:01:00.0".into(),
        addresses: vec![],
        punt_tap: None,
        mtu: crate::config::DEFAULT_MTU,
    };
    assert!(p.is_pci());
    assert_eq!(p.dpdk_name(), "0000:01:00.0");
}

/// Each bad config must fail with the given line and a message containing `needle`.
fn assert_bad(text: &str, line: Option<usize>, needle: &str) {
    let err = parse(text).expect_err("config should be rejected");
    let shown = err.to_string();
    assert!(shown.starts_with("/etc/anycastd/test.toml"), "{shown}");
    assert_eq!(err.line, line, "{shown}");
    assert!(shown.contains(needle), "{shown} lacks {needle}");
}

#[test]
fn unknown_keys_are_errors_with_line() {
    assert_bad(
        "[dataplane]\nworkers = 1\nwrokers = 2\n",
        Some(3),
        "unknown field `wrokers`",
    );
    assert_bad(
        "[[port]]\nname = \"a\"\ndevice = \"net_null0\"\ncolour = 1\n",
        Some(4),
        "unknown field `colour`",
    );
}

#[test]
fn bad_values_name_line_and_key() {
    let base = "[[port]]\nname = \"a\"\ndevice = \"net_null0\"\n";
    assert_bad(
        &format!("{base}addresses = [\"198.51.100.1\"]\n"),
        Some(4),
        "port[0].addresses",
    );
    assert_bad(
        &format!("{base}addresses = [\"300.1.1.1/24\"]\n"),
        Some(4),
        "not an address",
    );
    assert_bad(
        &format!("{base}[[vip]]\naddress = \"203.0.113.x\"\n"),
        Some(5),
        "vip[0].address",
    );
    assert_bad(
        &format!("[dataplane]\nworkers = 0\n{base}"),
        Some(2),
        "dataplane.workers",
    );
    assert_bad(
        &format!("[dataplane]\nworkers = 100000\n{base}"),
        Some(2),
        "out of range",
    );
    assert_bad(
        &format!("[flow_table]\ncapacity = 10\n{base}"),
        Some(2),
        "flow_table.capacity: 10 is out of range",
    );
    assert_bad(
        &format!("[flow_table]\nudp_timeout_s = 0\n{base}"),
        Some(2),
        "flow_table.udp_timeout_s: 0 is out of range",
    );
    assert_bad(
        &format!("[flow_table]\nidle_timeout = 5\n{base}"),
        Some(2),
        "idle_timeout",
    );
    assert_bad(
        &format!("[dataplane]\nworkers = 2\ncores = [1]\n{base}"),
        Some(3),
        "one core per worker",
    );
    assert_bad(
        &format!("[dataplane]\nworkers = 1\ncores = [4096]\n{base}"),
        Some(3),
        "does not exist",
    );
    assert_bad(
        &format!("{base}[[port]]\nname = \"a\"\ndevice = \"net_null1\"\n"),
        Some(5),
        "duplicate port name",
    );
    assert_bad(
        &format!("{base}[[port]]\nname = \"b\"\ndevice = \"net_null0\"\n"),
        Some(6),
        "used by two ports",
    );
    assert_bad(
        &format!("{base}[[vip]]\naddress = \"203.0.113.1\"\n[[vip]]\naddress = \"203.0.113.1\"\n"),
        Some(7),
        "declared twice",
    );
    assert_bad("[dataplane]\nworkers = 1\n", None, "at least one [[port]]");
    assert_bad("[dataplane\n", Some(1), "");
}

#[test]
fn bad_services_are_errors() {
    let base =
        "[[port]]\nname = \"a\"\ndevice = \"net_null0\"\n[[vip]]\naddress = \"203.0.113.1\"\n";
    let svc = "[[service]]\nname = \"s\"\nvip = \"203.0.113.1\"\nprotocol = \"udp\"\nport = 53\n";
    assert_bad(
        &format!("{base}{svc}kind = \"dns\"\n"),
        Some(11),
        "zone file",
    );
    assert_bad(
        &format!("{base}{svc}kind = \"magic\"\n"),
        Some(11),
        "unknown kind",
    );
    assert_bad(
        &format!("{base}{svc}kind = \"forward\"\nencap = \"ipip\"\n"),
        Some(11),
        "backend",
    );
    assert_bad(
        &format!("{base}{svc}kind = \"forward\"\nencap = \"ipip\"\ntable_size = 65536\n[[service.backend]]\naddress = \"10.0.0.1\"\n"),
        Some(13),
        "not prime",
    );
    assert_bad(
        &format!("{base}{svc}kind = \"forward\"\nencap = \"ipip\"\nminimal_responses = true\n[[service.backend]]\naddress = \"10.0.0.1\"\n"),
        Some(11),
        "minimal_responses",
    );
    assert_bad(
        &format!("{base}{svc}kind = \"dns\"\nzones = [\"z\"]\nminimal_responses = \"yes\"\n"),
        Some(13),
        "expected a boolean",
    );
    assert_bad(
        &format!("{base}[[service]]\nname = \"s\"\nvip = \"203.0.113.2\"\nprotocol = \"udp\"\nport = 53\nkind = \"dns\"\nzones = [\"z\"]\n"),
        Some(8),
        "not declared as a [[vip]]",
    );
    let dns = format!("{svc}kind = \"dns\"\nzones = [\"z\"]\n");
    assert_bad(
        &format!("{base}{dns}{}", dns.replace("\"s\"", "\"t\"")),
        Some(14),
        "overlaps",
    );
}

/// The service, VIP and address checks `bad_services_are_errors` leaves out: each error names
/// its line, key and reason.
#[test]
fn more_bad_services_vips_and_addresses_are_errors() {
    let port =
        "[[port]]\nname = \"a\"\ndevice = \"net_null0\"\naddresses = [\"198.51.100.1/24\"]\n";
    let base = format!("{port}[[vip]]\naddress = \"203.0.113.1\"\n");
    let svc = "[[service]]\nname = \"s\"\nvip = \"203.0.113.1\"\nprotocol = \"tcp\"\nport = 80\n";
    let fwd = format!("{svc}kind = \"forward\"\nencap = \"ipip\"\n");
    let backend = "[[service.backend]]\naddress = \"10.0.0.1\"\n";
    let cases: [(String, usize, &str); 13] = [
        (
            format!("{port}[[vip]]\naddress = \"198.51.100.1\"\n"),
            6,
            "vip[0].address: VIP 198.51.100.1 is also a port address",
        ),
        (
            port.replace("/24\"]", "/24\", \"198.51.100.1/25\"]"),
            4,
            "port[0].addresses: address 198.51.100.1 is used twice",
        ),
        (
            format!("{base}{fwd}{backend}{fwd}{backend}"),
            17,
            "service[1].name: duplicate service name 's'",
        ),
        (
            format!(
                "{base}{}kind = \"forward\"\nencap = \"ipip\"\n{backend}",
                svc.replace("\"203.0.113.1\"", "[]")
            ),
            8,
            "service[0].vip: lists no VIP",
        ),
        (
            format!(
                "{base}{}kind = \"forward\"\nencap = \"ipip\"\n{backend}",
                svc.replace("80", "\"90-80\"")
            ),
            11,
            "service[0].port: '90-80' is not a port range",
        ),
        (
            format!("{base}{svc}kind = \"dns\"\nzones = [\"z\"]\n"),
            12,
            "service[0].protocol: a dns service answers UDP",
        ),
        (
            format!(
                "{base}{}kind = \"dns\"\nzones = [\"z\"]\nencap = \"gue\"\n",
                svc.replace("tcp", "udp")
            ),
            12,
            "service[0].encap: is not a setting of kind = \"dns\"",
        ),
        (
            format!("{base}{svc}kind = \"forward\"\n{backend}"),
            12,
            "service[0].encap: a forward service needs encap",
        ),
        (
            format!("{base}{fwd}source_v4 = \"2001:db8::1\"\n{backend}"),
            14,
            "service[0].source_v4: must be an IPv4 address",
        ),
        (
            format!("{base}{fwd}source_v6 = \"192.0.2.1\"\n{backend}"),
            14,
            "service[0].source_v6: must be an IPv6 address",
        ),
        (
            format!("{base}{fwd}{backend}{backend}"),
            17,
            "service[0].backend[1].address: backend 10.0.0.1 is listed twice",
        ),
        (
            format!("{base}{fwd}{backend}weight = 0\n"),
            16,
            "service[0].backend[0].weight: 0 is out of range 1..=65535",
        ),
        (
            format!("{base}{fwd}gue_port = 0\n{backend}"),
            14,
            "service[0].gue_port: 0 is out of range 1..=65535",
        ),
    ];
    for (text, line, needle) in &cases {
        assert_bad(text, Some(*line), needle);
    }
}

#[test]
fn cpu_lists_parse() {
    assert_eq!(parse_cpu_list("0-1"), Some(2));
    assert_eq!(parse_cpu_list("0,2-5"), Some(6));
    assert_eq!(parse_cpu_list("0"), Some(1));
    assert_eq!(parse_cpu_list("x"), None);
    assert!(online_cores() >= 1);
}

#[test]
fn control_socket_defaults_resolves_and_is_checked() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.control_socket, Path::new("/run/anycastd/anycastd.sock"));
    let c =
        parse(&GOOD.replace("workers = 1", "workers = 1\ncontrol_socket = \"ctl.sock\"")).unwrap();
    assert_eq!(c.control_socket, Path::new("/etc/anycastd/ctl.sock"));
    assert_bad(
        &GOOD.replace("workers = 1", "workers = 1\ncontrol_socket = \"\""),
        Some(6),
        "dataplane.control_socket: must not be empty",
    );
    let long = format!("/run/{}", "x".repeat(120));
    assert_bad(
        &GOOD.replace(
            "workers = 1",
            &format!("workers = 1\ncontrol_socket = \"{long}\""),
        ),
        Some(6),
        "at most 107",
    );
}

#[test]
fn punt_taps_are_checked() {
    let c = parse(&GOOD.replace(
        "addresses = [\"198.51.100.1/24\", \"2001:db8:1::1/64\"]",
        "addresses = [\"198.51.100.1/24\", \"2001:db8:1::1/64\"]\npunt_tap = \"edge0-k\"",
    ))
    .unwrap();
    assert_eq!(c.ports[0].punt_tap.as_deref(), Some("edge0-k"));
    assert_eq!(parse(GOOD).unwrap().ports[0].punt_tap, None);
    for bad in ["", "a b", "sixteen-chars-xx", "x/y"] {
        assert_bad(
            &GOOD.replace(
                "device = \"net_tap0,iface=anyc0\"",
                &format!("device = \"net_tap0,iface=anyc0\"\npunt_tap = \"{bad}\""),
            ),
            Some(9),
            "port[0].punt_tap: ",
        );
    }
    let two = "[[port]]\nname = \"a\"\ndevice = \"net_tap1\"\npunt_tap = \"k\"\n[[port]]\nname = \"b\"\ndevice = \"net_tap2\"\npunt_tap = \"k\"\n";
    assert_bad(
        two,
        Some(8),
        "port[1].punt_tap: punt tap 'k' is used by two ports",
    );
}

#[test]
fn restart_only_changes_are_named_and_live_ones_are_not() {
    let old = parse(GOOD).unwrap();
    assert!(old.restart_only_changes(&old).is_empty());
    // Addresses, VIPs, services and zones change live.
    let live = parse(
        &GOOD
            .replace("198.51.100.1/24", "198.51.100.9/24")
            .replace(
                "identity = \"ams1\"",
                "identity = \"ams2\"\nminimal_responses = true",
            )
            .replace("10.0.0.12", "10.0.0.13"),
    )
    .unwrap();
    assert!(old.restart_only_changes(&live).is_empty());
    let new = parse(&format!(
        "{}\n[flow_table]\nudp_timeout_s = 60\n",
        GOOD.replace(
            "workers = 1",
            "workers = 2\nidle = \"adaptive\"\ndescriptors = 512",
        )
        .replace("\"512\", \"--no-pci\"", "\"256\", \"--no-pci\"")
        .replace(
            "net_tap0,iface=anyc0\"",
            "net_tap1,iface=anyc1\"\nmtu = 9000"
        )
    ))
    .unwrap();
    assert_eq!(new.flow_table.udp_timeout_ms, 60_000);
    assert_eq!(
        old.restart_only_changes(&new),
        [
            "eal.args",
            "dataplane.workers",
            "dataplane.idle",
            "dataplane.descriptors",
            "flow_table",
            "port[0].device",
            "port[0].mtu"
        ]
    );
}

#[test]
fn a_port_mtu_is_1500_unless_set_within_1280_to_9000() {
    assert_eq!(parse(GOOD).unwrap().ports[0].mtu, 1500);
    let with = |mtu: &str| {
        GOOD.replace(
            "device = \"net_tap0,iface=anyc0\"",
            &format!("device = \"net_tap0,iface=anyc0\"\nmtu = {mtu}"),
        )
    };
    for ok in [1280, 1600, 9000] {
        assert_eq!(parse(&with(&ok.to_string())).unwrap().ports[0].mtu, ok);
    }
    for bad in ["1279", "9001", "0", "-1500"] {
        assert_bad(
            &with(bad),
            Some(9),
            &format!("port[0].mtu: {bad} is out of range 1280..=9000"),
        );
    }
    assert_bad(&with("\"1500\""), Some(9), "invalid type: string \"1500\"");
}

#[test]
fn watch_is_off_by_default_and_names_the_config_and_zone_files() {
    let c = parse(GOOD).unwrap();
    assert!(!c.watch);
    assert_eq!(
        c.watched_files(),
        [
            Path::new("/etc/anycastd/test.toml"),
            Path::new("/etc/anycastd/zones/example.test.zone")
        ]
    );
    assert!(
        parse(&GOOD.replace("workers = 1", "workers = 1\nwatch = true"))
            .unwrap()
            .watch
    );
    assert_bad(
        &GOOD.replace("workers = 1", "workers = 1\nwatch = \"yes\""),
        Some(6),
        "",
    );
}

#[test]
fn stats_and_sidecar_tables_are_typed_and_checked() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.stats.path, Path::new("/run/anycastd/stats"));
    assert_eq!(c.sidecar.listen, "127.0.0.1:9477".parse().unwrap());
    let c = parse(&format!(
        "{GOOD}[stats]\npath = \"stats.shm\"\n[sidecar]\nlisten = \"0.0.0.0:9100\"\n"
    ))
    .unwrap();
    assert_eq!(c.stats.path, Path::new("/etc/anycastd/stats.shm"));
    assert_eq!(c.sidecar.listen, "0.0.0.0:9100".parse().unwrap());
    let n = GOOD.lines().count();
    assert_bad(
        &format!("{GOOD}[stats]\npath = \"\"\n"),
        Some(n + 2),
        "stats.path: must not be empty",
    );
    assert_bad(
        &format!("{GOOD}[sidecar]\nlisten = \"9477\"\n"),
        Some(n + 2),
        "sidecar.listen: '9477' is not an address:port",
    );
    assert_bad(
        &format!("{GOOD}[sidecar]\nbgpp = 1\n"),
        Some(n + 2),
        "unknown field `bgpp`",
    );
    assert_bad(
        &format!("{GOOD}[sidecar.bgp]\nrise = 0\n[sidecar.bgp.bird]\n"),
        Some(n + 2),
        "sidecar.bgp.rise: 0 is out of range 1..=100",
    );
    let c = parse(&format!("{GOOD}[sidecar.bgp.exabgp]\n")).unwrap();
    assert!(!c.sidecar.bgp.unwrap().prefixes.is_empty());
    let mut moved = parse(GOOD).unwrap();
    moved.stats.path = "/run/other".into();
    assert_eq!(
        parse(GOOD).unwrap().restart_only_changes(&moved),
        vec!["stats.path".to_owned()]
    );
}

#[test]
fn toml_syntax_errors_have_a_one_line_message() {
    // The TOML parser gives no message for a key without a value at the end of the file.
    let e = parse("[dataplane]\nworkers =").unwrap_err();
    assert_eq!(e.line, Some(2), "{e}");
    assert!(
        e.message
            .contains("the file ends in the middle of an entry"),
        "{e}"
    );
    // And a message of two lines for a value that is not one.
    let e = parse("[dataplane]\nworkers = \n").unwrap_err();
    assert_eq!(e.line, Some(2), "{e}");
    assert!(
        !e.message.contains('\n') && e.message.contains("invalid string; expected"),
        "{e}"
    );
}

#[test]
fn a_vip_or_port_of_the_wrong_type_says_what_is_expected() {
    let e = parse(&GOOD.replace("port = 53", "port = [53]")).unwrap_err();
    assert!(
        e.message
            .contains("a port number or a range such as \"1000-2000\""),
        "{e}"
    );
    let e = parse(&GOOD.replace("vip = \"203.0.113.10\"", "vip = 10")).unwrap_err();
    assert!(
        e.message.contains("an address or a list of addresses"),
        "{e}"
    );
    assert!(e.line.is_some(), "{e}");
}
