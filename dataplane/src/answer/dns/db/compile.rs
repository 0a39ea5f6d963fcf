//! Loaded zones to a [`Db`]: the records grouped into RRsets by owner (each name in the zone
//! with the deepest apex above it), the empty non-terminals between names and their apexes,
//! nodes and RRsets laid out in the blob, the zones' SOA and NS, then the tables the answer
//! paths read.
use hashbrown::HashMap;

use super::{Db, Node, Rrset, Zone, APEX, APEX_SHORTCUTS, NONE};
use crate::answer::dns::name;
use crate::answer::dns::wire::{get_u32, TYPE_CNAME, TYPE_NS, TYPE_SOA};
use crate::answer::dns::zonefile::{LoadedRecord, LoadedZone};

/// A name's records as they are grouped: its zone, its name as first written, its RRsets (type
/// and records) in file order.
struct Owner<'a> {
    zone: usize,
    original: &'a [u8],
    rrsets: Vec<(u16, Vec<&'a LoadedRecord>)>,
}

/// The owners of a set of zones (by lowercase name) and their names in file order.
struct Grouped<'a> {
    owners: HashMap<Vec<u8>, Owner<'a>>,
    order: Vec<Vec<u8>>,
}

/// An empty non-terminal: its lowercase name, its zone and its name as first written.
type EmptyNonTerminal = (Vec<u8>, usize, Vec<u8>);

/// See [`Db::compile`].
pub(super) fn compile(zones: &[LoadedZone], minimal: bool) -> Result<Db, String> {
    let mut db = Db {
        minimal,
        ..Db::default()
    };
    let apexes = deepest_apexes_first(zones)?;
    let grouped = group_records(zones, &apexes, &mut db.record_count)?;
    let ents = empty_non_terminals(zones, &grouped);
    lay_out(&mut db, &grouped, ents);
    add_zones(&mut db, zones)?;
    db.apexes = db
        .zones
        .iter()
        .take(APEX_SHORTCUTS)
        .map(|z| {
            let name = db.lower_name_of(&db.nodes[z.apex as usize]);
            (name.into_boxed_slice(), z.apex)
        })
        .collect();
    db.mark_cuts_and_wildcards();
    db.resolve_additionals();
    db.tails = (0..db.zones.len() as u32)
        .map(|z| {
            if minimal {
                None
            } else {
                crate::answer::dns::tail::Tail::render(&db, z)
            }
        })
        .collect();
    // Whole bodies are rendered through the fast path's planning, which reads these.
    db.fast = crate::answer::dns::prerender::Tables::for_rendering(&db);
    db.fast = crate::answer::dns::prerender::Tables::build(&db);
    // Rendered through the planned path, before the tables have them.
    let bodies = crate::answer::dns::offset_bodies::render(&db);
    db.fast.add_offset_bodies(bodies);
    db.set_direct_answers(false);
    db.map.shrink_to_fit();
    db.blob.shrink_to_fit();
    Ok(db)
}

/// The zones' apexes (with the zone's index), deepest first: the deepest apex owns a name, so a
/// parent zone's records inside a child zone we also serve (its delegation NS and glue) give
/// way to the child's. Fails when two zones have the same apex.
fn deepest_apexes_first(zones: &[LoadedZone]) -> Result<Vec<(&[u8], usize)>, String> {
    let mut apexes: Vec<(&[u8], usize)> = zones
        .iter()
        .enumerate()
        .map(|(i, z)| (z.apex.as_slice(), i))
        .collect();
    apexes.sort_by_key(|(a, _)| std::cmp::Reverse(a.len()));
    for w in apexes.windows(2) {
        if w[0].0 == w[1].0 {
            return Err(format!(
                "{}: zone {} is already loaded from {}",
                zones[w[1].1].file.display(),
                name::to_text(w[0].0),
                zones[w[0].1].file.display()
            ));
        }
    }
    Ok(apexes)
}

/// Groups the records each zone owns by (owner, type), in file order, counting them in
/// `count`. Identical records are one; a CNAME stands alone.
fn group_records<'a>(
    zones: &'a [LoadedZone],
    apexes: &[(&[u8], usize)],
    count: &mut usize,
) -> Result<Grouped<'a>, String> {
    let owner_zone = |lower: &[u8]| {
        apexes
            .iter()
            .find(|(a, _)| name::is_subdomain(lower, a))
            .map(|(_, i)| *i)
    };
    let mut owners: HashMap<Vec<u8>, Owner> = HashMap::new();
    let mut order: Vec<Vec<u8>> = Vec::new();
    for (zi, z) in zones.iter().enumerate() {
        for r in &z.records {
            let mut lower = r.owner.clone();
            name::lowercase(&mut lower);
            if owner_zone(&lower) != Some(zi) {
                continue;
            }
            *count += 1;
            let p = owners.entry(lower.clone()).or_insert_with(|| {
                order.push(lower.clone());
                Owner {
                    zone: zi,
                    original: &r.owner,
                    rrsets: Vec::new(),
                }
            });
            match p.rrsets.iter_mut().find(|(t, _)| *t == r.rtype) {
                Some((_, rs)) => {
                    if r.rtype == TYPE_CNAME {
                        return Err(format!("{}: a second CNAME record", z.location(r)));
                    }
                    // Identical records are one record (RFC 2181 §5).
                    if !rs.iter().any(|x| x.rdata == r.rdata) {
                        rs.push(r);
                    }
                }
                None => p.rrsets.push((r.rtype, vec![r])),
            }
            let has_cname = p.rrsets.iter().any(|(t, _)| *t == TYPE_CNAME);
            if has_cname && p.rrsets.len() > 1 {
                return Err(format!("{}: CNAME and other data", z.location(r)));
            }
        }
    }
    Ok(Grouped { owners, order })
}

/// The empty non-terminals between each owner and its apex, each once, in the owners' order.
fn empty_non_terminals(zones: &[LoadedZone], grouped: &Grouped<'_>) -> Vec<EmptyNonTerminal> {
    let mut ents = Vec::new();
    let mut seen: hashbrown::HashSet<Vec<u8>> = hashbrown::HashSet::new();
    for lower in &grouped.order {
        let Some(p) = grouped.owners.get(lower) else {
            continue;
        };
        let apex_len = zones[p.zone].apex.len();
        let mut cur: &[u8] = lower;
        let mut orig: &[u8] = p.original;
        while cur.len() > apex_len {
            let (Some(pc), Some(po)) = (name::parent(cur), name::parent(orig)) else {
                break;
            };
            cur = pc;
            orig = po;
            if !grouped.owners.contains_key(cur) && seen.insert(cur.to_vec()) {
                ents.push((cur.to_vec(), p.zone, orig.to_vec()));
            }
        }
    }
    ents
}

/// Appends `bytes` to the blob; returns their offset.
fn push_blob(blob: &mut Vec<u8>, bytes: &[u8]) -> u32 {
    let off = blob.len() as u32;
    blob.extend_from_slice(bytes);
    off
}

/// A node for every owner (its RRsets' records in the blob) and every empty non-terminal, each
/// in the name table.
fn lay_out(db: &mut Db, grouped: &Grouped<'_>, ents: Vec<EmptyNonTerminal>) {
    for lower in &grouped.order {
        let Some(p) = grouped.owners.get(lower) else {
            continue;
        };
        let name_off = push_blob(&mut db.blob, p.original);
        let first = db.rrsets.len() as u32;
        for (rtype, rs) in &p.rrsets {
            let data = db.blob.len() as u32;
            for r in rs {
                db.blob
                    .extend_from_slice(&(r.rdata.len() as u16).to_be_bytes());
                db.blob.extend_from_slice(&r.rdata);
            }
            db.rrsets.push(Rrset {
                rtype: *rtype,
                count: rs.len().min(usize::from(u16::MAX)) as u16,
                ttl: rs.first().map_or(0, |r| r.ttl),
                data,
                data_len: db.blob.len() as u32 - data,
                addl: 0,
                addl_len: 0,
            });
        }
        let idx = db.nodes.len() as u32;
        db.nodes.push(Node {
            name: name_off,
            name_len: p.original.len() as u8,
            flags: 0,
            rrset_count: p.rrsets.len() as u16,
            rrsets: first,
            zone: p.zone as u32,
            deleg: NONE,
        });
        db.map.insert(lower, idx);
    }
    for (lower, zone, orig) in ents {
        let name_off = push_blob(&mut db.blob, &orig);
        let idx = db.nodes.len() as u32;
        db.nodes.push(Node {
            name: name_off,
            name_len: orig.len() as u8,
            flags: 0,
            rrset_count: 0,
            rrsets: db.rrsets.len() as u32,
            zone: zone as u32,
            deleg: NONE,
        });
        db.map.insert(&lower, idx);
    }
}

/// Each zone's apex node (flagged), its one SOA, negative-answer TTL (RFC 2308: the SOA's TTL
/// or its MINIMUM, the lower) and NS RRset.
fn add_zones(db: &mut Db, zones: &[LoadedZone]) -> Result<(), String> {
    for z in zones {
        let apex = db
            .find(&z.apex)
            .ok_or_else(|| format!("{}: the zone's apex has no records", z.file.display()))?;
        let node = db.nodes[apex as usize];
        let soa = db
            .rrset_of(&node, TYPE_SOA)
            .ok_or_else(|| format!("{}: the zone's apex has no SOA", z.file.display()))?;
        let set = db.rrsets[soa as usize];
        if set.count != 1 {
            return Err(format!("{}: more than one SOA record", z.file.display()));
        }
        // MINIMUM is the last field of the SOA RDATA.
        let end = (set.data + set.data_len) as usize;
        let minimum = end
            .checked_sub(4)
            .and_then(|p| get_u32(&db.blob, p))
            .unwrap_or(0);
        db.nodes[apex as usize].flags |= APEX;
        db.zones.push(Zone {
            apex,
            soa,
            neg_ttl: set.ttl.min(minimum),
            ns: db.rrset_of(&node, TYPE_NS).unwrap_or(NONE),
        });
    }
    Ok(())
}
