//! Frame builders for tests and benchmarks (not used by the dataplane itself).
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::config::Config;
use crate::packet::checksum;
use crate::snapshot::{Mac, Snapshot};

/// The MAC tests give the dataplane's port.
pub const PORT_MAC: Mac = [0x02, 0xaa, 0, 0, 0, 1];
/// The MAC tests give the client.
pub const CLIENT_MAC: Mac = [0x02, 0xcc, 0, 0, 0, 2];

/// Parses the frame in `buf` and answers it with `svc`, through `cache` when there is one
/// (benchmarks: the query must be answered).
#[inline(always)]
pub fn answer_dns(
    svc: &crate::answer::dns::DnsService,
    buf: &mut crate::packet::TestBuffer,
    port: &crate::snapshot::PortSnapshot,
    counters: &mut crate::answer::dns::DnsCounters,
    cache: Option<&mut crate::answer::dns::cache::PacketCache>,
) {
    use crate::packet::PacketBuffer;
    let Ok(crate::packet::Parsed::Ipv4(ip)) = crate::packet::parse(buf.data()) else {
        panic!("not an IPv4 frame")
    };
    let v = match cache {
        Some(cache) => svc.handle_cached(buf, &ip, port, counters, cache),
        None => svc.handle(buf, &ip, port, counters),
    };
    assert_eq!(v, crate::verdict::Verdict::Answer);
}

/// A flow table of `capacity` flows whose flows idle out 1 ms after their last packet, in any
/// state, and whose new flows are never rate-limited: for timing a stream of new flows.
pub fn churning_flow_table(capacity: usize) -> crate::forward::FlowTableConfig {
    crate::forward::FlowTableConfig {
        capacity,
        syn_timeout_ms: 1,
        established_timeout_ms: 1,
        udp_timeout_ms: 1,
        closing_timeout_ms: 1,
        new_flows_per_sec: u32::MAX,
        new_flow_burst: u32::MAX,
    }
}

/// New flows per millisecond of worker clock that keep a [`churning_flow_table`] of `capacity`
/// flows in its steady state: the most the hot path's sweep (the whole table per
/// `SWEEP_PERIOD_MS`) frees again with the table at most 80% full, since a flow stays until the
/// sweep passes it (at most its timeout and one sweep period).
pub fn churn_flows_per_ms(capacity: usize) -> u64 {
    (capacity * 4 / 5) as u64 / (crate::forward::flow_table::SWEEP_PERIOD_MS + 2)
}

/// Every forward service's backends' next hops in `snap` learned (or confirmed) at `now_ms`,
/// as an ARP reply does, so that forwarding does not wait on neighbour resolution.
pub fn confirm_next_hops(
    snap: &Snapshot,
    state: &mut crate::forward::WorkerForwardState,
    now_ms: u64,
) {
    for service in &snap.services {
        let crate::snapshot::ServiceRuntime::Forward(f) = &service.runtime else {
            continue;
        };
        for b in f.backends() {
            if let crate::forward::NextHop::Neighbor { ip, v6, .. } = b.next_hop {
                state.neighbors.resolve(&ip, v6, now_ms);
                state
                    .neighbors
                    .learn(&ip, v6, [2, 0xbb, 0, 0, 0, 1], now_ms);
            }
        }
    }
}

/// Checks that the packets of benchmark row `name` took the path it is named after: every next
/// hop resolved (no request, no drop for want of a MAC).
pub fn assert_next_hops_resolved(name: &str, state: &crate::forward::WorkerForwardState) {
    assert_eq!(
        (state.counters.unresolved, state.counters.neighbor_refreshes),
        (0, 0),
        "{name}: packets met a next hop not resolved"
    );
}

/// An Ethernet header.
pub fn ethernet(dst: Mac, src: Mac, ethertype: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(128);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

/// An ARP request from `sha`/`spa` asking for `tpa`, broadcast, padded to 60 bytes.
pub fn arp_request(sha: Mac, spa: Ipv4Addr, tpa: Ipv4Addr) -> Vec<u8> {
    let mut f = ethernet([0xff; 6], sha, 0x0806);
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&tpa.octets());
    f.resize(60, 0);
    f
}

/// An IPv4 header (checksum filled) followed by `payload`, in an Ethernet frame.
pub fn ipv4(
    dst_mac: Mac,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    ttl: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = ethernet(dst_mac, CLIENT_MAC, 0x0800);
    let total = (20 + payload.len()) as u16;
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    ip[6] = 0x40; // DF
    ip[8] = ttl;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let c = checksum::checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(payload);
    f
}

/// An ICMPv4 message of `ty`/`code` with id, sequence and data, checksum filled.
pub fn icmp4(ty: u8, code: u8, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(data);
    let c = checksum::checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// An ICMPv4 echo request frame from `src` to `dst` with `data`.
pub fn echo_request(src: Ipv4Addr, dst: Ipv4Addr, data: &[u8]) -> Vec<u8> {
    ipv4(PORT_MAC, src, dst, 1, 64, &icmp4(8, 0, 0x4242, 7, data))
}

/// A DNS query message: ID 0x1234, RD set, one question `name` (dotted, no trailing dot) of
/// type `qtype`, class IN, no EDNS.
pub fn dns_query(name: &str, qtype: u16) -> Vec<u8> {
    let mut m = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m
}

/// A UDP datagram (checksum filled) inside an IPv4 frame.
pub fn udp4(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut u = Vec::with_capacity(len as usize);
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&len.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let acc = checksum::pseudo_v4(&src.octets(), &dst.octets(), 17, len);
    let c = checksum::finish(checksum::sum(acc, &u));
    let c = if c == 0 { 0xffff } else { c };
    u[6..8].copy_from_slice(&c.to_be_bytes());
    ipv4(PORT_MAC, src, dst, 17, 64, &u)
}

/// A fixed IPv6 header followed by `payload`, in an Ethernet frame to `dst_mac`.
pub fn ipv6(
    dst_mac: Mac,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next: u8,
    hop_limit: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = ethernet(dst_mac, CLIENT_MAC, 0x86dd);
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    f.push(next);
    f.push(hop_limit);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(payload);
    f
}

/// Port `edge0` with MAC [`PORT_MAC`] whose one local address is `vip` (the port a DNS
/// service's queries arrive on in benches and tests).
pub fn vip_port(vip: Ipv4Addr) -> crate::snapshot::PortSnapshot {
    use crate::snapshot::{LocalAddrs, PortSnapshot};
    PortSnapshot {
        name: "edge0".into(),
        mac: PORT_MAC,
        local: LocalAddrs::new(&[vip.into()]),
        node: LocalAddrs::default(),
    }
}

/// A snapshot from config text, with every port's MAC set to [`PORT_MAC`].
pub fn snapshot(config_toml: &str) -> Snapshot {
    let config =
        Config::parse(std::path::Path::new("test.toml"), config_toml).expect("test config");
    let macs = vec![PORT_MAC; config.ports.len()];
    Snapshot::build(&config, &macs, 1).expect("test snapshot")
}

/// A minimal config: one port with 198.51.100.1/24 and 2001:db8:1::1/64, VIPs 203.0.113.10 and
/// 2001:db8:10::10.
pub const BASIC_CONFIG: &str = r#"
[[port]]
name = "edge0"
device = "net_null0"
addresses = ["198.51.100.1/24", "2001:db8:1::1/64"]
[[vip]]
address = "203.0.113.10"
[[vip]]
address = "2001:db8:10::10"
"#;

/// An ICMPv6 message of `ty`/`code` with `body` (everything after the checksum), checksum filled
/// over the IPv6 pseudo-header of `src` → `dst`.
pub fn icmp6(src: Ipv6Addr, dst: Ipv6Addr, ty: u8, code: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend_from_slice(body);
    let acc = checksum::pseudo_v6(&src.octets(), &dst.octets(), 58, m.len() as u32);
    let c = checksum::finish(checksum::sum(acc, &m));
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// The Ethernet address an IPv6 destination maps to: 33:33 + the low 32 bits for multicast
/// (RFC 2464 §7), [`PORT_MAC`] for unicast.
pub fn ipv6_dst_mac(dst: Ipv6Addr) -> Mac {
    let o = dst.octets();
    if o[0] == 0xff {
        [0x33, 0x33, o[12], o[13], o[14], o[15]]
    } else {
        PORT_MAC
    }
}

/// The solicited-node multicast address of `a` (ff02::1:ffXX:XXXX, RFC 4291 §2.7.1).
pub fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    let mut m = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0];
    m[13..].copy_from_slice(&o[13..]);
    Ipv6Addr::from(m)
}

/// An ICMPv6 echo request frame (id 0x4242, sequence 7) from `src` to `dst` with `data`.
pub fn icmpv6_echo_request(src: Ipv6Addr, dst: Ipv6Addr, data: &[u8]) -> Vec<u8> {
    let mut body = vec![0x42, 0x42, 0, 7];
    body.extend_from_slice(data);
    ipv6(
        ipv6_dst_mac(dst),
        src,
        dst,
        58,
        64,
        &icmp6(src, dst, 128, 0, &body),
    )
}

/// A Neighbor Solicitation frame (hop limit 255) from `src` to `dst` asking for `target`, with a
/// Source Link-Layer Address option when `slla` is given. Use [`solicited_node`] of the target
/// as `dst` for the multicast form and `Ipv6Addr::UNSPECIFIED` as `src` for DAD.
pub fn neighbor_solicitation(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    target: Ipv6Addr,
    slla: Option<Mac>,
) -> Vec<u8> {
    let mut body = vec![0u8; 4];
    body.extend_from_slice(&target.octets());
    if let Some(mac) = slla {
        body.extend_from_slice(&[1, 1]);
        body.extend_from_slice(&mac);
    }
    ipv6(
        ipv6_dst_mac(dst),
        src,
        dst,
        58,
        255,
        &icmp6(src, dst, 135, 0, &body),
    )
}

/// A zone of `n` records: A records for `h<i>`, an AAAA every 4th name, a CNAME every 16th.
pub fn generated_zone(n: usize) -> String {
    let mut z = String::with_capacity(n * 40);
    z.push_str("$ORIGIN big.test.\n$TTL 3600\n@ SOA ns1 hm 1 7200 900 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n");
    let mut written = 3;
    let mut i = 0usize;
    while written < n {
        z.push_str(&format!(
            "h{i} A 10.{}.{}.{}\n",
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        ));
        written += 1;
        if i.is_multiple_of(4) && written < n {
            z.push_str(&format!("h{i} AAAA 2001:db8::{:x}\n", i & 0xffff));
            written += 1;
        }
        if i.is_multiple_of(16) && written < n {
            z.push_str(&format!("c{i} CNAME h{i}\n"));
            written += 1;
        }
        i += 1;
    }
    z
}

/// `frame` with byte `at` (modulo its length) XORed with `xor` and its last `cut` bytes removed:
/// a mutated copy for property tests of fast paths against general ones.
pub fn flipped_and_cut(mut frame: Vec<u8>, at: usize, xor: u8, cut: usize) -> Vec<u8> {
    if !frame.is_empty() {
        let i = at % frame.len();
        frame[i] ^= xor;
    }
    let n = frame.len() - cut.min(frame.len());
    frame.truncate(n);
    frame
}

/// Asserts that a fast path declines every frame in `cases` (returns `None`) and leaves each
/// as it was, for the general path to handle.
pub fn assert_declined_untouched<T: std::fmt::Debug + PartialEq>(
    cases: Vec<Vec<u8>>,
    mut fast: impl FnMut(&mut [u8]) -> Option<T>,
) {
    for mut f in cases {
        let before = f.clone();
        assert_eq!(fast(&mut f), None, "{before:02x?}");
        assert_eq!(f, before, "a frame left to the general path is untouched");
    }
}
