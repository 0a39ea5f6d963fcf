//! Expiry: the amortised sweep over the slots' tags and deadlines, and its time-based driver.
use super::{FlowTable, Meta, SWEEP_MAX_PER_CALL, SWEEP_PERIOD_MS};
use crate::dpdk::prefetch_l2;

/// Bit 31 set when `m` holds a flow whose deadline has passed at `now`, without a branch: tags
/// have bit 31 set (empty buckets are 0), and the wrapping age `now - deadline` has it clear
/// once the deadline has passed (the same test as `dead`).
#[inline(always)]
pub(super) fn expired_bit(m: &Meta, now: u32) -> u32 {
    m.tag & !now.wrapping_sub(m.deadline) & 0x8000_0000
}

/// Buckets whose dead flows one step of the sweep finds at once: the bits of a word.
const CHUNK: usize = 64;

impl FlowTable {
    /// Sweeps `buckets` buckets from where the last sweep stopped, and on to the end of the run
    /// of occupied buckets the last of them is in, removing idle flows. Returns how many it
    /// removed. Bounded work: call it once per packet or burst.
    ///
    /// Each stretch is swept from its end backwards, 64 buckets (`CHUNK`) at a time: a
    /// branch-free pass marks the dead flows of the chunk in a word, and they are removed last
    /// first. A removal shifts back only flows from later in the run, which are live by then,
    /// so no dead flow is ever moved and the chunk's word stays true for the buckets before.
    /// The branches are then per chunk and per removal, not per bucket: with a flow table full
    /// of dead flows (new flows that idled out), the sweep's tests of each bucket in turn
    /// mispredicted on most of them.
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
            let end = self.run_end((from + left).min(n));
            removed += self.expire_range(from, end, now);
            left = left.saturating_sub(end - from);
            self.cursor = end & self.mask;
        }
        self.counters.expired += removed as u64;
        removed
    }

    /// Where the sweep of the buckets before `to` may stop: `to` itself when bucket `to - 1` is
    /// empty, else the first empty bucket from `to` on (an index that may pass the table's end,
    /// standing for the bucket that many places on, from its start).
    fn run_end(&self, to: usize) -> usize {
        let mask = self.mask;
        let empty = |k: usize| self.slots.get(k & mask).is_none_or(|s| s.meta.tag == 0);
        if to == 0 || empty(to - 1) {
            return to;
        }
        // The table always has empty buckets (capacity is under two thirds of them); the bound
        // is only a guard.
        (to..to + mask + 1)
            .find(|&k| empty(k))
            .unwrap_or(to + mask + 1)
    }

    /// Removes the dead flows of buckets `from..end` (indices past the table's end wrap to its
    /// start), last first, a chunk at a time (see [`FlowTable::expire`]). Returns how many.
    fn expire_range(&mut self, from: usize, end: usize, now: u32) -> usize {
        let mask = self.mask;
        let mut removed = 0;
        let mut hi = end;
        while hi > from {
            let lo = hi.saturating_sub(CHUNK).max(from);
            // Bit k: bucket lo + k holds a dead flow.
            let mut dead = 0u64;
            for k in 0..hi - lo {
                let bit = self
                    .slots
                    .get((lo + k) & mask)
                    .map_or(0, |s| expired_bit(&s.meta, now));
                dead |= u64::from(bit >> 31) << k;
            }
            while dead != 0 {
                let k = (u64::BITS - 1 - dead.leading_zeros()) as usize;
                dead &= !(1 << k);
                let b = (lo + k) & mask;
                // What a removal shifts into `b` is live (see `expire`); the loop is a guard.
                while self
                    .slots
                    .get(b)
                    .is_some_and(|s| expired_bit(&s.meta, now) != 0)
                {
                    self.remove_at(b);
                    removed += 1;
                }
            }
            hi = lo;
        }
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
        let removed = self.expire(now_ms, (due as usize).min(SWEEP_MAX_PER_CALL));
        self.prefetch_next_sweep(n.div_ceil(SWEEP_PERIOD_MS) as usize);
        removed
    }

    /// Asks the CPU for the first `buckets` buckets (at most [`SWEEP_MAX_PER_CALL`]) the next
    /// sweep reads, up to the table's end, into its level-2 cache (up to 64 KiB, which would
    /// crowd the level-1 cache): a millisecond's slice, read at the next millisecond, when its
    /// lines have arrived. Read cold, they were most of the sweep's time (perf of the 64k-flow
    /// new-flow burst: most of the sweep's samples on the loads of its slots).
    #[inline(never)]
    fn prefetch_next_sweep(&self, buckets: usize) {
        let from = self.cursor;
        let to = (from + buckets.min(SWEEP_MAX_PER_CALL)).min(self.slots.len());
        for s in self.slots.get(from..to).unwrap_or_default() {
            prefetch_l2(s);
        }
    }
}
