//! A test LAN for L2 DSR: a bridge in its own namespace joining the dataplane's net_tap interface,
//! a client namespace and backend namespaces, each backend holding the VIP on its loopback.
use std::process::Command;

use super::sh;

/// Network namespaces, deleted on drop.
pub struct Namespaces(pub Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// The client and backends on one bridge with the dataplane's tap.
pub struct Lan {
    /// The client's namespace (198.51.100.2, VIP routed via the dataplane at 198.51.100.1).
    pub client: String,
    /// Backend namespaces, in the order given.
    pub backends: Vec<String>,
    _namespaces: Namespaces,
}

impl Lan {
    /// Builds the LAN around `tap` (the dataplane's net_tap interface, already started), with
    /// `backend_addrs` on 198.51.100.0/24 and `vip` on every backend's loopback.
    pub fn new(tag: &str, tap: &str, vip: &str, backend_addrs: &[&str]) -> Lan {
        let pid = std::process::id();
        let wire = format!("anyc-{tag}-w-{pid}");
        let client = format!("anyc-{tag}-c-{pid}");
        let backends: Vec<String> = (0..backend_addrs.len())
            .map(|i| format!("anyc-{tag}-b{i}-{pid}"))
            .collect();
        let mut all = vec![wire.clone(), client.clone()];
        all.extend(backends.iter().cloned());
        let namespaces = Namespaces(all.clone());
        for ns in &all {
            sh(&format!("ip netns add {ns}"));
        }
        // The tap's kernel side gets a MAC of its own, or the bridge would treat the dataplane's
        // MAC as local and never forward frames to it.
        sh(&format!(
            "ip link set {tap} netns {wire} && ip -n {wire} link add br0 type bridge && \
             ip -n {wire} link set {tap} address 02:00:00:00:00:fe && \
             ip -n {wire} link set {tap} master br0 && ip -n {wire} link set {tap} up && \
             ip -n {wire} link set br0 up"
        ));
        let attach = |ns: &str, port: &str, addr: &str| {
            sh(&format!(
                "ip -n {wire} link add {port} type veth peer name eth0 netns {ns} && \
                 ip -n {wire} link set {port} master br0 && ip -n {wire} link set {port} up && \
                 ip -n {ns} addr add {addr}/24 dev eth0 && ip -n {ns} link set eth0 up && \
                 ip -n {ns} link set lo up"
            ));
        };
        attach(&client, "vc", "198.51.100.2");
        sh(&format!(
            "ip -n {client} route add {vip}/32 via 198.51.100.1"
        ));
        for (i, (ns, addr)) in backends.iter().zip(backend_addrs).enumerate() {
            attach(ns, &format!("vb{i}"), addr);
            // DSR: the VIP on lo, never announced or answered by ARP.
            sh(&format!(
                "ip -n {ns} addr add {vip}/32 dev lo && \
                 ip netns exec {ns} sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2"
            ));
        }
        Lan {
            client,
            backends,
            _namespaces: namespaces,
        }
    }
}
