//! The compiled lookup structure: every name of every zone in one table from lowercase wire
//! name to a node ([`super::table`]); nodes point at pre-encoded RRsets in one byte blob.
//! Built once at load, read without allocating per query.
use super::name;
use super::wire::{additional_name_offset, TYPE_A, TYPE_AAAA, TYPE_CNAME, TYPE_NS};
use super::zonefile::LoadedZone;

mod compile;

/// "No index".
pub const NONE: u32 = u32::MAX;

/// Node flag: a delegation point (NS below the apex).
pub const CUT: u8 = 1;
/// Node flag: has a `*` child (RFC 4592 source of synthesis).
pub const WILDCARD: u8 = 2;
/// Node flag: the apex of its zone.
pub const APEX: u8 = 4;

/// The types whose whole bodies a name's table entry points at ([`Db::find_direct`]): those
/// whose CNAME chains are pre-rendered, so a CNAME's chains fill the same places.
pub const DIRECT_TYPES: [u16; 2] = super::prerender::PRE_TYPES;

/// An RRset: its records are `[rdlength u16][rdata]` repeated `count` times in the blob.
#[derive(Debug, Clone, Copy)]
pub struct Rrset {
    /// Record type.
    pub rtype: u16,
    /// Number of records.
    pub count: u16,
    /// TTL (the first record's).
    pub ttl: u32,
    /// Offset of the records in the blob.
    pub data: u32,
    /// Length of the records in the blob.
    pub data_len: u32,
    /// First additional-section entry.
    pub addl: u32,
    /// Number of additional-section entries.
    pub addl_len: u32,
}

/// A target name of an NS/MX RRset whose A/AAAA go to the additional section.
#[derive(Debug, Clone, Copy)]
pub struct Additional {
    /// The target name (offset in the blob; written compressed at answer time).
    pub name: u32,
    /// Its length.
    pub name_len: u8,
    /// The node holding the A/AAAA RRsets (the target itself or the wildcard it expands).
    pub node: u32,
    /// The node is the target itself (not a wildcard expanded for it).
    pub exact: bool,
}

/// One name of a zone (with data, or an empty non-terminal).
#[derive(Debug, Clone, Copy)]
pub struct Node {
    /// The name as written in the zone (offset in the blob).
    pub name: u32,
    /// Its length.
    pub name_len: u8,
    /// Flags: [`CUT`], [`WILDCARD`], [`APEX`].
    pub flags: u8,
    /// Number of RRsets.
    pub rrset_count: u16,
    /// First RRset index.
    pub rrsets: u32,
    /// The zone this node belongs to.
    pub zone: u32,
    /// The highest delegation point at or above this node inside its zone, or [`NONE`].
    pub deleg: u32,
}

/// A zone's apex facts.
#[derive(Debug, Clone, Copy)]
pub struct Zone {
    /// The apex node.
    pub apex: u32,
    /// The SOA RRset.
    pub soa: u32,
    /// TTL of the SOA in negative answers: min(SOA TTL, SOA MINIMUM) (RFC 2308 §3).
    pub neg_ttl: u32,
    /// The apex NS RRset, or [`NONE`].
    pub ns: u32,
}

/// All compiled zones of a service.
#[derive(Debug, Default)]
pub struct Db {
    map: super::table::NameTable,
    /// Nodes.
    pub nodes: Vec<Node>,
    /// RRsets, grouped by node.
    pub rrsets: Vec<Rrset>,
    /// Additional-section entries, grouped by RRset.
    pub addl: Vec<Additional>,
    /// Names and RDATA.
    pub blob: Vec<u8>,
    /// Zones.
    pub zones: Vec<Zone>,
    /// Number of records loaded.
    pub record_count: usize,
    /// Per zone, its pre-rendered positive-answer tail (none with minimal responses).
    pub tails: Vec<Option<super::tail::Tail>>,
    /// Minimal responses: no authority NS in positive answers, additional records for NS
    /// RRsets only (NSD's `minimal-responses: yes`).
    pub minimal: bool,
    /// What the fast path answers from ([`super::prerender`]).
    pub fast: super::prerender::Tables,
    /// The first [`APEX_SHORTCUTS`] zones' apex names (lowercase) and nodes ([`Db::apex_node`]).
    apexes: Vec<(Box<[u8]>, u32)>,
}

/// Most zones whose apex [`Db::apex_node`] compares a name with (it looks at every one).
pub const APEX_SHORTCUTS: usize = 8;

impl Db {
    /// The node of a wire name, in any case.
    #[inline(always)]
    pub fn find(&self, name: &[u8]) -> Option<u32> {
        self.map.get(name)
    }

    /// The node of `name` (any case) when it is the apex of one of the first
    /// [`APEX_SHORTCUTS`] zones, found by comparing it with their apex names rather than by a
    /// lookup: the usual closest encloser of a name that does not exist (a label under the
    /// apex, as in a flood of random names). `None` tells nothing about other names.
    #[inline(always)]
    pub fn apex_node(&self, name: &[u8]) -> Option<u32> {
        self.apexes
            .iter()
            .find(|(apex, _)| super::hash::eq_folded(apex, name))
            .map(|&(_, node)| node)
    }

    /// [`Db::find`], with the offset of the whole body of the name's `qtype` RRset (or, for a
    /// name with a CNAME alone, of its chain) when `qtype` is one of [`DIRECT_TYPES`] and there
    /// is one ([`super::prerender::Tables::full_at`]), else [`NONE`].
    #[inline(always)]
    pub fn find_direct(&self, name: &[u8], qtype: u16) -> Option<(u32, u32)> {
        let (idx, direct) = self.map.get_with_extra(name)?;
        // Two comparisons (an iterator's `find` over the pairs compiled to far more).
        let off = if qtype == DIRECT_TYPES[0] {
            direct[0]
        } else if qtype == DIRECT_TYPES[1] {
            direct[1]
        } else {
            NONE
        };
        Some((idx, off))
    }

    /// The node at `idx` (callers only hold indices this Db handed out).
    #[inline(always)]
    pub fn node(&self, idx: u32) -> Option<&Node> {
        self.nodes.get(idx as usize)
    }

    /// The RRset of `rtype` at `node`, as an index.
    #[inline(always)]
    pub fn rrset_of(&self, node: &Node, rtype: u16) -> Option<u32> {
        let start = node.rrsets as usize;
        let sets = self
            .rrsets
            .get(start..start + usize::from(node.rrset_count))?;
        sets.iter()
            .position(|r| r.rtype == rtype)
            .map(|i| (start + i) as u32)
    }

    /// The RRset indices of a node.
    #[inline]
    pub fn rrsets_of(&self, node: &Node) -> std::ops::Range<u32> {
        node.rrsets..node.rrsets + u32::from(node.rrset_count)
    }

    /// Bytes of the blob at (offset, len).
    #[inline(always)]
    pub fn bytes(&self, off: u32, len: usize) -> &[u8] {
        self.blob
            .get(off as usize..off as usize + len)
            .unwrap_or(&[])
    }

    /// Rough heap use in bytes (for the memory figures).
    pub fn heap_bytes(&self) -> usize {
        self.map.heap_bytes()
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.rrsets.capacity() * std::mem::size_of::<Rrset>()
            + self.addl.capacity() * std::mem::size_of::<Additional>()
            + self.blob.capacity()
            + self.fast.heap_bytes()
    }

    /// Compiles loaded zones, for minimal responses when `minimal`. Errors name the file and
    /// line of the offending record.
    pub fn compile(zones: &[LoadedZone], minimal: bool) -> Result<Db, String> {
        compile::compile(zones, minimal)
    }

    /// Gives each name outside delegations whose A or AAAA RRset has a whole body its bodies'
    /// offsets in the name table ([`Db::find_direct`]), so the common answer needs no node or
    /// RRset lookup; a name with a CNAME alone gets its chains' whole bodies for A and AAAA.
    /// `again`: the table's entries may hold earlier tables' offsets, which are cleared.
    fn set_direct_answers(&mut self, again: bool) {
        for i in 0..self.nodes.len() {
            let node = self.nodes[i];
            let direct = if node.deleg != NONE {
                [NONE; 2]
            } else if node.rrset_count == 1 && self.rrset_of(&node, TYPE_CNAME).is_some() {
                // A CNAME alone answers A and AAAA with its chain (fast::plan_at's exact
                // CNAME case), when that chain is a whole body.
                self.fast.cname_full(i as u32)
            } else {
                DIRECT_TYPES.map(|t| {
                    self.rrset_of(&node, t)
                        .and_then(|r| self.fast.full_offset(r))
                        .unwrap_or(NONE)
                })
            };
            if direct != [NONE; 2] || again {
                let name = self.lower_name_of(&node);
                self.map.set_extra(&name, direct);
            }
        }
    }

    /// Replaces the pre-rendered tables (tests build them with other budgets) and points the
    /// name table's entries at their whole bodies.
    pub fn set_tables(&mut self, tables: super::prerender::Tables) {
        self.fast = tables;
        self.set_direct_answers(true);
    }

    /// The name of `node`, lowercase.
    pub(super) fn lower_name_of(&self, node: &Node) -> Vec<u8> {
        let mut n = self.bytes(node.name, usize::from(node.name_len)).to_vec();
        name::lowercase(&mut n);
        n
    }

    fn mark_cuts_and_wildcards(&mut self) {
        for i in 0..self.nodes.len() {
            let node = self.nodes[i];
            if node.flags & APEX == 0 && self.rrset_of(&node, TYPE_NS).is_some() {
                self.nodes[i].flags |= CUT;
            }
        }
        for i in 0..self.nodes.len() {
            let node = self.nodes[i];
            let lower = self.lower_name_of(&node);
            if lower.get(..2) == Some(b"\x01*") {
                if let Some(p) = name::parent(&lower).and_then(|p| self.find(p)) {
                    self.nodes[p as usize].flags |= WILDCARD;
                }
            }
            // The highest cut at or above this node within its zone.
            let mut cur: &[u8] = &lower;
            let mut deleg = NONE;
            while let Some(idx) = self.find(cur) {
                let n = self.nodes[idx as usize];
                if n.zone != node.zone || n.flags & APEX != 0 {
                    break;
                }
                if n.flags & CUT != 0 {
                    deleg = idx;
                }
                match name::parent(cur) {
                    Some(p) => cur = p,
                    None => break,
                }
            }
            self.nodes[i].deleg = deleg;
        }
    }

    /// The node whose data answers `lower` in `zone`, following RFC 4592 wildcards, as NSD's
    /// additional-section processing does.
    fn additional_target(&self, lower: &[u8], zone: u32) -> Option<u32> {
        if let Some(idx) = self.find(lower) {
            return (self.nodes[idx as usize].zone == zone).then_some(idx);
        }
        let mut cur = lower;
        while let Some(p) = name::parent(cur) {
            if let Some(idx) = self.find(p) {
                let n = self.nodes[idx as usize];
                if n.zone != zone || n.flags & WILDCARD == 0 {
                    return None;
                }
                let mut wild = b"\x01*".to_vec();
                wild.extend_from_slice(p);
                return self.find(&wild);
            }
            cur = p;
        }
        None
    }

    fn resolve_additionals(&mut self) {
        for ni in 0..self.nodes.len() {
            let node = self.nodes[ni];
            for ri in self.rrsets_of(&node) {
                let set = self.rrsets[ri as usize];
                let Some(off) = additional_name_offset(set.rtype) else {
                    continue;
                };
                let allow_glue = set.rtype == TYPE_NS;
                let start = self.addl.len() as u32;
                let mut pos = set.data as usize;
                let end = (set.data + set.data_len) as usize;
                while pos + 2 <= end {
                    let rdlen =
                        usize::from(u16::from_be_bytes([self.blob[pos], self.blob[pos + 1]]));
                    let rdata = pos + 2;
                    pos = rdata + rdlen;
                    let name_at = rdata + off;
                    let name_len = wire_name_len(&self.blob[name_at.min(end)..end]);
                    if name_len == 0 {
                        continue;
                    }
                    let mut lower = self.blob[name_at..name_at + name_len].to_vec();
                    name::lowercase(&mut lower);
                    let Some(target) = self.additional_target(&lower, node.zone) else {
                        continue;
                    };
                    let t = self.nodes[target as usize];
                    if !allow_glue && t.deleg != NONE {
                        continue;
                    }
                    if self.rrset_of(&t, TYPE_A).is_none() && self.rrset_of(&t, TYPE_AAAA).is_none()
                    {
                        continue;
                    }
                    let exact = self.find(&lower) == Some(target);
                    self.addl.push(Additional {
                        name: name_at as u32,
                        name_len: name_len as u8,
                        node: target,
                        exact,
                    });
                }
                self.rrsets[ri as usize].addl = start;
                self.rrsets[ri as usize].addl_len = self.addl.len() as u32 - start;
            }
        }
    }
}

/// Length of the uncompressed wire name at the start of `b` (0 when malformed).
pub fn wire_name_len(b: &[u8]) -> usize {
    let mut i = 0usize;
    loop {
        match b.get(i) {
            Some(0) => return i + 1,
            Some(&l) if l < 64 => i += 1 + usize::from(l),
            _ => return 0,
        }
    }
}
