//! The kernel exception path: which frames a port with a punt TAP hands to the kernel instead of
//! dropping them. A pure function of (frame, port, the pipeline's drop reason), tested on bytes;
//! the worker does the I/O (punted frames go out on the TAP's queue, what the kernel sends on
//! the TAP goes out of the port).
//!
//! Punted: IPv4/IPv6 frames unicast to the port's MAC and addressed to one of the node's own
//! addresses (not a VIP) that the dataplane does not answer itself (BGP, ssh, ICMP echo replies
//! to the kernel's pings, NDP advertisements answering the kernel's solicitations), and ARP
//! replies for a node address (so the kernel resolves its neighbours; the dataplane keeps
//! answering ARP/NDP requests for the node's addresses with the same MAC).
use crate::packet::{parse, Parsed};
use crate::snapshot::PortSnapshot;
use crate::verdict::DropReason;

const ETH_HLEN: usize = 14;
const ARP_OP_REPLY: u16 = 2;

/// True when a frame the pipeline dropped for `reason` belongs to the kernel.
#[inline]
pub fn should_punt(frame: &[u8], port: &PortSnapshot, reason: DropReason) -> bool {
    if !matches!(
        reason,
        DropReason::NotForUs | DropReason::Unsupported | DropReason::NoService
    ) {
        return false;
    }
    match parse(frame) {
        Ok(Parsed::Arp) => {
            // Ethernet/IPv4 ARP: op at 6, target protocol address at 24 of the ARP header.
            let Some(arp) = frame.get(ETH_HLEN..ETH_HLEN + 28) else {
                return false;
            };
            let op = u16::from_be_bytes([arp[6], arp[7]]);
            let tpa = [arp[24], arp[25], arp[26], arp[27]];
            op == ARP_OP_REPLY && port.node.has_v4(&tpa)
        }
        Ok(Parsed::Ipv4(ip)) | Ok(Parsed::Ipv6(ip)) => {
            frame[0..6] == port.mac && port.node.has(&ip.dst)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::LocalAddrs;
    use std::net::IpAddr;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const PEER: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn port() -> PortSnapshot {
        let node: Vec<IpAddr> = vec![
            "198.51.100.1".parse().unwrap(),
            "2001:db8:1::1".parse().unwrap(),
        ];
        let mut local = node.clone();
        local.push("203.0.113.10".parse().unwrap());
        PortSnapshot {
            name: "edge0".into(),
            mac: MAC,
            local: LocalAddrs::new(&local),
            node: LocalAddrs::new(&node),
        }
    }

    fn eth(dst: [u8; 6], ethertype: u16) -> Vec<u8> {
        let mut f = dst.to_vec();
        f.extend_from_slice(&PEER);
        f.extend_from_slice(&ethertype.to_be_bytes());
        f
    }

    fn tcp4(dst_mac: [u8; 6], dst: [u8; 4], dport: u16) -> Vec<u8> {
        let mut f = eth(dst_mac, 0x0800);
        let mut ip = vec![
            0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 51, 100, 2, dst[0], dst[1], dst[2],
            dst[3],
        ];
        let c = crate::packet::checksum::checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&ip);
        let mut tcp = vec![0u8; 20];
        tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&dport.to_be_bytes());
        tcp[12] = 5 << 4;
        tcp[13] = 0x02;
        f.extend_from_slice(&tcp);
        f
    }

    fn tcp6(dst: &str) -> Vec<u8> {
        let mut f = eth(MAC, 0x86dd);
        let mut ip = vec![0x60, 0, 0, 0, 0, 20, 6, 64];
        ip.extend_from_slice(
            &"2001:db8:1::2"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets(),
        );
        ip.extend_from_slice(&dst.parse::<std::net::Ipv6Addr>().unwrap().octets());
        f.extend_from_slice(&ip);
        let mut tcp = vec![0u8; 20];
        tcp[2..4].copy_from_slice(&22u16.to_be_bytes());
        tcp[12] = 5 << 4;
        f.extend_from_slice(&tcp);
        f
    }

    fn arp(op: u16, tpa: [u8; 4]) -> Vec<u8> {
        let mut f = eth(if op == 1 { [0xff; 6] } else { MAC }, 0x0806);
        f.extend_from_slice(&[0, 1, 8, 0, 6, 4]);
        f.extend_from_slice(&op.to_be_bytes());
        f.extend_from_slice(&PEER);
        f.extend_from_slice(&[198, 51, 100, 2]);
        f.extend_from_slice(&if op == 1 { [0; 6] } else { MAC });
        f.extend_from_slice(&tpa);
        f
    }

    #[test]
    fn tcp_to_the_node_address_is_punted_but_not_to_a_vip_or_another_mac() {
        let p = port();
        let nfu = DropReason::NotForUs;
        assert!(should_punt(&tcp4(MAC, [198, 51, 100, 1], 179), &p, nfu));
        assert!(should_punt(&tcp4(MAC, [198, 51, 100, 1], 22), &p, nfu));
        assert!(should_punt(&tcp6("2001:db8:1::1"), &p, nfu));
        // A VIP without a service stays a drop (no_service), as does another host's traffic.
        assert!(!should_punt(
            &tcp4(MAC, [203, 0, 113, 10], 22),
            &p,
            DropReason::NoService
        ));
        assert!(!should_punt(&tcp4(MAC, [198, 51, 100, 9], 22), &p, nfu));
        assert!(!should_punt(&tcp6("2001:db8:1::9"), &p, nfu));
        assert!(!should_punt(&tcp4(PEER, [198, 51, 100, 1], 22), &p, nfu));
        // Broken frames are never handed on.
        for r in [DropReason::Malformed, DropReason::BadChecksum] {
            assert!(!should_punt(&tcp4(MAC, [198, 51, 100, 1], 22), &p, r));
        }
    }

    #[test]
    fn arp_replies_for_node_addresses_go_to_the_kernel_requests_do_not() {
        let p = port();
        let u = DropReason::Unsupported;
        assert!(should_punt(&arp(2, [198, 51, 100, 1]), &p, u));
        assert!(!should_punt(&arp(2, [203, 0, 113, 10]), &p, u));
        assert!(!should_punt(&arp(2, [198, 51, 100, 7]), &p, u));
        assert!(!should_punt(&arp(1, [198, 51, 100, 1]), &p, u));
        assert!(!should_punt(&arp(2, [198, 51, 100, 1])[..30], &p, u));
    }
}
