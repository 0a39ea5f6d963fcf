//! Case-blind name hashing and comparison, eight bytes at a time, so a question name is looked
//! up as it sits in the packet without a lowercase copy ([`super::table`]). Keys are lowercase;
//! a name hashes the same in any case ([`hash_words`]), and the comparisons ([`eq_folded`],
//! [`fold_case`]) fold case exactly.

const K: u64 = 0x9e37_79b9_7f4a_7c15;
const K2: u64 = 0xd6e8_feb8_6659_fd93;

/// Bit 5 of every byte: the ASCII case bit.
pub const CASE: u64 = 0x2020_2020_2020_2020;

/// ASCII-lowercases the eight bytes of `x` (SWAR: bytes 'A'..='Z' get 0x20 added).
#[inline(always)]
pub fn fold_case(x: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let h = x & LOW7;
    // Per byte: high bit set when the byte's low 7 bits are ≥ 'A', and when they are > 'Z'.
    let ge_a = h + 0x3f3f_3f3f_3f3f_3f3f; // 0x80 - b'A'
    let gt_z = h + 0x2525_2525_2525_2525; // 0x7f - b'Z'
    let upper = ge_a & !gt_z & !x & HIGH;
    x | (upper >> 2)
}

/// A random seed for a table's [`hash_words`].
pub fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(K);
    h.finish()
}

/// One multiply-rotate step.
#[inline(always)]
fn mix(h: u64, w: u64) -> u64 {
    (h.rotate_left(23) ^ w).wrapping_mul(K)
}

/// Folded 64×64 → 128-bit multiply: the product's halves XORed.
#[inline(always)]
pub fn fold_mul(a: u64, b: u64) -> u64 {
    let m = u128::from(a) * u128::from(b);
    (m as u64) ^ ((m >> 64) as u64)
}

/// The hash of a wire name of `len` octets in any case, for a table seeded with `seed`, from
/// its four block words and the whole eight-octet chunks of `middle` (see
/// [`super::table`]): each word with bit 5 of every byte set so that letters of either case
/// hash alike (one OR, not a full fold). Bytes that differ only in that bit otherwise
/// collide too, which costs only a comparison: the keys come from the zones.
///
/// The block's words go through two independent multiplies (pairs of words, each word keyed
/// by the seed), so a short name's hash is a few cycles of latency, not a chain of five
/// dependent multiplies; a long name's middle words follow one after another.
#[inline(always)]
pub fn hash_words(seed: u64, len: usize, block: &[u64; 4], middle: &[u8]) -> u64 {
    let a = fold_mul((block[0] | CASE) ^ seed, (block[1] | CASE) ^ K);
    let b = fold_mul(
        (block[2] | CASE) ^ seed.rotate_left(32) ^ len as u64,
        (block[3] | CASE) ^ K2,
    );
    let mut h = a ^ b.rotate_left(29);
    if middle.len() < 8 {
        return h;
    }
    for c in middle.chunks_exact(8) {
        h = mix(h, le_word(c) | CASE);
    }
    fold_mul(h, K2 ^ seed)
}

/// The bytes of `b` as one word: eight at a time, the last (partial) word read overlapping or
/// pieced together. A function of the bytes and their length alone, byte lanes kept apart, so
/// folding case before or after loading is the same.
#[inline(always)]
pub fn load(b: &[u8]) -> u64 {
    let n = b.len();
    if n >= 8 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[n - 8..]);
        u64::from_le_bytes(w)
    } else if n >= 4 {
        let lo = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let hi = u32::from_le_bytes([b[n - 4], b[n - 3], b[n - 2], b[n - 1]]);
        u64::from(lo) | u64::from(hi) << 32
    } else if n > 0 {
        u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16
    } else {
        0
    }
}

/// An eight-byte chunk as a little-endian word.
#[inline(always)]
pub fn le_word(c: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(c);
    u64::from_le_bytes(w)
}

/// True when `name` equals the lowercase `key` once its case is folded.
#[inline]
pub fn eq_folded(key: &[u8], name: &[u8]) -> bool {
    if key.len() != name.len() {
        return false;
    }
    // Most names come in lowercase: plain equality first, a few operations a word.
    let mut raw = load(name) ^ load(key);
    for (n, k) in name.chunks_exact(8).zip(key.chunks_exact(8)) {
        raw |= le_word(n) ^ le_word(k);
    }
    if raw == 0 {
        return true;
    }
    if raw & !CASE != 0 {
        return false; // a difference other than case (bit 5) never folds away
    }
    let mut diff = fold_case(load(name)) ^ load(key);
    for (n, k) in name.chunks_exact(8).zip(key.chunks_exact(8)) {
        diff |= fold_case(le_word(n)) ^ le_word(k);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names that differ in any one of the block's four words or in a middle word (outside the
    /// case bit), or in length alone, hash apart (no two of 4,000 per word share a 64-bit
    /// hash): a word the hash dropped would make them all collide.
    #[test]
    fn every_word_and_the_length_count() {
        let seed = random_seed();
        // Words 0..4 of the block, then (4) the first middle word of a 40-octet name.
        for word in 0..5 {
            let mut seen = std::collections::HashSet::new();
            for i in 0u32..4000 {
                let mut block = [0x6161_6161_6161_6161u64; 4];
                let mut middle = [b'a'; 16];
                // Four bits of `i` a byte, clear of bit 5 (which the hash ignores, for case).
                let v = (0..3).fold(0u64, |v, k| v | u64::from(i >> (4 * k) & 0xf) << (8 * k));
                match block.get_mut(word) {
                    Some(w) => *w ^= v,
                    None => middle[..8].copy_from_slice(&v.to_le_bytes()),
                }
                let len = if word == 4 { 40 } else { 31 };
                seen.insert(hash_words(seed, len, &block, &middle[..len - 24]));
            }
            assert_eq!(seen.len(), 4000, "word {word}");
        }
        let block = [0x6161_6161_6161_6161u64; 4];
        let lens: std::collections::HashSet<u64> =
            (1..=31).map(|n| hash_words(seed, n, &block, &[])).collect();
        assert_eq!(lens.len(), 31);
    }

    proptest::proptest! {
        #[test]
        fn fold_case_is_ascii_lowercase(bytes: [u8; 8]) {
            let want: Vec<u8> = bytes.iter().map(u8::to_ascii_lowercase).collect();
            proptest::prop_assert_eq!(fold_case(u64::from_le_bytes(bytes)).to_le_bytes().to_vec(), want);
        }

        #[test]
        fn a_name_compares_like_its_lowercase_key(name in proptest::collection::vec(0u8..=255, 0..80), seed: u16) {
            let lower = name.to_ascii_lowercase();
            proptest::prop_assert!(eq_folded(&lower, &name));
            let mut other = lower.clone();
            if let Some(b) = other.get_mut(usize::from(seed) % name.len().max(1)) {
                *b = b.wrapping_add(1 + seed as u8 % 200);
                let other = other.to_ascii_lowercase();
                proptest::prop_assert_eq!(eq_folded(&other, &name), name.eq_ignore_ascii_case(&other));
            }
        }
    }
}
