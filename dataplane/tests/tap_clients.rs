//! Real kernel clients (ping, arping) in a network namespace talk to anycastd through net_tap.
mod common;

use common::Netns;

use common::{counter, ping_all, sh, Dataplane};

/// Starts anycastd on a net_tap port named `iface` (with `port_keys` added to its `[[port]]`),
/// moves the interface into a fresh namespace as 198.51.100.2/24 with a route to the VIP, and
/// returns both.
fn start(tag: &str, port_keys: &str, extra_config: &str) -> (Dataplane, Netns, String) {
    let iface = format!("anyc{tag}");
    let ns = Netns(format!("anycastd-test-{tag}-{}", std::process::id()));
    let config = format!(
        r#"
[eal]
{}
[dataplane]
idle = "adaptive"
[[port]]
name = "edge0"
device = "net_tap_{tag},iface={iface}"
addresses = ["198.51.100.1/24"]
{port_keys}
[[vip]]
address = "203.0.113.10"
{extra_config}
"#,
        common::eal_args(&format!("anyc-tap-{tag}")),
    );
    let dp = Dataplane::start(&config);
    let mac = dp
        .log
        .iter()
        .find_map(|l| l.split("mac=\"").nth(1).map(|r| r[..17].to_owned()))
        .expect("port MAC in the log");
    sh(&format!("ip netns add {}", ns.0));
    sh(&format!("ip link set {iface} netns {}", ns.0));
    sh(&format!(
        "ip -n {} addr add 198.51.100.2/24 dev {iface}",
        ns.0
    ));
    sh(&format!("ip -n {} link set {iface} up", ns.0));
    sh(&format!(
        "ip -n {} route add 203.0.113.10/32 dev {iface}",
        ns.0
    ));
    (dp, ns, mac)
}

#[test]
fn ping_100_to_the_vip_gets_100_replies() {
    let (mut dp, ns, _) = start("p", "", "");
    ping_all(&ns.0, 100, "-i 0.01", "203.0.113.10");
    ping_all(&ns.0, 5, "-i 0.05", "198.51.100.1");
    let done = dp.stop();
    assert!(done.status.success(), "{}", done.stderr);
    assert!(
        counter(&done.stdout, "total:", "answered") >= 105,
        "{}",
        done.stdout
    );
}

#[test]
fn a_port_mtu_of_1504_is_the_kernel_sides_and_carries_1504_byte_pings() {
    // net_tap takes frames up to 1522 bytes: mtu 1504 is set on its kernel interface, and a
    // ping of 1504 bytes of IP with DF (the kernel refuses to send it over a 1500 MTU) is
    // answered whole.
    let (mut dp, ns, _) = start("m", "mtu = 1504", "");
    let link = sh(&format!("ip -n {} link show anycm", ns.0));
    assert!(link.contains(" mtu 1504 "), "{link}");
    ping_all(&ns.0, 5, "-i 0.05 -M do -s 1476", "203.0.113.10");
    let done = dp.stop();
    assert!(done.status.success(), "{}", done.stderr);
    // The five echo replies, and the ARP reply the kernel asked for first.
    assert!(
        counter(&done.stdout, "total:", "answered") >= 5,
        "{}",
        done.stdout
    );
}

#[test]
fn arping_gets_the_port_mac() {
    let (mut dp, ns, mac) = start("a", "", "");
    let iface = "anyca";
    let out = sh(&format!(
        "ip netns exec {} arping -c 3 -w 5 -I {iface} 203.0.113.10",
        ns.0
    ));
    assert!(
        out.to_lowercase().contains(&format!("[{mac}]")),
        "want {mac}: {out}"
    );
    assert!(out.contains("Received 3 response(s)"), "{out}");
    // No answer for an address that is not ours.
    let other = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            "arping",
            "-c",
            "2",
            "-w",
            "2",
            "-I",
            iface,
            "198.51.100.77",
        ])
        .output()
        .unwrap();
    let other = String::from_utf8_lossy(&other.stdout);
    assert!(other.contains("Received 0 response(s)"), "{other}");
    let done = dp.stop();
    assert!(done.status.success(), "{}", done.stderr);
}
