//! Traffic profiles: how the generator builds each frame, where it hides the TSC stamp, and how it
//! checks what comes back. Pure functions over byte slices, with no DPDK types, so they are unit
//! tested against the dataplane's own pipeline.
use std::net::Ipv4Addr;

use dataplane::packet::checksum;

/// A MAC address.
pub type Mac = [u8; 6];

/// The generator's MAC (set on its memif port with `mac=`).
pub const GEN_MAC: Mac = [0x02, 0, 0, 0, 0, 0x02];
/// The device under test's MAC (set on its memif port with `mac=`).
pub const DUT_MAC: Mac = [0x02, 0, 0, 0, 0, 0x01];
/// The DUT's node address (bench/configs/anycastd.toml).
pub const NODE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The VIP answering ARP and ICMP echo.
pub const ECHO_VIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
/// The VIP of the DNS service.
pub const DNS_VIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 53);
/// The VIP of the forward services (TCP 80, UDP 443).
pub const FWD_VIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 80);
/// Backends of the forward services are in 198.18.1.0/24.
pub const BACKEND_NET: [u8; 3] = [198, 18, 1];
/// First client address of the forward profiles (100.64.0.0/10 holds 4 Mi flows' addresses).
pub const FLOW_BASE: u32 = u32::from_be_bytes([100, 64, 0, 0]);
/// Flow addresses available above [`FLOW_BASE`].
pub const FLOW_SPAN: u32 = 1 << 22;

const ETH: usize = 14;
const IP: usize = ETH + 20;
/// Minimum frame without FCS.
const MIN_FRAME: usize = 60;
/// Magic bytes after the stamp, so a stamp is only read from our own payloads.
const MAGIC: [u8; 2] = [0xab, 0xcd];

/// What the generator sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// ARP requests for the echo VIP.
    Arp,
    /// ICMP echo requests to the echo VIP.
    Icmp,
    /// DNS queries to the DNS VIP: hits, NXDOMAIN, CNAME, EDNS, in turn.
    Dns,
    /// TCP to the forward VIP over N concurrent flows, a share of them new (SYN).
    ForwardTcp,
    /// UDP to the forward VIP over N concurrent flows.
    ForwardUdp,
    /// TCP SYNs to the forward VIP from random sources and ports.
    Flood,
}

impl Profile {
    /// Every profile, in table order.
    pub const ALL: [Profile; 6] = [
        Profile::Arp,
        Profile::Icmp,
        Profile::Dns,
        Profile::ForwardTcp,
        Profile::ForwardUdp,
        Profile::Flood,
    ];

    /// The name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Arp => "arp",
            Profile::Icmp => "icmp",
            Profile::Dns => "dns",
            Profile::ForwardTcp => "forward-tcp",
            Profile::ForwardUdp => "forward-udp",
            Profile::Flood => "flood",
        }
    }

    /// Parses a profile name.
    pub fn parse(s: &str) -> Result<Profile, String> {
        Profile::ALL
            .iter()
            .copied()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Profile::ALL.iter().map(|p| p.name()).collect();
                format!(
                    "unknown profile '{s}' (expected one of {})",
                    names.join(", ")
                )
            })
    }

    fn is_forward(self) -> bool {
        matches!(
            self,
            Profile::ForwardTcp | Profile::ForwardUdp | Profile::Flood
        )
    }
}

/// What the DUT is expected to do with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dut {
    /// `dpdk-testpmd --forward-mode=macswap`: the frame comes back with its MACs swapped.
    Macswap,
    /// anycastd: answers (ARP, ICMP, DNS) or IPIP-encapsulated forwards.
    Anycastd,
}

/// A small xorshift generator (no allocation, no dependencies).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator (a zero seed is replaced).
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// Next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// Builds frames for one profile. Templates are made once; each frame copies one and patches a
/// few fields (with incremental checksum updates).
#[derive(Debug)]
pub struct Builder {
    profile: Profile,
    templates: Vec<Vec<u8>>,
    flows: u32,
    /// New flows per 2^32 packets.
    new_threshold: u32,
    generations: Vec<u16>,
    /// Per flow slot of `forward-tcp` and `forward-udp`, the last validated frame's client port
    /// and backend ([`affinity_word`]; 0 before any): a flow's frames must all go to one
    /// backend.
    backends: Vec<u32>,
    /// Frames whose backend `backends` compared with an earlier frame's.
    affinity_checks: u64,
    rng: Rng,
    /// The `dns` mix, built once: validating an answer allocates nothing.
    dns: Vec<DnsCase>,
}

/// A flow's client port and backend (last address byte) as one word, never 0.
fn affinity_word(sport: u16, backend: u8) -> u32 {
    1 << 24 | u32::from(sport) << 8 | u32::from(backend)
}

fn ipv4_frame(src: Ipv4Addr, dst: Ipv4Addr, dst_mac: Mac, proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(IP + l4.len());
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&GEN_MAC);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let total = (20 + l4.len()) as u16;
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[6] = 0x40;
    ip[8] = 64;
    ip[9] = proto;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&dst.octets());
    let c = checksum::checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(l4);
    f
}

/// L4 checksum (TCP/UDP/ICMP) over the frame's IPv4 payload; ICMP has no pseudo-header.
fn l4_checksum(f: &[u8], l3: usize) -> u16 {
    let proto = f[l3 + 9];
    let total = usize::from(u16::from_be_bytes([f[l3 + 2], f[l3 + 3]]));
    let l4 = &f[l3 + 20..l3 + total];
    if proto == 1 {
        return checksum::checksum(l4);
    }
    let src: [u8; 4] = f[l3 + 12..l3 + 16].try_into().expect("4 bytes");
    let dst: [u8; 4] = f[l3 + 16..l3 + 20].try_into().expect("4 bytes");
    let acc = checksum::pseudo_v4(&src, &dst, proto, l4.len() as u16);
    checksum::finish(checksum::sum(acc, l4))
}

fn payload_pattern(j: usize) -> u8 {
    (j as u8).wrapping_mul(7) ^ 0x5a
}

/// Fills `f[start..]` with the stamp (4 bytes, zero in templates), magic and the pattern.
fn fill_payload(f: &mut [u8], start: usize) {
    for (j, b) in f[start..].iter_mut().enumerate() {
        *b = match j {
            0..=3 => 0,
            4 | 5 => MAGIC[j - 4],
            _ => payload_pattern(j),
        };
    }
}

#[inline]
fn word(f: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([f[off], f[off + 1]])
}

/// Writes a 16-bit word and updates the checksums at `csums` for it.
#[inline]
fn set_word(f: &mut [u8], off: usize, new: u16, csums: &[usize]) {
    let old = word(f, off);
    f[off..off + 2].copy_from_slice(&new.to_be_bytes());
    for &c in csums {
        let updated = checksum::update16(word(f, c), old, new);
        f[c..c + 2].copy_from_slice(&updated.to_be_bytes());
    }
}

/// Client address `i` of the answer profiles (198.51.100.10..=209).
fn client_ip(i: u64) -> Ipv4Addr {
    Ipv4Addr::new(198, 51, 100, 10 + (i % 200) as u8)
}

impl Builder {
    /// A builder for `profile` with frames of `size` bytes including FCS (64..=1518; DNS queries
    /// keep their natural size), over `flows` concurrent flows of which `new_share` (0..=1) of
    /// packets open a new one (forward profiles).
    pub fn new(profile: Profile, size: usize, flows: u32, new_share: f64, seed: u64) -> Builder {
        let len = size.saturating_sub(4).max(MIN_FRAME);
        let client = client_ip(0);
        let templates = match profile {
            Profile::Arp => {
                let mut f = Vec::with_capacity(len);
                f.extend_from_slice(&[0xff; 6]);
                f.extend_from_slice(&GEN_MAC);
                f.extend_from_slice(&0x0806u16.to_be_bytes());
                f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
                f.extend_from_slice(&GEN_MAC);
                f.extend_from_slice(&client.octets());
                f.extend_from_slice(&[0; 6]);
                f.extend_from_slice(&ECHO_VIP.octets());
                f.resize(len, 0);
                fill_payload(&mut f, 42);
                vec![f]
            }
            Profile::Icmp => {
                let mut l4 = vec![0u8; len - IP];
                l4[0] = 8;
                l4[4..6].copy_from_slice(&0x6e67u16.to_be_bytes());
                fill_payload(&mut l4, 8);
                let mut f = ipv4_frame(client, ECHO_VIP, DUT_MAC, 1, &l4);
                let c = l4_checksum(&f, ETH);
                f[IP + 2..IP + 4].copy_from_slice(&c.to_be_bytes());
                vec![f]
            }
            Profile::Dns => dns_cases()
                .iter()
                .map(|c| {
                    let mut msg = vec![0u8; 12];
                    msg[2] = 0x01; // RD
                    msg[5] = 1; // QDCOUNT
                    msg[11] = u8::from(c.edns); // ARCOUNT
                    msg.extend_from_slice(&c.qname);
                    msg.extend_from_slice(&c.qtype.to_be_bytes());
                    msg.extend_from_slice(&1u16.to_be_bytes());
                    if c.edns {
                        msg.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
                    }
                    let mut udp = vec![0u8; 8];
                    udp[0..2].copy_from_slice(&0x8000u16.to_be_bytes());
                    udp[2..4].copy_from_slice(&53u16.to_be_bytes());
                    udp[4..6].copy_from_slice(&((8 + msg.len()) as u16).to_be_bytes());
                    udp.extend_from_slice(&msg);
                    // UDP checksum 0 (none, RFC 768): the stamp in ID and port needs no update.
                    let mut f = ipv4_frame(client, DNS_VIP, DUT_MAC, 17, &udp);
                    if f.len() < MIN_FRAME {
                        f.resize(MIN_FRAME, 0);
                    }
                    f
                })
                .collect(),
            Profile::ForwardTcp | Profile::Flood => {
                let mut l4 = vec![0u8; (len - IP).max(20 + 6)];
                l4[0..2].copy_from_slice(&1024u16.to_be_bytes());
                l4[2..4].copy_from_slice(&80u16.to_be_bytes());
                l4[4..8].copy_from_slice(&1u32.to_be_bytes());
                l4[12] = 5 << 4;
                l4[13] = 0x10; // ACK
                l4[14..16].copy_from_slice(&65535u16.to_be_bytes());
                fill_payload(&mut l4, 20);
                let src = Ipv4Addr::from(FLOW_BASE);
                let mut f = ipv4_frame(src, FWD_VIP, DUT_MAC, 6, &l4);
                let c = l4_checksum(&f, ETH);
                f[IP + 16..IP + 18].copy_from_slice(&c.to_be_bytes());
                vec![f]
            }
            Profile::ForwardUdp => {
                let mut l4 = vec![0u8; (len - IP).max(8 + 6)];
                l4[0..2].copy_from_slice(&1024u16.to_be_bytes());
                l4[2..4].copy_from_slice(&443u16.to_be_bytes());
                let ulen = l4.len() as u16;
                l4[4..6].copy_from_slice(&ulen.to_be_bytes());
                fill_payload(&mut l4, 8);
                let src = Ipv4Addr::from(FLOW_BASE);
                let mut f = ipv4_frame(src, FWD_VIP, DUT_MAC, 17, &l4);
                let c = l4_checksum(&f, ETH);
                f[IP + 6..IP + 8].copy_from_slice(&c.to_be_bytes());
                vec![f]
            }
        };
        let flows = flows.clamp(1, FLOW_SPAN);
        Builder {
            profile,
            templates,
            flows,
            new_threshold: (new_share.clamp(0.0, 1.0) * f64::from(u32::MAX)) as u32,
            dns: if profile == Profile::Dns {
                dns_cases()
            } else {
                Vec::new()
            },
            generations: if profile.is_forward() {
                vec![0; flows as usize]
            } else {
                Vec::new()
            },
            backends: if matches!(profile, Profile::ForwardTcp | Profile::ForwardUdp) {
                vec![0; flows as usize]
            } else {
                Vec::new()
            },
            affinity_checks: 0,
            rng: Rng::new(seed),
        }
    }

    /// Validated frames whose flow's backend was checked against an earlier frame's.
    pub fn affinity_checks(&self) -> u64 {
        self.affinity_checks
    }

    /// Length of frame number `seq`.
    #[inline]
    pub fn len(&self, seq: u64) -> usize {
        self.templates[(seq % self.templates.len() as u64) as usize].len()
    }

    /// Writes frame number `seq` into `f` (exactly [`Builder::len`] bytes) with the 32-bit
    /// `stamp` (low TSC bits).
    #[inline]
    pub fn build(&mut self, f: &mut [u8], seq: u64, stamp: u32) {
        let t = &self.templates[(seq % self.templates.len() as u64) as usize];
        f.copy_from_slice(t);
        let sb = stamp.to_be_bytes();
        match self.profile {
            Profile::Arp => {
                f[28..32].copy_from_slice(&client_ip(seq).octets());
                f[42..46].copy_from_slice(&sb);
            }
            Profile::Icmp => {
                let c = [IP + 2];
                set_word(f, IP + 6, seq as u16, &c);
                set_word(f, IP + 8, (stamp >> 16) as u16, &c);
                set_word(f, IP + 10, stamp as u16, &c);
            }
            Profile::Dns => {
                // 31 stamp bits: ID = low 16, source port = 0x8000 | next 15.
                f[IP..IP + 2]
                    .copy_from_slice(&(0x8000 | ((stamp >> 16) as u16 & 0x7fff)).to_be_bytes());
                f[IP + 8..IP + 10].copy_from_slice(&(stamp as u16).to_be_bytes());
            }
            Profile::ForwardTcp | Profile::ForwardUdp | Profile::Flood => {
                let r = self.rng.next_u64();
                let (addr, sport, syn) = if self.profile == Profile::Flood {
                    let addr = FLOW_BASE + (r as u32 % FLOW_SPAN);
                    (addr, 1024 + ((r >> 32) as u16 % 64000), true)
                } else {
                    let slot = ((r >> 32) % u64::from(self.flows)) as usize;
                    let new = (r as u32) < self.new_threshold;
                    if new {
                        self.generations[slot] = self.generations[slot].wrapping_add(1);
                    }
                    let g = self.generations[slot];
                    (FLOW_BASE + slot as u32, 1024 + g % 64000, new)
                };
                let (l4csum, payload) = if self.profile == Profile::ForwardUdp {
                    (IP + 6, IP + 8)
                } else {
                    (IP + 16, IP + 20)
                };
                let both = [ETH + 10, l4csum];
                set_word(f, ETH + 12, (addr >> 16) as u16, &both);
                set_word(f, ETH + 14, addr as u16, &both);
                let l4 = [l4csum];
                set_word(f, IP, sport, &l4);
                set_word(f, payload, (stamp >> 16) as u16, &l4);
                set_word(f, payload + 2, stamp as u16, &l4);
                if self.profile != Profile::ForwardUdp && syn {
                    set_word(f, IP + 12, (5 << 12) | 0x02, &l4);
                }
            }
        }
    }

    /// The stamp carried by a frame that came back, and the mask of its valid bits.
    #[inline]
    pub fn stamp(&self, f: &[u8]) -> Option<(u32, u32)> {
        let at = |off: usize| -> Option<(u32, u32)> {
            let s = f.get(off..off + 6)?;
            (s[4..6] == MAGIC).then(|| (u32::from_be_bytes([s[0], s[1], s[2], s[3]]), u32::MAX))
        };
        match self.profile {
            Profile::Arp => at(42),
            Profile::Icmp => at(IP + 8),
            Profile::Dns => {
                if f.len() < IP + 12 {
                    return None;
                }
                // anycastd answers from port 53 to our port; macswap leaves our port first.
                let port = if word(f, IP) == 53 {
                    word(f, IP + 2)
                } else {
                    word(f, IP)
                };
                let id = word(f, IP + 8);
                Some((
                    (u32::from(port & 0x7fff) << 16) | u32::from(id),
                    0x7fff_ffff,
                ))
            }
            Profile::ForwardTcp | Profile::ForwardUdp | Profile::Flood => {
                let inner = if f.len() > IP && f[ETH + 9] == 4 {
                    20
                } else {
                    0
                };
                let l4 = if self.profile == Profile::ForwardUdp {
                    8
                } else {
                    20
                };
                at(IP + inner + l4)
            }
        }
    }
}

mod dns;
mod validate;
pub use dns::{dns_cases, DnsCase};

#[cfg(test)]
mod tests;
