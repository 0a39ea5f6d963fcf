//! Internet checksums (RFC 1071) and incremental updates (RFC 1624).

/// Adds `data` as big-endian 16-bit words to a running one's-complement sum. The result is
/// folded to at most 17 bits, so callers may add a few more 16-bit values before [`finish`].
///
/// Works eight bytes at a time: sums of big-endian 32-bit words are congruent to sums of 16-bit
/// words modulo 0xffff, which is all the one's-complement sum keeps.
#[inline]
pub fn sum(acc: u32, data: &[u8]) -> u32 {
    let mut wide = u64::from(acc);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let hi = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        let lo = u32::from_be_bytes([c[4], c[5], c[6], c[7]]);
        wide += u64::from(hi) + u64::from(lo);
    }
    let mut rest = chunks.remainder();
    while rest.len() >= 2 {
        wide += u64::from(u16::from_be_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
    }
    if let [last] = rest {
        wide += u64::from(*last) << 8;
    }
    // Fold 64 → 16 bits (plus at most one carry bit).
    wide = (wide & 0xffff_ffff) + (wide >> 32);
    wide = (wide & 0xffff_ffff) + (wide >> 32);
    let mut folded = (wide & 0xffff) + (wide >> 16);
    folded = (folded & 0xffff) + (folded >> 16);
    folded as u32
}

/// Folds a running sum to 16 bits and complements it: the value to store in a checksum field.
#[inline]
pub fn finish(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The Internet checksum of `data`.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum(0, data))
}

/// RFC 1624 eqn. 3: the new checksum after a 16-bit field changed from `old` to `new`.
#[inline]
pub fn update16(check: u16, old: u16, new: u16) -> u16 {
    let acc = u32::from(!check) + u32::from(!old) + u32::from(new);
    finish(acc)
}

/// The pseudo-header sum for IPv4 (RFC 768/793): addresses, protocol, L4 length.
#[inline]
pub fn pseudo_v4(src: &[u8; 4], dst: &[u8; 4], proto: u8, len: u16) -> u32 {
    let acc = sum(0, src);
    let acc = sum(acc, dst);
    acc + u32::from(proto) + u32::from(len)
}

/// The pseudo-header sum for IPv6 (RFC 8200 §8.1): addresses, upper-layer length, next header.
#[inline]
pub fn pseudo_v6(src: &[u8; 16], dst: &[u8; 16], next_header: u8, len: u32) -> u32 {
    let acc = sum(0, src);
    let acc = sum(acc, dst);
    acc.wrapping_add(len >> 16)
        .wrapping_add(len & 0xffff)
        .wrapping_add(u32::from(next_header))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3 example bytes: 00 01 f2 03 f4 f5 f6 f7 → sum ddf2, checksum 220d.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(
            checksum(&[0x12, 0x34, 0x56]),
            checksum(&[0x12, 0x34, 0x56, 0x00])
        );
    }

    /// RFC 1071 done the slow, obvious way: 16-bit words, folded at the end.
    fn reference(data: &[u8]) -> u16 {
        let mut acc: u64 = 0;
        for pair in data.chunks(2) {
            let hi = u64::from(pair[0]) << 8;
            let lo = pair.get(1).map_or(0, |&b| u64::from(b));
            acc += hi | lo;
        }
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        !(acc as u16)
    }

    proptest::proptest! {
        #[test]
        fn fast_sum_matches_the_reference(data in proptest::collection::vec(0u8..=255, 0..300), seed: u16) {
            proptest::prop_assert_eq!(checksum(&data), reference(&data));
            // Chained sums (pseudo-header then payload) agree too.
            let split = usize::from(seed) % (data.len() + 1);
            let chained = finish(sum(sum(0, &data[..split & !1]), &data[split & !1..]));
            proptest::prop_assert_eq!(chained, reference(&data));
        }

        #[test]
        fn incremental_update_matches_recompute(mut data in proptest::collection::vec(0u8..=255, 4..64), idx in 0usize..30, new: u16) {
            let i = (idx * 2) % (data.len() & !1);
            let before = checksum(&data);
            let old = u16::from_be_bytes([data[i], data[i + 1]]);
            data[i..i + 2].copy_from_slice(&new.to_be_bytes());
            let full = checksum(&data);
            let inc = update16(before, old, new);
            // 0x0000 and 0xffff are the same value in one's complement.
            proptest::prop_assert!(full == inc || (full == 0 && inc == 0xffff) || (full == 0xffff && inc == 0));
        }
    }
}
