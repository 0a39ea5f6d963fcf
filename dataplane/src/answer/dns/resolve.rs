//! Authoritative answers, following NSD's query logic (query.c): exact matches, CNAME chains,
//! RFC 4592 wildcards, referrals with glue, NODATA/NXDOMAIN with the negative SOA (RFC 2308),
//! RFC 8482 ANY, and additional-section A/AAAA for NS/MX targets. The result is a plan of RRsets
//! per section in a fixed-size array, encoded afterwards by [`super::respond`].
use super::db::{Db, Node, NONE, WILDCARD};
use super::name::MAX_NAME;
use super::wire::{
    RCODE_NOERROR, RCODE_NXDOMAIN, RCODE_REFUSED, TYPE_A, TYPE_AAAA, TYPE_ANY, TYPE_CNAME,
    TYPE_DNSKEY, TYPE_DS,
};

/// Longest CNAME chain followed.
const MAX_CHAIN: usize = 8;
/// Most RRsets in one answer.
pub const MAX_PLANNED: usize = 32;

/// Response sections in encoding order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// Answer.
    Answer = 0,
    /// Authority.
    Authority = 1,
    /// Additional, A records.
    AdditionalA = 2,
    /// Additional, AAAA records.
    AdditionalAaaa = 3,
}

/// Whose name an RRset is written under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A node's own name (written as a pointer to the question when it is the question).
    Node(u32),
    /// The question name (wildcard expansion of the query name).
    Qname,
    /// A name stored in the blob at (offset, len): a CNAME or NS/MX target.
    Blob(u32, u8),
}

/// One RRset to encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    /// Its section.
    pub section: Section,
    /// The RRset index.
    pub rrset: u32,
    /// The owner name.
    pub owner: Owner,
    /// The negative-answer SOA: TTL is the zone's negative TTL.
    pub negative: bool,
}

/// The outcome of resolution.
pub struct Plan {
    /// RRsets to encode, in the order added.
    pub items: [Planned; MAX_PLANNED],
    /// How many.
    pub len: usize,
    /// Response code.
    pub rcode: u8,
    /// AA flag.
    pub aa: bool,
    /// The node that is the exact match of the query name (written as a pointer to it).
    pub qname_node: u32,
    /// A zone whose pre-rendered authority/additional tail ([`super::tail::Tail`]) may replace
    /// the planned authority and additional sections, or [`NONE`].
    pub tail: u32,
}

impl Default for Plan {
    fn default() -> Self {
        Self::new()
    }
}

impl Plan {
    /// An empty plan.
    pub fn new() -> Self {
        Plan {
            items: [Planned {
                section: Section::Answer,
                rrset: 0,
                owner: Owner::Qname,
                negative: false,
            }; MAX_PLANNED],
            len: 0,
            rcode: RCODE_NOERROR,
            aa: false,
            qname_node: NONE,
            tail: NONE,
        }
    }

    /// The planned RRsets.
    pub fn items(&self) -> &[Planned] {
        &self.items[..self.len]
    }

    /// Adds an RRset unless already present (NSD's answer_add_rrset); an earlier section wins.
    pub fn add(&mut self, section: Section, rrset: u32, owner: Owner, negative: bool) -> bool {
        for it in &mut self.items[..self.len] {
            if it.rrset == rrset && it.owner == owner {
                if section < it.section {
                    it.section = section;
                    return true;
                }
                return false;
            }
        }
        if self.len == MAX_PLANNED {
            return false;
        }
        self.items[self.len] = Planned {
            section,
            rrset,
            owner,
            negative,
        };
        self.len += 1;
        true
    }
}

struct Ctx<'a> {
    db: &'a Db,
    qtype: u16,
    class_any: bool,
    plan: &'a mut Plan,
    cname_count: usize,
    /// The zone of the query name itself (its apex is the question's suffix).
    first_zone: u32,
}

impl Ctx<'_> {
    /// Adds an RRset and, for NS/MX, the A/AAAA of its targets (for NS only with minimal
    /// responses: referral glue and an NS answer's addresses are what NSD still adds then).
    fn add_rrset(&mut self, section: Section, rrset: u32, owner: Owner) -> bool {
        let added = self.plan.add(section, rrset, owner, false);
        let Some(set) = self.db.rrsets.get(rrset as usize) else {
            return added;
        };
        if self.db.minimal && set.rtype != super::wire::TYPE_NS {
            return added;
        }
        let start = set.addl as usize;
        let end = start + set.addl_len as usize;
        for a in self.db.addl.get(start..end).unwrap_or(&[]) {
            let Some(t) = self.db.node(a.node) else {
                continue;
            };
            let t = *t;
            // An exact target is the node itself; an expanded wildcard is named by the target.
            let owner = if a.exact {
                Owner::Node(a.node)
            } else {
                Owner::Blob(a.name, a.name_len)
            };
            if let Some(r) = self.db.rrset_of(&t, TYPE_A) {
                self.plan.add(Section::AdditionalA, r, owner, false);
            }
            if let Some(r) = self.db.rrset_of(&t, TYPE_AAAA) {
                self.plan.add(Section::AdditionalAaaa, r, owner, false);
            }
        }
        added
    }

    fn soa(&mut self, zone: u32) {
        if self.class_any {
            return;
        }
        if let Some(z) = self.db.zones.get(zone as usize) {
            self.plan
                .add(Section::Authority, z.soa, Owner::Node(z.apex), true);
        }
    }

    /// Closest encloser of a lowercase name: (node, exact).
    fn closest(&self, lower: &[u8]) -> Option<(u32, bool)> {
        let mut cur = lower;
        let mut exact = true;
        loop {
            if let Some(idx) = self.db.find(cur) {
                return Some((idx, exact));
            }
            cur = super::name::parent(cur)?;
            exact = false;
        }
    }

    /// NSD's answer_lookup_zone for `lower`; `name_owner` names the query name when it is not
    /// the original question (CNAME target).
    fn lookup(&mut self, lower: &[u8], name_owner: Owner) {
        let Some((ce, exact)) = self.closest(lower) else {
            if self.cname_count == 0 {
                self.plan.rcode = RCODE_REFUSED;
            }
            return;
        };
        let Some(node) = self.db.node(ce).copied() else {
            return;
        };
        if self.cname_count == 0 {
            self.first_zone = node.zone;
            if exact {
                self.plan.qname_node = ce;
            }
        }
        let ds_at_cut = exact && self.qtype == TYPE_DS && node.deleg == ce;
        if node.deleg != NONE && !ds_at_cut {
            // Referral (RFC 1034 §4.3.2 step 3b): AA clear unless reached through a CNAME.
            self.plan.aa = self.cname_count > 0;
            if let Some(cut) = self.db.node(node.deleg).copied() {
                if let Some(ns) = self.db.rrset_of(&cut, super::wire::TYPE_NS) {
                    self.add_rrset(Section::Authority, ns, Owner::Node(node.deleg));
                }
            }
            return;
        }
        self.plan.aa = !self.class_any;
        let (matched, owner) = if exact {
            (node, Owner::Node(ce))
        } else if node.flags & WILDCARD != 0 {
            // RFC 4592 §3.3.1: the closest encloser's `*` child synthesizes the answer.
            let mut wild = [0u8; MAX_NAME + 2];
            let Some(name) = self
                .db
                .blob
                .get(node.name as usize..node.name as usize + usize::from(node.name_len))
            else {
                return;
            };
            wild[..2].copy_from_slice(b"\x01*");
            let n = name.len().min(MAX_NAME);
            wild[2..2 + n].copy_from_slice(&name[..n]);
            super::name::lowercase(&mut wild[..2 + n]);
            let Some(w) = self.db.find(&wild[..2 + n]).and_then(|i| self.db.node(i)) else {
                return;
            };
            (*w, name_owner)
        } else {
            // NXDOMAIN, also at the end of a CNAME chain (RFC 6604 §2.1, as NSD 4.6 does).
            self.plan.rcode = RCODE_NXDOMAIN;
            self.soa(node.zone);
            return;
        };
        self.answer_domain(&matched, owner);
    }

    fn answer_domain(&mut self, node: &Node, owner: Owner) {
        let qtype = self.qtype;
        if qtype == TYPE_ANY {
            // RFC 8482 §4.1: answer with one RRset of the name rather than all of them (the
            // first in zone order, no authority NS, as NSD 4.6 does).
            if node.rrset_count > 0 {
                self.add_rrset(Section::Answer, node.rrsets, owner);
            } else {
                self.soa(node.zone);
            }
            return;
        }
        if let Some(r) = self.db.rrset_of(node, qtype) {
            self.add_rrset(Section::Answer, r, owner);
            let zone = self.db.zones.get(node.zone as usize).copied();
            if let Some(z) = zone {
                // The authority NS of a positive answer is optional: minimal responses
                // leave it out.
                if !self.class_any
                    && !self.db.minimal
                    && z.ns != NONE
                    && qtype != TYPE_DNSKEY
                    && qtype != TYPE_DS
                {
                    // When the answer adds nothing to the additional section and is not part
                    // of the zone's pre-rendered tail, the tail is exactly what would be planned
                    // here: it is copied at encoding time (planned there if it does not fit).
                    let plain = self
                        .db
                        .rrsets
                        .get(r as usize)
                        .is_some_and(|s| s.addl_len == 0);
                    let tail = self
                        .db
                        .tails
                        .get(node.zone as usize)
                        .and_then(Option::as_ref);
                    // After a CNAME chain the tail still applies when the chain stayed in the
                    // query name's zone and added nothing else to the additional section.
                    let answers_plain = self.plan.items().iter().all(|i| {
                        self.db
                            .rrsets
                            .get(i.rrset as usize)
                            .is_some_and(|s| s.addl_len == 0)
                    });
                    if node.zone == self.first_zone
                        && plain
                        && answers_plain
                        && tail.is_some_and(|t| {
                            !self
                                .plan
                                .items()
                                .iter()
                                .any(|i| t.rrsets.contains(&i.rrset))
                        })
                    {
                        self.plan.tail = node.zone;
                    } else {
                        self.add_rrset(Section::Authority, z.ns, Owner::Node(z.apex));
                    }
                }
            }
        } else if let Some(r) = self.db.rrset_of(node, TYPE_CNAME) {
            if !self.add_rrset(Section::Answer, r, owner) || self.cname_count >= MAX_CHAIN {
                return; // a loop, or too long a chain
            }
            let Some(set) = self.db.rrsets.get(r as usize) else {
                return;
            };
            // Only the first CNAME record is followed; its RDATA is the target name.
            let start = set.data as usize + 2;
            let rest = self.db.blob.get(start..).unwrap_or(&[]);
            let len = super::db::wire_name_len(rest).min(MAX_NAME);
            if len == 0 {
                return;
            }
            let mut lower = [0u8; MAX_NAME];
            lower[..len].copy_from_slice(&rest[..len]);
            super::name::lowercase(&mut lower[..len]);
            self.cname_count += 1;
            let target_owner = match self.db.find(&lower[..len]) {
                Some(i) => Owner::Node(i),
                None => Owner::Blob(start as u32, len as u8),
            };
            self.lookup(&lower[..len], target_owner);
        } else {
            // NODATA (RFC 2308 §2.2), also at the end of a CNAME chain.
            self.soa(node.zone);
        }
    }
}

/// Resolves a question against the compiled zones into `plan` (reset first).
pub fn resolve(db: &Db, qname_lower: &[u8], qtype: u16, class_any: bool, plan: &mut Plan) {
    plan.len = 0;
    plan.rcode = RCODE_NOERROR;
    plan.aa = false;
    plan.qname_node = NONE;
    plan.tail = NONE;
    let mut ctx = Ctx {
        db,
        qtype,
        class_any,
        plan,
        cname_count: 0,
        first_zone: NONE,
    };
    ctx.lookup(qname_lower, Owner::Qname);
}

/// The plan of a zone's positive-answer tail: the apex NS RRset in authority and the addresses
/// of its targets in additional, with the apex as the (pretend) query name.
pub fn tail_plan(db: &Db, zone: u32) -> Option<Plan> {
    let z = db.zones.get(zone as usize)?;
    if z.ns == NONE {
        return None;
    }
    let mut plan = Plan::new();
    let mut ctx = Ctx {
        db,
        qtype: super::wire::TYPE_NS,
        class_any: false,
        plan: &mut plan,
        cname_count: 0,
        first_zone: NONE,
    };
    ctx.plan.qname_node = z.apex;
    ctx.add_rrset(Section::Authority, z.ns, Owner::Node(z.apex));
    Some(plan)
}

/// Adds the zone's apex NS RRset (and its additional records) to the authority section: the
/// planned form of a tail that did not fit.
pub fn plan_tail(db: &Db, zone: u32, plan: &mut Plan) {
    let Some(z) = db.zones.get(zone as usize) else {
        return;
    };
    let mut ctx = Ctx {
        db,
        qtype: 0,
        class_any: false,
        plan,
        cname_count: 0,
        first_zone: NONE,
    };
    ctx.add_rrset(Section::Authority, z.ns, Owner::Node(z.apex));
}
