//! A segment's words as anything may have left them (another program's file, a writer killed
//! while it set the segment up, a bit flipped): the reader gives values or an error, never a
//! panic, and refuses a segment shorter than its own header says it is.
use std::sync::atomic::AtomicU64;

use proptest::prelude::*;

use super::read_words;
use crate::{h, segment_words, HEADER_WORDS, LAYOUT_VERSION, MAGIC, MAX_PORTS, MAX_WORKERS};

/// `words` as a segment: the magic and version in place, `workers` and `ports` in the header.
/// Every word is even: a block whose sequence word is odd is one a writer is in the middle of,
/// which the reader waits out (50 ms a block) before taking it as it is.
fn segment(mut words: Vec<u64>, workers: u64, ports: u64) -> Vec<AtomicU64> {
    for w in &mut words {
        *w &= !1;
    }
    if words.len() >= HEADER_WORDS {
        words[h::MAGIC] = MAGIC;
        words[h::VERSION] = LAYOUT_VERSION;
        words[h::WORKERS] = workers;
        words[h::PORTS] = ports;
    }
    words.into_iter().map(AtomicU64::new).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Any words behind a valid header, the segment as long as its counts say or cut short.
    #[test]
    fn arbitrary_segments_never_panic(
        workers in 0..=4usize,
        ports in 0..=4usize,
        cut in any::<prop::sample::Index>(),
        seed in any::<u64>(),
        wild_counts in prop::option::of((any::<u64>(), any::<u64>())),
    ) {
        let full = segment_words(workers, ports);
        let len = if cut.index(4) == 0 { cut.index(full + 1) } else { full };
        // Words from the seed (a long random vector per case would dominate the run).
        let mut x = seed | 1;
        let words: Vec<u64> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            })
            .collect();
        let (w, p) = wild_counts.unwrap_or((workers as u64, ports as u64));
        let hw = segment(words, w, p);
        let r = read_words(&hw);
        let fits = len >= HEADER_WORDS
            && (w as usize) <= MAX_WORKERS
            && (p as usize) <= MAX_PORTS
            && segment_words(w as usize, p as usize) <= len;
        prop_assert_eq!(r.is_ok(), fits, "{} words, header {} workers {} ports", len, w, p);
        if let Ok(v) = r {
            prop_assert_eq!((v.workers.len(), v.ports.len()), (w as usize, p as usize));
        }
    }
}
