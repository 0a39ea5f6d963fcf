//! Closest-encloser shortcuts: the cuts and wildcard parents that have whole bodies
//! ([`super::offset_bodies`]), found by comparing a missing name's parent with their names,
//! as the apexes are ([`super::db::Db::apex_node`]), and answered from the body for the
//! question's first label without planning: no second name lookup, no node, zone or RRset
//! reads. A name one label under a cut (any type but DS, which the fast path never takes) gets
//! the referral; under a wildcard's parent, A and AAAA get the wildcard's RRset. The bodies are
//! the planned answers ([`super::fast::plan_at`]) byte for byte; anything they do not cover
//! (other types, a referral's names that compress against the question) is planned from the
//! encloser's node, still without the lookup.
use super::db::{Db, DIRECT_TYPES, NONE};
use super::fast::{ends_in_any, Answer};
use super::offset_bodies::Bodies;
use super::prerender::Tables;
use super::wire::FLAG_AA;

/// A cut or a wildcard's parent with whole bodies for names one label below it.
#[derive(Debug, Clone)]
pub struct Encloser {
    /// Its name, lowercase.
    pub name: Box<[u8]>,
    /// Its node.
    pub node: u32,
    /// A cut: one referral for every type; its bodies are under [`DIRECT_TYPES`]`[0]`.
    referral: bool,
    /// Names one label under the cut that are not in the zone (so the exact lookup misses
    /// them) and that its referral's names end in ([`super::prerender::Negative`]'s
    /// `sensitive`): a question for one compresses the referral against itself, and is
    /// planned. The question's only other suffixes are the cut and its ancestors, which no
    /// sensitive name is (they are strictly below the cut).
    sensitive: Box<[Box<[u8]>]>,
    /// Per [`DIRECT_TYPES`]: the offset of the body for a one-octet first label in the whole
    /// bodies' blob, or [`NONE`].
    first: [u32; 2],
    /// Per [`DIRECT_TYPES`]: bytes from the body for one label length to the next.
    stride: [u32; 2],
}

impl Encloser {
    /// A cut's shortcut from its referral bodies (slot `s` is a first label `s` octets long).
    pub fn referral(db: &Db, bodies: &Bodies) -> Option<Encloser> {
        let node = db.node(bodies.key)?;
        let first = bodies.first.checked_add(bodies.stride)?;
        let name = db.lower_name_of(node).into_boxed_slice();
        let below = |s: &[u8]| super::name::parent(s) == Some(&name[..]) && db.find(s).is_none();
        let sensitive = db.fast.referral(bodies.key)?.sensitive.iter();
        Some(Encloser {
            sensitive: sensitive.filter(|s| below(s)).cloned().collect(),
            name,
            node: bodies.key,
            referral: true,
            first: [first, NONE],
            stride: [bodies.stride, 0],
        })
    }

    /// A wildcard parent's shortcut from the bodies of its `*`'s A and AAAA RRsets (slot `s`
    /// is a first label `s + 1` octets long), if either has them.
    pub fn wildcard(db: &Db, parent: u32, wild: &[Bodies]) -> Option<Encloser> {
        let node = db.node(parent)?;
        let star = db.node(db.fast.wild(parent)?)?;
        let mut first = [NONE; 2];
        let mut stride = [0; 2];
        for (k, t) in DIRECT_TYPES.into_iter().enumerate() {
            let Some(r) = db.rrset_of(star, t) else {
                continue;
            };
            if let Some(b) = wild.iter().find(|b| b.key == r) {
                (first[k], stride[k]) = (b.first, b.stride);
            }
        }
        (first != [NONE; 2]).then(|| Encloser {
            name: db.lower_name_of(node).into_boxed_slice(),
            node: parent,
            referral: false,
            sensitive: Box::new([]),
            first,
            stride,
        })
    }

    /// Rough heap use in bytes, itself included.
    pub fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Encloser>()
            + self.name.len()
            + self.sensitive.iter().map(|s| 16 + s.len()).sum::<usize>()
    }

    /// Moves the bodies' offsets `base` bytes on (their blob appended to another).
    pub fn moved(mut self, base: u32) -> Option<Encloser> {
        for f in self.first.iter_mut().filter(|f| **f != NONE) {
            *f = f.checked_add(base)?;
        }
        Some(self)
    }

    /// The answer to a question for `qname` of type `qtype`, `qname` being one label under
    /// this encloser, from a whole body; `None` when it must be planned.
    #[inline(always)]
    pub fn answer<'a>(&self, db: &'a Db, qtype: u16, qname: &[u8]) -> Option<Answer<'a>> {
        let k = if self.referral || qtype == DIRECT_TYPES[0] {
            0
        } else if qtype == DIRECT_TYPES[1] {
            1
        } else {
            return None;
        };
        let first = self.first[k];
        if first == NONE {
            return None;
        }
        if !self.sensitive.is_empty() && ends_in_any(qname, &self.sensitive) {
            return None;
        }
        // The first label's length (1 to 63: the parse let no other through).
        let slot = usize::from(*qname.first()?).checked_sub(1)?;
        let off = first as usize + slot * self.stride[k] as usize;
        let full = db.fast.full_at(u32::try_from(off).ok()?)?;
        let flags = if self.referral { 0 } else { FLAG_AA };
        Some(Answer::of_full(flags, full))
    }
}

impl Tables {
    /// The shortcut of the cut or wildcard parent named `name` (any case), if it has one (the
    /// lengths compared in line: the comparison is a call). A plain loop: `Iterator::find`
    /// compiled to a call as well, 20 instructions more a wildcard answer.
    #[inline(always)]
    #[allow(clippy::manual_find)]
    pub fn encloser(&self, name: &[u8]) -> Option<&Encloser> {
        for e in &self.enclosers {
            if e.name.len() == name.len() && super::hash::eq_folded(&e.name, name) {
                return Some(e);
            }
        }
        None
    }
}
