//! Through real DPDK (net_pcap): TCP and UDP to forward VIPs come out IPIP (4in4, 6in6, 4in6) and
//! GUE encapsulated; scapy, not our code, decodes the output and checks the outer headers, the
//! byte-identical inner packets and the checksums.
mod common;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::Command;

use common::{read_pcap, write_pcap, Dataplane};
use dataplane::packet::checksum;
use dataplane::testutil::{ethernet, ipv4, ipv6, udp4};

const PCAP_MAC: [u8; 6] = [0x02, 0x70, 0x63, 0x61, 0x70, 0x00];
const B4: [Ipv4Addr; 2] = [
    Ipv4Addr::new(198, 51, 100, 21),
    Ipv4Addr::new(198, 51, 100, 22),
];
const B4_MAC: [[u8; 6]; 2] = [[0x02, 0xbb, 0, 0, 0, 0x21], [0x02, 0xbb, 0, 0, 0, 0x22]];
const B6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x21);
const B6_MAC: [u8; 6] = [0x02, 0xbb, 0, 0, 0x06, 0x21];
const CLIENT4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);

fn mac_str(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// An unsolicited ARP reply from a backend, so the dataplane learns its MAC.
fn arp_reply(mac: [u8; 6], ip: Ipv4Addr) -> Vec<u8> {
    let mut f = ethernet(PCAP_MAC, mac, 0x0806);
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&ip.octets());
    f.extend_from_slice(&PCAP_MAC);
    f.extend_from_slice(&[198, 51, 100, 1]);
    f.resize(60, 0);
    f
}

/// A Neighbor Advertisement from the IPv6 backend with its link-layer address.
fn neighbor_advert(mac: [u8; 6], ip: Ipv6Addr) -> Vec<u8> {
    let dst = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
    let mut m = vec![136, 0, 0, 0, 0x60, 0, 0, 0];
    m.extend_from_slice(&ip.octets());
    m.extend_from_slice(&[2, 1]);
    m.extend_from_slice(&mac);
    let acc = checksum::pseudo_v6(&ip.octets(), &dst.octets(), 58, m.len() as u32);
    let c = checksum::finish(checksum::sum(acc, &m));
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let mut f = ipv6(PCAP_MAC, ip, dst, 58, 255, &m);
    f[6..12].copy_from_slice(&mac);
    f
}

fn tcp_syn(sport: u16, src: &[u8], dst: &[u8]) -> Vec<u8> {
    let mut t = vec![0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&80u16.to_be_bytes());
    t[4..8].copy_from_slice(&0x01020304u32.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = 0x02;
    t[14..16].copy_from_slice(&64240u16.to_be_bytes());
    let acc = if src.len() == 4 {
        checksum::pseudo_v4(src.try_into().unwrap(), dst.try_into().unwrap(), 6, 20)
    } else {
        checksum::pseudo_v6(src.try_into().unwrap(), dst.try_into().unwrap(), 6, 20)
    };
    let c = checksum::finish(checksum::sum(acc, &t));
    t[16..18].copy_from_slice(&c.to_be_bytes());
    t
}

fn syn4(sport: u16, vip: Ipv4Addr) -> Vec<u8> {
    let mut f = ipv4(
        PCAP_MAC,
        CLIENT4,
        vip,
        6,
        60,
        &tcp_syn(sport, &CLIENT4.octets(), &vip.octets()),
    );
    f.resize(f.len().max(60), 0); // Ethernet padding, trimmed before encapsulation
    f
}

fn syn6(sport: u16, vip: Ipv6Addr) -> Vec<u8> {
    ipv6(
        PCAP_MAC,
        CLIENT6,
        vip,
        6,
        60,
        &tcp_syn(sport, &CLIENT6.octets(), &vip.octets()),
    )
}

#[test]
fn ipip_and_gue_output_decodes_with_scapy() {
    let dir = tempfile::tempdir().unwrap();
    let (rx, tx, expect) = (
        dir.path().join("in.pcap"),
        dir.path().join("out.pcap"),
        dir.path().join("expect.json"),
    );
    let vip_ipip = Ipv4Addr::new(203, 0, 113, 80);
    let vip_gue = Ipv4Addr::new(203, 0, 113, 81);
    let vip6 = Ipv6Addr::new(0x2001, 0xdb8, 0x80, 0, 0, 0, 0, 0x80);
    let vip_4in6 = Ipv4Addr::new(203, 0, 113, 82);

    let mut input = vec![
        arp_reply(B4_MAC[0], B4[0]),
        arp_reply(B4_MAC[1], B4[1]),
        neighbor_advert(B6_MAC, B6),
    ];
    let mut cases = Vec::new();
    let mut case = |input: &mut Vec<Vec<u8>>,
                    frame: Vec<u8>,
                    kind: &str,
                    backend: String,
                    mac: [u8; 6],
                    src: &str| {
        cases.push(format!(
            r#"{{"input": {}, "kind": "{kind}", "backend": "{backend}", "backend_mac": "{}", "outer_src": "{src}", "gue_port": 6080}}"#,
            input.len(),
            mac_str(mac)
        ));
        input.push(frame);
    };
    for sport in 40000..40008u16 {
        // 4in4 IPIP over two active backends: Maglev picks; the backend ("?") is read from the
        // output's destination MAC after the run and must be one of the two.
        case(
            &mut input,
            syn4(sport, vip_ipip),
            "ipip",
            "?".into(),
            [0; 6],
            "198.51.100.1",
        );
    }
    case(
        &mut input,
        to_port(udp4(CLIENT4, vip_gue, 5353, 53, b"gue payload")),
        "gue",
        B4[1].to_string(),
        B4_MAC[1],
        "198.51.100.1",
    );
    case(
        &mut input,
        syn4(41000, vip_gue),
        "gue",
        B4[1].to_string(),
        B4_MAC[1],
        "198.51.100.1",
    );
    case(
        &mut input,
        syn6(42000, vip6),
        "ipip",
        B6.to_string(),
        B6_MAC,
        "2001:db8:1::1",
    );
    case(
        &mut input,
        syn4(43000, vip_4in6),
        "ipip",
        B6.to_string(),
        B6_MAC,
        "2001:db8:1::1",
    );
    write_pcap(&rx, &input);

    let config = format!(
        r#"{}
[[vip]]
address = "{vip_ipip}"
[[vip]]
address = "{vip_gue}"
[[vip]]
address = "{vip6}"
[[vip]]
address = "{vip_4in6}"
[[service]]
name = "web4"
vip = "{vip_ipip}"
protocol = "tcp"
port = 80
kind = "forward"
encap = "ipip"
[[service.backend]]
address = "{}"
[[service.backend]]
address = "{}"
[[service]]
name = "gue-udp"
vip = "{vip_gue}"
protocol = "udp"
port = 53
kind = "forward"
encap = "gue"
[[service.backend]]
address = "{}"
[[service]]
name = "gue-tcp"
vip = "{vip_gue}"
protocol = "tcp"
port = 80
kind = "forward"
encap = "gue"
[[service.backend]]
address = "{}"
[[service]]
name = "web6"
vip = "{vip6}"
protocol = "tcp"
port = 80
kind = "forward"
encap = "ipip"
[[service.backend]]
address = "{B6}"
[[service]]
name = "web4in6"
vip = "{vip_4in6}"
protocol = "tcp"
port = 80
kind = "forward"
encap = "ipip"
[[service.backend]]
address = "{B6}"
"#,
        common::pcap_port(
            "anyc-encap-pcap",
            &rx,
            &tx,
            r#""198.51.100.1/24", "2001:db8:1::1/64""#
        ),
        B4[0],
        B4[1],
        B4[1],
        B4[1],
    );
    let mut dp = Dataplane::start(&config);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let done = dp.stop();
    assert!(done.status.success(), "{}", done.stderr);

    // Fill in the 4in4 cases' backend from the output's destination MAC (one of the two backends;
    // 8 flows over 2 equal backends must use both).
    let out = read_pcap(&tx);
    let encapsulated: Vec<&Vec<u8>> = out
        .iter()
        .filter(|f| f[12..14] != [0x08, 0x06] && !(f[12..14] == [0x86, 0xdd] && f[20] == 58))
        .collect();
    let mut used = std::collections::BTreeSet::new();
    let cases: Vec<String> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if !c.contains("\"backend\": \"?\"") {
                return c.clone();
            }
            let f = encapsulated
                .get(i)
                .unwrap_or_else(|| panic!("missing output for case {i}: {}", done.stdout));
            let which = B4_MAC
                .iter()
                .position(|m| f[0..6] == *m)
                .unwrap_or_else(|| panic!("case {i}: unknown backend MAC {:02x?}", &f[0..6]));
            used.insert(which);
            c.replace(
                "\"backend\": \"?\"",
                &format!("\"backend\": \"{}\"", B4[which]),
            )
            .replace(
                "\"backend_mac\": \"00:00:00:00:00:00\"",
                &format!("\"backend_mac\": \"{}\"", mac_str(B4_MAC[which])),
            )
        })
        .collect();
    assert_eq!(
        used.len(),
        2,
        "8 flows over 2 equal backends all went to one: {used:?}"
    );
    std::fs::write(
        &expect,
        format!(
            r#"{{"port_mac": "{}", "cases": [{}]}}"#,
            mac_str(PCAP_MAC),
            cases.join(",")
        ),
    )
    .unwrap();
    let check = Command::new("/usr/bin/python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/scripts/check_encap.py"
        ))
        .args([&rx, &tx, &expect])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "scapy check failed:\n{report}\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        report.contains("12 encapsulated packets verified"),
        "{report}"
    );
    assert!(
        common::counter(&done.stdout, "total:", "forwarded") == 12,
        "{}",
        done.stdout
    );
}

fn to_port(mut f: Vec<u8>) -> Vec<u8> {
    f[0..6].copy_from_slice(&PCAP_MAC);
    f
}

/// One TCP packet with `payload` bytes of data (DF set) to an IPIP VIP through real DPDK
/// (net_pcap), with the port's `mtu` given as `mtu_line` (or not): the output frames, the
/// frame sent and the run's summary.
fn one_packet_through(
    tag: &str,
    mtu_line: &str,
    payload: usize,
) -> (Vec<Vec<u8>>, Vec<u8>, String) {
    let dir = tempfile::tempdir().unwrap();
    let (rx, tx) = (dir.path().join("in.pcap"), dir.path().join("out.pcap"));
    let vip = Ipv4Addr::new(203, 0, 113, 80);
    let full = to_port(dataplane::forward::frames::tcp4(
        CLIENT4,
        vip,
        40000,
        80,
        0x10,
        &vec![0x5a; payload],
    ));
    write_pcap(&rx, &[arp_reply(B4_MAC[0], B4[0]), full.clone()]);
    let config = format!(
        r#"{}{mtu_line}
[[vip]]
address = "{vip}"
[[service]]
name = "web4"
vip = "{vip}"
protocol = "tcp"
port = 80
kind = "forward"
encap = "ipip"
[[service.backend]]
address = "{}"
"#,
        common::pcap_port(tag, &rx, &tx, r#""198.51.100.1/24""#),
        B4[0],
    );
    let mut dp = Dataplane::start(&config);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let done = dp.stop();
    assert!(done.status.success(), "{}", done.stderr);
    (read_pcap(&tx), full, done.stdout)
}

#[test]
fn a_port_mtu_above_1500_carries_full_size_packets_in_ipip() {
    // mtu = 1520: the 1500-byte packet leaves whole inside 20 bytes of IPIP.
    let (out, full, summary) = one_packet_through("anyc-encap-mtu", "mtu = 1520", 1460);
    let tunnel: Vec<&Vec<u8>> = out.iter().filter(|f| f[12..14] == [8, 0]).collect();
    assert_eq!(tunnel.len(), 1, "{summary}");
    let f = tunnel[0];
    assert_eq!(f.len(), 14 + 20 + 1500, "{summary}");
    assert_eq!(&f[0..6], &B4_MAC[0]);
    assert_eq!(f[14 + 9], 4, "IPIP");
    assert_eq!(&f[34..], &full[14..], "the inner packet, byte for byte");
    assert_eq!(
        common::counter(&summary, "total:", "forwarded"),
        1,
        "{summary}"
    );

    // Ethernet's MTU (no key): IPIP would make 1520 bytes, so the client is told
    // "fragmentation needed" with the 1480 bytes that fit.
    let (out, _, summary) = one_packet_through("anyc-encap-mtu-default", "", 1460);
    let icmp: Vec<&Vec<u8>> = out
        .iter()
        .filter(|f| f[12..14] == [8, 0] && f[14 + 9] == 1)
        .collect();
    assert_eq!(icmp.len(), 1, "{summary}");
    let m = &icmp[0][34..];
    assert_eq!((m[0], m[1]), (3, 4), "fragmentation needed");
    assert_eq!(u16::from_be_bytes([m[6], m[7]]), 1480, "next-hop MTU");
    assert_eq!(&icmp[0][0..6], &full[6..12], "back to the client");
    assert_eq!(
        common::counter(&summary, "total:", "forwarded"),
        0,
        "{summary}"
    );
    assert_eq!(
        common::counter(&summary, "total:", "answered"),
        1,
        "{summary}"
    );
    assert_eq!(
        common::counter(&summary, "total:", "too_big_answered"),
        1,
        "{summary}"
    );

    // A jumbo port: the packet mbufs hold a 9000-byte packet in one segment.
    let (out, jumbo, summary) = one_packet_through("anyc-encap-mtu-jumbo", "mtu = 9000", 8940);
    let tunnel: Vec<&Vec<u8>> = out.iter().filter(|f| f[12..14] == [8, 0]).collect();
    assert_eq!(tunnel.len(), 1, "{summary}");
    assert_eq!(tunnel[0].len(), 14 + 9000, "{summary}");
    assert_eq!(&tunnel[0][34..], &jumbo[14..]);
}
