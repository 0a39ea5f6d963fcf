//! Internet checksums (RFC 1071) and incremental updates (RFC 1624).

/// Adds `data` as big-endian 16-bit words to a running one's-complement sum. The result is
/// folded to 16 bits, so callers may add a few more 16-bit values before [`finish`].
///
/// Works eight bytes at a time in native byte order: the one's-complement sum is independent of
/// byte order up to a final byte swap (RFC 1071 §2(B)), so native 64-bit loads are summed with
/// end-around carries into a 128-bit accumulator and the folded result is swapped back.
#[inline]
pub fn sum(acc: u32, data: &[u8]) -> u32 {
    // The running sum, folded and moved into the native-order domain.
    fold_native(add_native(u128::from(u16::from_be(fold32(acc))), data))
}

/// [`sum`] of a fixed-size field, always inlined: with the length known the loads unroll into a
/// handful of add-with-carry instructions (IPv4 headers, NDP messages we build).
#[inline(always)]
pub fn sum_array<const N: usize>(acc: u32, data: &[u8; N]) -> u32 {
    fold_native(add_native(u128::from(u16::from_be(fold32(acc))), data))
}

/// `wide` plus `data`, in native order: 64-bit words, then the tail piecewise, without a
/// loop. Only a byte's parity within its 16-bit word matters to the one's-complement sum, not
/// which 16-bit lane of the 64-bit word carries it; an odd last byte is padded with zero (RFC
/// 1071). The accumulator goes by value so that it stays in registers where this is inlined
/// (through a reference, it was stored back to memory after every word).
#[inline(always)]
fn add_native(mut wide: u128, data: &[u8]) -> u128 {
    let mut rest = data;
    if rest.len() >= LONG {
        let (sum, r) = add_long(rest);
        wide += sum;
        rest = r;
    }
    // A plain loop, not unrolled further: most packets are short, and an unrolled loop's set-up
    // costs more than its iterations save.
    while let Some((p, r)) = rest.split_first_chunk::<16>() {
        for w in p.as_chunks::<8>().0 {
            wide += u128::from(u64::from_ne_bytes(*w));
        }
        rest = r;
    }
    if let Some((w, r)) = rest.split_first_chunk::<8>() {
        wide += u128::from(u64::from_ne_bytes(*w));
        rest = r;
    }
    if let Some((w, r)) = rest.split_first_chunk::<4>() {
        wide += u128::from(u32::from_ne_bytes(*w));
        rest = r;
    }
    if let Some((w, r)) = rest.split_first_chunk::<2>() {
        wide += u128::from(u16::from_ne_bytes(*w));
        rest = r;
    }
    if let [b] = rest {
        wide += u128::from(u16::from_ne_bytes([*b, 0]));
    }
    wide
}

/// Data at least this long is summed by [`add_long`] first.
const LONG: usize = 64;

/// The sum of the leading 32-byte blocks of `data` (at least [`LONG`] bytes), and the rest.
/// Its 16-bit words go into sixteen independent 32-bit lanes, which the compiler turns into
/// SSE2 adds of zero-extended words (one load, two unpacks and two adds per 16 bytes), so no
/// carry chain runs through the loop. A single chain of 64-bit add-with-carry, or 32-bit words
/// in 64-bit lanes (which the compiler left scalar: two instructions per four bytes), dominated
/// answering a too-big packet with 548 quoted bytes. A lane takes one word per block, so it
/// cannot overflow within 65,536 blocks (2 MiB); longer data is summed in such stretches.
#[inline(never)]
fn add_long(data: &[u8]) -> (u128, &[u8]) {
    const STRETCH: usize = 1 << 16;
    let (blocks, rest) = data.as_chunks::<32>();
    let mut total = 0u128;
    for stretch in blocks.chunks(STRETCH) {
        let mut lanes = [0u32; 16];
        for block in stretch {
            for (lane, w) in lanes.iter_mut().zip(block.as_chunks::<2>().0) {
                *lane += u32::from(u16::from_ne_bytes(*w));
            }
        }
        // At most 16 × 0xffff × 65,536 < 2^37: the lanes add up in 64 bits (vector adds).
        total += u128::from(lanes.into_iter().map(u64::from).sum::<u64>());
    }
    (total, rest)
}

/// Folds a native-order accumulator 128 → 64 → 32 → 16 bits with end-around carries, back in
/// network order.
#[inline(always)]
fn fold_native(wide: u128) -> u32 {
    let (lo, carry) = (wide as u64).overflowing_add((wide >> 64) as u64);
    let w64 = lo.wrapping_add(u64::from(carry));
    let (lo, carry) = (w64 as u32).overflowing_add((w64 >> 32) as u32);
    let w32 = lo.wrapping_add(u32::from(carry));
    u32::from(u16::from_be(fold32(w32)))
}

/// Folds a 32-bit one's-complement sum to 16 bits.
#[inline(always)]
fn fold32(acc: u32) -> u16 {
    let x = (acc & 0xffff) + (acc >> 16);
    ((x & 0xffff) + (x >> 16)) as u16
}

/// Folds a running sum to 16 bits and complements it: the value to store in a checksum field.
#[inline]
pub fn finish(acc: u32) -> u16 {
    !fold32(acc)
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
#[inline(always)]
pub fn pseudo_v4(src: &[u8; 4], dst: &[u8; 4], proto: u8, len: u16) -> u32 {
    let wide = u128::from(u32::from_ne_bytes(*src)) + u128::from(u32::from_ne_bytes(*dst));
    fold_native(wide) + u32::from(proto) + u32::from(len)
}

/// The pseudo-header sum for IPv6 (RFC 8200 §8.1): addresses, upper-layer length, next header.
#[inline(always)]
pub fn pseudo_v6(src: &[u8; 16], dst: &[u8; 16], next_header: u8, len: u32) -> u32 {
    fold_native(add_native(add_native(0, src), dst))
        .wrapping_add(len >> 16)
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

    #[test]
    fn data_longer_than_a_stretch_of_lanes_matches_the_reference() {
        // All ones words fill the lanes fastest; 2 MiB and more takes two stretches.
        for len in [(1 << 21) - 1, 1 << 21, (1 << 21) + 33, (1 << 22) + 7] {
            let data: Vec<u8> = (0..len)
                .map(|i| if i % 7 == 0 { 0x5a } else { 0xff })
                .collect();
            assert_eq!(checksum(&data), reference(&data), "{len} bytes");
        }
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
        fn fast_sum_matches_the_reference(data in proptest::collection::vec(0u8..=255, 0..1600), seed: u16) {
            proptest::prop_assert_eq!(checksum(&data), reference(&data));
            // Chained sums (pseudo-header then payload) agree too.
            let split = usize::from(seed) % (data.len() + 1);
            let chained = finish(sum(sum(0, &data[..split & !1]), &data[split & !1..]));
            proptest::prop_assert_eq!(chained, reference(&data));
        }

        #[test]
        fn array_sum_matches_the_reference(data: [u8; 33], acc in 0u32..0x2_0000) {
            // The running sum as two leading bytes of the reference's data.
            let folded = fold32(acc).to_be_bytes();
            let with_acc = |d: &[u8]| [&folded[..], d].concat();
            proptest::prop_assert_eq!(finish(sum_array(acc, &data)), reference(&with_acc(&data)));
            let d20: [u8; 20] = data[..20].try_into().unwrap();
            proptest::prop_assert_eq!(finish(sum_array(acc, &d20)), reference(&with_acc(&d20)));
            let d7: [u8; 7] = data[..7].try_into().unwrap();
            proptest::prop_assert_eq!(finish(sum_array(acc, &d7)), reference(&with_acc(&d7)));
        }

        #[test]
        fn any_running_sum_folds_in(data in proptest::collection::vec(0u8..=255, 0..100), acc: u32) {
            // A running sum of any size counts as its 16-bit fold (what pseudo-headers pass in).
            let mut folded = u64::from(acc);
            while folded > 0xffff {
                folded = (folded & 0xffff) + (folded >> 16);
            }
            let mut with_acc = (folded as u16).to_be_bytes().to_vec();
            with_acc.extend_from_slice(&data);
            proptest::prop_assert_eq!(finish(sum(acc, &data)), reference(&with_acc));
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
