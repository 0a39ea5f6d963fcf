//! DNS unit tests on byte buffers: helpers to build queries, run them through
//! [`DnsService::handle`] inside Ethernet/IP/UDP frames, and read the responses back.
mod answers;
mod cache;
mod fast;
mod malformed;
mod service;
mod whole_bodies;
mod zone_fuzz;
mod zones;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use super::{DnsCounters, DnsService};
use crate::config::DnsServiceConfig;
use crate::packet::{checksum, parse, PacketBuffer, Parsed, TestBuffer};
use crate::snapshot::{LocalAddrs, PortSnapshot};
use crate::testutil::{self, CLIENT_MAC, PORT_MAC};
use crate::verdict::Verdict;

/// The repository's zone directory.
pub fn zones_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../configs/zones")
}

/// The service over the demo zones, identity "ams1".
pub fn service() -> DnsService {
    demo_service(false)
}

/// The same with minimal responses.
pub fn minimal_service() -> DnsService {
    demo_service(true)
}

fn demo_service(minimal_responses: bool) -> DnsService {
    DnsService::build(&DnsServiceConfig {
        zones: vec![
            zones_dir().join("example.test.zone"),
            zones_dir().join("2.0.192.in-addr.arpa.zone"),
        ],
        identity: "ams1".into(),
        minimal_responses,
    })
    .expect("demo zones load")
}

/// A port owning the test VIPs.
pub fn port() -> PortSnapshot {
    PortSnapshot {
        name: "edge0".into(),
        mac: PORT_MAC,
        local: LocalAddrs::new(&[
            "203.0.113.53".parse().unwrap(),
            "2001:db8:53::53".parse().unwrap(),
        ]),
        node: LocalAddrs::default(),
    }
}

/// Client and VIP addresses.
pub const CLIENT4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
/// The IPv4 VIP.
pub const VIP4: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 53);
/// The IPv6 client.
pub const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 7);
/// The IPv6 VIP.
pub const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0x53, 0, 0, 0, 0, 0x53);

/// Query options.
#[derive(Debug, Clone, Copy)]
pub struct Q {
    /// Header flags word.
    pub flags: u16,
    /// QCLASS.
    pub class: u16,
    /// EDNS: (udp size, version, DO, NSID).
    pub edns: Option<(u16, u8, bool, bool)>,
}

impl Default for Q {
    fn default() -> Self {
        Q {
            flags: 0x0100,
            class: 1,
            edns: None,
        }
    }
}

/// A query message for `name` (dotted text, case kept) and `qtype`.
pub fn query(name: &str, qtype: u16, o: Q) -> Vec<u8> {
    let mut m = vec![0x12, 0x34];
    m.extend_from_slice(&o.flags.to_be_bytes());
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, u8::from(o.edns.is_some())]);
    m.extend_from_slice(&super::name::from_text(name).expect("test name"));
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&o.class.to_be_bytes());
    if let Some((size, version, dnssec_ok, nsid)) = o.edns {
        m.push(0);
        m.extend_from_slice(&41u16.to_be_bytes());
        m.extend_from_slice(&size.to_be_bytes());
        m.extend_from_slice(&[0, version, if dnssec_ok { 0x80 } else { 0 }, 0]);
        if nsid {
            m.extend_from_slice(&[0, 4, 0, 3, 0, 0]);
        } else {
            m.extend_from_slice(&[0, 0]);
        }
    }
    m
}

/// A UDP datagram (checksum filled) inside an IPv6 frame to [`PORT_MAC`].
pub fn udp6(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&len.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let acc = checksum::pseudo_v6(&src.octets(), &dst.octets(), 17, u32::from(len));
    let c = checksum::finish(checksum::sum(acc, &u));
    let c = if c == 0 { 0xffff } else { c };
    u[6..8].copy_from_slice(&c.to_be_bytes());
    testutil::ipv6(PORT_MAC, src, dst, 17, 64, &u)
}

/// Runs a frame through the service; returns the verdict and the buffer.
pub fn run_frame(
    svc: &DnsService,
    frame: &[u8],
    counters: &mut DnsCounters,
) -> (Verdict, TestBuffer) {
    let mut buf = TestBuffer::new(frame);
    let ip = match parse(buf.data()).expect("valid frame") {
        Parsed::Ipv4(m) | Parsed::Ipv6(m) => m,
        other => panic!("not IP: {other:?}"),
    };
    let v = svc.handle(&mut buf, &ip, &port(), counters);
    (v, buf)
}

/// Checks the turned-around headers of an answered IPv4 frame and returns the DNS payload.
pub fn check_v4_reply(buf: &TestBuffer) -> Vec<u8> {
    let f = buf.data();
    assert_eq!(&f[0..6], &CLIENT_MAC, "dst MAC is the client's");
    assert_eq!(&f[6..12], &PORT_MAC, "src MAC is the port's");
    let Ok(Parsed::Ipv4(ip)) = parse(f) else {
        panic!("reply is not valid IPv4 (header checksum or lengths)")
    };
    assert_eq!(ip.src, std::net::IpAddr::V4(VIP4));
    assert_eq!(ip.dst, std::net::IpAddr::V4(CLIENT4));
    assert_eq!(ip.ttl, 64);
    assert_eq!(
        ip.l4_len + ip.l4,
        f.len(),
        "IP total length covers the frame"
    );
    let udp = &f[ip.l4..];
    assert_eq!(&udp[0..2], &53u16.to_be_bytes());
    assert_eq!(&udp[2..4], &40000u16.to_be_bytes());
    assert_eq!(usize::from(u16::from_be_bytes([udp[4], udp[5]])), udp.len());
    let acc = checksum::pseudo_v4(&VIP4.octets(), &CLIENT4.octets(), 17, udp.len() as u16);
    assert_eq!(
        checksum::finish(checksum::sum(acc, udp)),
        0,
        "UDP checksum verifies"
    );
    udp[8..].to_vec()
}

/// Asks the service over IPv4 and returns the DNS response (headers checked).
pub fn ask(svc: &DnsService, msg: &[u8]) -> Vec<u8> {
    let frame = testutil::udp4(CLIENT4, VIP4, 40000, 53, msg);
    let (v, buf) = run_frame(svc, &frame, &mut DnsCounters::default());
    assert_eq!(v, Verdict::Answer);
    check_v4_reply(&buf)
}

/// One record of a response, decompressed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rr {
    /// Owner, lowercase text.
    pub owner: String,
    /// Type.
    pub rtype: u16,
    /// Class.
    pub class: u16,
    /// TTL.
    pub ttl: u32,
    /// RDATA with NS/CNAME/PTR/MX/SOA names decompressed and lowercased.
    pub rdata: Vec<u8>,
}

/// A decoded response.
#[derive(Debug, Clone)]
pub struct Resp {
    /// ID.
    pub id: u16,
    /// Flags word.
    pub flags: u16,
    /// QDCOUNT.
    pub qd: u16,
    /// The question name as sent back (case kept), if any.
    pub qname: Option<String>,
    /// Sections.
    pub answer: Vec<Rr>,
    /// Authority.
    pub authority: Vec<Rr>,
    /// Additional (OPT included).
    pub additional: Vec<Rr>,
}

impl Resp {
    /// RCODE (header part only).
    pub fn rcode(&self) -> u8 {
        (self.flags & 0xf) as u8
    }
    /// AA.
    pub fn aa(&self) -> bool {
        self.flags & 0x0400 != 0
    }
    /// TC.
    pub fn tc(&self) -> bool {
        self.flags & 0x0200 != 0
    }
    /// The OPT record, if any.
    pub fn opt(&self) -> Option<&Rr> {
        self.additional.iter().find(|r| r.rtype == 41)
    }
    /// Answer records of a type.
    pub fn answers(&self, rtype: u16) -> Vec<&Rr> {
        self.answer.iter().filter(|r| r.rtype == rtype).collect()
    }
}

/// Reads a possibly compressed name; returns (text with case kept, wire lowercase, next pos).
pub fn read_name(msg: &[u8], mut pos: usize) -> (String, Vec<u8>, usize) {
    let mut text = String::new();
    let mut wire = Vec::new();
    let mut end = None;
    let mut hops = 0;
    loop {
        let len = msg[pos];
        if len & 0xc0 == 0xc0 {
            let target = (usize::from(len & 0x3f) << 8) | usize::from(msg[pos + 1]);
            assert!(target < pos, "pointers go backwards");
            end.get_or_insert(pos + 2);
            pos = target;
            hops += 1;
            assert!(hops < 64);
            continue;
        }
        wire.push(len);
        if len == 0 {
            break;
        }
        let label = &msg[pos + 1..pos + 1 + usize::from(len)];
        wire.extend(label.iter().map(|b| b.to_ascii_lowercase()));
        text.push_str(&String::from_utf8_lossy(label));
        text.push('.');
        pos += 1 + usize::from(len);
    }
    (text, wire, end.unwrap_or(pos + 1))
}

/// Decodes a response message (panics on malformed responses: they are test failures).
pub fn decode(msg: &[u8]) -> Resp {
    let u16at = |p: usize| u16::from_be_bytes([msg[p], msg[p + 1]]);
    let (qd, an, ns, ar) = (u16at(4), u16at(6), u16at(8), u16at(10));
    let mut pos = 12;
    let mut qname = None;
    for _ in 0..qd {
        let (t, _, p) = read_name(msg, pos);
        qname = Some(t);
        pos = p + 4;
    }
    let mut sections: [Vec<Rr>; 3] = Default::default();
    for (i, count) in [an, ns, ar].into_iter().enumerate() {
        for _ in 0..count {
            let (owner, _, p) = read_name(msg, pos);
            let rtype = u16at(p);
            let class = u16at(p + 2);
            let ttl = u32::from_be_bytes([msg[p + 4], msg[p + 5], msg[p + 6], msg[p + 7]]);
            let rdlen = usize::from(u16at(p + 8));
            let rd = p + 10;
            let rdata = match rtype {
                2 | 5 | 12 => read_name(msg, rd).1,
                15 => {
                    let mut v = msg[rd..rd + 2].to_vec();
                    v.extend(read_name(msg, rd + 2).1);
                    v
                }
                6 => {
                    let (_, a, p1) = read_name(msg, rd);
                    let (_, b, p2) = read_name(msg, p1);
                    let mut v = a;
                    v.extend(b);
                    v.extend_from_slice(&msg[p2..p2 + 20]);
                    v
                }
                _ => msg[rd..rd + rdlen].to_vec(),
            };
            pos = rd + rdlen;
            sections[i].push(Rr {
                owner: owner.to_ascii_lowercase(),
                rtype,
                class,
                ttl,
                rdata,
            });
        }
    }
    assert_eq!(pos, msg.len(), "no trailing bytes");
    let [answer, authority, additional] = sections;
    Resp {
        id: u16at(0),
        flags: u16at(2),
        qd,
        qname,
        answer,
        authority,
        additional,
    }
}

/// Asks and decodes.
pub fn ask_decoded(svc: &DnsService, name: &str, qtype: u16, o: Q) -> Resp {
    decode(&ask(svc, &query(name, qtype, o)))
}
