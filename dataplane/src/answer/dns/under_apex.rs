//! NXDOMAIN for a name one label under a zone's apex, as whole bodies: the zone's negative SOA
//! ([`Negative`]) with its compression pointers already fixed up, once per length of that
//! label (1 to 63 octets: the only thing the pointers depend on there). The usual name that
//! does not exist (a typo, a flood of random names) then costs what an A answer does: its
//! parent compared with the apex ([`super::db::Db::apex_node`]), a body copied.
use super::db::{Db, NONE, WILDCARD};
use super::fast::{ends_in_any, Answer};
use super::name::MAX_LABEL;
use super::prerender::{push_full, Negative, FULL_HEAD};
use super::tail::fold16;
use super::wire::{FLAG_AA, HEADER_LEN, RCODE_NXDOMAIN};
use crate::packet::checksum;

/// Appends the 63 bodies of `neg` (a zone whose apex name is `apex_len` octets long) to
/// `blob`; returns the offset of the first (for a one-octet label), the others following
/// [`stride`] bytes apart. `None` (nothing appended) when the tail does not fit a message.
pub fn render(neg: &Negative, apex_len: usize, blob: &mut Vec<u8>) -> Option<u32> {
    let tail = &neg.tail;
    let first = blob.len();
    let mut msg = Vec::new();
    for label in 1..=MAX_LABEL {
        // The question: header, the label, the apex, type and class.
        let q_end = HEADER_LEN + 1 + label + apex_len + 4;
        msg.clear();
        msg.resize(q_end + tail.bytes.len(), 0);
        if msg.len() > 0x3fff
            || tail
                .copy_to(&mut msg, q_end, HEADER_LEN + 1 + label)
                .is_none()
        {
            blob.truncate(first);
            return None;
        }
        let bytes = &msg[q_end..];
        let sum = fold16(checksum::sum(0, bytes));
        push_full(blob, bytes, sum, [0, tail.ns, tail.ar]);
    }
    u32::try_from(first).ok()
}

/// Bytes from one body of [`render`] to the next.
#[inline(always)]
pub fn stride(neg: &Negative) -> usize {
    FULL_HEAD + neg.tail.bytes.len()
}

/// The NXDOMAIN for `qname`, whose first label (`label` octets) is right under the apex node
/// `apex`, as a whole body; `None` when [`super::fast::plan_at`] must plan it: the
/// apex has a `*` child, or the question's name compresses the SOA differently.
#[inline(always)]
pub fn answer<'a>(db: &'a Db, apex: u32, qname: &[u8], label: usize) -> Option<Answer<'a>> {
    let node = db.node(apex)?;
    if node.deleg != NONE || node.flags & WILDCARD != 0 {
        return None;
    }
    let (full, neg) = db.fast.nxdomain_under_apex(node.zone, label)?;
    if ends_in_any(qname, &neg.sensitive) {
        return None;
    }
    Some(Answer::of_full(FLAG_AA | u16::from(RCODE_NXDOMAIN), full))
}
