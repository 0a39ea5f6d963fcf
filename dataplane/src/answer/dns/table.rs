//! The name table: lowercase wire name → node index. Open addressing with linear probing over
//! eight-byte slots (hash tag and entry), at most a quarter full (a name that is not there, as
//! in a flood of random names, then meets an empty home slot three times in four or more, and
//! the branch that ends its probe is mispredicted less often than at half full: criterion
//! `random_nxdomain` 62-66 -> 58-60 ns, for 11% more memory in a 1M-record zone, 16.7 against
//! 15.1 MiB per 100k records in `tests/dns_zone_load.rs`); each entry holds its key as four
//! fixed words (the name's block), so a lookup hashes and compares a name of up to 31 octets,
//! as it sits in the packet and in any case, with straight-line code ([`hash_words`],
//! [`fold_case`]). Longer names compare their middle words in a loop. Built at load; a lookup
//! does not allocate.
use super::hash::{fold_case, hash_words, le_word, load, random_seed, CASE};

/// A name as four words: for a name of `L` ≥ 8 octets its octets 0..8, 8..16 (or zero below
/// 16), 16..24 (or zero below 24) and the last eight (overlapping the others); below 8 octets
/// [`load`] of it, then zeros. Octets 24..L-8 of longer names are compared apart.
type Block = [u64; 4];

/// The block of `name` (any case, as it is).
#[inline(always)]
fn block(name: &[u8]) -> Block {
    let n = name.len();
    if n < 8 {
        return [load(name), 0, 0, 0];
    }
    let w = |at: usize| le_word(&name[at..at + 8]);
    [
        w(0),
        if n >= 16 { w(8) } else { 0 },
        if n >= 24 { w(16) } else { 0 },
        w(n - 8),
    ]
}

/// The middle of a long name, compared apart from its block: whole words from octet 24 on.
#[inline(always)]
fn middle(name: &[u8]) -> &[u8] {
    name.get(24..).unwrap_or(&[])
}

/// A slot: the hash's high half and an entry index; empty while the index is [`EMPTY`].
#[derive(Debug, Clone, Copy)]
struct Slot {
    tag: u32,
    entry: u32,
}

const EMPTY: u32 = u32::MAX;

/// A key (lowercase) and its value.
#[derive(Debug, Clone, Copy)]
struct Entry {
    block: Block,
    /// The key's length in octets.
    len: u32,
    /// The value.
    node: u32,
    /// First of the middle words ([`middle`]) in [`NameTable::long`].
    more: u32,
    /// Two more values the owner sets ([`NameTable::set_extra`]): [`NO_EXTRA`] until then.
    extra: [u32; 2],
}

/// An entry's extra value before [`NameTable::set_extra`] gives it one.
pub const NO_EXTRA: u32 = u32::MAX;

/// A map from lowercase wire names to `u32`, looked up in any case.
#[derive(Debug)]
pub struct NameTable {
    slots: Vec<Slot>,
    entries: Vec<Entry>,
    /// Middle words of the keys longer than 31 octets.
    long: Vec<u64>,
    /// `slots.len() - 1` (a power of two less one), 0 while there are no slots.
    mask: usize,
    seed: u64,
}

impl Default for NameTable {
    fn default() -> Self {
        NameTable {
            slots: Vec::new(),
            entries: Vec::new(),
            long: Vec::new(),
            mask: 0,
            seed: random_seed(),
        }
    }
}

impl NameTable {
    /// The hash of a name given its block.
    #[inline(always)]
    fn hash(&self, b: &Block, name: &[u8]) -> u64 {
        hash_words(self.seed, name.len(), b, middle(name))
    }

    /// The value of `name` (any case), if its lowercase form is a key.
    #[inline(always)]
    pub fn get(&self, name: &[u8]) -> Option<u32> {
        self.get_with_extra(name).map(|(node, _)| node)
    }

    /// The value of `name` (any case) and its two extra values ([`NameTable::set_extra`]).
    #[inline(always)]
    pub fn get_with_extra(&self, name: &[u8]) -> Option<(u32, [u32; 2])> {
        if name.len() > 31 {
            return self.get_long(name);
        }
        // Up to 31 octets the block holds the whole name: no middle words.
        let b = block(name);
        let h = hash_words(self.seed, name.len(), &b, &[]);
        let tag = (h >> 32) as u32;
        let mut i = h as usize;
        loop {
            // At most a quarter full: the probe meets an empty slot.
            let s = *self.slots.get(i & self.mask)?;
            if s.entry == EMPTY {
                return None;
            }
            if s.tag == tag {
                let e = self.entries.get(s.entry as usize)?;
                if e.len as usize == name.len() {
                    let k = &e.block;
                    // Most names come in lowercase: plain equality first.
                    let raw = (b[0] ^ k[0]) | (b[1] ^ k[1]) | (b[2] ^ k[2]) | (b[3] ^ k[3]);
                    if raw == 0 || (raw & !CASE == 0 && self.matches(e, name)) {
                        return Some((e.node, e.extra));
                    }
                }
            }
            i = (i & self.mask) + 1;
        }
    }

    /// [`NameTable::get`] for names longer than 31 octets.
    #[cold]
    #[inline(never)]
    fn get_long(&self, name: &[u8]) -> Option<(u32, [u32; 2])> {
        self.entry_of(name)
            .map(|e| (self.entries[e].node, self.entries[e].extra))
    }

    /// True when entry `e` (of the same length) is `name` in any case. The block is built
    /// again here, not passed: a block passed by reference had to sit in memory on the lookup's
    /// path, though this comparison is rare (only names not in lowercase get here).
    #[inline(never)]
    fn matches(&self, e: &Entry, name: &[u8]) -> bool {
        let b = block(name);
        let k = &e.block;
        let f = |i: usize| fold_case(b[i]) ^ k[i];
        if f(0) | f(1) | f(2) | f(3) != 0 {
            return false;
        }
        let mid = middle(name);
        let at = e.more as usize;
        let Some(key) = self.long.get(at..at + mid.len() / 8) else {
            return false;
        };
        mid.chunks_exact(8)
            .zip(key)
            .all(|(c, &k)| fold_case(le_word(c)) == k)
    }

    /// Sets the value of the lowercase wire name `key` (not empty, at most 255 octets).
    pub fn insert(&mut self, key: &[u8], node: u32) {
        if key.is_empty() || key.len() > 255 {
            return;
        }
        if let Some(e) = self.entry_of(key) {
            self.entries[e].node = node;
            return;
        }
        if 4 * (self.entries.len() + 1) > self.slots.len() {
            self.grow();
        }
        let more = self.long.len() as u32;
        self.long.extend(middle(key).chunks_exact(8).map(le_word));
        let b = block(key);
        let e = self.entries.len() as u32;
        self.entries.push(Entry {
            block: b,
            len: key.len() as u32,
            node,
            more,
            extra: [NO_EXTRA; 2],
        });
        self.place(e, self.hash(&b, key));
    }

    /// Gives the lowercase key `key` two extra values, returned with its value by
    /// [`NameTable::get_with_extra`]; false when `key` is not a key.
    pub fn set_extra(&mut self, key: &[u8], extra: [u32; 2]) -> bool {
        match self.entry_of(key) {
            Some(e) => {
                self.entries[e].extra = extra;
                true
            }
            None => false,
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.long.capacity() * 8
    }

    /// Gives back spare capacity.
    pub fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
        self.long.shrink_to_fit();
    }

    fn entry_of(&self, key: &[u8]) -> Option<usize> {
        let b = block(key);
        let h = self.hash(&b, key);
        let mut i = h as usize & self.mask;
        loop {
            let s = *self.slots.get(i)?;
            if s.entry == EMPTY {
                return None;
            }
            let e = &self.entries[s.entry as usize];
            if e.len as usize == key.len() && self.matches(e, key) {
                return Some(s.entry as usize);
            }
            i = (i + 1) & self.mask;
        }
    }

    fn place(&mut self, entry: u32, h: u64) {
        let mut i = h as usize & self.mask;
        while self.slots[i].entry != EMPTY {
            i = (i + 1) & self.mask;
        }
        self.slots[i] = Slot {
            tag: (h >> 32) as u32,
            entry,
        };
    }

    /// Doubles the slots (16 at first) and places every key again.
    fn grow(&mut self) {
        let n = (self.slots.len() * 2).max(16);
        self.slots = vec![
            Slot {
                tag: 0,
                entry: EMPTY
            };
            n
        ];
        self.mask = n - 1;
        for e in 0..self.entries.len() {
            let x = self.entries[e];
            let at = x.more as usize;
            let n_mid = (x.len as usize).saturating_sub(24) / 8;
            let h = hash_words(
                self.seed,
                x.len as usize,
                &x.block,
                &words_bytes(&self.long[at..at + n_mid]),
            );
            self.place(e as u32, h);
        }
    }
}

/// Words back to their bytes (rebuilding the table).
fn words_bytes(w: &[u64]) -> Vec<u8> {
    w.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn finds_keys_in_any_case_and_nothing_else() {
        let mut t = NameTable::default();
        assert_eq!(t.get(b"\x03www\x00"), None);
        t.insert(b"\x03www\x07example\x04test\x00", 7);
        t.insert(b"\x00", 1);
        t.insert(b"\x01a\x00", 2);
        assert_eq!(t.get(b"\x03WwW\x07exAMPle\x04TEST\x00"), Some(7));
        assert_eq!(t.get(b"\x00"), Some(1));
        assert_eq!(t.get(b"\x01A\x00"), Some(2));
        assert_eq!(t.get(b"\x01b\x00"), None);
        assert_eq!(t.get(b""), None);
        t.insert(b"\x01a\x00", 3);
        assert_eq!((t.get(b"\x01a\x00"), t.len()), (Some(3), 3));
        let long = [&[63u8][..], &[b'x'; 63], &[63], &[b'y'; 63], &[0]].concat();
        t.insert(&long, 9);
        assert_eq!(t.get(&long.to_ascii_uppercase()), Some(9));
        let mut other = long.clone();
        other[40] = b'z';
        assert_eq!(t.get(&other), None);
    }

    #[test]
    fn extra_values_come_with_their_key_in_any_case() {
        let mut t = NameTable::default();
        let long = [&[40u8][..], &[b'q'; 40], &[0]].concat();
        t.insert(b"\x03www\x00", 7);
        t.insert(&long, 8);
        assert_eq!(t.get_with_extra(b"\x03WWW\x00"), Some((7, [NO_EXTRA; 2])));
        assert!(t.set_extra(b"\x03www\x00", [1, 2]));
        assert!(t.set_extra(&long, [3, NO_EXTRA]));
        assert!(!t.set_extra(b"\x03wwx\x00", [5, 6]));
        assert_eq!(t.get_with_extra(b"\x03wWw\x00"), Some((7, [1, 2])));
        assert_eq!(
            t.get_with_extra(&long.to_ascii_uppercase()),
            Some((8, [3, NO_EXTRA]))
        );
        assert_eq!(t.get_with_extra(b"\x03wwx\x00"), None);
        // A new value for a key keeps its extra values; growing the table keeps them too.
        t.insert(b"\x03www\x00", 9);
        for i in 0..100u8 {
            t.insert(&[2, b'0' + i / 10, b'0' + i % 10, 0], u32::from(i));
        }
        assert_eq!(t.get_with_extra(b"\x03www\x00"), Some((9, [1, 2])));
    }

    fn name() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        // Few distinct bytes (letters of both cases, a digit, the case bit's partners), so
        // that names share prefixes and differ only in case or bit 5.
        proptest::collection::vec(
            proptest::sample::select(vec![b'a', b'A', b'b', b'B', 1, 0x21, b'0', 0x10, 0]),
            1..80,
        )
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_a_map(keys in proptest::collection::vec(name(), 0..200), probes in proptest::collection::vec(name(), 0..50)) {
            let mut t = NameTable::default();
            let mut m: HashMap<Vec<u8>, u32> = HashMap::new();
            for (i, k) in keys.iter().enumerate() {
                let k = k.to_ascii_lowercase();
                t.insert(&k, i as u32);
                m.insert(k, i as u32);
            }
            proptest::prop_assert_eq!(t.len(), m.len());
            for k in keys.iter().chain(&probes) {
                let want = m.get(&k.to_ascii_lowercase()).copied();
                proptest::prop_assert_eq!(t.get(k), want);
                proptest::prop_assert_eq!(t.get(&k.to_ascii_uppercase()), want);
            }
        }
    }
}
