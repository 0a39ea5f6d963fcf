//! Internet checksums (RFC 1071) and incremental updates (RFC 1624).

/// Adds `data` as big-endian 16-bit words to a running one's-complement sum (not yet folded).
#[inline]
pub fn sum(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc = acc.wrapping_add(u32::from(u16::from_be_bytes([c[0], c[1]])));
    }
    if let [last] = chunks.remainder() {
        acc = acc.wrapping_add(u32::from(*last) << 8);
    }
    acc
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

    proptest::proptest! {
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
