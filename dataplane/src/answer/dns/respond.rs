//! Encodes a response into the query's own message bytes: header, the question kept in place,
//! the planned RRsets section by section (NSD's encode_answer truncation rules), and the OPT
//! record with NSID when asked.
use super::db::Db;
use super::query::{Edns, Query};
use super::resolve::{Owner, Plan, Section};
use super::wire::{
    CLASS_CH, CLASS_IN, FLAG_AA, FLAG_QR, FLAG_RD, FLAG_TC, HEADER_LEN, OPT_EDE, OPT_NSID,
    OUR_UDP_SIZE, TYPE_OPT, TYPE_TXT,
};
use super::writer::{OwnerName, Writer};

/// Bytes of an OPT record without options.
pub const OPT_LEN: usize = 11;

/// The OPT record to append.
#[derive(Debug, Clone, Copy)]
pub struct OptOut<'a> {
    /// Upper 8 bits of the extended RCODE.
    pub ext_rcode: u8,
    /// Echo the DO bit.
    pub dnssec_ok: bool,
    /// NSID payload, when the query asked for it.
    pub nsid: Option<&'a [u8]>,
    /// Extended DNS Error info code (RFC 8914), as NSD adds to REFUSED answers.
    pub ede: Option<u16>,
}

impl OptOut<'_> {
    /// Its size in the message.
    pub fn wire_len(&self) -> usize {
        self.rdlen() + OPT_LEN
    }

    fn rdlen(&self) -> usize {
        self.nsid.map_or(0, |n| 4 + n.len()) + self.ede.map_or(0, |_| 6)
    }
}

/// Builds the OPT to answer `edns` with.
pub fn opt_for<'a>(edns: &Option<Edns>, identity: &'a [u8], ext_rcode: u8) -> Option<OptOut<'a>> {
    edns.map(|e| OptOut {
        ext_rcode,
        dnssec_ok: e.dnssec_ok,
        nsid: e.nsid.then_some(identity),
        ede: None,
    })
}

/// Appends the OPT record (RFC 6891 §6.1.2) and counts it in ARCOUNT.
pub fn write_opt(w: &mut Writer<'_>, opt: &OptOut<'_>) -> bool {
    let ttl = (u32::from(opt.ext_rcode) << 24) | if opt.dnssec_ok { 0x8000 } else { 0 };
    let mut head = [0u8; OPT_LEN];
    head[1..3].copy_from_slice(&TYPE_OPT.to_be_bytes());
    head[3..5].copy_from_slice(&OUR_UDP_SIZE.to_be_bytes());
    head[5..9].copy_from_slice(&ttl.to_be_bytes());
    head[9..11].copy_from_slice(&(opt.rdlen() as u16).to_be_bytes());
    let mark = w.pos;
    let ok = w.bytes(&head).is_ok()
        && match opt.nsid {
            Some(n) => {
                w.bytes(&OPT_NSID.to_be_bytes()).is_ok()
                    && w.bytes(&(n.len() as u16).to_be_bytes()).is_ok()
                    && w.bytes(n).is_ok()
            }
            None => true,
        }
        && match opt.ede {
            Some(code) => {
                let mut o = [0u8; 6];
                o[0..2].copy_from_slice(&OPT_EDE.to_be_bytes());
                o[2..4].copy_from_slice(&2u16.to_be_bytes());
                o[4..6].copy_from_slice(&code.to_be_bytes());
                w.bytes(&o).is_ok()
            }
            None => true,
        };
    if !ok {
        w.pos = mark;
        return false;
    }
    let ar = w.get_u16(10);
    w.set_u16(10, ar.wrapping_add(1));
    true
}

/// Writes a header-only error response (NSD's query_error / query_formerr): no question.
pub fn error_response(w: &mut Writer<'_>, flags: u16, rcode: u8) {
    w.set_u16(2, (flags | FLAG_QR) & !0x0020 & !0x000f | u16::from(rcode));
    for at in [4, 6, 8, 10] {
        w.set_u16(at, 0);
    }
    w.pos = HEADER_LEN;
}

/// Encodes a resolved answer after the question. Returns true when truncated (TC).
pub fn encode_answer(w: &mut Writer<'_>, db: &Db, q: &Query, plan: &mut Plan) -> bool {
    let flags = FLAG_QR
        | (q.flags & FLAG_RD)
        | if plan.aa { FLAG_AA } else { 0 }
        | u16::from(plan.rcode & 0xf);
    w.set_u16(2, flags);
    w.set_u16(4, 1);
    for at in [6, 8, 10] {
        w.set_u16(at, 0);
    }
    w.pos = q.question_end;
    w.remember_name(HEADER_LEN);
    let mut counts = [0u16; 4];
    let mut tc = encode_sections(w, db, plan, &[Section::Answer], &mut counts);
    // A positive answer's authority and additional sections come pre-rendered per zone.
    let tail = db.tails.get(plan.tail as usize).and_then(Option::as_ref);
    let apex_len = db
        .zones
        .get(plan.tail as usize)
        .and_then(|z| db.node(z.apex))
        .map_or(0, |n| usize::from(n.name_len));
    let fast = !tc
        && match tail {
            Some(t) if q.qname_len >= apex_len => {
                t.write(w, HEADER_LEN + q.qname_len - apex_len, &mut counts)
            }
            _ => false,
        };
    if !tc && !fast {
        if tail.is_some() {
            super::resolve::plan_tail(db, plan.tail, plan);
        }
        tc = encode_sections(
            w,
            db,
            plan,
            &[
                Section::Authority,
                Section::AdditionalA,
                Section::AdditionalAaaa,
            ],
            &mut counts,
        );
    }
    w.set_u16(6, counts[0]);
    w.set_u16(8, counts[1]);
    w.set_u16(10, counts[2] + counts[3]);
    if tc {
        w.set_u16(2, w.get_u16(2) | FLAG_TC);
    }
    tc
}

/// Encodes the planned RRsets of `sections`, in order, adding to `counts`. An answer or
/// authority RRset that does not fit is dropped whole and ends encoding with TC (NSD's
/// packet_encode_rrset); additional records that do not fit are left out. Returns TC.
pub fn encode_sections(
    w: &mut Writer<'_>,
    db: &Db,
    plan: &Plan,
    sections: &[Section],
    counts: &mut [u16; 4],
) -> bool {
    for &section in sections {
        for item in plan.items().iter().filter(|i| i.section == section) {
            let Some(set) = db.rrsets.get(item.rrset as usize) else {
                continue;
            };
            let ttl = match item.owner {
                Owner::Node(apex) if item.negative => db
                    .node(apex)
                    .and_then(|n| db.zones.get(n.zone as usize))
                    .map_or(set.ttl, |z| z.neg_ttl),
                _ => set.ttl,
            };
            let owner_bytes;
            let owner = match item.owner {
                Owner::Qname => OwnerName::Pointer(HEADER_LEN as u16),
                Owner::Node(n) if n == plan.qname_node => OwnerName::Pointer(HEADER_LEN as u16),
                Owner::Node(n) => {
                    let Some(node) = db.node(n) else { continue };
                    owner_bytes = db.bytes(node.name, usize::from(node.name_len));
                    OwnerName::Name(owner_bytes)
                }
                Owner::Blob(off, len) => OwnerName::Name(db.bytes(off, usize::from(len))),
            };
            let mark = w.pos;
            let mut added = 0u16;
            let mut all = true;
            let mut pos = set.data as usize;
            let end = pos + set.data_len as usize;
            while pos + 2 <= end {
                let rdlen = usize::from(super::wire::get_u16(&db.blob, pos).unwrap_or(0));
                let rdata = db.bytes((pos + 2) as u32, rdlen);
                pos += 2 + rdlen;
                if w.record(owner, set.rtype, CLASS_IN, ttl, rdata).is_err() {
                    all = false;
                    break;
                }
                added += 1;
            }
            if !all && section <= Section::Authority {
                // NSD drops the whole RRset and sets TC; nothing more is encoded.
                w.pos = mark;
                return true;
            }
            counts[section as usize] += added;
        }
    }
    false
}

/// Encodes the CHAOS TXT answer carrying `identity` (id.server / hostname.bind); AA clear.
pub fn encode_chaos(w: &mut Writer<'_>, q: &Query, identity: &[u8], answer: bool) -> bool {
    let rcode = if answer {
        0
    } else {
        super::wire::RCODE_REFUSED
    };
    w.set_u16(2, FLAG_QR | (q.flags & FLAG_RD) | u16::from(rcode));
    w.set_u16(4, 1);
    for at in [6, 8, 10] {
        w.set_u16(at, 0);
    }
    w.pos = q.question_end;
    if !answer {
        return false;
    }
    let mut txt = [0u8; 256];
    let n = identity.len().min(255);
    txt[0] = n as u8;
    txt[1..1 + n].copy_from_slice(&identity[..n]);
    if w.record(
        OwnerName::Pointer(HEADER_LEN as u16),
        TYPE_TXT,
        CLASS_CH,
        0,
        &txt[..1 + n],
    )
    .is_ok()
    {
        w.set_u16(6, 1);
        false
    } else {
        w.set_u16(2, w.get_u16(2) | FLAG_TC);
        true
    }
}
