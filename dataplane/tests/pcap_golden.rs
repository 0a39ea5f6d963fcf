//! Through real DPDK with net_pcap: a pcap of mixed traffic in, the output pcap must hold exactly
//! the expected replies (every ARP request and echo for our addresses answered, nothing else).
mod common;

use std::net::Ipv4Addr;

use common::{counter, read_pcap, write_pcap, Dataplane};
use dataplane::packet::checksum;
use dataplane::testutil::{arp_request, ethernet, icmp4, ipv4, udp4, CLIENT_MAC};

/// net_pcap's first port MAC (02:70:63:61:70:00, "pcap"); the test checks the log agrees.
const PCAP_MAC: [u8; 6] = [0x02, 0x70, 0x63, 0x61, 0x70, 0x00];
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const NODE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const VIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);

fn to_port(mut f: Vec<u8>) -> Vec<u8> {
    f[0..6].copy_from_slice(&PCAP_MAC);
    f
}

fn arp_reply(for_ip: Ipv4Addr) -> Vec<u8> {
    let mut f = ethernet(CLIENT_MAC, PCAP_MAC, 0x0806);
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 2]);
    f.extend_from_slice(&PCAP_MAC);
    f.extend_from_slice(&for_ip.octets());
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&CLIENT.octets());
    f.resize(60, 0);
    f
}

fn echo_reply(from: Ipv4Addr, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut f = ipv4(
        CLIENT_MAC,
        from,
        CLIENT,
        1,
        64,
        &icmp4(0, 0, 0x4242, seq, data),
    );
    f[6..12].copy_from_slice(&PCAP_MAC);
    f
}

fn echo(to: Ipv4Addr, seq: u16, data: &[u8]) -> Vec<u8> {
    to_port(ipv4(
        PCAP_MAC,
        CLIENT,
        to,
        1,
        64,
        &icmp4(8, 0, 0x4242, seq, data),
    ))
}

#[test]
fn mixed_traffic_in_exact_replies_out() {
    let dir = tempfile::tempdir().unwrap();
    let rx = dir.path().join("in.pcap");
    let tx = dir.path().join("out.pcap");
    let mut input = Vec::new();
    let mut expected = Vec::new();
    // Answered: ARP for the VIP and the node address, echoes of several sizes to both.
    input.push(arp_request(CLIENT_MAC, CLIENT, VIP));
    expected.push(arp_reply(VIP));
    input.push(arp_request(CLIENT_MAC, CLIENT, NODE));
    expected.push(arp_reply(NODE));
    for seq in 0..20u16 {
        let data: Vec<u8> = (0..(seq as usize * 70)).map(|i| i as u8).collect();
        let to = if seq % 2 == 0 { VIP } else { NODE };
        input.push(echo(to, seq, &data));
        expected.push(echo_reply(to, seq, &data));
    }
    // Not answered: each must be dropped and counted.
    input.push(arp_request(
        CLIENT_MAC,
        CLIENT,
        Ipv4Addr::new(198, 51, 100, 77),
    )); // not ours
    input.push(echo(Ipv4Addr::new(203, 0, 113, 99), 1, b"other")); // not ours
    let mut wrong_mac = echo(VIP, 2, b"mac");
    wrong_mac[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x99]);
    input.push(wrong_mac); // not_for_us
    let mut bad_icmp = echo(VIP, 3, b"bad icmp sum");
    let n = bad_icmp.len();
    bad_icmp[n - 1] ^= 0x55;
    input.push(bad_icmp); // bad_checksum
    let mut bad_ip = echo(VIP, 4, b"bad ip sum");
    bad_ip[24] ^= 0x55;
    input.push(bad_ip); // bad_checksum
    let mut bad_ihl = echo(VIP, 5, b"ihl");
    bad_ihl[14] = 0x43;
    input.push(bad_ihl); // malformed
    input.push(to_port(vec![0x02; 10])); // malformed: short frame
    input.push(to_port(ipv4(
        PCAP_MAC,
        CLIENT,
        VIP,
        1,
        64,
        &icmp4(13, 0, 1, 1, &[0; 12]),
    ))); // unsupported
    input.push(to_port(udp4(CLIENT, VIP, 4000, 9, b"discard"))); // no_service
    input.push(to_port(ethernet(PCAP_MAC, CLIENT_MAC, 0x88cc))); // unsupported (LLDP)
    let mut truncated = echo(VIP, 6, b"truncated payload");
    truncated.truncate(40);
    input.push(truncated); // malformed: IP total length beyond frame
    write_pcap(&rx, &input);

    let config = format!(
        r#"{}
[[vip]]
address = "203.0.113.10"
"#,
        common::pcap_port("anyc-pcap-golden", &rx, &tx, r#""198.51.100.1/24""#)
    );
    let mut dp = Dataplane::start(&config);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let done = dp.stop();
    assert!(done.status.success(), "{:?}\n{}", done.status, done.stderr);
    assert!(
        done.stderr.contains("mac=\"02:70:63:61:70:00\""),
        "net_pcap MAC changed; update PCAP_MAC:\n{}",
        done.stderr
    );

    let output = read_pcap(&tx);
    assert_eq!(output.len(), expected.len(), "replies: {output:02x?}");
    for (i, (got, want)) in output.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "reply {i} differs");
    }
    // An independent decoder agrees the replies are well-formed with valid checksums.
    for f in &output[2..] {
        let p = etherparse::SlicedPacket::from_ethernet(f).expect("etherparse");
        let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
            panic!("not ipv4")
        };
        assert_eq!(checksum::checksum(ip.header().slice()), 0);
        assert_eq!(ip.header().destination_addr(), CLIENT);
    }

    let s = &done.stdout;
    assert_eq!(counter(s, "total:", "rx"), input.len() as u64, "{s}");
    assert_eq!(
        counter(s, "total:", "answered"),
        expected.len() as u64,
        "{s}"
    );
    assert_eq!(counter(s, "total:", "tx"), expected.len() as u64, "{s}");
    assert_eq!(counter(s, "total:", "not_for_us"), 3, "{s}");
    assert_eq!(counter(s, "total:", "bad_checksum"), 2, "{s}");
    assert_eq!(counter(s, "total:", "malformed"), 3, "{s}");
    assert_eq!(counter(s, "total:", "unsupported"), 2, "{s}");
    assert_eq!(counter(s, "total:", "no_service"), 1, "{s}");
}
