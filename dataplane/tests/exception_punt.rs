//! The kernel exception path through the real binary: a TCP connection from a client namespace
//! (through the main net_tap port) reaches an HTTP server on the kernel side of the punt TAP,
//! while the dataplane keeps answering ping to the VIP.
mod common;

use common::{ChildGuard as Guard, Netns};

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{sh, Dataplane};

#[test]
fn tcp_to_the_node_address_reaches_the_kernel_while_vips_are_answered() {
    through_the_punt_tap("ex", 1);
}

/// The same with two workers: the punt TAP has a queue per worker.
#[test]
fn the_exception_path_works_with_two_workers() {
    through_the_punt_tap("ex2", 2);
}

fn through_the_punt_tap(tag: &str, workers: usize) {
    let iface = format!("anyc{tag}");
    let tap = format!("anyck{tag}");
    let config = format!(
        r#"
[eal]
{}
[dataplane]
workers = {workers}
descriptors = 512
idle = "adaptive"
control_socket = "/tmp/anycastd-test-{tag}-{}.sock"
[[port]]
name = "edge0"
device = "net_tap_{tag},iface={iface}"
addresses = ["198.51.100.1/24", "2001:db8:1::1/64"]
punt_tap = "{tap}"
[[vip]]
address = "203.0.113.10"
"#,
        common::eal_args(&format!("anyc-exc-{tag}")),
        std::process::id()
    );
    let mut dp = Dataplane::start(&config);
    let mac = dp
        .log
        .iter()
        .find_map(|l| l.split("mac=\"").nth(1).map(|r| r[..17].to_owned()))
        .expect("port MAC in the log");
    let client = Netns(format!("anycastd-exc-c{tag}-{}", std::process::id()));
    let node = Netns(format!("anycastd-exc-n{tag}-{}", std::process::id()));
    sh(&format!("ip netns add {}", client.0));
    sh(&format!("ip netns add {}", node.0));
    // The client on the wire side.
    sh(&format!("ip link set {iface} netns {}", client.0));
    sh(&format!(
        "ip -n {0} addr add 198.51.100.2/24 dev {iface} && ip -n {0} link set {iface} up && \
         ip -n {0} route add 203.0.113.10/32 dev {iface} && \
         ip -n {0} addr add 2001:db8:1::2/64 dev {iface} nodad",
        client.0
    ));
    // The node's kernel behind the punt TAP: same MAC as the port, the node address.
    let tap_mac = sh(&format!("cat /sys/class/net/{tap}/address"));
    assert_eq!(tap_mac.trim(), mac, "the punt TAP carries the port's MAC");
    sh(&format!("ip link set {tap} netns {}", node.0));
    sh(&format!(
        "ip -n {0} addr add 198.51.100.1/24 dev {tap} && \
         ip -n {0} addr add 2001:db8:1::1/64 dev {tap} nodad && ip -n {0} link set {tap} up && \
         ip -n {0} link set lo up",
        node.0
    ));
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("hello.txt"), "hello from the kernel side\n").unwrap();
    let server = Command::new("ip")
        .args([
            "netns",
            "exec",
            &node.0,
            "/usr/bin/python3",
            "-m",
            "http.server",
        ])
        .args(["8080", "--bind", "::", "--directory"])
        .arg(www.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = Guard(server);
    // Wait (bounded) for the server to listen.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !sh(&format!("ip netns exec {} ss -ltn", node.0)).contains(":8080") {
        assert!(Instant::now() < deadline, "http.server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The VIP is answered by the dataplane while TCP sessions go to the kernel.
    let ping = Command::new("ip")
        .args([
            "netns", "exec", &client.0, "ping", "-c", "50", "-i", "0.02", "-W", "2",
        ])
        .args(["-q", "203.0.113.10"])
        .output();
    for i in 0..5 {
        let body = sh(&format!(
            "ip netns exec {} curl -sS --max-time 10 http://198.51.100.1:8080/hello.txt",
            client.0
        ));
        assert_eq!(body, "hello from the kernel side\n", "request {i}");
    }
    // IPv6: the kernel resolves the client with NDP (its Neighbor Advertisements are punted).
    let body = sh(&format!(
        "ip netns exec {} curl -sS --max-time 10 -g http://[2001:db8:1::1]:8080/hello.txt",
        client.0
    ));
    assert_eq!(body, "hello from the kernel side\n", "over IPv6");
    let ping = ping.unwrap();
    let ping = String::from_utf8_lossy(&ping.stdout);
    assert!(
        ping.contains("50 packets transmitted, 50 received"),
        "{ping}"
    );
    // The dataplane still answers ping to the node address itself.
    let node_ping = sh(&format!(
        "ip netns exec {} ping -c 3 -i 0.05 -W 2 -q 198.51.100.1",
        client.0
    ));
    assert!(node_ping.contains("3 received"), "{node_ping}");
    // The kernel resolved the client through punted ARP replies.
    let neigh = sh(&format!("ip -n {} neigh show 198.51.100.2", node.0));
    assert!(
        neigh.contains("REACHABLE") || neigh.contains("STALE") || neigh.contains("DELAY"),
        "{neigh}"
    );
    let done = dp.stop();
    assert!(done.status.success(), "{}", done.stderr);
    assert!(
        common::counter(&done.stdout, "total:", "punted") >= 10,
        "{}",
        done.stdout
    );
    assert!(
        common::counter(&done.stdout, "total:", "answered") >= 53,
        "{}",
        done.stdout
    );
}
