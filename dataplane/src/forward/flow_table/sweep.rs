//! Expiry: the amortised sweep over the tag array (deadlines live there, so live entries' slot
//! lines are never read) and its time-based driver.
use super::{dead, FlowTable, Meta, SWEEP_MAX_PER_CALL, SWEEP_PERIOD_MS};

/// How many buckets at the front of `meta` are empty, counted sixteen at a time (two lines of
/// the tag array per vector OR-reduction); a multiple of 16.
#[inline(always)]
fn empty_run(meta: &[Meta]) -> usize {
    let mut k = 0;
    for c in meta.chunks_exact(16) {
        let Ok(c) = <&[Meta; 16]>::try_from(c) else {
            break;
        };
        if c.iter().fold(0, |a, m| a | m.tag) != 0 {
            break;
        }
        k += 16;
    }
    k
}

impl FlowTable {
    /// Sweeps up to `buckets` buckets from where the last sweep stopped, removing idle flows.
    /// Returns how many it removed. Bounded work: call it once per packet or burst. Empty
    /// stretches are skipped sixteen buckets at a time; slot lines are read only to move entries
    /// after a removal (deadlines are in the tag array).
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
                // To the next live bucket: sixteen at a time across empty stretches, then one
                // by one.
                i += self.meta.get(i..to).map_or(0, empty_run);
                while i < to && self.meta.get(i).is_some_and(|m| m.tag == 0) {
                    i += 1;
                }
                // A later entry of the cluster may shift into slot i: look at it again
                // (bounded by the cluster's length).
                while i < to
                    && self
                        .meta
                        .get(i)
                        .is_some_and(|m| m.tag != 0 && dead(m.deadline, now))
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
