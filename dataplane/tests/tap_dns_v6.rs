//! Real clients over net_tap against the DNS and IPv6 answer paths: dig and kdig against an IPv4
//! and an IPv6 VIP, ping -6 to the node address and a VIP (the kernel resolves them with NDP).
mod common;

use common::Netns;

use common::{counter, ping_all, sh, Dataplane};

fn start(tag: &str) -> (Dataplane, Netns) {
    let iface = format!("anyc{tag}");
    let ns = Netns(format!("anycastd-test-{tag}-{}", std::process::id()));
    let zone = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configs/zones/example.test.zone"
    );
    let config = format!(
        r#"
[eal]
{}
[dataplane]
idle = "adaptive"
[[port]]
name = "edge0"
device = "net_tap_{tag},iface={iface}"
addresses = ["198.51.100.1/24", "2001:db8:1::1/64"]
[[vip]]
address = "203.0.113.53"
[[vip]]
address = "2001:db8:53::53"
[[vip]]
address = "2001:db8:10::10"
[[service]]
name = "dns"
vip = ["203.0.113.53", "2001:db8:53::53"]
protocol = "udp"
port = 53
kind = "dns"
zones = ["{zone}"]
identity = "test-site-7"
"#,
        common::eal_args(&format!("anyc-tap-{tag}")),
    );
    let dp = Dataplane::start(&config);
    let n = &ns.0;
    sh(&format!("ip netns add {n}"));
    sh(&format!("ip link set {iface} netns {n}"));
    sh(&format!("ip -n {n} addr add 198.51.100.2/24 dev {iface}"));
    sh(&format!(
        "ip -n {n} addr add 2001:db8:1::2/64 dev {iface} nodad"
    ));
    sh(&format!("ip -n {n} link set {iface} up"));
    sh(&format!("ip -n {n} link set lo up"));
    sh(&format!("ip -n {n} route add 203.0.113.53/32 dev {iface}"));
    sh(&format!(
        "ip -n {n} -6 route add 2001:db8:53::53/128 dev {iface}"
    ));
    sh(&format!(
        "ip -n {n} -6 route add 2001:db8:10::10/128 dev {iface}"
    ));
    (dp, ns)
}

fn dig(ns: &Netns, args: &str) -> String {
    sh(&format!(
        "ip netns exec {} dig +time=2 +tries=2 {args}",
        ns.0
    ))
}

#[test]
fn dig_kdig_and_ping6_get_real_answers() {
    let (mut dp, ns) = start("d");

    // IPv4 VIP: an A hit with AA set, and the answer from the zone.
    let out = dig(&ns, "@203.0.113.53 www.example.test A +norec");
    assert!(out.contains("status: NOERROR"), "{out}");
    assert!(out.contains(" aa"), "AA flag missing: {out}");
    assert!(
        out.contains("192.0.2.80") && out.contains("192.0.2.81"),
        "{out}"
    );

    // IPv6 VIP: AAAA hit, NXDOMAIN with the SOA, CNAME chain, REFUSED outside our zones.
    let out = dig(&ns, "@2001:db8:53::53 www.example.test AAAA");
    assert!(
        out.contains("status: NOERROR") && out.contains("2001:db8::80"),
        "{out}"
    );
    let out = dig(&ns, "@2001:db8:53::53 nothere.example.test A");
    assert!(out.contains("status: NXDOMAIN"), "{out}");
    assert!(out.contains("SOA\tns1.example.test."), "{out}");
    let out = dig(&ns, "@203.0.113.53 alias.example.test A");
    assert!(
        out.contains("CNAME\twww.example.test.") && out.contains("192.0.2.80"),
        "{out}"
    );
    // The same question again and again (no cookie: the same bytes but the ID): from the
    // second miss on the worker's packet cache answers, with the same answer.
    let first = dig(
        &ns,
        "@203.0.113.53 www.example.test A +nocookie +noall +answer",
    );
    assert!(first.contains("192.0.2.80"), "{first}");
    for _ in 0..4 {
        let again = dig(
            &ns,
            "@203.0.113.53 www.example.test A +nocookie +noall +answer",
        );
        assert_eq!(again, first);
    }
    let out = dig(&ns, "@203.0.113.53 www.example.org A");
    assert!(out.contains("status: REFUSED"), "{out}");

    // The site identity, as an operator checks which anycast node answered.
    let out = dig(&ns, "@203.0.113.53 id.server TXT CH +short");
    assert_eq!(out.trim(), "\"test-site-7\"", "{out}");
    let out = sh(&format!(
        "ip netns exec {} kdig +timeout=2 @2001:db8:53::53 +nsid example.test SOA",
        ns.0
    ));
    assert!(out.contains("test-site-7"), "NSID missing: {out}");
    assert!(out.contains("NOERROR"), "{out}");

    // ICMPv6: the node address and a VIP answer ping -6 (NDP resolves them first).
    for target in ["2001:db8:1::1", "2001:db8:10::10"] {
        ping_all(&ns.0, 20, "-6 -i 0.02", target);
    }
    let neigh = sh(&format!("ip -n {} -6 neigh show 2001:db8:10::10", ns.0));
    assert!(
        neigh.contains("lladdr"),
        "NDP did not resolve the VIP: {neigh}"
    );

    // TCP/53 to the DNS VIP is not answered by this path: a counted drop.
    let tcp = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            "dig",
            "+tcp",
            "+time=1",
            "+tries=1",
            "@203.0.113.53",
            "example.test",
        ])
        .output()
        .unwrap();
    assert!(!tcp.status.success() || String::from_utf8_lossy(&tcp.stdout).contains("timed out"));

    let done = dp.stop();
    assert!(done.status.success(), "{}", done.stderr);
    assert!(
        counter(&done.stdout, "total:", "no_service") >= 1,
        "{}",
        done.stdout
    );
    assert!(
        counter(&done.stdout, "total:", "answered") >= 53,
        "{}",
        done.stdout
    );
    assert!(
        counter(&done.stdout, "total:", "dns_cache_hits") >= 3,
        "{}",
        done.stdout
    );
}

#[test]
fn a_bad_zone_keeps_the_dataplane_from_starting() {
    let dir = tempfile::tempdir().unwrap();
    let zone = dir.path().join("bad.zone");
    std::fs::write(
        &zone,
        "$ORIGIN bad.test.\n$TTL 300\n@ IN SOA ns hm 1 2 3 4 5\n@ IN NS ns\nns IN A 198.51.100.300\n",
    )
    .unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "[eal]\n{}\n[[port]]\nname = \"p\"\ndevice = \"net_null_bz0\"\n[[vip]]\naddress = \"203.0.113.53\"\n\
             [[service]]\nname = \"dns\"\nvip = \"203.0.113.53\"\nprotocol = \"udp\"\nport = 53\nkind = \"dns\"\nzones = [\"bad.zone\"]\n",
            common::eal_args("anyc-badzone")
        ),
    )
    .unwrap();
    for args in [vec!["check"], vec!["run", "--config"]] {
        let out = std::process::Command::new(common::anycastd())
            .args(&args)
            .arg(&config)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("bad.zone:5"),
            "{args:?} must name the zone file and line: {err}"
        );
        assert!(
            !err.contains("EAL:"),
            "{args:?} must fail before DPDK starts: {err}"
        );
    }
}
