//! A fixed latency histogram: 10 ns buckets up to 100 µs, 1 µs buckets up to 100 ms, then one
//! overflow bucket.

const FINE_NS: u64 = 10;
const FINE: usize = 10_000;
const COARSE_NS: u64 = 1_000;
const BUCKETS: usize = FINE + 99_900;

fn bucket(ns: u64) -> usize {
    if ns < FINE as u64 * FINE_NS {
        (ns / FINE_NS) as usize
    } else {
        (FINE + ((ns - FINE as u64 * FINE_NS) / COARSE_NS) as usize).min(BUCKETS)
    }
}

fn midpoint(i: usize) -> u64 {
    if i < FINE {
        i as u64 * FINE_NS + FINE_NS / 2
    } else {
        FINE as u64 * FINE_NS + (i - FINE) as u64 * COARSE_NS + COARSE_NS / 2
    }
}

/// Latency counts (values ≥ 100 ms land in the last bucket).
#[derive(Debug)]
pub struct Histogram {
    counts: Vec<u32>,
    total: u64,
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS + 1],
            total: 0,
        }
    }

    /// Adds one sample in nanoseconds.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        let i = bucket(ns);
        self.counts[i] = self.counts[i].saturating_add(1);
        self.total += 1;
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The value (ns, bucket midpoint) at quantile `q` (0..=1), or `None` when empty.
    pub fn percentile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                return Some(midpoint(i));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let mut h = Histogram::new();
        assert_eq!(h.percentile(0.5), None);
        for ns in 1..=100u64 {
            h.record(ns * 100);
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.percentile(0.5), Some(5005));
        assert_eq!(h.percentile(0.99), Some(9905));
        h.record(2_000_000);
        assert_eq!(h.percentile(1.0), Some(2_000_500));
        h.record(1_000_000_000);
        assert_eq!(h.percentile(1.0), Some(100_000_500));
    }
}
