//! [`super::name_len`] against the per-label form of its limits.
use super::*;

/// The per-label form of the limits, as it was written before the single bound.
fn reference(msg: &[u8], pos: usize) -> Option<usize> {
    let mut i = pos;
    loop {
        let len = usize::from(*msg.get(i)?);
        if len == 0 {
            return Some(i + 1 - pos).filter(|&n| n <= MAX_NAME);
        }
        if len > 63 {
            return None;
        }
        i += 1 + len;
        if i - pos >= MAX_NAME {
            return None;
        }
    }
}

fn name(labels: &[usize]) -> Vec<u8> {
    let mut m = vec![0u8; HEADER_LEN];
    for &l in labels {
        m.push(l as u8);
        m.extend(std::iter::repeat_n(b'a', l));
    }
    m.push(0);
    m
}

#[test]
fn the_longest_name_fits_and_one_more_octet_does_not() {
    assert_eq!(name_len(&name(&[63, 63, 63, 61]), HEADER_LEN), Some(255));
    assert_eq!(name_len(&name(&[63, 63, 63, 62]), HEADER_LEN), None);
    assert_eq!(name_len(&name(&[]), HEADER_LEN), Some(1));
    assert_eq!(name_len(&name(&[3]), HEADER_LEN + 10), None);
}

proptest::proptest! {
    #[test]
    fn matches_the_reference(msg in proptest::collection::vec(0u8..=70, 0..400), pos in 0usize..20) {
        proptest::prop_assert_eq!(name_len(&msg, pos), reference(&msg, pos));
    }

    #[test]
    fn matches_the_reference_on_names(labels in proptest::collection::vec(0usize..=63, 0..8), cut in 0usize..300) {
        let mut m = name(&labels);
        m.truncate(cut.max(HEADER_LEN));
        proptest::prop_assert_eq!(name_len(&m, HEADER_LEN), reference(&m, HEADER_LEN));
        let m = name(&labels);
        proptest::prop_assert_eq!(name_len(&m, HEADER_LEN), reference(&m, HEADER_LEN));
    }
}
