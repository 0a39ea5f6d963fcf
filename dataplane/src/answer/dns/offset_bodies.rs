//! Whole bodies for the planned answers whose only per-query bytes are compression pointers to
//! a name at a known offset in the question, rendered once per offset:
//!
//! - a **referral**: its NS RRset and glue point at the cut's name, which sits `d` octets into
//!   the question's name (`d` = 0 when the question is the cut, else 2 to [`MAX_DEPTH`]; a name
//!   any number of labels below the cut);
//! - a **wildcard's plain RRset** under a name one label (1 to 63 octets) below the wildcard's
//!   parent: its records' owner is always `c00c`, and the zone's tail points at the apex,
//!   behind that label.
//!
//! They are rendered through the fast path's own planning ([`fast::plan_at`]) and writing, so
//! they are its planned answers byte for byte; the query still checks what the planning checks
//! per name (a referral's sensitive names). Only for the first [`SHORTCUTS`] cuts and wildcard
//! RRsets, within the whole bodies' budget; everything else stays planned.
use super::db::{Db, NONE, WILDCARD};
use super::encloser::Encloser;
use super::fast::{self, Body};
use super::name::MAX_LABEL;
use super::prerender::{push_full, Full, Tables, FULL_BUDGET, FULL_HEAD, SCRATCH};
use super::respond::OPT_LEN;
use super::tail::fold16;
use super::wire::{CLASS_IN, FLAG_AA, HEADER_LEN, OUR_UDP_SIZE, TYPE_A, TYPE_OPT};
use crate::packet::checksum;

/// Cuts, and wildcard RRsets, that get bodies.
pub const SHORTCUTS: usize = 8;
/// Deepest offset of a cut's name in the question with a referral body.
pub const MAX_DEPTH: usize = 64;
/// Bodies per referral: offsets 0 and 2..=[`MAX_DEPTH`].
const REFERRAL_SLOTS: usize = MAX_DEPTH;

/// The bodies of one cut or wildcard RRset, a slot each, `stride` bytes apart.
#[derive(Debug, Clone, Copy)]
pub struct Bodies {
    /// The cut's node, or the wildcard RRset's index.
    pub key: u32,
    /// Offset of the first body in the whole bodies' blob.
    pub first: u32,
    /// Bytes from one body to the next.
    pub stride: u32,
}

/// What [`render`] made: the bodies, with offsets into its own `blob`.
#[derive(Debug, Default)]
pub struct Rendered {
    /// Per cut.
    pub referrals: Vec<Bodies>,
    /// Per wildcard RRset.
    pub wild: Vec<Bodies>,
    /// The bodies' bytes, in the layout of [`super::prerender::Tables::full_at`].
    pub blob: Vec<u8>,
    /// The cuts and wildcard parents with bodies, as shortcuts ([`super::encloser`]).
    pub enclosers: Vec<Encloser>,
}

/// The slot of a referral's body for a question whose name has the cut's name `d` octets in.
#[inline(always)]
pub fn referral_slot(d: usize) -> Option<usize> {
    match d {
        0 => Some(0),
        2..=MAX_DEPTH => Some(d - 1),
        _ => None,
    }
}

/// The slot of a wildcard RRset's body for a first label `label` octets long.
#[inline(always)]
pub fn wild_slot(label: usize) -> Option<usize> {
    (1..=MAX_LABEL).contains(&label).then(|| label - 1)
}

/// The body in `slot` of `bodies`, as an offset into the whole bodies' blob.
#[inline(always)]
pub fn offset(bodies: &[Bodies], key: u32, slot: usize) -> Option<u32> {
    let b = bodies.iter().find(|b| b.key == key)?;
    u32::try_from(b.first as usize + slot * b.stride as usize).ok()
}

/// Renders the bodies of the first cuts and wildcard RRsets of `db`, whose pre-rendered tables
/// ([`Db::fast`]) must not have any yet: they are rendered through the planned path. They stop
/// once the whole bodies fill their budget.
pub fn render(db: &Db) -> Rendered {
    let mut out = Rendered::default();
    let mut msg = [0u8; SCRATCH];
    for (i, node) in db.nodes.iter().enumerate() {
        if db.fast.full_blob.len() + out.blob.len() >= FULL_BUDGET {
            break;
        }
        let i = i as u32;
        if out.referrals.len() < SHORTCUTS && node.deleg == i && db.fast.referral(i).is_some() {
            let cut = db.bytes(node.name, usize::from(node.name_len));
            // Slot 0 is the cut itself; slot `s` a label of `s` octets in front (`d` = s + 1).
            if let Some(b) = render_set(i, REFERRAL_SLOTS, &mut out.blob, &mut msg, |slot, msg| {
                let q = question(msg, slot, cut, TYPE_A)?;
                fast::plan_at(db, &q, msg, i, slot == 0)
                    .filter(|a| matches!(a.body, Body::Empty) && a.flags == 0)
                    .map(|a| (q, a))
            }) {
                out.enclosers.extend(Encloser::referral(db, &b));
                out.referrals.push(b);
            }
        }
        if node.flags & WILDCARD == 0 || node.deleg != NONE {
            continue;
        }
        let Some(star) = db.fast.wild(i).and_then(|w| db.node(w)) else {
            continue;
        };
        let parent = db.bytes(node.name, usize::from(node.name_len));
        for r in db.rrsets_of(star) {
            let Some(set) = db.rrsets.get(r as usize) else {
                continue;
            };
            if out.wild.len() >= SHORTCUTS {
                break;
            }
            if let Some(b) = render_set(r, MAX_LABEL, &mut out.blob, &mut msg, |slot, msg| {
                let q = question(msg, slot + 1, parent, set.rtype)?;
                fast::plan_at(db, &q, msg, i, false)
                    .filter(|a| matches!(a.body, Body::Plain { .. }) && a.flags == FLAG_AA)
                    .map(|a| (q, a))
            }) {
                out.wild.push(b);
            }
        }
        out.enclosers.extend(Encloser::wildcard(db, i, &out.wild));
    }
    out
}

/// Renders the `slots` bodies that `plan(slot, msg)` plans (writing its question into
/// `msg`) into `blob`; `None`, with nothing appended, when one of them is not planned or is not
/// as long as the first.
fn render_set<'a>(
    key: u32,
    slots: usize,
    blob: &mut Vec<u8>,
    msg: &mut [u8; SCRATCH],
    mut plan: impl FnMut(usize, &mut [u8; SCRATCH]) -> Option<(fast::FastQuery, fast::Answer<'a>)>,
) -> Option<Bodies> {
    let first = blob.len();
    let mut stride = None;
    for slot in 0..slots {
        let body = plan(slot, msg).and_then(|(q, a)| {
            // The question came with an OPT (so the size limit is ours, not 512 bytes); the
            // body is what is written before it.
            let total = a.fits(&q, msg.len())?;
            let (len, _, _) = a.write(&q, &mut msg[..total], 0)?;
            Some((msg.get(q.q_end()..len.checked_sub(OPT_LEN)?)?, a.counts))
        });
        let Some((bytes, counts)) = body else {
            blob.truncate(first);
            return None;
        };
        if *stride.get_or_insert(FULL_HEAD + bytes.len()) != FULL_HEAD + bytes.len() {
            blob.truncate(first);
            return None;
        }
        push_full(blob, bytes, fold16(checksum::sum(0, bytes)), counts);
    }
    Some(Bodies {
        key,
        first: u32::try_from(first).ok()?,
        stride: u32::try_from(stride?).ok()?,
    })
}

/// Writes a question for `name` (wire form) with a first label of `label` octets in front
/// (none when 0) and type `qtype`, and an EDNS OPT, into `msg`, and parses it.
fn question(
    msg: &mut [u8; SCRATCH],
    label: usize,
    name: &[u8],
    qtype: u16,
) -> Option<fast::FastQuery> {
    msg[..HEADER_LEN].fill(0);
    msg[5] = 1;
    msg[11] = 1;
    let mut at = HEADER_LEN;
    if label > 0 {
        *msg.get_mut(at)? = u8::try_from(label).ok()?;
        msg.get_mut(at + 1..at + 1 + label)?.fill(b'-');
        at += 1 + label;
    }
    msg.get_mut(at..at + name.len())?.copy_from_slice(name);
    at += name.len();
    msg.get_mut(at..at + 2)?
        .copy_from_slice(&qtype.to_be_bytes());
    msg.get_mut(at + 2..at + 4)?
        .copy_from_slice(&CLASS_IN.to_be_bytes());
    let opt = msg.get_mut(at + 4..at + 4 + OPT_LEN)?;
    opt.fill(0);
    opt[1..3].copy_from_slice(&TYPE_OPT.to_be_bytes());
    opt[3..5].copy_from_slice(&OUR_UDP_SIZE.to_be_bytes());
    fast::parse(msg.get(..at + 4 + OPT_LEN)?)
}

impl Tables {
    /// Takes the bodies [`render`] made into the whole bodies' blob.
    pub fn add_offset_bodies(&mut self, r: Rendered) {
        let base = self.full_blob.len();
        let moved = |b: Bodies| {
            let first = u32::try_from(base + b.first as usize).ok()?;
            Some(Bodies { first, ..b })
        };
        self.referral_bodies = r.referrals.into_iter().filter_map(moved).collect();
        self.wild_bodies = r.wild.into_iter().filter_map(moved).collect();
        self.enclosers = u32::try_from(base).map_or(Vec::new(), |base| {
            r.enclosers
                .into_iter()
                .filter_map(|e| e.moved(base))
                .collect()
        });
        self.full_blob.extend_from_slice(&r.blob);
        self.full_blob.shrink_to_fit();
    }

    /// The referral at cut `cut` as a whole body, for a question whose name has the cut's
    /// name `d` octets in, if rendered.
    #[inline(always)]
    pub fn referral_body(&self, cut: u32, d: usize) -> Option<Full<'_>> {
        self.full_at(offset(&self.referral_bodies, cut, referral_slot(d)?)?)
    }

    /// Wildcard RRset `r` under a name whose first label, `label` octets long, replaces the
    /// `*`, as a whole body, if rendered.
    #[inline(always)]
    pub fn wild_body(&self, r: u32, label: usize) -> Option<Full<'_>> {
        self.full_at(offset(&self.wild_bodies, r, wild_slot(label)?)?)
    }
}
