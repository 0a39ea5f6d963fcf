//! What the fast path ([`super::fast`]) answers from, rendered when the zones are compiled by
//! the general resolver and encoder themselves: per zone its negative answer, per CNAME node
//! its chains, and for the first RRsets of plain types (within a byte budget) the whole
//! response body after the question with its checksum sum.

use super::db::{Db, Node, APEX_SHORTCUTS, NONE, WILDCARD};
use super::fast::{self, Body};
use super::name;
use super::resolve::{self, Owner, Plan, Section};
use super::respond::encode_sections;
use super::tail::Tail;
use super::wire::{CLASS_IN, FLAG_AA, HEADER_LEN, TYPE_A, TYPE_AAAA, TYPE_CNAME, TYPE_NS};
use super::writer::Writer;
use crate::packet::checksum;

/// Most bytes of whole pre-rendered bodies per service (the 1M-record zone's memory).
pub const FULL_BUDGET: usize = 4 << 20;

/// Query types whose CNAME chains are pre-rendered, in [`Tables::pre_of`] order.
pub const PRE_TYPES: [u16; 2] = [TYPE_A, TYPE_AAAA];

/// A pre-rendered response body (everything after the question, or the answer section only
/// when the zone's tail follows).
#[derive(Debug, Clone, Copy)]
pub struct Pre {
    /// Offset of the bytes in [`Tables::blob`].
    pub off: u32,
    /// Their length.
    pub len: u16,
    /// AA and RCODE bits of the header.
    pub flags: u16,
    /// ANCOUNT, NSCOUNT, ARCOUNT of the bytes (the tail's come on top).
    pub counts: [u16; 3],
    /// The zone's positive tail follows the bytes (not rendered with them: over budget).
    pub tail: bool,
    /// One's-complement sum of the bytes at an even offset.
    pub sum: u16,
}

/// A zone's negative answer: the SOA in authority, and the names that would compress it
/// differently.
#[derive(Debug, Clone)]
pub struct Negative {
    /// The SOA as rendered after a question ending in the apex.
    pub tail: Tail,
    /// Lowercase names strictly below the apex that are suffixes of the SOA's RDATA names: a
    /// question ending in one of them compresses the SOA against itself, so it takes the
    /// general path.
    pub sensitive: Vec<Box<[u8]>>,
}

/// What the fast path reads, built by [`Tables::build`] when the zones are compiled.
#[derive(Debug, Default)]
pub struct Tables {
    /// Per zone, its negative answer.
    pub negative: Vec<Option<Negative>>,
    /// Pre-rendered bodies; `None` where the general path must answer.
    pub pres: Vec<Option<Pre>>,
    /// Node of a CNAME → index of its first body in `pres` (one per [`PRE_TYPES`]).
    pre_of: Vec<u32>,
    /// The bodies' bytes.
    pub blob: Vec<u8>,
    /// Per node: a delegation point's index in `referrals`, or [`NONE`].
    referral_of: Vec<u32>,
    /// Referrals (NS and glue), pointers relative to the cut's name.
    referrals: Vec<Negative>,
    /// Node with a `*` child → that child (RFC 4592 source of synthesis).
    wild: Vec<u32>,
    /// Per RRset, see [`Tables::plain`].
    plain: Vec<Plain>,
    /// Per RRset index (the first ones only, within [`FULL_BUDGET`]): offset in `full_blob` of
    /// its whole body, or [`NONE`].
    pub full: Vec<u32>,
    /// Whole bodies: `[len u16][sum u16][ANCOUNT][NSCOUNT][ARCOUNT]` (native order) then
    /// the bytes after the question; the sum is as if they started at an even offset.
    pub full_blob: Vec<u8>,
    /// Per entry of `pres`: the offset in `full_blob` of the same chain as a whole body, when
    /// it is one with a plain authoritative NOERROR header (see [`Tables::cname_full`]), or
    /// [`NONE`].
    pre_full: Vec<u32>,
    /// Per zone: the offset in `full_blob` of its NXDOMAIN bodies for names one label under
    /// its apex ([`super::under_apex`]), or [`NONE`] (only the zones
    /// [`Db::apex_node`] compares with get them).
    under_apex: Vec<u32>,
    /// Referrals of the first cuts as whole bodies ([`super::offset_bodies`]).
    pub(super) referral_bodies: Vec<super::offset_bodies::Bodies>,
    /// Plain RRsets of the first wildcards as whole bodies ([`super::offset_bodies`]).
    pub(super) wild_bodies: Vec<super::offset_bodies::Bodies>,
    /// The cuts and wildcard parents with those bodies, compared with a missing name's parent
    /// ([`super::encloser`]).
    pub(super) enclosers: Vec<super::encloser::Encloser>,
}

/// An RRset's records as the fast path writes them under the question's name (owner `c00c`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Plain {
    /// One's-complement sum of those bytes at an even offset.
    pub sum: u16,
    /// The RRset is in its zone's positive tail.
    pub in_tail: bool,
}

/// The records of `set` under the question's name: `c00c`, type, class IN, TTL, then each
/// `[rdlength][rdata]`, as [`super::fast`] writes them.
fn plain_bytes(db: &Db, set: &super::db::Rrset) -> Vec<u8> {
    let records = db.bytes(set.data, set.data_len as usize);
    let mut out = Vec::new();
    let mut r = 0usize;
    while r + 2 <= records.len() {
        let rec = 2 + usize::from(u16::from_be_bytes([records[r], records[r + 1]]));
        let Some(src) = records.get(r..r + rec) else {
            break;
        };
        out.extend_from_slice(&[0xc0, HEADER_LEN as u8]);
        out.extend_from_slice(&set.rtype.to_be_bytes());
        out.extend_from_slice(&[0, 1]);
        out.extend_from_slice(&set.ttl.to_be_bytes());
        out.extend_from_slice(src);
        r += rec;
    }
    out
}

/// [`Plain`] of every RRset, in RRset order.
fn plain_sets(db: &Db) -> Vec<Plain> {
    let mut out = vec![Plain::default(); db.rrsets.len()];
    for node in &db.nodes {
        let tail = db.tails.get(node.zone as usize).and_then(Option::as_ref);
        for r in db.rrsets_of(node) {
            let (Some(set), Some(p)) = (db.rrsets.get(r as usize), out.get_mut(r as usize)) else {
                continue;
            };
            *p = Plain {
                sum: super::tail::fold16(checksum::sum(0, &plain_bytes(db, set))),
                in_tail: tail.is_some_and(|t| t.rrsets.contains(&r)),
            };
        }
    }
    out
}

/// A whole pre-rendered body.
#[derive(Debug, Clone, Copy)]
pub struct Full<'a> {
    /// The bytes after the question.
    pub bytes: &'a [u8],
    /// Their one's-complement sum at an even offset.
    pub sum: u16,
    /// ANCOUNT, NSCOUNT, ARCOUNT.
    pub counts: [u16; 3],
}

/// A message buffer reused across renderings (its stale bytes are never read: the writer reads
/// only what it wrote).
pub const SCRATCH: usize = 4096;

/// Bytes in front of each whole body.
pub const FULL_HEAD: usize = 10;

impl Tables {
    /// Renders the negative answers of every zone and the CNAME chains of every CNAME node.
    pub fn build(db: &Db) -> Tables {
        Self::build_with_budget(db, FULL_BUDGET)
    }

    /// Only what [`Tables::build`] reads back through the fast path's own planning while it
    /// renders whole bodies: the RRsets' [`Tables::plain`].
    pub fn for_rendering(db: &Db) -> Tables {
        Tables {
            plain: plain_sets(db),
            ..Tables::default()
        }
    }

    /// [`Tables::build`] with at most `budget` bytes of whole bodies (tests use 0 to exercise
    /// the bodies composed at query time).
    pub fn build_with_budget(db: &Db, budget: usize) -> Tables {
        let mut scratch = [0u8; SCRATCH];
        let mut t = Tables {
            negative: (0..db.zones.len() as u32)
                .map(|z| render_negative(db, z))
                .collect(),
            pre_of: vec![NONE; db.nodes.len()],
            referral_of: vec![NONE; db.nodes.len()],
            wild: vec![NONE; db.nodes.len()],
            plain: plain_sets(db),
            ..Tables::default()
        };
        for (i, node) in db.nodes.iter().enumerate() {
            if node.deleg != NONE || db.rrset_of(node, TYPE_CNAME).is_none() {
                continue;
            }
            t.pre_of[i] = t.pres.len() as u32;
            for qtype in PRE_TYPES {
                let whole = t.blob.len() < budget;
                let pre = render_pre(db, node, qtype, whole, &mut t.blob, &mut scratch);
                t.pres.push(pre);
            }
        }
        for (i, node) in db.nodes.iter().enumerate() {
            if node.deleg == i as u32 {
                if let Some(r) = render_referral(db, i as u32) {
                    t.referral_of[i] = t.referrals.len() as u32;
                    t.referrals.push(r);
                }
            }
            if node.flags & WILDCARD == 0 {
                continue;
            }
            let mut star = b"\x01*".to_vec();
            star.extend_from_slice(db.bytes(node.name, usize::from(node.name_len)));
            if let Some(w) = db.find(&star) {
                t.wild[i] = w;
            }
        }
        t.pres.shrink_to_fit();
        t.blob.shrink_to_fit();
        'nodes: for node in &db.nodes {
            for r in db.rrsets_of(node) {
                if t.full_blob.len() >= budget {
                    break 'nodes;
                }
                let off = t.full_blob.len() as u32;
                let ok = render_full(db, node, r, &mut t.full_blob, &mut scratch);
                t.full.push(if ok { off } else { NONE });
            }
        }
        t.pre_full = vec![NONE; t.pres.len()];
        for (k, pre) in t.pres.iter().enumerate() {
            let Some(pre) = pre else { continue };
            if pre.tail || pre.flags != FLAG_AA || t.full_blob.len() >= budget {
                continue;
            }
            let Some(bytes) = t
                .blob
                .get(pre.off as usize..pre.off as usize + usize::from(pre.len))
            else {
                continue;
            };
            t.pre_full[k] = t.full_blob.len() as u32;
            push_full(&mut t.full_blob, bytes, pre.sum, pre.counts);
        }
        t.under_apex = vec![NONE; t.negative.len()];
        for (z, neg) in t.negative.iter().enumerate().take(APEX_SHORTCUTS) {
            let (Some(neg), Some(zone)) = (neg, db.zones.get(z)) else {
                continue;
            };
            let Some(apex) = db.node(zone.apex) else {
                continue;
            };
            if t.full_blob.len() < budget {
                let apex_len = usize::from(apex.name_len);
                t.under_apex[z] =
                    super::under_apex::render(neg, apex_len, &mut t.full_blob).unwrap_or(NONE);
            }
        }
        t.full.shrink_to_fit();
        t.full_blob.shrink_to_fit();
        t
    }

    /// The whole NXDOMAIN body for a name whose first label, `label` octets long, sits right
    /// under the apex of `zone` ([`super::under_apex`]), with the zone's negative answer.
    #[inline(always)]
    pub fn nxdomain_under_apex(&self, zone: u32, label: usize) -> Option<(Full<'_>, &Negative)> {
        let first = *self.under_apex.get(zone as usize)?;
        let neg = self.negative.get(zone as usize)?.as_ref()?;
        if first == NONE || !(1..=name::MAX_LABEL).contains(&label) {
            return None;
        }
        let off = first as usize + (label - 1) * super::under_apex::stride(neg);
        Some((self.full_at(u32::try_from(off).ok()?)?, neg))
    }

    /// A CNAME node's chains for [`PRE_TYPES`] as whole bodies ([`Tables::full_at`]), each
    /// [`NONE`] when that chain is not one: it needs the zone's tail copied after it, or its
    /// header is not plain AA and NOERROR (a chain that ends in NXDOMAIN), or the budget ran
    /// out.
    pub fn cname_full(&self, node: u32) -> [u32; 2] {
        let first = self.pre_of(node).map_or(usize::MAX, |p| p as usize);
        [0, 1].map(|k| {
            first
                .checked_add(k)
                .and_then(|i| self.pre_full.get(i))
                .copied()
                .unwrap_or(NONE)
        })
    }

    /// The whole body of RRset `r`, if rendered.
    #[inline(always)]
    pub fn full(&self, r: u32) -> Option<Full<'_>> {
        self.full_at(self.full_offset(r)?)
    }

    /// Where the whole body of RRset `r` is in the bodies' blob, if rendered.
    #[inline(always)]
    pub fn full_offset(&self, r: u32) -> Option<u32> {
        self.full.get(r as usize).copied().filter(|&o| o != NONE)
    }

    /// The whole body at offset `off` ([`Tables::full_offset`]).
    #[inline(always)]
    pub fn full_at(&self, off: u32) -> Option<Full<'_>> {
        let off = off as usize;
        let h = self.full_blob.get(off..off + FULL_HEAD)?;
        let u = |i: usize| u16::from_ne_bytes([h[i], h[i + 1]]);
        let bytes = self
            .full_blob
            .get(off + FULL_HEAD..off + FULL_HEAD + usize::from(u(0)))?;
        Some(Full {
            bytes,
            sum: u(2),
            counts: [u(4), u(6), u(8)],
        })
    }

    /// A CNAME node's first body in `pres` (one per [`PRE_TYPES`]).
    #[inline(always)]
    pub fn pre_of(&self, node: u32) -> Option<u32> {
        self.pre_of
            .get(node as usize)
            .copied()
            .filter(|&p| p != NONE)
    }

    /// The referral at delegation point `cut`, if rendered.
    #[inline(always)]
    pub fn referral(&self, cut: u32) -> Option<&Negative> {
        let r = *self.referral_of.get(cut as usize)?;
        self.referrals.get(r as usize)
    }

    /// The `*` child of a node with one (RFC 4592 source of synthesis).
    #[inline(always)]
    pub fn wild(&self, node: u32) -> Option<u32> {
        self.wild.get(node as usize).copied().filter(|&w| w != NONE)
    }

    /// What the fast path needs of RRset `r` to answer from its records under the question's
    /// name: the sum of those bytes at an even offset, and whether the RRset is in its zone's
    /// tail.
    #[inline(always)]
    pub fn plain(&self, r: u32) -> Option<Plain> {
        self.plain.get(r as usize).copied()
    }

    /// Rough heap use in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.pres.capacity() * std::mem::size_of::<Option<Pre>>()
            + (self.pre_of.capacity() + self.wild.capacity() + self.referral_of.capacity()) * 4
            + self.referrals.capacity() * std::mem::size_of::<Negative>()
            + self.blob.capacity()
            + self.full.capacity() * 4
            + self.plain.capacity() * std::mem::size_of::<Plain>()
            + self.full_blob.capacity()
            + (self.pre_full.capacity() + self.under_apex.capacity()) * 4
            + (self.referral_bodies.capacity() + self.wild_bodies.capacity())
                * std::mem::size_of::<super::offset_bodies::Bodies>()
            + self
                .enclosers
                .iter()
                .map(super::encloser::Encloser::heap_bytes)
                .sum::<usize>()
    }
}

/// The referral at delegation point `cut` (its NS RRset and glue) as the general path plans it
/// for the cut's own name, rendered after a question ending in the cut's name.
fn render_referral(db: &Db, cut: u32) -> Option<Negative> {
    let node = db.node(cut)?;
    let mut cut_lower = db.bytes(node.name, usize::from(node.name_len)).to_vec();
    name::lowercase(&mut cut_lower);
    let mut plan = Plan::new();
    resolve::resolve(db, &cut_lower, TYPE_A, false, &mut plan);
    if plan.aa || plan.rcode != 0 || plan.len == 0 || plan.tail != NONE {
        return None;
    }
    if plan.items().iter().any(|i| i.section == Section::Answer) {
        return None;
    }
    let tail = Tail::render_at(db, cut, &plan)?;
    // Every name written: owners and NS targets. Those below the cut could match the
    // question's own labels and compress differently.
    let mut names: Vec<Vec<u8>> = Vec::new();
    for item in plan.items() {
        let owner = match item.owner {
            Owner::Node(n) => db
                .node(n)
                .map(|n| db.bytes(n.name, usize::from(n.name_len))),
            Owner::Blob(off, len) => Some(db.bytes(off, usize::from(len))),
            Owner::Qname => None,
        };
        names.extend(owner.map(<[u8]>::to_vec));
        let set = db.rrsets.get(item.rrset as usize)?;
        if set.rtype == TYPE_NS {
            let mut pos = set.data as usize;
            let end = (set.data + set.data_len) as usize;
            while pos + 2 <= end {
                let rdlen = usize::from(super::wire::get_u16(&db.blob, pos)?);
                let rd = db.bytes((pos + 2) as u32, rdlen);
                names.push(rd.get(..super::db::wire_name_len(rd))?.to_vec());
                pos += 2 + rdlen;
            }
        }
    }
    Some(Negative {
        tail,
        sensitive: sensitive_suffixes(&cut_lower, names),
    })
}

/// The distinct lowercase suffixes of `names` strictly below `anchor`.
fn sensitive_suffixes(anchor: &[u8], names: Vec<Vec<u8>>) -> Vec<Box<[u8]>> {
    let mut sensitive: Vec<Box<[u8]>> = Vec::new();
    for mut n in names {
        name::lowercase(&mut n);
        let mut cur: &[u8] = &n;
        while cur.len() > anchor.len() {
            if name::is_subdomain(cur, anchor) && !sensitive.iter().any(|s| **s == *cur) {
                sensitive.push(cur.into());
            }
            match name::parent(cur) {
                Some(p) => cur = p,
                None => break,
            }
        }
    }
    sensitive
}

/// The zone's SOA rendered as a negative answer's authority section.
fn render_negative(db: &Db, zone: u32) -> Option<Negative> {
    let z = db.zones.get(zone as usize)?;
    let mut plan = Plan::new();
    plan.add(Section::Authority, z.soa, Owner::Node(z.apex), true);
    let tail = Tail::render_plan(db, zone, &plan)?;
    let apex = db.node(z.apex)?;
    let mut apex_lower = db.bytes(apex.name, usize::from(apex.name_len)).to_vec();
    name::lowercase(&mut apex_lower);
    let set = db.rrsets.get(z.soa as usize)?;
    // MNAME and RNAME: the SOA RDATA's first two names (its only record).
    let rdata = db.bytes(set.data + 2, set.data_len.saturating_sub(2) as usize);
    let mut sensitive: Vec<Box<[u8]>> = Vec::new();
    let mut at = 0usize;
    for _ in 0..2 {
        let len = super::db::wire_name_len(rdata.get(at..).unwrap_or(&[]));
        if len == 0 {
            return None;
        }
        let mut n = rdata[at..at + len].to_vec();
        name::lowercase(&mut n);
        let mut cur: &[u8] = &n;
        while cur.len() > apex_lower.len() {
            if name::is_subdomain(cur, &apex_lower) && !sensitive.iter().any(|s| **s == *cur) {
                sensitive.push(cur.into());
            }
            cur = name::parent(cur)?;
        }
        at += len;
    }
    Some(Negative { tail, sensitive })
}

/// Renders the response body for `node`'s own name asked with `qtype`, as
/// [`super::respond::encode_answer`] writes it, with no size limit in the way; the zone's tail
/// with it when `whole`, else left for the query to copy.
fn render_pre(
    db: &Db,
    node: &Node,
    qtype: u16,
    whole: bool,
    blob: &mut Vec<u8>,
    buf: &mut [u8; SCRATCH],
) -> Option<Pre> {
    let mut lower = db.bytes(node.name, usize::from(node.name_len)).to_vec();
    name::lowercase(&mut lower);
    let q_end = HEADER_LEN + lower.len() + 4;
    buf.get_mut(HEADER_LEN..HEADER_LEN + lower.len())?
        .copy_from_slice(&lower);
    let mut plan = Plan::new();
    resolve::resolve(db, &lower, qtype, false, &mut plan);
    let mut w = Writer::new(&mut buf[..], q_end, 0x3fff);
    w.remember_name(HEADER_LEN);
    let mut counts = [0u16; 4];
    if encode_sections(&mut w, db, &plan, &[Section::Answer], &mut counts) {
        return None;
    }
    let tail = plan.tail != NONE;
    if tail {
        // The tail is the zone's: it is copied at query time as the general path does.
        let t = db.tails.get(plan.tail as usize).and_then(Option::as_ref)?;
        let apex_len = db
            .zones
            .get(plan.tail as usize)
            .and_then(|z| db.node(z.apex))
            .map(|n| usize::from(n.name_len))?;
        if plan.tail != node.zone || apex_len > lower.len() || t.bytes.is_empty() {
            return None;
        }
        if whole {
            // Copied as encode_answer copies it; the counts then cover it.
            let answers: usize = plan
                .items()
                .iter()
                .filter_map(|i| db.rrsets.get(i.rrset as usize))
                .map(|s| usize::from(s.count))
                .sum();
            let mut tc = [0u16; 4];
            if answers != usize::from(counts[0])
                || !t.write(&mut w, HEADER_LEN + lower.len() - apex_len, &mut tc)
            {
                return None;
            }
            let end = w.pos;
            let bytes = buf.get(q_end..end)?;
            let off = u32::try_from(blob.len()).ok()?;
            blob.extend_from_slice(bytes);
            return Some(Pre {
                off,
                len: u16::try_from(bytes.len()).ok()?,
                flags: if plan.aa { FLAG_AA } else { 0 } | u16::from(plan.rcode & 0xf),
                counts: [counts[0], tc[1], tc[2] + tc[3]],
                tail: false,
                sum: super::tail::fold16(checksum::sum(0, bytes)),
            });
        }
    } else {
        let rest = [
            Section::Authority,
            Section::AdditionalA,
            Section::AdditionalAaaa,
        ];
        if encode_sections(&mut w, db, &plan, &rest, &mut counts) {
            return None;
        }
    }
    let end = w.pos;
    // Everything planned must be there: nothing may have been left out for room.
    let planned: usize = plan
        .items()
        .iter()
        .filter(|i| !tail || i.section == Section::Answer)
        .filter_map(|i| db.rrsets.get(i.rrset as usize))
        .map(|s| usize::from(s.count))
        .sum();
    if planned != counts.iter().map(|&c| usize::from(c)).sum::<usize>() {
        return None;
    }
    let bytes = buf.get(q_end..end)?;
    let off = u32::try_from(blob.len()).ok()?;
    blob.extend_from_slice(bytes);
    Some(Pre {
        off,
        len: u16::try_from(bytes.len()).ok()?,
        flags: if plan.aa { FLAG_AA } else { 0 } | u16::from(plan.rcode & 0xf),
        counts: [counts[0], counts[1], counts[2] + counts[3]],
        tail,
        sum: super::tail::fold16(checksum::sum(0, bytes)),
    })
}

/// Renders the body the fast path composes for RRset `r` of `node` asked by its own type (a
/// plain type with the zone's tail), through the fast path itself; appends it to `blob`.
fn render_full(db: &Db, node: &Node, r: u32, blob: &mut Vec<u8>, msg: &mut [u8; SCRATCH]) -> bool {
    let Some(set) = db.rrsets.get(r as usize) else {
        return false;
    };
    let name = db.bytes(node.name, usize::from(node.name_len));
    // Only the header's counts matter to parse: the rest of it is never read.
    msg[..HEADER_LEN].fill(0);
    msg[5] = 1;
    let q_end = HEADER_LEN + name.len() + 4;
    msg[HEADER_LEN..HEADER_LEN + name.len()].copy_from_slice(name);
    msg[q_end - 4..q_end - 2].copy_from_slice(&set.rtype.to_be_bytes());
    msg[q_end - 2..q_end].copy_from_slice(&CLASS_IN.to_be_bytes());
    let Some(q) = fast::parse(&msg[..q_end]) else {
        return false;
    };
    let Some(a) = fast::plan(db, &q, &msg[..]) else {
        return false;
    };
    if !matches!(a.body, Body::Plain { .. }) || a.flags != FLAG_AA {
        return false;
    }
    let Some(total) = a.fits(&q, msg.len()) else {
        return false;
    };
    let counts = a.counts;
    let Some((len, _, _)) = a.write(&q, &mut msg[..total], 0) else {
        return false;
    };
    let bytes = &msg[q_end..len];
    let sum = super::tail::fold16(checksum::sum(0, bytes));
    push_full(blob, bytes, sum, counts);
    true
}

/// Appends the whole body `bytes` (at most 64 KiB, as every rendered body), with its sum and
/// counts, in the layout [`Tables::full_at`] reads: `FULL_HEAD` bytes of head, then the body.
pub fn push_full(blob: &mut Vec<u8>, bytes: &[u8], sum: u16, counts: [u16; 3]) {
    for v in [bytes.len() as u16, sum, counts[0], counts[1], counts[2]] {
        blob.extend_from_slice(&v.to_ne_bytes());
    }
    blob.extend_from_slice(bytes);
}
