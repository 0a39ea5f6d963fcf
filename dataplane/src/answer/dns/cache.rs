//! A per-worker packet cache in front of the DNS fast path, as PowerDNS's packet cache: the
//! response to a query is a function of the query's bytes after its ID (and of the service's
//! compiled zones), so a worker keeps the responses its fast path wrote for recent queries and
//! answers the same bytes again by copying, without parsing, looking up or summing anything.
//!
//! - **Key**: the whole query message after the ID (flags, counts, question in the client's
//!   case, EDNS OPT and its options), at most [`MAX_KEY`] bytes, and the service's id
//!   ([`super::DnsService`] gets a new one each time it is built, so a reload never meets
//!   an old entry). A case variant of a name is another key.
//! - **Entry**: the response's header words, the count of the query's bytes it keeps as they
//!   are (the question), the bytes after them (at most [`MAX_POST`]), the one's-complement sums
//!   of the key and of the response, and what the fast path counted. The UDP checksum is
//!   checked and rebuilt from those sums, the ID, the addresses and the ports.
//! - **Only fast-path answers** are stored: the fast path refuses (before writing) any answer
//!   that does not fit the buffer, so its responses depend on nothing but the query. A hit that
//!   does not fit the buffer, a bad checksum or source port 0 falls through to the uncached
//!   path, which answers or drops exactly as it does without a cache.
//! - **Admission**: a key is stored the second time it misses in its set while still among
//!   the set's last two misses: each set keeps the marks (32 other bits of the hash) of the
//!   last two keys that missed there, and a miss whose mark is among them is stored. A key
//!   asked again before two others miss in its set gets in; a flood of random names never
//!   repeats a mark, so it stores nothing and evicts nothing, whatever its rate (a filter of
//!   hashes admitted some of a flood's names by chance, and each of those evicted a cached
//!   answer). The price of two marks per set: three keys that share a set and are asked
//!   strictly in turn push each other's marks out, and none gets in (each is answered by the
//!   fast path, uncached). With one mark per entry and one entry per hash (before
//!   two-way sets), two such keys already did.
//! - **Bypass**: a lookup that misses costs the key's hash, two tags and a mark (about 100
//!   instructions) for nothing, and a hit saves the fast path's work (about 450). So when
//!   fewer than 1 in [`BYPASS_BELOW`] of the lookups of a window of [`WINDOW`] misses hit
//!   (a flood of random names, the usual attack on an authoritative server), the next
//!   [`BYPASS_FOR`] queries are not looked up; then a window is looked up again. Hot names the
//!   flood did not evict (it evicts nothing) are found again in that window, which ends the
//!   bypass. A hit costs one test of a counter more; a flood query about 10 instructions instead
//!   of 100.
//!
//! Two-way set-associative: [`ENTRIES`] entries of 320 bytes (320 KiB) per worker in
//! [`SETS`] sets of two, allocated once; a key's hash picks its set, and a stored key
//! replaces the entry of its set that was not used last (hit or stored). The keys' hashes sit
//! apart in an 8 KiB array of tags (a set's two in one 16-byte pair) and the marks in a 4 KiB
//! one: a miss (a flood of random names) compares with two tags and sets a mark, which stay
//! in the L1 cache, instead of reading an entry's line, which on a miss is rarely in any
//! cache and stalled the query there.
use super::hash::fold_mul;
use super::tail::fold16;
use super::turn;
use super::DnsCounters;
use crate::packet::checksum;
use crate::packet::{IpMeta, PacketBuffer};

/// Longest key: the query message after its two-byte ID.
pub const MAX_KEY: usize = 64;
/// Longest part of a response after the bytes it keeps from the query.
pub const MAX_POST: usize = 216;
/// Entries per worker.
pub const ENTRIES: usize = SETS * WAYS;
/// Sets of [`WAYS`] entries (a power of two).
pub const SETS: usize = 512;
/// Entries per set.
pub const WAYS: usize = 2;
/// Misses a window of lookups counts before the cache decides whether to bypass lookups.
pub const WINDOW: u32 = 256;
/// The cache bypasses lookups after a window in which fewer than 1 in this many lookups hit.
pub const BYPASS_BELOW: u32 = 8;
/// Queries a bypass lasts before the cache looks up a window again.
pub const BYPASS_FOR: u32 = 4096;

const K1: u64 = 0x9e37_79b9_7f4a_7c15;
const K2: u64 = 0xd6e8_feb8_6659_fd93;
const K3: u64 = 0xa076_1d64_78bd_642f;
const K4: u64 = 0xe703_7ed1_a0b4_28db;

/// One cached response (five cache lines; only a query whose hash matches its tag reads them).
#[derive(Clone)]
#[repr(C, align(64))]
struct Entry {
    /// The service's id; 0 for an empty entry.
    service: u64,
    key_len: u8,
    /// The response keeps the query's message bytes `12..keep` (the question).
    keep: u8,
    post_len: u8,
    rcode: u8,
    edns: bool,
    referral: bool,
    /// Sum of the key's bytes, folded, as they sit at an even offset.
    key_sum: u16,
    /// Sum of the response's bytes after the ID, folded.
    resp_sum: u16,
    /// The response's flags and counts (message bytes 2..12).
    head: [u8; 10],
    /// The key's bytes, zero past its length.
    key: [u8; MAX_KEY],
    post: [u8; MAX_POST],
}

const EMPTY: Entry = Entry {
    key: [0; MAX_KEY],
    service: 0,
    key_len: 0,
    keep: 0,
    post_len: 0,
    rcode: 0,
    edns: false,
    referral: false,
    key_sum: 0,
    resp_sum: 0,
    head: [0; 10],
    post: [0; MAX_POST],
};

/// A worker's DNS packet cache (see the module docs).
pub struct PacketCache {
    /// Per set, the hash of each way's key (0 for an empty entry, whose service is 0 as well).
    tags: Box<[[u64; WAYS]; SETS]>,
    /// Per set, the [`mark`]s of the last two keys that missed there and were not stored,
    /// the latest first (0: none).
    marks: Box<[[u32; 2]; SETS]>,
    /// Per set, the way used last: its tag matched a lookup, or it was stored (the other one
    /// is replaced next).
    recent: Box<[u8; SETS]>,
    entries: Box<[[Entry; WAYS]; SETS]>,
    seed: u64,
    /// Misses in the current window, and [`PacketCache::hits`] when it began.
    window: u32,
    window_start_hits: u64,
    /// Queries the current bypass has left (0: looking up).
    bypass_left: u32,
    /// Answers given from the cache.
    pub hits: u64,
    /// Responses stored.
    pub inserts: u64,
    /// Queries not looked up because the cache was bypassed.
    pub bypassed: u64,
}

impl Default for PacketCache {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for PacketCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketCache")
            .field("hits", &self.hits)
            .field("inserts", &self.inserts)
            .field("bypassed", &self.bypassed)
            .finish()
    }
}

/// A query's key, read before the uncached path writes over the query.
pub struct Key {
    bytes: [u8; MAX_KEY],
    len: usize,
    hash: u64,
}

/// What [`PacketCache::lookup`] found.
pub enum Lookup {
    /// Answered from the cache: the frame is the response (an answer).
    Hit,
    /// Not answered; the key to store the fast path's response under, when it is admitted.
    Miss(Option<Key>),
}

/// An eight-byte little-endian word.
#[inline(always)]
fn word(c: &[u8; 8]) -> u64 {
    u64::from_le_bytes(*c)
}

/// The last eight bytes of `b` as a word (0 when it is shorter).
#[inline(always)]
fn tail_word(b: &[u8]) -> u64 {
    b.last_chunk::<8>().map_or(0, word)
}

/// The key's hash, read straight from the packet: two multiply-fold lanes over its sixteen-byte
/// pairs of words, one step for a last whole word, then its last eight bytes (which overlap
/// the words before when the length is not a multiple of eight) and its length.
#[inline(always)]
fn key_hash(src: &[u8], seed: u64) -> u64 {
    let (pairs, rest) = src.as_chunks::<16>();
    let mut a = seed;
    let mut b = (src.len() as u64).wrapping_mul(K4);
    for p in pairs {
        let w = u128::from_le_bytes(*p);
        a = fold_mul(a ^ w as u64, K1);
        b = fold_mul(b ^ (w >> 64) as u64, K3);
    }
    if let Some(c) = rest.first_chunk::<8>() {
        a = fold_mul(a ^ word(c), K2);
    }
    fold_mul(a ^ tail_word(src), b ^ K2)
}

/// The set of a key's hash: its low bits.
#[inline(always)]
fn set_of(hash: u64) -> usize {
    hash as usize & (SETS - 1)
}

/// [`SETS`] sets of empty entries, built on the heap directly (`Box::new` of the array would
/// build its 320 KiB on the stack first).
fn boxed_entries() -> Box<[[Entry; WAYS]; SETS]> {
    vec![[EMPTY; WAYS]; SETS]
        .into_boxed_slice()
        .try_into()
        .unwrap_or_else(|_| unreachable!("SETS sets were built"))
}

/// A key's admission mark: the hash's high 32 bits (its set comes from its low bits), never
/// 0 (no mark).
#[inline(always)]
fn mark(hash: u64) -> u32 {
    (hash >> 32) as u32 | 1
}

/// True when the first `src.len()` bytes of `key` are `src` (8..=[`MAX_KEY`] bytes): its whole
/// words and its last eight bytes compared as words.
#[inline(always)]
fn same_key(key: &[u8; MAX_KEY], src: &[u8]) -> bool {
    let Some(k) = key.get(..src.len()) else {
        return false;
    };
    let whole = src.as_chunks::<8>().0.iter().zip(k.as_chunks::<8>().0);
    whole.fold(tail_word(src) ^ tail_word(k), |d, (a, b)| {
        d | (word(a) ^ word(b))
    }) == 0
}

impl PacketCache {
    /// An empty cache of [`ENTRIES`] entries.
    pub fn new() -> Self {
        PacketCache {
            tags: Box::new([[0; WAYS]; SETS]),
            marks: Box::new([[0; 2]; SETS]),
            recent: Box::new([0; SETS]),
            entries: boxed_entries(),
            seed: super::hash::random_seed(),
            window: 0,
            window_start_hits: 0,
            bypass_left: 0,
            hits: 0,
            inserts: 0,
            bypassed: 0,
        }
    }

    /// An empty cache hashing with `seed` rather than a random one: which keys share a set
    /// is then the same in every run (tests whose names must not collide).
    #[cfg(test)]
    pub(crate) fn with_seed(seed: u64) -> Self {
        PacketCache {
            seed,
            ..Self::new()
        }
    }

    /// The set the DNS message `msg` (a query, ID first) is looked up in: tests that need
    /// names sharing a set.
    #[cfg(test)]
    pub(crate) fn set_of_query(&self, msg: &[u8]) -> usize {
        set_of(key_hash(msg.get(2..).unwrap_or_default(), self.seed))
    }

    /// Answers the UDP query in `buf` from the cache when service `service` answered the same
    /// bytes before: the frame becomes the response, turned around with `mac` as its source.
    /// Anything else, and a query while the cache is bypassed (see the module docs), is a
    /// [`Lookup::Miss`] with the frame untouched.
    #[inline(always)]
    pub fn lookup<B: PacketBuffer>(
        &mut self,
        service: u64,
        buf: &mut B,
        ip: &IpMeta,
        mac: &[u8; 6],
        counters: &mut DnsCounters,
    ) -> Lookup {
        if self.bypass_left > 0 {
            // No call here: one would make every lookup save registers around this branch.
            std::hint::cold_path();
            self.bypass_left -= 1;
            self.bypassed += 1;
            if self.bypass_left == 0 {
                self.start_window();
            }
            return Lookup::Miss(None);
        }
        let l4 = ip.l4;
        let frame = buf.data();
        let Some(udp) = frame.get(l4..l4 + ip.l4_len) else {
            return Lookup::Miss(None);
        };
        let Some(&[p0, p1, _, _, l0, l1, c0, c1, i0, i1]) = udp.first_chunk::<10>() else {
            return Lookup::Miss(None);
        };
        let udp_len = usize::from(u16::from_be_bytes([l0, l1]));
        let Some(src) = udp.get(10..udp_len) else {
            return Lookup::Miss(None);
        };
        if src.len() > MAX_KEY || src.len() < 10 {
            return Lookup::Miss(None);
        }
        let hash = key_hash(src, self.seed);
        let set = set_of(hash);
        // The tags first: a miss reads no entry. A key is stored in one way at most (`insert`
        // reuses a way whose tag is the key's). A branch picks the way: the entry's address
        // computed from the tag compare's result instead made every hit wait for the tags
        // (about 2.5 ns a hit more than with one way, against 1 ns with the branch).
        let tags = self.tags[set];
        let way = if tags[0] == hash {
            0
        } else if tags[1] == hash {
            1
        } else {
            return self.miss(set, hash, src);
        };
        // Marked used here, while `way` is at hand (a tag that matches is almost always a hit).
        self.recent[set] = way as u8;
        let e = &self.entries[set][way];
        if e.service != service || usize::from(e.key_len) != src.len() || !same_key(&e.key, src) {
            return self.miss(set, hash, src);
        }
        // The checksum from the sums: the pseudo-header, the UDP header, the ID and the key.
        let (Some(addrs), Some(ports), sum, id) = (
            turn::addr_sum(frame, ip),
            turn::port_sum(frame, l4),
            u16::from_be_bytes([c0, c1]),
            u32::from(u16::from_be_bytes([i0, i1])),
        ) else {
            return Lookup::Miss(None);
        };
        if sum != 0 || ip.src.is_ipv6() {
            // Zero means "no checksum" for IPv4 only; a bad one is the uncached path's to drop.
            let msg = id + u32::from(e.key_sum);
            if sum == 0 || !turn::udp_checksum_ok(addrs, ports, udp_len, sum, msg) {
                return Lookup::Miss(None);
            }
        }
        if [p0, p1] == [0, 0] {
            return Lookup::Miss(None); // source port 0: the uncached path drops it
        }
        let (keep, post_len) = (usize::from(e.keep), usize::from(e.post_len));
        let msg_at = l4 + 8;
        let len = frame.len();
        let want = msg_at + keep + post_len;
        if want > len + buf.tailroom() || turn::resize(buf, len, want).is_none() {
            return Lookup::Miss(None);
        }
        let frame = buf.data_mut();
        let Some(msg) = frame.get_mut(msg_at..want) else {
            return Lookup::Miss(None);
        };
        msg[2..12].copy_from_slice(&e.head);
        msg[keep..].copy_from_slice(&e.post[..post_len]);
        let udp_len = 8 + keep + post_len;
        let c = turn::udp_checksum(addrs, ports, udp_len, id + u32::from(e.resp_sum));
        let _ = turn::turn(frame, ip, mac, udp_len, c, addrs);
        counters.edns += u64::from(e.edns);
        counters.referrals += u64::from(e.referral);
        counters.rcode[usize::from(e.rcode & 0xf)] += 1;
        self.hits += 1;
        Lookup::Hit
    }

    /// A miss of the key `src` with hash `hash` (in set `set`): its [`Key`] when it is
    /// admitted.
    #[inline(always)]
    fn miss(&mut self, set: usize, hash: u64, src: &[u8]) -> Lookup {
        self.window += 1;
        if self.window == WINDOW {
            self.end_window();
        }
        Lookup::Miss(self.admit(set, hash).then(|| {
            let mut bytes = [0; MAX_KEY];
            bytes[..src.len()].copy_from_slice(src);
            Key {
                bytes,
                len: src.len(),
                hash,
            }
        }))
    }

    /// The end of a window of [`WINDOW`] misses: its hits (the difference of
    /// [`PacketCache::hits`]; a hit is not counted on its own) under 1 in [`BYPASS_BELOW`] of
    /// its lookups, `hits / (hits + misses)`, start a bypass.
    #[cold]
    #[inline(never)]
    fn end_window(&mut self) {
        let hits = self.hits - self.window_start_hits;
        if hits * u64::from(BYPASS_BELOW - 1) < u64::from(WINDOW) {
            self.bypass_left = BYPASS_FOR;
        }
        self.start_window();
    }

    /// A new window of lookups: no misses yet, hits counted from here.
    #[inline(always)]
    fn start_window(&mut self) {
        self.window = 0;
        self.window_start_hits = self.hits;
    }

    /// True when this key (`hash`) is one of the last two that missed in set `set`: its mark
    /// is then spent and the key stored; else its mark becomes the set's latest, and the
    /// older of the two is forgotten.
    #[inline(always)]
    fn admit(&mut self, set: usize, hash: u64) -> bool {
        let m = mark(hash);
        let Some(marks) = self.marks.get_mut(set) else {
            return false;
        };
        match *marks {
            [latest, older] if latest == m => *marks = [older, 0],
            [_, older] if older == m => marks[1] = 0,
            [latest, _] => {
                *marks = [m, latest];
                return false;
            }
        }
        true
    }

    /// Stores the fast path's response `resp` (the message, ID first) to the query of `key`
    /// for `service`, with what the fast path counted for it; one that does not fit an entry
    /// is not stored.
    pub fn insert(&mut self, service: u64, key: &Key, resp: &[u8], edns: bool, referral: bool) {
        let query = &key.bytes[..key.len.min(MAX_KEY)];
        let (Some(resp_head), Some(resp_rest), Some(query_rest)) =
            (resp.get(2..12), resp.get(12..), query.get(10..))
        else {
            return;
        };
        let kept = resp_rest
            .iter()
            .zip(query_rest)
            .take_while(|(a, b)| a == b)
            .count();
        let keep = 12 + kept;
        let post = &resp[keep..];
        if post.len() > MAX_POST {
            return;
        }
        let set = set_of(key.hash);
        let tags = &mut self.tags[set];
        // The way already tagged with this key (an entry of an older service), else an empty
        // one, else the one not used last.
        let way = if tags[0] == key.hash {
            0
        } else if tags[1] == key.hash {
            1
        } else if tags[0] == 0 {
            0
        } else if tags[1] == 0 {
            1
        } else {
            usize::from(self.recent[set] == 0)
        };
        tags[way] = key.hash;
        self.recent[set] = way as u8;
        let e = &mut self.entries[set][way];
        e.key = key.bytes;
        e.service = service;
        e.key_len = key.len as u8;
        e.keep = keep as u8;
        e.post_len = post.len() as u8;
        e.rcode = resp[3] & 0xf;
        e.edns = edns;
        e.referral = referral;
        e.key_sum = fold16(checksum::sum(0, query));
        e.resp_sum = fold16(checksum::sum(0, &resp[2..]));
        e.head.copy_from_slice(resp_head);
        e.post[..post.len()].copy_from_slice(post);
        self.inserts += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_five_lines() {
        assert_eq!(std::mem::size_of::<Entry>(), 320);
    }

    #[test]
    fn a_key_is_admitted_when_it_misses_again_before_two_others_miss_in_its_set() {
        let mut c = PacketCache::new();
        let (a, b, d) = (7 << 32 | 5, 9 << 32 | 5, 11 << 32 | 5);
        assert!(!c.admit(5, a));
        assert!(c.admit(5, a));
        // Admitted: the mark is spent, so the next miss of the same key starts again.
        assert!(!c.admit(5, a));
        // One other key missing in the set in between: both are admitted on their next miss.
        assert!(!c.admit(5, b));
        assert!(c.admit(5, a));
        assert!(c.admit(5, b));
        // Two others in between push the mark out.
        assert!(!c.admit(5, a));
        assert!(!c.admit(5, b));
        assert!(!c.admit(5, d));
        assert!(!c.admit(5, a));
        assert!(c.admit(5, d));
        // Sets keep their own marks.
        assert!(!c.admit(6, b));
        assert!(!c.admit(5, b));
        assert!(c.admit(6, b));
        // A hash whose high half is 0 still leaves a mark.
        assert!(!c.admit(1, 1));
        assert!(c.admit(1, 1));
    }

    #[test]
    fn hash_depends_on_every_byte_and_the_length() {
        let src: Vec<u8> = (1..=64).collect();
        for n in 10..=64 {
            let h = key_hash(&src[..n], 9);
            for i in 0..n {
                let mut v = src.clone();
                v[i] ^= 0x20;
                assert_ne!(key_hash(&v[..n], 9), h, "length {n}, byte {i}");
            }
            assert_ne!(key_hash(&src[..n - 1], 9), h, "length {n}");
            assert_ne!(key_hash(&src[..n], 10), h, "length {n}, seed");
        }
    }

    #[test]
    fn same_key_compares_every_byte_and_nothing_past_the_length() {
        let src: Vec<u8> = (1..=64).collect();
        for n in 10..=64 {
            let mut key = [0xee; MAX_KEY];
            key[..n].copy_from_slice(&src[..n]);
            assert!(same_key(&key, &src[..n]), "length {n}");
            for i in 0..n {
                let mut k = key;
                k[i] ^= 1;
                assert!(!same_key(&k, &src[..n]), "length {n}, byte {i}");
            }
        }
    }
}
