//! Parses a query message: header, the one question, and the OPT record (RFC 6891). Malformed
//! queries are classified the way NSD's query_process does.
use super::name::{read_question_name, NameError, MAX_NAME};
use super::wire::{get_u16, get_u32, HEADER_LEN, OPT_NSID, TYPE_OPT};

/// EDNS0 facts of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    /// The requestor's UDP payload size.
    pub udp_size: u16,
    /// EDNS version.
    pub version: u8,
    /// The DO bit.
    pub dnssec_ok: bool,
    /// An NSID option was present (RFC 5001).
    pub nsid: bool,
}

/// A parsed question.
#[derive(Debug, Clone, Copy)]
pub struct Query {
    /// Header flags (second 16-bit word).
    pub flags: u16,
    /// The question name, lowercase wire form (first `qname_len` bytes).
    pub qname_lower: [u8; MAX_NAME],
    /// Length of the question name.
    pub qname_len: usize,
    /// End of the question section in the message.
    pub question_end: usize,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
    /// EDNS, if an OPT record came with the query.
    pub edns: Option<Edns>,
}

impl Query {
    /// The opcode.
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xf) as u8
    }
    /// The lowercase question name.
    pub fn qname(&self) -> &[u8] {
        &self.qname_lower[..self.qname_len.min(MAX_NAME)]
    }
}

/// What to do with a message.
// The query lives on the stack for one packet: boxing it would allocate per query.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy)]
pub enum Parsed {
    /// Not a query we answer at all (too short for a header, QR set).
    Drop,
    /// FORMERR; `clear_flags` when NSD zeroes the flags (QDCOUNT ≠ 1).
    FormErr {
        /// Zero the flags but the opcode.
        clear_flags: bool,
    },
    /// NOTIMP: an opcode other than QUERY.
    NotImp,
    /// A well-formed query; EDNS version > 0 is answered BADVERS by the caller.
    Query(Query),
}

/// Skips a (possibly compressed) name in a record; returns the position after it.
fn skip_name(msg: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *msg.get(pos)?;
        match len & 0xc0 {
            0xc0 => return Some(pos + 2).filter(|&p| p <= msg.len()),
            0 if len == 0 => return Some(pos + 1),
            0 => pos += 1 + usize::from(len),
            _ => return None,
        }
    }
}

/// Parses `msg` (the UDP payload).
pub fn parse(msg: &[u8]) -> Parsed {
    if msg.len() < HEADER_LEN {
        return Parsed::Drop;
    }
    let flags = get_u16(msg, 2).unwrap_or(0);
    if flags & 0x8000 != 0 {
        return Parsed::Drop;
    }
    let qd = get_u16(msg, 4).unwrap_or(0);
    let an = get_u16(msg, 6).unwrap_or(0);
    let ns = get_u16(msg, 8).unwrap_or(0);
    let ar = get_u16(msg, 10).unwrap_or(0);
    let mut q = Query {
        flags,
        qname_lower: [0; MAX_NAME],
        qname_len: 0,
        question_end: 0,
        qtype: 0,
        qclass: 0,
        edns: None,
    };
    // NSD reads the question before anything else: a broken one is FORMERR.
    let (len, _labels) = match read_question_name(msg, HEADER_LEN, &mut q.qname_lower) {
        Ok(v) => v,
        Err(
            NameError::Truncated | NameError::BadLabel | NameError::Pointer | NameError::TooLong,
        ) => return Parsed::FormErr { clear_flags: false },
    };
    q.qname_len = len;
    let pos = HEADER_LEN + len;
    let (Some(qtype), Some(qclass)) = (get_u16(msg, pos), get_u16(msg, pos + 2)) else {
        return Parsed::FormErr { clear_flags: false };
    };
    q.qtype = qtype;
    q.qclass = qclass;
    q.question_end = pos + 4;
    if q.opcode() != 0 {
        return Parsed::NotImp;
    }
    if qd != 1 {
        return Parsed::FormErr { clear_flags: true };
    }
    if an != 0 || ns != 0 {
        return Parsed::FormErr { clear_flags: false };
    }
    // Additional section: at most one OPT, nothing else.
    let mut pos = q.question_end;
    for _ in 0..ar {
        let Some(after) = skip_name(msg, pos) else {
            return Parsed::FormErr { clear_flags: false };
        };
        let root_owner = after == pos + 1;
        let (Some(rtype), Some(class), Some(ttl), Some(rdlen)) = (
            get_u16(msg, after),
            get_u16(msg, after + 2),
            get_u32(msg, after + 4),
            get_u16(msg, after + 8),
        ) else {
            return Parsed::FormErr { clear_flags: false };
        };
        let rd = after + 10;
        let end = rd + usize::from(rdlen);
        if end > msg.len() || rtype != TYPE_OPT || !root_owner || q.edns.is_some() {
            return Parsed::FormErr { clear_flags: false };
        }
        let mut edns = Edns {
            udp_size: class,
            version: (ttl >> 16) as u8,
            dnssec_ok: ttl & 0x8000 != 0,
            nsid: false,
        };
        // Options: code, length, data.
        let mut o = rd;
        while o < end {
            let (Some(code), Some(olen)) = (get_u16(msg, o), get_u16(msg, o + 2)) else {
                return Parsed::FormErr { clear_flags: false };
            };
            o += 4 + usize::from(olen);
            if o > end {
                return Parsed::FormErr { clear_flags: false };
            }
            if code == OPT_NSID {
                edns.nsid = true;
            }
        }
        q.edns = Some(edns);
        pos = end;
    }
    Parsed::Query(q)
}
