//! Pre-rendered response tails: the authority NS RRset and the additional A/AAAA of its
//! targets, identical in every positive answer of a zone (NSD's non-minimal responses). Rendered
//! once at load with compression against the apex; the compression pointers are fixed up per
//! query (the apex is the query name's suffix, the tail follows the answer section), so a
//! positive answer copies the tail instead of encoding and compressing it record by record.
use super::db::Db;
use super::resolve::{tail_plan, Plan, Section};
use super::respond::encode_sections;
use super::wire::{get_u16, HEADER_LEN, TYPE_A, TYPE_AAAA, TYPE_NS, TYPE_SOA};
use super::writer::Writer;
use crate::packet::checksum;

/// Where a compression pointer in the tail points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fix {
    /// At this offset inside the apex name (the query name's suffix).
    Apex(u16),
    /// At this offset inside the tail itself.
    Local(u16),
}

/// A zone's rendered tail.
#[derive(Debug, Clone)]
pub struct Tail {
    /// The records, as rendered.
    pub bytes: Vec<u8>,
    /// Authority records.
    pub ns: u16,
    /// Additional records.
    pub ar: u16,
    /// (offset in `bytes`, target) of every compression pointer.
    pub fixups: Vec<(u16, Fix)>,
    /// The RRsets it holds (an answer containing one of them takes the general path, which
    /// leaves out the duplicate as NSD does).
    pub rrsets: Vec<u32>,
    /// One's-complement sum of `bytes` with every fixed-up pointer zeroed, as if `bytes`
    /// started at an even message offset: [`Tail::copy_to`] adds the pointers it writes.
    pub sum0: u32,
    /// The pointers into the apex name: (offset in `bytes`, `0xc000` + offset in the apex).
    apex_fix: Vec<(u16, u16)>,
    /// The pointers into the tail: (offset in `bytes`, `0xc000` + offset in the tail).
    local_fix: Vec<(u16, u16)>,
    /// Per parity of the pointer's offset in `bytes` (even, odd): the sum of the pointers'
    /// values before the shifts, and how many of them shift with the apex and with the tail.
    fix_sums: [(u32, u32, u32); 2],
}

/// Finds the pointers of the name at `pos`; returns the position after it.
fn scan_name(
    b: &[u8],
    mut pos: usize,
    q_end: usize,
    fixups: &mut Vec<(u16, Fix)>,
) -> Option<usize> {
    loop {
        let len = *b.get(pos)?;
        if len & 0xc0 == 0xc0 {
            let target = (usize::from(len & 0x3f) << 8) | usize::from(*b.get(pos + 1)?);
            let fix = if target >= q_end {
                Fix::Local((target - q_end) as u16)
            } else {
                Fix::Apex(target.checked_sub(HEADER_LEN)? as u16)
            };
            fixups.push(((pos - q_end) as u16, fix));
            return Some(pos + 2);
        }
        if len == 0 {
            return Some(pos + 1);
        }
        pos += 1 + usize::from(len);
    }
}

impl Tail {
    /// Renders the tail of `zone`, if it has apex NS records and the tail fits a 512-byte answer
    /// with room to spare.
    pub fn render(db: &Db, zone: u32) -> Option<Tail> {
        Self::render_plan(db, zone, &tail_plan(db, zone)?)
    }

    /// Renders the authority and additional sections of `plan` for a question whose name ends
    /// in the apex of `zone`, if they fit a 512-byte answer with room to spare.
    pub fn render_plan(db: &Db, zone: u32, plan: &Plan) -> Option<Tail> {
        Self::render_at(db, db.zones.get(zone as usize)?.apex, plan)
    }

    /// [`Tail::render_plan`] for a question whose name ends in the name of node `anchor`
    /// (pointers into the question are then relative to where that name starts).
    pub fn render_at(db: &Db, anchor: u32, plan: &Plan) -> Option<Tail> {
        let apex = db.node(anchor)?;
        let name = db.bytes(apex.name, usize::from(apex.name_len));
        let mut buf = [0u8; 1024];
        let q_end = HEADER_LEN + name.len() + 4;
        buf.get_mut(HEADER_LEN..HEADER_LEN + name.len())?
            .copy_from_slice(name);
        let mut w = Writer::new(&mut buf, q_end, 400);
        w.remember_name(HEADER_LEN);
        let mut counts = [0u16; 4];
        let sections = [
            Section::Authority,
            Section::AdditionalA,
            Section::AdditionalAaaa,
        ];
        if encode_sections(&mut w, db, plan, &sections, &mut counts) {
            return None;
        }
        let end = w.pos;
        let planned: usize = plan
            .items()
            .iter()
            .filter_map(|i| db.rrsets.get(i.rrset as usize))
            .map(|s| usize::from(s.count))
            .sum();
        let ar = counts[2] + counts[3];
        if planned != usize::from(counts[1] + ar) {
            return None; // some additional records did not fit: leave it to the general path
        }
        let bytes = buf.get(q_end..end)?.to_vec();
        // Walk the records for their compression pointers.
        let mut fixups = Vec::new();
        let mut pos = q_end;
        while pos < end {
            pos = scan_name(&buf, pos, q_end, &mut fixups)?;
            let rtype = get_u16(&buf, pos)?;
            let rdlen = usize::from(get_u16(&buf, pos + 8)?);
            // Names in RDATA: NS's target, SOA's MNAME and RNAME.
            if rtype == TYPE_NS {
                scan_name(&buf, pos + 10, q_end, &mut fixups)?;
            } else if rtype == TYPE_SOA {
                let after = scan_name(&buf, pos + 10, q_end, &mut fixups)?;
                scan_name(&buf, after, q_end, &mut fixups)?;
            } else if rtype != TYPE_A && rtype != TYPE_AAAA {
                return None; // names this walk does not know to fix up
            }
            pos += 10 + rdlen;
        }
        let mut zeroed = bytes.clone();
        for &(at, _) in &fixups {
            zeroed[usize::from(at)..usize::from(at) + 2].fill(0);
        }
        let mut apex_fix = Vec::new();
        let mut local_fix = Vec::new();
        let mut fix_sums = [(0u32, 0u32, 0u32); 2];
        for &(at, fix) in &fixups {
            let s = &mut fix_sums[usize::from(at & 1)];
            match fix {
                Fix::Apex(k) => {
                    apex_fix.push((at, 0xc000 | k));
                    s.0 += u32::from(0xc000 | k);
                    s.1 += 1;
                }
                Fix::Local(k) => {
                    local_fix.push((at, 0xc000 | k));
                    s.0 += u32::from(0xc000 | k);
                    s.2 += 1;
                }
            }
        }
        Some(Tail {
            sum0: checksum::sum(0, &zeroed),
            bytes,
            ns: counts[1],
            ar,
            fixups,
            rrsets: plan.items().iter().map(|i| i.rrset).collect(),
            apex_fix,
            local_fix,
            fix_sums,
        })
    }

    /// Copies the tail to `msg[base..]` with its pointers fixed for an apex name at `apex_off`
    /// (the caller checked that it fits below offset 0x3fff) and returns the one's-complement
    /// sum of the bytes written, as they sit in `msg` (offset 0 even).
    #[inline(always)]
    pub fn copy_to(&self, msg: &mut [u8], base: usize, apex_off: usize) -> Option<u32> {
        let out = msg.get_mut(base..base + self.bytes.len())?;
        out.copy_from_slice(&self.bytes);
        // Below 0x3fff the pointer's offset is added, not OR-ed, into its 0xc000.
        let (a, b) = (apex_off as u16 & 0x3fff, base as u16 & 0x3fff);
        for &(at, v) in &self.apex_fix {
            let at = usize::from(at);
            let dst: &mut [u8; 2] = out.get_mut(at..at + 2)?.try_into().ok()?;
            *dst = (v + a).to_be_bytes();
        }
        for &(at, v) in &self.local_fix {
            let at = usize::from(at);
            let dst: &mut [u8; 2] = out.get_mut(at..at + 2)?.try_into().ok()?;
            *dst = (v + b).to_be_bytes();
        }
        // The pointers' sums from their counts: at even and odd offsets inside the tail.
        let (a, b) = (u32::from(a), u32::from(b));
        let [(ce, ae, le), (co, ao, lo)] = self.fix_sums;
        let even = ce + ae * a + le * b;
        let odd = co + ao * a + lo * b;
        // A 16-bit sum of bytes shifted by one is the byte-swapped sum (RFC 1071 §2(B)).
        let s = fold16(self.sum0 + even + u32::from(fold16(odd).swap_bytes()));
        Some(u32::from(if base & 1 == 0 { s } else { s.swap_bytes() }))
    }
}

/// Folds a sum of a few 16-bit values to 16 bits, one's-complement style.
#[inline]
pub fn fold16(mut acc: u32) -> u16 {
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc as u16
}

impl Tail {
    /// Appends the tail with its pointers fixed for a message whose apex name starts at
    /// `apex_off`; false (nothing written) when it does not fit.
    pub fn write(&self, w: &mut Writer<'_>, apex_off: usize, counts: &mut [u16; 4]) -> bool {
        let base = w.pos;
        if base + self.bytes.len() > 0x3fff || w.bytes(&self.bytes).is_err() {
            return false;
        }
        for &(at, fix) in &self.fixups {
            let target = match fix {
                Fix::Apex(k) => apex_off + usize::from(k),
                Fix::Local(k) => base + usize::from(k),
            };
            w.set_u16(base + usize::from(at), 0xc000 | target as u16);
        }
        counts[1] += self.ns;
        counts[2] += self.ar;
        true
    }
}
