//! Expiry: the amortised sweep over the tag array (deadlines live there, so live entries' slot
//! lines are never read) and its time-based driver.
use super::{dead, FlowTable, Meta, SWEEP_MAX_PER_CALL, SWEEP_PERIOD_MS};

/// True when a line of the tag array holds no flow at all.
#[inline(always)]
fn empty(line: &[Meta]) -> bool {
    match line.first_chunk::<8>() {
        // One vector OR-reduction for a whole line.
        Some(l) => l.iter().fold(0, |a, m| a | m.tag) == 0,
        None => line.iter().all(|m| m.tag == 0),
    }
}

impl FlowTable {
    /// Sweeps up to `buckets` buckets from where the last sweep stopped, removing idle flows.
    /// Returns how many it removed. Bounded work: call it once per packet or burst. An empty
    /// line of the tag array (8 buckets) is skipped with one test; slot lines are read only to
    /// move entries after a removal.
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
                let end = (i + 8).min(to);
                if !self.meta.get(i..end).is_none_or(empty) {
                    for j in i..end {
                        // A later entry of the cluster may shift into slot j: look at it
                        // again (bounded by the cluster's length).
                        while self
                            .meta
                            .get(j)
                            .is_some_and(|m| m.tag != 0 && dead(m.deadline, now))
                        {
                            self.remove_at(j);
                            removed += 1;
                        }
                    }
                }
                i = end;
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
