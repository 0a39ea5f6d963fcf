//! Checking what comes back: a DUT's answer (or forward) to one of the generator's frames, or
//! testpmd's macswapped frame, down to the bytes that must be there (DNS answers in
//! [`super::dns`]).
use std::net::Ipv4Addr;

use dataplane::packet::checksum;

use super::dns::validate_dns;
use super::{
    affinity_word, l4_checksum, payload_pattern, word, Builder, Dut, Profile, BACKEND_NET, DUT_MAC,
    ECHO_VIP, ETH, FLOW_BASE, FLOW_SPAN, FWD_VIP, GEN_MAC, IP, MAGIC, MIN_FRAME, NODE,
};

impl Builder {
    /// Checks a frame that came back: `Ok` when it is a correct answer (or forward, or macswapped
    /// echo) to one of our frames. A forwarded frame of a flow that an earlier validated frame
    /// saw go to another backend is an error (`forward-tcp`, `forward-udp`).
    pub fn validate(&mut self, f: &[u8], dut: Dut) -> Result<(), String> {
        if f.len() < MIN_FRAME {
            return Err(format!("runt frame of {} bytes", f.len()));
        }
        if f[0..6] != GEN_MAC {
            return Err(format!("destination MAC {:02x?} is not ours", &f[0..6]));
        }
        if dut == Dut::Macswap {
            let t = &self.templates[0];
            if f[12..14] != t[12..14] {
                return Err("ethertype changed".into());
            }
            if self.stamp(f).is_none() && self.profile != Profile::Dns {
                return Err("stamp or magic lost".into());
            }
            return Ok(());
        }
        if f[6..12] != DUT_MAC {
            return Err(format!("source MAC {:02x?} is not the DUT's", &f[6..12]));
        }
        match self.profile {
            Profile::Arp => validate_arp(f),
            Profile::Icmp => validate_icmp(f, self.templates[0].len()),
            Profile::Dns => validate_dns(f, &self.dns),
            _ => self.validate_forward(f),
        }
    }

    fn validate_forward(&mut self, f: &[u8]) -> Result<(), String> {
        ipv4_ok(f, ETH)?;
        if f[ETH + 9] == 1 && f.len() >= ETH + 28 && f[ETH + 20..ETH + 22] == [3, 4] {
            let mtu = u16::from_be_bytes([f[ETH + 26], f[ETH + 27]]);
            return Err(format!(
                "ICMP fragmentation needed (next-hop MTU {mtu}) instead of IPIP: the frame \
                 with its tunnel header is over the DUT port's MTU (a smaller --size, or a \
                 larger mtu on the DUT)"
            ));
        }
        if f[ETH + 9] != 4 {
            return Err(format!("outer protocol {} is not IPIP", f[ETH + 9]));
        }
        if f[ETH + 12..ETH + 16] != NODE.octets() {
            return Err(format!(
                "outer source {:?} is not the node",
                &f[ETH + 12..ETH + 16]
            ));
        }
        if f[ETH + 16..ETH + 19] != BACKEND_NET {
            return Err(format!(
                "outer destination {:?} is no backend",
                &f[ETH + 16..ETH + 20]
            ));
        }
        let inner = IP;
        ipv4_ok(f, inner)?;
        let src = u32::from_be_bytes(f[inner + 12..inner + 16].try_into().expect("4 bytes"));
        if !(FLOW_BASE..FLOW_BASE + FLOW_SPAN).contains(&src) {
            return Err(format!(
                "inner source {} is not a flow address",
                Ipv4Addr::from(src)
            ));
        }
        if f[inner + 16..inner + 20] != FWD_VIP.octets() {
            return Err("inner destination is not the VIP".into());
        }
        let (proto, dport, l4len) = if self.profile == Profile::ForwardUdp {
            (17, 443, 8)
        } else {
            (6, 80, 20)
        };
        if f[inner + 9] != proto || word(f, inner + 22) != dport {
            return Err("inner protocol or port changed".into());
        }
        // The inner packet as sent, whole (which also puts its L4 header inside it).
        let end = inner + usize::from(word(f, inner + 2));
        let sent = self.templates[0].len() - ETH;
        if end - inner != sent {
            return Err(format!(
                "inner packet of {} bytes for {sent} sent",
                end - inner
            ));
        }
        if l4_checksum(f, inner) != 0 && !(proto == 17 && word(f, inner + 26) == 0) {
            return Err("inner L4 checksum is wrong".into());
        }
        check_payload(f, inner + 20 + l4len, end)?;
        self.check_affinity(f, src - FLOW_BASE)
    }

    /// The backend of flow slot `slot` in forwarded frame `f` is the one its last validated frame
    /// went to, unless that was an earlier flow of the slot (another client port).
    fn check_affinity(&mut self, f: &[u8], slot: u32) -> Result<(), String> {
        let Some(last) = self.backends.get_mut(slot as usize) else {
            return Ok(());
        };
        let sport = word(f, IP + 20);
        let backend = f[ETH + 19];
        let now = affinity_word(sport, backend);
        let before = std::mem::replace(last, now);
        if before >> 8 != now >> 8 {
            return Ok(());
        }
        self.affinity_checks += 1;
        if before != now {
            let [a, b, c] = BACKEND_NET;
            return Err(format!(
                "flow {}:{sport} went to backend {}, and before to {}",
                Ipv4Addr::from(FLOW_BASE + slot),
                Ipv4Addr::new(a, b, c, backend),
                Ipv4Addr::new(a, b, c, before as u8)
            ));
        }
        Ok(())
    }
}

pub(super) fn ipv4_ok(f: &[u8], l3: usize) -> Result<(), String> {
    if f.len() < l3 + 20 || f[l3 - 2..l3] != [8, 0] && l3 == ETH {
        return Err("not IPv4".into());
    }
    if f[l3] != 0x45 {
        return Err(format!("IPv4 version/IHL byte {:#x}", f[l3]));
    }
    if checksum::checksum(&f[l3..l3 + 20]) != 0 {
        return Err("IPv4 header checksum is wrong".into());
    }
    let total = usize::from(word(f, l3 + 2));
    if l3 + total > f.len() || total < 20 {
        return Err(format!("IPv4 total length {total} does not fit the frame"));
    }
    Ok(())
}

fn validate_arp(f: &[u8]) -> Result<(), String> {
    if f[12..14] != [8, 6] {
        return Err("not ARP".into());
    }
    if f[14..22] != [0, 1, 8, 0, 6, 4, 0, 2] {
        return Err(format!("ARP header {:02x?} is not a reply", &f[14..22]));
    }
    if f[22..28] != DUT_MAC || f[28..32] != ECHO_VIP.octets() {
        return Err("ARP sender is not the VIP at the DUT's MAC".into());
    }
    if f[32..38] != GEN_MAC || f[38..41] != [198, 51, 100] {
        return Err("ARP target is not the asker".into());
    }
    Ok(())
}

fn validate_icmp(f: &[u8], sent_len: usize) -> Result<(), String> {
    ipv4_ok(f, ETH)?;
    if f[ETH + 9] != 1
        || f[ETH + 12..ETH + 16] != ECHO_VIP.octets()
        || f[ETH + 16..ETH + 19] != [198, 51, 100]
    {
        return Err("not ICMP from the VIP to a client".into());
    }
    let total = usize::from(word(f, ETH + 2));
    if ETH + total != sent_len {
        return Err(format!(
            "echo reply of {} bytes for a {sent_len}-byte request",
            ETH + total
        ));
    }
    if f[IP] != 0 || f[IP + 1] != 0 {
        return Err(format!("ICMP type/code {}/{}", f[IP], f[IP + 1]));
    }
    if l4_checksum(f, ETH) != 0 {
        return Err("ICMP checksum is wrong".into());
    }
    if word(f, IP + 4) != 0x6e67 {
        return Err("echo identifier changed".into());
    }
    check_payload(f, IP + 8, ETH + total)
}

fn check_payload(f: &[u8], start: usize, end: usize) -> Result<(), String> {
    if end > f.len() || start + 6 > end {
        return Err(format!("payload truncated ({} bytes)", f.len()));
    }
    if f[start + 4..start + 6] != MAGIC {
        return Err("payload magic changed".into());
    }
    if let Some(j) = (6..end - start).find(|&j| f[start + j] != payload_pattern(j)) {
        return Err(format!("payload byte {j} changed"));
    }
    Ok(())
}
