//! Expiry: the amortised sweep over the slots' tags and deadlines, and its time-based driver.
use super::{FlowTable, Meta, Slot, SWEEP_MAX_PER_CALL, SWEEP_PERIOD_MS};

/// Bit 31 set when `m` holds a flow whose deadline has passed at `now`, without a branch: tags
/// have bit 31 set (empty buckets are 0), and the wrapping age `now - deadline` has it clear
/// once the deadline has passed (the same test as `dead`).
#[inline(always)]
pub(super) fn expired_bit(m: &Meta, now: u32) -> u32 {
    m.tag & !now.wrapping_sub(m.deadline) & 0x8000_0000
}

/// How many buckets at the front of `slots` are empty or hold a live flow, counted sixteen at
/// a time (one branch-free OR-reduction of sixteen tests); a multiple of 16.
#[inline(always)]
fn quiet_run(slots: &[Slot], now: u32) -> usize {
    let mut k = 0;
    for c in slots.chunks_exact(16) {
        let Ok(c) = <&[Slot; 16]>::try_from(c) else {
            break;
        };
        if c.iter().fold(0, |a, s| a | expired_bit(&s.meta, now)) != 0 {
            break;
        }
        k += 16;
    }
    k
}

impl FlowTable {
    /// Sweeps `buckets` buckets from where the last sweep stopped, and on to the end of the run
    /// of occupied buckets it stops in when it removes flows there, removing idle flows.
    /// Returns how many it removed. Bounded work: call it once per packet or burst. Stretches
    /// with nothing to remove are skipped sixteen buckets at a time; a run's dead flows are
    /// removed last first, so no dead entry is ever moved.
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
                // To the next bucket with a dead flow: sixteen at a time, then one by one.
                i += self.slots.get(i..to).map_or(0, |s| quiet_run(s, now));
                while i < to
                    && self
                        .slots
                        .get(i)
                        .is_some_and(|s| expired_bit(&s.meta, now) == 0)
                {
                    i += 1;
                }
                // Short of `to`, bucket `i` holds a dead flow.
                if i < to {
                    let (gone, run) = self.expire_run(i, now);
                    removed += gone;
                    i += run;
                }
            }
            left -= to - from;
            self.cursor = if i >= n { 0 } else { i };
        }
        self.counters.expired += removed as u64;
        removed
    }

    /// Removes the idle flows of the run of occupied buckets that goes on from bucket `i` to
    /// the next empty one, the last first: a removal then shifts only live entries back (the
    /// ones after it in the run are all live by then), so no dead entry is ever moved, and
    /// nothing from beyond the run moves into it. Returns how many it removed and the run's
    /// length from `i` (which may wrap past the table's end).
    fn expire_run(&mut self, i: usize, now: u32) -> (usize, usize) {
        let mask = self.mask;
        // The table always has empty buckets (capacity is under two thirds of them); the bound
        // is only a guard.
        let run = (0..=mask)
            .find(|&k| {
                self.slots
                    .get((i + k) & mask)
                    .is_none_or(|s| s.meta.tag == 0)
            })
            .unwrap_or(mask + 1);
        let mut removed = 0;
        for k in (0..run).rev() {
            let b = (i + k) & mask;
            // What a removal shifts into `b` comes from later in the run: live, so this looks
            // at `b` once more at most.
            while self
                .slots
                .get(b)
                .is_some_and(|s| expired_bit(&s.meta, now) != 0)
            {
                self.remove_at(b);
                removed += 1;
            }
        }
        (removed, run)
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
