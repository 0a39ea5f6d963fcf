//! Expiry: the amortised sweep over the slots (in order, so the hardware prefetcher streams
//! them) and its time-based driver.
use super::{dead, FlowTable, SWEEP_MAX_PER_CALL, SWEEP_PERIOD_MS};

impl FlowTable {
    /// Sweeps up to `buckets` buckets from where the last sweep stopped, removing idle flows.
    /// Returns how many it removed. Bounded work: call it once per packet or burst.
    #[inline]
    pub fn expire(&mut self, now_ms: u64, buckets: usize) -> usize {
        let now = now_ms as u32;
        let n = self.slots.len();
        if self.len == 0 {
            return 0;
        }
        let mut left = buckets.min(n);
        let mut removed = 0;
        while left > 0 {
            let from = self.cursor;
            let to = (from + left).min(n);
            let mut i = from;
            while i < to {
                // To the next live bucket.
                while i < to && self.slots.get(i).is_some_and(|s| s.tag == 0) {
                    i += 1;
                }
                // A later entry of the cluster may shift into slot i: look at it again
                // (bounded by the cluster's length).
                while i < to
                    && self
                        .slots
                        .get(i)
                        .is_some_and(|s| s.tag != 0 && dead(s.deadline, now))
                {
                    self.remove_at(i);
                    removed += 1;
                }
                i += 1;
            }
            left -= to - from;
            self.cursor = if to >= n { 0 } else { to };
        }
        self.counters.expired += removed as u64;
        removed
    }

    /// The hot path's share of expiry: when the worker clock moved on since the last call,
    /// sweeps the buckets due for the elapsed milliseconds (the whole table per
    /// [`SWEEP_PERIOD_MS`], at least one bucket per millisecond), else returns at once. Cost per
    /// packet is a comparison; the sweep itself is amortised over every packet of that
    /// millisecond, whatever the packet rate. Returns how many flows it removed.
    #[inline]
    pub fn expire_due(&mut self, now_ms: u64) -> usize {
        if now_ms <= self.swept_ms {
            return 0;
        }
        self.expire_elapsed(now_ms)
    }

    #[inline(never)]
    fn expire_elapsed(&mut self, now_ms: u64) -> usize {
        let elapsed = now_ms - self.swept_ms;
        self.swept_ms = now_ms;
        let n = self.slots.len() as u64;
        let due = (elapsed.min(SWEEP_PERIOD_MS) * n).div_ceil(SWEEP_PERIOD_MS);
        self.expire(now_ms, (due as usize).min(SWEEP_MAX_PER_CALL))
    }
}
