//! The fast answer path: common questions answered from bytes rendered at zone compile time by
//! the general encoder itself, so the output is byte for byte what [`super::respond`] writes.
//!
//! - An exact match of a type without names in its RDATA (A, AAAA, TXT, ...): the answer
//!   records are copied from the RRset (owner `c00c`), then the zone's pre-rendered tail
//!   ([`super::tail::Tail`]).
//! - A CNAME node asked for A or AAAA: the whole chain, rendered per node
//!   ([`super::prerender::Pre`]).
//! - NXDOMAIN and NODATA: the zone's negative SOA, rendered once per zone with its pointers
//!   fixed up per query ([`super::prerender::Negative`]); referrals likewise, and plain-type
//!   wildcard answers. NXDOMAIN for a name one label under an apex is a whole body
//!   ([`super::under_apex`]), and so are the first cuts' referrals and the first wildcards'
//!   plain RRsets under a name one label down ([`super::offset_bodies`]).
//!
//! Everything else (NSID, ANY, DS, wildcard CNAMEs, truncation, other classes, malformed
//! queries) returns `None` before touching the buffer and takes the general path.
//! The UDP checksum is built from the sums of the pieces rather than by reading the response
//! again.
use super::db::{Db, NONE, WILDCARD};
use super::name::{self, MAX_NAME};
use super::prerender::PRE_TYPES;
use super::respond::OPT_LEN;
use super::tail::{fold16, Tail};
use super::wire::{
    CLASSIC_UDP_SIZE, CLASS_IN, FLAG_AA, FLAG_QR, FLAG_RD, HEADER_LEN, OPT_NSID, OUR_UDP_SIZE,
    RCODE_NOERROR, RCODE_NXDOMAIN, TYPE_ANY, TYPE_AXFR, TYPE_CNAME, TYPE_DNSKEY, TYPE_DS,
    TYPE_IXFR, TYPE_MB, TYPE_MG, TYPE_MINFO, TYPE_MR, TYPE_MX, TYPE_NS, TYPE_OPT, TYPE_PTR,
    TYPE_SOA, TYPE_SRV,
};

/// Record types whose RDATA holds names the encoder compresses, or that get additional-section
/// processing: their answers are not plain copies.
fn has_names(rtype: u16) -> bool {
    matches!(
        rtype,
        TYPE_NS
            | TYPE_CNAME
            | TYPE_PTR
            | TYPE_MB
            | TYPE_MG
            | TYPE_MR
            | TYPE_MX
            | TYPE_SOA
            | TYPE_MINFO
            | TYPE_SRV
    )
}

/// What the fast path writes after the question.
pub enum Body<'a> {
    /// A whole body rendered at compile time.
    Full(super::prerender::Full<'a>),
    /// The records of an RRset of a plain type under the question's name.
    Plain {
        /// Type.
        rtype: u16,
        /// TTL.
        ttl: u32,
        /// Its `[rdlength][rdata]` records.
        records: &'a [u8],
        /// Number of records.
        count: u16,
        /// The sum of the bytes written, at an even offset.
        sum: u16,
    },
    /// A pre-rendered chain (the tail follows).
    Pre(&'a [u8]),
    /// A pre-rendered chain with everything after it, and its sum at an even offset.
    Whole(&'a [u8], u16),
    /// Nothing before the tail (negative answers).
    Empty,
}

/// A response the fast path can write: header bits, the body, and the tail after it.
pub struct Answer<'a> {
    /// AA and RCODE bits.
    pub flags: u16,
    /// ANCOUNT, NSCOUNT, ARCOUNT, the tail's included.
    pub counts: [u16; 3],
    /// What follows the question.
    pub body: Body<'a>,
    tail: Option<&'a Tail>,
    /// The zone's apex length (the tail's pointers are relative to it).
    apex_len: usize,
}

/// A question the fast path understood.
pub struct FastQuery {
    /// Length of the question's name (at offset 12, in the client's case).
    len: usize,
    /// QTYPE.
    qtype: u16,
    /// End of the question.
    q_end: usize,
    /// EDNS: (UDP size, DO) when a version-0 OPT without NSID came with the question.
    edns: Option<(u16, bool)>,
}

impl FastQuery {
    /// An EDNS OPT came with the question.
    pub fn has_edns(&self) -> bool {
        self.edns.is_some()
    }

    /// End of the question in the message.
    pub fn q_end(&self) -> usize {
        self.q_end
    }
}

/// Length of the uncompressed name at `pos`, if it is one (labels of at most 63 octets, at
/// most 255 octets in all, inside `msg`).
#[inline]
fn name_len(msg: &[u8], pos: usize) -> Option<usize> {
    // One bound for both limits: a length byte at `i` must be inside the message, and before
    // `pos + MAX_NAME` (the name, its root label included, is then at most MAX_NAME octets).
    let msg = msg.get(..msg.len().min(pos.saturating_add(MAX_NAME)))?;
    let mut i = pos;
    loop {
        let len = usize::from(*msg.get(i)?);
        if len == 0 {
            return Some(i + 1 - pos);
        }
        if len > 63 {
            return None;
        }
        i += 1 + len;
    }
}

/// True when the OPT RDATA `rdata` is a well-formed list of options none of which changes the
/// response: no NSID (the general path answers it with our identity); cookies, padding and
/// the rest are ignored there as here.
fn plain_options(mut rdata: &[u8]) -> bool {
    while let [c0, c1, l0, l1, rest @ ..] = rdata {
        let len = usize::from(u16::from_be_bytes([*l0, *l1]));
        if u16::from_be_bytes([*c0, *c1]) == OPT_NSID || len > rest.len() {
            return false;
        }
        rdata = &rest[len..];
    }
    rdata.is_empty()
}

/// Reads a plain query: QUERY opcode, one question of class IN, no answer or authority
/// records, at most an EDNS0 OPT without NSID. `None` for anything else.
#[inline(always)]
pub fn parse(msg: &[u8]) -> Option<FastQuery> {
    let head = msg.get(..HEADER_LEN)?;
    // QR clear, opcode QUERY; QDCOUNT 1, ANCOUNT 0, NSCOUNT 0, ARCOUNT 0 or 1: one load.
    let counts = u64::from_be_bytes(head[4..12].try_into().ok()?);
    if head[2] & 0xf8 != 0 || counts & !1 != 1 << 48 {
        return None;
    }
    let mut q = FastQuery {
        len: name_len(msg, HEADER_LEN)?,
        qtype: 0,
        q_end: 0,
        edns: None,
    };
    let at = HEADER_LEN + q.len;
    let tc: [u8; 4] = msg.get(at..at + 4)?.try_into().ok()?;
    q.qtype = u16::from_be_bytes([tc[0], tc[1]]);
    if u16::from_be_bytes([tc[2], tc[3]]) != CLASS_IN
        || matches!(q.qtype, TYPE_ANY | TYPE_AXFR | TYPE_IXFR | TYPE_DS)
    {
        return None;
    }
    q.q_end = at + 4;
    if head[11] == 1 {
        // Root owner, type OPT, version 0, options the answer does not depend on.
        let o = msg.get(q.q_end..q.q_end + OPT_LEN)?;
        if o[0] != 0 || o[1..3] != TYPE_OPT.to_be_bytes() || o[6] != 0 {
            return None;
        }
        let rdlen = usize::from(u16::from_be_bytes([o[9], o[10]]));
        if rdlen != 0 && !plain_options(msg.get(q.q_end + OPT_LEN..q.q_end + OPT_LEN + rdlen)?) {
            return None;
        }
        q.edns = Some((u16::from_be_bytes([o[3], o[4]]), o[7] & 0x80 != 0));
    }
    Some(q)
}

/// True when `qname` ends in one of the lowercase names `suffixes`, in any case. The first
/// byte is compared before the rest: most suffixes fail there.
#[inline(always)]
pub(super) fn ends_in_any(qname: &[u8], suffixes: &[Box<[u8]>]) -> bool {
    for s in suffixes {
        let Some(at) = qname.len().checked_sub(s.len()) else {
            continue;
        };
        let tail = &qname[at..];
        if tail.first().map(u8::to_ascii_lowercase) == s.first().copied()
            && super::hash::eq_folded(s, tail)
        {
            return true;
        }
    }
    false
}

/// The negative answer (NXDOMAIN or NODATA by `rcode`) for `qname` in `zone`, unless the
/// question's name compresses it differently.
#[inline(always)]
fn negative<'a>(
    db: &'a Db,
    zone: u32,
    qname: &[u8],
    rcode: u8,
    apex_len: usize,
) -> Option<Answer<'a>> {
    let neg = db.fast.negative.get(zone as usize)?.as_ref()?;
    if ends_in_any(qname, &neg.sensitive) {
        return None;
    }
    Some(Answer {
        flags: FLAG_AA | u16::from(rcode),
        counts: [0, neg.tail.ns, neg.tail.ar],
        body: Body::Empty,
        tail: Some(&neg.tail),
        apex_len,
    })
}

/// Where the question's name lands ([`find`]).
pub enum Found<'a> {
    /// The common answer: a whole body rendered for the name itself and the type.
    Full(Answer<'a>),
    /// NXDOMAIN for a name one label under a zone's apex, as a whole body (apart from
    /// [`Found::Full`], so that the common answer's header stays a constant where it is
    /// written).
    NxUnderApex(Answer<'a>),
    /// A referral or a wildcard answer for a name one label under a cut or a wildcard's
    /// parent, as a whole body ([`super::encloser`]).
    Below(Answer<'a>),
    /// Anything else: the node of the name, or of its closest existing ancestor (`false`).
    Node(u32, bool),
}

/// The answer that is the whole body `full`.
#[inline(always)]
fn whole(full: super::prerender::Full<'_>) -> Found<'_> {
    Found::Full(Answer::of_full(FLAG_AA, full))
}

/// Looks the question's name up and answers from a whole body when there is one; `None` when
/// the general path must answer.
#[inline(always)]
pub fn find<'a>(db: &'a Db, q: &FastQuery, msg: &[u8]) -> Option<Found<'a>> {
    let qname = msg.get(HEADER_LEN..HEADER_LEN + q.len)?;
    if let Some((idx, off)) = db.find_direct(qname, q.qtype) {
        // A and AAAA (a CNAME's chain for them included): the body's offset is in the
        // name's table entry.
        if off != NONE {
            return Some(whole(db.fast.full_at(off)?));
        }
        let node = db.node(idx)?;
        if node.deleg == NONE {
            if let Some(full) = db.rrset_of(node, q.qtype).and_then(|r| db.fast.full(r)) {
                return Some(whole(full));
            }
        }
        return Some(Found::Node(idx, true));
    }
    let mut cur = name::parent(qname)?;
    // Most names that do not exist are a label under a zone's apex: compared with the apexes
    // first, that closest encloser needs no second lookup.
    if let Some(i) = db.apex_node(cur) {
        if let Some(a) = super::under_apex::answer(db, i, qname, qname.len() - cur.len() - 1) {
            return Some(Found::NxUnderApex(a));
        }
        return Some(Found::Node(i, false));
    }
    // Likewise a name one label under one of the first cuts or wildcard parents.
    if let Some(e) = db.fast.encloser(cur) {
        if let Some(a) = e.answer(db, q.qtype, qname) {
            return Some(Found::Below(a));
        }
        return Some(Found::Node(e.node, false));
    }
    loop {
        if let Some(i) = db.find(cur) {
            return Some(Found::Node(i, false));
        }
        cur = name::parent(cur)?;
    }
}

/// Plans the fast answer to `q` (read from `msg`), or `None` when the general path must answer.
#[inline(always)]
pub fn plan<'a>(db: &'a Db, q: &FastQuery, msg: &[u8]) -> Option<Answer<'a>> {
    match find(db, q, msg)? {
        Found::Full(a) | Found::NxUnderApex(a) | Found::Below(a) => Some(a),
        Found::Node(idx, exact) => plan_at(db, q, msg, idx, exact),
    }
}

/// [`plan`] once [`find`] found node `idx` (the name itself when `exact`) without a whole
/// body for the question.
#[inline(always)]
pub fn plan_at<'a>(
    db: &'a Db,
    q: &FastQuery,
    msg: &[u8],
    idx: u32,
    exact: bool,
) -> Option<Answer<'a>> {
    let qname = msg.get(HEADER_LEN..HEADER_LEN + q.len)?;
    let node = db.node(idx)?;
    if node.deleg != NONE {
        // A referral (DS at the cut itself never gets here: parse leaves DS to the general path).
        let r = db.fast.referral(node.deleg)?;
        if ends_in_any(qname, &r.sensitive) {
            return None;
        }
        let cut_len = usize::from(db.node(node.deleg)?.name_len);
        if let Some(full) = db
            .fast
            .referral_body(node.deleg, q.len.checked_sub(cut_len)?)
        {
            return Some(Answer::of_full(0, full));
        }
        return Some(Answer {
            flags: 0,
            counts: [0, r.tail.ns, r.tail.ar],
            body: Body::Empty,
            tail: Some(&r.tail),
            apex_len: cut_len,
        });
    }
    let zone = db.zones.get(node.zone as usize)?;
    let apex_len = usize::from(db.node(zone.apex)?.name_len);
    let zone_idx = node.zone;
    // RFC 4592: a closest encloser with a `*` child answers from the wildcard's data, under
    // the question's name (owner c00c), as the general path synthesizes it.
    let (node, idx) = match (exact, node.flags & WILDCARD != 0) {
        (true, _) => (node, idx),
        (false, true) => {
            let w = db.fast.wild(idx)?;
            let star = db.node(w)?;
            // One label in place of the `*`: a whole body, when its RRset has them.
            let label = q.len.wrapping_sub(usize::from(node.name_len) + 1);
            if qname.first().map(|&l| usize::from(l)) == Some(label) {
                let body = db
                    .rrset_of(star, q.qtype)
                    .and_then(|r| db.fast.wild_body(r, label));
                if let Some(full) = body {
                    return Some(Answer::of_full(FLAG_AA, full));
                }
            }
            (star, w)
        }
        (false, false) => return negative(db, zone_idx, qname, RCODE_NXDOMAIN, apex_len),
    };
    if let Some(r) = db.rrset_of(node, q.qtype) {
        let set = db.rrsets.get(r as usize)?;
        if has_names(set.rtype) || set.addl_len != 0 {
            return None;
        }
        let plain = db.fast.plain(r)?;
        // The zone's NS tail follows, as resolve plans it; none without apex NS, for DNSKEY,
        // or with minimal responses.
        let tail = if !db.minimal && zone.ns != NONE && q.qtype != TYPE_DNSKEY {
            if plain.in_tail {
                return None;
            }
            Some(db.tails.get(node.zone as usize)?.as_ref()?)
        } else {
            None
        };
        let (ns, ar) = tail.map_or((0, 0), |t| (t.ns, t.ar));
        return Some(Answer {
            flags: FLAG_AA,
            counts: [set.count, ns, ar],
            body: Body::Plain {
                rtype: set.rtype,
                ttl: set.ttl,
                records: db.bytes(set.data, set.data_len as usize),
                count: set.count,
                sum: plain.sum,
            },
            tail,
            apex_len,
        });
    }
    if exact && node.rrset_count == 1 && db.rrset_of(node, TYPE_CNAME).is_some() {
        let k = PRE_TYPES.iter().position(|&t| t == q.qtype)?;
        let first = db.fast.pre_of(idx)?;
        let pre = (*db.fast.pres.get(first as usize + k)?)?;
        let tail = if pre.tail {
            let t = db.tails.get(node.zone as usize)?.as_ref()?;
            Some(t)
        } else {
            None
        };
        let (ns, ar) = tail.map_or((0, 0), |t| (t.ns, t.ar));
        let bytes = db
            .fast
            .blob
            .get(pre.off as usize..)?
            .get(..usize::from(pre.len))?;
        return Some(Answer {
            flags: pre.flags,
            counts: [pre.counts[0], pre.counts[1] + ns, pre.counts[2] + ar],
            body: if pre.tail {
                Body::Pre(bytes)
            } else {
                Body::Whole(bytes, pre.sum)
            },
            tail,
            apex_len,
        });
    }
    if db.rrset_of(node, TYPE_CNAME).is_some() {
        return None;
    }
    // NODATA (at the apex too: the SOA owner compresses to the question either way).
    negative(db, zone_idx, qname, RCODE_NOERROR, apex_len)
}

/// A 16-bit sum taken at an even offset, as it counts at offset `at` (RFC 1071 §2(B)).
#[inline(always)]
fn at_offset(sum: u16, at: usize) -> u32 {
    u32::from(if at & 1 == 0 { sum } else { sum.swap_bytes() })
}

impl<'a> Answer<'a> {
    /// The answer with header bits `flags` (AA, RCODE) whose body is the whole body `full`.
    #[inline(always)]
    pub fn of_full(flags: u16, full: super::prerender::Full<'a>) -> Self {
        Answer {
            flags,
            counts: full.counts,
            body: Body::Full(full),
            tail: None,
            apex_len: 0,
        }
    }

    /// The response's length for `q`, if it fits `room` bytes and the client's size limit.
    #[inline(always)]
    pub fn fits(&self, q: &FastQuery, room: usize) -> Option<usize> {
        let body_len = match self.body {
            Body::Plain { count, records, .. } => 10 * usize::from(count) + records.len(),
            Body::Pre(b) | Body::Whole(b, _) => b.len(),
            Body::Full(f) => f.bytes.len(),
            Body::Empty => 0,
        };
        let tail_len = self.tail.map_or(0, |t| t.bytes.len());
        let opt_len = if q.edns.is_some() { OPT_LEN } else { 0 };
        let max = match q.edns {
            Some((size, _)) => usize::from(size.clamp(CLASSIC_UDP_SIZE as u16, OUR_UDP_SIZE)),
            None => CLASSIC_UDP_SIZE,
        };
        let total = q.q_end + body_len + tail_len + opt_len;
        (total <= max.min(room) && q.len >= self.apex_len).then_some(total)
    }

    /// Writes the response over the query message `msg` (at least [`Answer::fits`] long);
    /// returns its length, its RCODE and the one's-complement sum of its bytes. `head_sum` is
    /// the sum of the query's header and question (`msg[..q_end]` before the write, as
    /// [`crate::packet::checksum::sum`] gives it): the response's is derived from it (RFC 1624),
    /// not read again.
    #[inline(always)]
    pub fn write(&self, q: &FastQuery, msg: &mut [u8], head_sum: u32) -> Option<(usize, u8, u32)> {
        let a = self;
        let head = msg.get_mut(..HEADER_LEN)?;
        let old_flags = u16::from_be_bytes([head[2], head[3]]);
        // parse let through ANCOUNT and NSCOUNT zero, ARCOUNT 0 or 1.
        let old_ar = u16::from(head[11]);
        let flags = FLAG_QR | (old_flags & FLAG_RD) | a.flags;
        let ar = a.counts[2] + u16::from(q.edns.is_some());
        head[2..4].copy_from_slice(&flags.to_be_bytes());
        head[6..8].copy_from_slice(&a.counts[0].to_be_bytes());
        head[8..10].copy_from_slice(&a.counts[1].to_be_bytes());
        head[10..12].copy_from_slice(&ar.to_be_bytes());
        // The header words that changed: the old ones out (one's complement), the new ones in.
        let mut acc = head_sum
            + u32::from(!old_flags)
            + u32::from(!old_ar)
            + u32::from(flags)
            + u32::from(a.counts[0])
            + u32::from(a.counts[1])
            + u32::from(ar);
        let mut pos = q.q_end;
        match a.body {
            Body::Full(f) => {
                msg.get_mut(pos..pos + f.bytes.len())?
                    .copy_from_slice(f.bytes);
                pos += f.bytes.len();
                acc += at_offset(f.sum, q.q_end);
                return a.finish(q, msg, pos, acc);
            }
            Body::Whole(b, sum) => {
                msg.get_mut(pos..pos + b.len())?.copy_from_slice(b);
                pos += b.len();
                acc += at_offset(sum, q.q_end);
                return a.finish(q, msg, pos, acc);
            }
            Body::Plain {
                rtype,
                ttl,
                records,
                sum,
                ..
            } => {
                let mut head = [0xc0, HEADER_LEN as u8, 0, 0, 0, 1, 0, 0, 0, 0];
                head[2..4].copy_from_slice(&rtype.to_be_bytes());
                head[6..10].copy_from_slice(&ttl.to_be_bytes());
                let mut r = 0usize;
                while r + 2 <= records.len() {
                    let rec = 2 + usize::from(u16::from_be_bytes([records[r], records[r + 1]]));
                    let src = records.get(r..r + rec)?;
                    msg.get_mut(pos..pos + 10)?.copy_from_slice(&head);
                    let dst = msg.get_mut(pos + 10..pos + 10 + rec)?;
                    // A and AAAA as fixed-size moves, not a variable-length copy.
                    match (
                        <&mut [u8; 6]>::try_from(&mut *dst),
                        <&[u8; 6]>::try_from(src),
                    ) {
                        (Ok(d), Ok(s)) => *d = *s,
                        _ => match (
                            <&mut [u8; 18]>::try_from(&mut *dst),
                            <&[u8; 18]>::try_from(src),
                        ) {
                            (Ok(d), Ok(s)) => *d = *s,
                            _ => dst.copy_from_slice(src),
                        },
                    }
                    pos += 10 + rec;
                    r += rec;
                }
                acc += at_offset(sum, q.q_end);
            }
            Body::Pre(b) => {
                msg.get_mut(pos..pos + b.len())?.copy_from_slice(b);
                pos += b.len();
                let body = crate::packet::checksum::sum(0, b);
                acc += at_offset(fold16(body), q.q_end);
            }
            Body::Empty => {}
        }
        if let Some(t) = a.tail {
            let apex_off = HEADER_LEN + q.len - a.apex_len;
            acc += t.copy_to(msg, pos, apex_off)?;
            pos += t.bytes.len();
        }
        self.finish(q, msg, pos, acc)
    }

    /// Appends the OPT record when the query had one; returns (length, RCODE, sum).
    #[inline(always)]
    fn finish(
        &self,
        q: &FastQuery,
        msg: &mut [u8],
        mut pos: usize,
        mut acc: u32,
    ) -> Option<(usize, u8, u32)> {
        if let Some((_, dnssec_ok)) = q.edns {
            let mut o = [0u8; OPT_LEN];
            o[1..3].copy_from_slice(&TYPE_OPT.to_be_bytes());
            o[3..5].copy_from_slice(&OUR_UDP_SIZE.to_be_bytes());
            o[7] = if dnssec_ok { 0x80 } else { 0 };
            msg.get_mut(pos..pos + OPT_LEN)?.copy_from_slice(&o);
            // Its non-zero 16-bit fields, all one byte into the record: the type, our UDP
            // size, the flags (DO).
            let s = u32::from(TYPE_OPT) + u32::from(OUR_UDP_SIZE) + u32::from(o[7]) * 256;
            acc += at_offset(fold16(s), pos + 1);
            pos += OPT_LEN;
        }
        Some((pos, (self.flags & 0xf) as u8, acc))
    }
}

#[cfg(test)]
mod name_len_tests;
