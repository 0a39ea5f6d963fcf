//! The `dns` profile's queries and the validation of their answers: header, question, the
//! answer records themselves (owner, type, data; CNAME targets decompressed), so an answer
//! with the right counts but the wrong records fails, and every record the header counts.
use super::validate::ipv4_ok;
use super::{l4_checksum, word, DNS_VIP, ETH, IP};

/// An answer record a response must hold (in any order within the answer section).
#[derive(Debug, Clone)]
pub struct Record {
    /// Owner name in wire format.
    pub owner: Vec<u8>,
    /// Record type.
    pub rtype: u16,
    /// RDATA; for a CNAME, the target in wire format (compared decompressed).
    pub rdata: Vec<u8>,
}

/// One DNS query of the `dns` mix and what the answer must hold.
#[derive(Debug, Clone)]
pub struct DnsCase {
    /// Short name for error messages.
    pub label: &'static str,
    /// The question's name in wire format.
    pub qname: Vec<u8>,
    /// Query type.
    pub qtype: u16,
    /// Whether the query carries an EDNS OPT record.
    pub edns: bool,
    /// Expected RCODE.
    pub rcode: u8,
    /// The answer section, exactly (its length is the expected ANCOUNT).
    pub answers: Vec<Record>,
}

/// `name` (dotted) in DNS wire format.
pub fn wire_name(name: &str) -> Vec<u8> {
    let mut w = Vec::new();
    for label in name.trim_end_matches('.').split('.') {
        w.push(label.len() as u8);
        w.extend_from_slice(label.as_bytes());
    }
    w.push(0);
    w
}

const TYPE_A: u16 = 1;
const TYPE_SOA: u16 = 6;
const TYPE_CNAME: u16 = 5;
const TYPE_AAAA: u16 = 28;
const TYPE_OPT: u16 = 41;

fn record(owner: &str, rtype: u16, rdata: Vec<u8>) -> Record {
    Record {
        owner: wire_name(owner),
        rtype,
        rdata,
    }
}

/// The `dns` mix over configs/zones/example.test.zone.
pub fn dns_cases() -> Vec<DnsCase> {
    let www = || [80, 81].map(|last| record("www.example.test", TYPE_A, vec![192, 0, 2, last]));
    let mail6: std::net::Ipv6Addr = "2001:db8::25".parse().expect("address");
    vec![
        DnsCase {
            label: "hit www A",
            qname: wire_name("www.example.test"),
            qtype: TYPE_A,
            edns: false,
            rcode: 0,
            answers: www().to_vec(),
        },
        DnsCase {
            label: "nxdomain",
            qname: wire_name("nothere.example.test"),
            qtype: TYPE_A,
            edns: false,
            rcode: 3,
            answers: Vec::new(),
        },
        DnsCase {
            label: "cname alias A",
            qname: wire_name("alias.example.test"),
            qtype: TYPE_A,
            edns: false,
            rcode: 0,
            answers: [record(
                "alias.example.test",
                TYPE_CNAME,
                wire_name("www.example.test"),
            )]
            .into_iter()
            .chain(www())
            .collect(),
        },
        DnsCase {
            label: "edns mail AAAA",
            qname: wire_name("mail.example.test"),
            qtype: TYPE_AAAA,
            edns: true,
            rcode: 0,
            answers: vec![record(
                "mail.example.test",
                TYPE_AAAA,
                mail6.octets().to_vec(),
            )],
        },
    ]
}

/// The longest name in wire format.
const MAX_NAME: usize = 255;

/// The name at `at` in message `m`, decompressed into `out`: its length there and the offset
/// just after it in place. Bounded: at most 16 pointers, 255 bytes.
pub(super) fn read_name(
    m: &[u8],
    at: usize,
    out: &mut [u8; MAX_NAME],
) -> Result<(usize, usize), String> {
    let (mut pos, mut len, mut after, mut hops) = (at, 0, None, 0);
    loop {
        let l = *m.get(pos).ok_or("name runs past the message")?;
        match l {
            0 => {
                *out.get_mut(len).ok_or("name longer than 255 bytes")? = 0;
                return Ok((len + 1, after.unwrap_or(pos + 1)));
            }
            1..=63 => {
                let label = m
                    .get(pos..pos + 1 + usize::from(l))
                    .ok_or("label runs past the message")?;
                out.get_mut(len..len + label.len())
                    .ok_or("name longer than 255 bytes")?
                    .copy_from_slice(label);
                len += label.len();
                pos += label.len();
            }
            0xc0..=0xff => {
                hops += 1;
                if hops > 16 {
                    return Err("compression pointer loop".into());
                }
                let low = *m.get(pos + 1).ok_or("pointer runs past the message")?;
                after.get_or_insert(pos + 2);
                pos = usize::from(u16::from_be_bytes([l, low]) & 0x3fff);
            }
            _ => return Err(format!("label type {l:#04x}")),
        }
    }
}

/// One resource record at `at`: owner (decompressed into `owner`, its length), type, RDATA
/// offset and length, and the offset after the record.
fn read_record(
    m: &[u8],
    at: usize,
    owner: &mut [u8; MAX_NAME],
) -> Result<(usize, u16, usize, usize, usize), String> {
    let (owner_len, fixed) = read_name(m, at, owner)?;
    if m.len() < fixed + 10 {
        return Err("record runs past the message".into());
    }
    let rdlen = usize::from(word(m, fixed + 8));
    let rdata = fixed + 10;
    if m.len() < rdata + rdlen {
        return Err("RDATA runs past the message".into());
    }
    Ok((owner_len, word(m, fixed), rdata, rdlen, rdata + rdlen))
}

/// Checks the answer section at `at` against `want` (any order); returns the offset after it.
fn check_answers(m: &[u8], mut at: usize, case: &DnsCase) -> Result<usize, String> {
    let (mut owner, mut target) = ([0u8; MAX_NAME], [0u8; MAX_NAME]);
    let mut matched = 0u32;
    for i in 0..case.answers.len() {
        let (owner_len, rtype, rdata, rdlen, next) = read_record(m, at, &mut owner)?;
        let data = match rtype {
            TYPE_CNAME => {
                let (n, _) = read_name(m, rdata, &mut target)?;
                &target[..n]
            }
            _ => &m[rdata..rdata + rdlen],
        };
        let found = case.answers.iter().enumerate().position(|(k, r)| {
            matched & (1 << k) == 0
                && r.rtype == rtype
                && r.owner.eq_ignore_ascii_case(&owner[..owner_len])
                && r.rdata.eq_ignore_ascii_case(data)
        });
        let Some(k) = found else {
            return Err(format!(
                "{}: answer {i} (type {rtype}, data {data:02x?}) is none of the expected",
                case.label
            ));
        };
        matched |= 1 << k;
        at = next;
    }
    Ok(at)
}

/// Checks a response to one of the `cases` queries in frame `f`.
pub fn validate_dns(f: &[u8], cases: &[DnsCase]) -> Result<(), String> {
    ipv4_ok(f, ETH)?;
    if f[ETH + 9] != 17 || f[ETH + 12..ETH + 16] != DNS_VIP.octets() || word(f, IP) != 53 {
        return Err("not UDP from the DNS VIP port 53".into());
    }
    let total = usize::from(word(f, ETH + 2));
    let ulen = usize::from(word(f, IP + 4));
    if ulen + 20 != total {
        return Err("UDP length does not match the IPv4 length".into());
    }
    if word(f, IP + 6) != 0 && l4_checksum(f, ETH) != 0 {
        return Err("UDP checksum is wrong".into());
    }
    let m = match f.get(IP + 8..ETH + total) {
        Some(m) if m.len() >= 12 => m,
        _ => return Err("DNS message shorter than its header".into()),
    };
    let flags = word(m, 2);
    if flags & 0x8000 == 0 || (flags >> 11) & 0xf != 0 {
        return Err(format!("DNS flags {flags:#06x}: not a QUERY response"));
    }
    if word(m, 4) != 1 {
        return Err("QDCOUNT is not 1".into());
    }
    let rest = &m[12..];
    let case = cases
        .iter()
        .find(|c| {
            rest.len() >= c.qname.len() + 4
                && rest[..c.qname.len()].eq_ignore_ascii_case(&c.qname)
                && word(rest, c.qname.len()) == c.qtype
        })
        .ok_or("the question is none of ours")?;
    let rcode = (flags & 0xf) as u8;
    if rcode != case.rcode {
        return Err(format!(
            "{}: RCODE {rcode}, expected {}",
            case.label, case.rcode
        ));
    }
    if flags & 0x0400 == 0 {
        return Err(format!("{}: AA not set", case.label));
    }
    let an = word(m, 6);
    if usize::from(an) != case.answers.len() {
        return Err(format!(
            "{}: {an} answers, expected {}",
            case.label,
            case.answers.len()
        ));
    }
    // The authority and additional sections: every record the counts promise, read to the
    // message's end; the first authority record an SOA in an NXDOMAIN, an OPT (root owner)
    // among the additional records when the query had EDNS.
    let (ns, ar) = (usize::from(word(m, 8)), usize::from(word(m, 10)));
    let mut at = check_answers(m, 12 + case.qname.len() + 4, case)?;
    let (mut soa, mut opt, mut owner) = (false, false, [0u8; MAX_NAME]);
    for i in 0..ns + ar {
        let (owner_len, rtype, _, _, next) = read_record(m, at, &mut owner)
            .map_err(|e| format!("{}: record {i} after the answers: {e}", case.label))?;
        soa |= i == 0 && ns > 0 && rtype == TYPE_SOA;
        opt |= i >= ns && rtype == TYPE_OPT && owner_len == 1;
        at = next;
    }
    if at != m.len() {
        return Err(format!(
            "{}: {} bytes after the last record",
            case.label,
            m.len() - at
        ));
    }
    if case.rcode == 3 && !soa {
        return Err(format!("{}: NXDOMAIN without an SOA", case.label));
    }
    if case.edns && !opt {
        return Err(format!("{}: EDNS query answered without OPT", case.label));
    }
    Ok(())
}
