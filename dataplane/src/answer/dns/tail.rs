//! Pre-rendered response tails: the authority NS RRset and the additional A/AAAA of its
//! targets, identical in every positive answer of a zone (NSD's non-minimal responses). Rendered
//! once at load with compression against the apex; the compression pointers are fixed up per
//! query (the apex is the query name's suffix, the tail follows the answer section), so a
//! positive answer copies the tail instead of encoding and compressing it record by record.
use super::db::Db;
use super::resolve::{tail_plan, Section};
use super::respond::encode_sections;
use super::wire::{get_u16, HEADER_LEN, TYPE_NS};
use super::writer::Writer;

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
        let plan = tail_plan(db, zone)?;
        let apex = db.node(db.zones.get(zone as usize)?.apex)?;
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
        if encode_sections(&mut w, db, &plan, &sections, &mut counts) {
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
            if rtype == TYPE_NS {
                scan_name(&buf, pos + 10, q_end, &mut fixups)?;
            }
            pos += 10 + rdlen;
        }
        Some(Tail {
            bytes,
            ns: counts[1],
            ar,
            fixups,
            rrsets: plan.items().iter().map(|i| i.rrset).collect(),
        })
    }

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
