//! Weighted Maglev consistent hashing (Eisenbud et al., NSDI 2016), built off the hot path.
//!
//! Each backend walks its own permutation of the `M` slots (`offset + j·skip mod M`, both from
//! the backend's identity hash, so a backend keeps its permutation across configs and config
//! order does not matter). Backends take turns claiming their next free slot, as in the paper,
//! with two changes:
//!
//! - **Weights**: in each round the heaviest backend takes one turn and a backend of weight `w`
//!   takes `w / w_max` turns on average (a credit counter), so turns are spread over rounds.
//! - **Exact quotas**: each backend stops at its quota, `M·w/W` rounded by largest remainder, so
//!   every backend owns `⌊M·w/W⌋` or `⌈M·w/W⌉` slots: off its weighted share by less than one
//!   slot (the paper's unweighted tables can be off by a few percent).
//!
//! Permutations are generated lazily (one `next` per backend, no `N×M` matrix). The last `√M`
//! claims, which would make most of the probes (coupon collecting in a nearly full table), find
//! the same slots from a list of the free ones instead (`FreeList`, which orders the free slots
//! by their place in the claiming walk with one multiplication each); a test checks the table
//! against the one-probe-at-a-time walk, on fixed and on random sizes and weights.
//!
//! Cost (`maglev/build_m65537_n1000` in `benches/forward.rs`): the probe loop is one load, one bit
//! test and a step with one compare on its dependency chain (`Taken::first_free`: the smaller of
//! `c + skip` and `c + skip − m`); from a quarter to three quarters full, where its exit would
//! be mispredicted on about half the claims, it first tests four slots without a branch
//! (`Taken::first_free_of`). A turn claims at most once (a walk's credit stays below the
//! heaviest weight between turns), so a batch of `k` turns cannot fill more than `k` slots and
//! finished walks can only appear once the fewest claims left reaches 0 (`Turns::low`): the turn
//! loop checks neither per turn. A backend as heavy as the heaviest claims every turn without
//! touching its credit; the live walks are held in order themselves (32 bytes each, no index
//! into a second array); offsets, skips and quotas are reduced by a reciprocal (`Divisor`)
//! rather than a `div` per backend.
use super::hash::mum;

/// A backend as the table sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaglevBackend {
    /// A stable identity (hash of the backend's address): picks its permutation.
    pub id: u64,
    /// Relative share (≥ 1).
    pub weight: u32,
    /// What [`Maglev::lookup`] returns for this backend (an index into the caller's list).
    pub index: u16,
}

/// A built lookup table: slot → backend index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maglev {
    slots: Box<[u16]>,
}

const SEED_OFFSET: u64 = 0x243f_6a88_85a3_08d3;
const SEED_SKIP: u64 = 0x1319_8a2e_0370_7344;

impl Maglev {
    /// Builds a table of `size` slots (a prime) over `backends`. With no backends the table is
    /// empty and every lookup misses. Sizes below 2 are raised to 2.
    pub fn build(size: u32, backends: &[MaglevBackend]) -> Maglev {
        let m = size.max(2) as usize;
        if backends.is_empty() {
            return Maglev {
                slots: Box::new([]),
            };
        }
        let mut order: Vec<MaglevBackend> = backends.to_vec();
        order.sort_by_key(|b| (b.id, b.index));
        let total: u64 = order.iter().map(|b| u64::from(b.weight.max(1))).sum();
        let w_max = order.iter().map(|b| b.weight.max(1)).max().unwrap_or(1);
        let quota = quotas(&order, m, total);

        // The walks of the backends still under quota, in order.
        let live: Vec<Walk> = order
            .iter()
            .zip(&quota)
            .filter(|&(_, &q)| q > 0)
            .map(|(b, &q)| Walk::new(b, q, m))
            .collect();
        // Every slot is claimed (the quotas sum to m), so the initial value is never seen.
        let mut slots = vec![0u16; m];
        // Taken slots as a bitset: 8 KiB for M = 65537, so probing stays in L1.
        let mut taken = Taken(vec![0u64; m.div_ceil(64)]);
        // The last few claims scan a free list instead of probing.
        let tail_from = m.saturating_sub(FreeList::threshold(m));
        let mut turns = Turns {
            live,
            at: 0,
            low: 0,
            w_max: u64::from(w_max),
            filled: 0,
        };
        // From a quarter to three quarters full, four slots of the walk are tested at a time.
        let (quarter, three_quarters) = ((m / 4).min(tail_from), (m / 4 * 3).min(tail_from));
        turns.play(quarter, &mut slots, |w| {
            w.claim_by_probing::<1>(&mut taken, m)
        });
        turns.play(three_quarters, &mut slots, |w| {
            w.claim_by_probing::<4>(&mut taken, m)
        });
        turns.play(tail_from, &mut slots, |w| {
            w.claim_by_probing::<1>(&mut taken, m)
        });
        if turns.filled < m {
            let mut tail = FreeList::from_taken(&taken, m);
            turns.play(m, &mut slots, |w| tail.claim(w, &mut taken));
        }
        Maglev {
            slots: slots.into_boxed_slice(),
        }
    }

    /// The backend index for a flow hash, `None` when the table has no backends.
    #[inline]
    pub fn lookup(&self, hash: u64) -> Option<u16> {
        let m = self.slots.len() as u64;
        // Lemire's multiply-shift range reduction on the high 32 bits (no division).
        let i = ((hash >> 32) * m) >> 32;
        self.slots.get(i as usize).copied()
    }

    /// Number of slots (0 when there are no backends).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when the table has no backends.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The slots, for tests and diagnostics.
    pub fn slots(&self) -> &[u16] {
        &self.slots
    }
}

/// Slots already claimed, one bit each.
struct Taken(Vec<u64>);

impl Taken {
    #[inline(always)]
    fn is_free(&self, c: usize) -> bool {
        self.0[c >> 6] & (1 << (c & 63)) == 0
    }

    #[inline(always)]
    fn set(&mut self, c: usize) {
        // Not `1 << (c & 63)`: sharing that mask with `is_free` puts its shift in the probe loop.
        self.0[c >> 6] |= 1u64.rotate_left(c as u32);
    }

    /// The first free slot of the walk `c, c + skip, c + 2·skip, … mod m` (one exists).
    #[inline(always)]
    fn first_free(&self, mut c: usize, skip: usize, m: usize) -> usize {
        // `add_mod` with `skip − m` computed once: one compare on the dependency chain.
        let back = skip.wrapping_sub(m);
        while !self.is_free(c) {
            c = (c + skip).min(c.wrapping_add(back));
        }
        c
    }

    /// `first_free`, with the walk's first `K` slots tested before any branch. In a table a
    /// quarter to three quarters full the first free slot is mostly among four, and one branch
    /// that is mostly taken replaces a loop whose exit is mispredicted on about half the claims;
    /// the four loads do not wait on each other either (measured: 10% off the whole build;
    /// eight at a time, or four from an empty table, are slower).
    #[inline(always)]
    fn first_free_of<const K: usize>(&self, c: usize, skip: usize, m: usize) -> usize {
        let (mut at, mut free) = ([0; K], 0u32);
        let mut c = c;
        for (j, slot) in at.iter_mut().enumerate() {
            *slot = c;
            free |= u32::from(self.is_free(c)) << j;
            c = add_mod(c, skip, m);
        }
        if free != 0 {
            at[free.trailing_zeros() as usize]
        } else {
            self.first_free(c, skip, m)
        }
    }

    /// The free slots below `m`, in order (a word at a time).
    fn free_slots(&self, m: usize) -> Vec<usize> {
        let mut free = Vec::new();
        for (k, &word) in self.0.iter().enumerate() {
            let mut bits = !word;
            while bits != 0 {
                let c = k * 64 + bits.trailing_zeros() as usize;
                if c >= m {
                    break;
                }
                free.push(c);
                bits &= bits - 1;
            }
        }
        free
    }
}

/// The turns: the backends still under quota take them in order, round after round.
struct Turns {
    /// The walks of those backends, in order.
    live: Vec<Walk>,
    /// Where the current round resumes in `live`.
    at: usize,
    /// At most the fewest claims any live walk has left: a turn claims at most once, so no walk
    /// reaches its quota in a round while this is above 0, and the finished walks are dropped
    /// (and this recomputed) only at the end of a round where it is 0.
    low: u32,
    /// The heaviest weight: a turn costs that much credit.
    w_max: u64,
    /// Slots claimed so far.
    filled: usize,
}

impl Turns {
    /// Plays turns, each claim's slot from `claim`, until `stop` slots are filled or every
    /// backend has its quota.
    fn play(&mut self, stop: usize, slots: &mut [u16], mut claim: impl FnMut(&mut Walk) -> usize) {
        let w_max = self.w_max;
        while self.filled < stop && !self.live.is_empty() {
            // A turn claims at most once (a walk's credit stays below `w_max` between its
            // turns), so the next `stop − filled` turns cannot fill past `stop`.
            let end = self.live.len().min(self.at + (stop - self.filled));
            let mut claimed = 0;
            for w in &mut self.live[self.at..end] {
                // A walk as heavy as the heaviest claims every turn and its credit stays 0.
                if u64::from(w.weight) != w_max {
                    w.credit += u64::from(w.weight);
                    if w.credit < w_max {
                        continue;
                    }
                    w.credit -= w_max;
                }
                let c = claim(w);
                slots[c] = w.index;
                w.left -= 1;
                claimed += 1;
            }
            self.filled += claimed;
            self.at = end;
            if end == self.live.len() {
                if self.low == 0 {
                    self.live.retain(|w| w.left > 0);
                    self.low = self.live.iter().map(|w| w.left).min().unwrap_or(0);
                }
                self.low = self.low.saturating_sub(1);
                self.at = 0;
            }
        }
    }
}

/// A backend's walk through its permutation `offset + j·skip mod m`, and its turns (32 bytes).
struct Walk {
    /// The credit its turns are paid from.
    credit: u64,
    /// The next slot it will try.
    next: u32,
    offset: u32,
    skip: u32,
    /// Claims left under its quota.
    left: u32,
    /// Its weight (≥ 1).
    weight: u32,
    /// What its slots hold.
    index: u16,
}

impl Walk {
    /// The walk of backend `b` in a table of `m` slots, with `quota` claims to make. Offset and
    /// skip come from the backend's identity, so its permutation does not depend on the others.
    fn new(b: &MaglevBackend, quota: usize, m: usize) -> Walk {
        let mm = m as u64;
        let offset = Divisor::new(mm).rem(mum(b.id ^ SEED_OFFSET, SEED_SKIP)) as u32;
        Walk {
            credit: 0,
            next: offset,
            offset,
            skip: (Divisor::new(mm - 1).rem(mum(b.id ^ SEED_SKIP, SEED_OFFSET)) + 1) as u32,
            left: quota as u32,
            weight: b.weight.max(1),
            index: b.index,
        }
    }

    /// Claims the first free slot at or after `next` in the walk, the paper's loop, testing
    /// `K` slots at a time (`Taken::first_free_of`).
    #[inline(always)]
    fn claim_by_probing<const K: usize>(&mut self, taken: &mut Taken, m: usize) -> usize {
        let skip = self.skip as usize;
        let c = if K == 1 {
            taken.first_free(self.next as usize, skip, m)
        } else {
            taken.first_free_of::<K>(self.next as usize, skip, m)
        };
        taken.set(c);
        self.next = add_mod(c, skip, m) as u32;
        c
    }
}

/// The quotas by largest remainder: `⌊m·w/total⌋` each, plus one for the largest remainders
/// (ties to the earlier backend) until they sum to exactly `m`.
fn quotas(order: &[MaglevBackend], m: usize, total: u64) -> Vec<usize> {
    let div = Divisor::new(total);
    let mut quota: Vec<usize> = Vec::with_capacity(order.len());
    let mut rem: Vec<(u64, usize)> = Vec::with_capacity(order.len());
    for (i, b) in order.iter().enumerate() {
        let (q, r) = div.div_rem(m as u64 * u64::from(b.weight.max(1)));
        quota.push(q as usize);
        rem.push((r, i));
    }
    let short = m - quota.iter().sum::<usize>();
    rem.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in rem.iter().take(short) {
        quota[i] += 1;
    }
    quota
}

/// Exact division by a fixed divisor through its reciprocal (no `div` instruction per use).
struct Divisor {
    d: u64,
    /// `⌊(2⁶⁴ − 1) / d⌋`.
    r: u64,
}

impl Divisor {
    fn new(d: u64) -> Divisor {
        let d = d.max(1);
        Divisor { d, r: u64::MAX / d }
    }

    /// `(x / d, x % d)`.
    #[inline(always)]
    fn div_rem(&self, x: u64) -> (u64, u64) {
        // The estimate is the quotient or up to two less, never more.
        let mut q = ((u128::from(x) * u128::from(self.r)) >> 64) as u64;
        let mut r = x - q * self.d;
        while r >= self.d {
            r -= self.d;
            q += 1;
        }
        (q, r)
    }

    #[inline(always)]
    fn rem(&self, x: u64) -> u64 {
        self.div_rem(x).1
    }
}

/// The free slots, once they are few: the claims that would probe longest (a backend finds one
/// of the last `k` free slots after `m / k` tries on average, `m·ln m` tries over a whole build,
/// most of them here) instead compute each free slot's place in the claiming backend's walk and
/// take the earliest. That is the slot probing would reach first: every slot before a backend's
/// `next` is already taken, so no free slot lies behind it.
struct FreeList {
    slots: Vec<usize>,
    m: u64,
}

impl FreeList {
    /// Switch to the free list when this many slots or fewer are left: scanning `k` slots per
    /// claim beats `m / k` probes once `k` is below about `√m` (measured: `2√m` and `4√m`
    /// are slower).
    fn threshold(m: usize) -> usize {
        (m as f64).sqrt() as usize
    }

    fn from_taken(taken: &Taken, m: usize) -> FreeList {
        FreeList {
            slots: taken.free_slots(m),
            m: m as u64,
        }
    }

    /// Claims, for `walk`, the free slot earliest in its walk (the list is not empty). A
    /// walk's skip has an inverse when `m` is prime, as configs require; otherwise the walk
    /// probes.
    fn claim(&mut self, walk: &mut Walk, taken: &mut Taken) -> usize {
        let m = self.m;
        let Some(inverse) = inverse_mod(walk.skip as u64, m) else {
            let c = walk.claim_by_probing::<1>(taken, m as usize);
            if let Some(k) = self.slots.iter().position(|&f| f == c) {
                self.slots.swap_remove(k);
            }
            return c;
        };
        // Slot `c` is at place `p = x·inverse mod m` in the walk, `x = c − offset mod m`. With
        // `f = ⌈2⁶⁴·inverse / m⌉`, `x·f mod 2⁶⁴` lies in `[2⁶⁴·p/m, 2⁶⁴·(p+1)/m)` (its excess
        // over `2⁶⁴·p/m` is below `x < m ≤ 2⁶⁴/m`), so it orders the slots as `p` does: one
        // multiplication per slot, no reduction.
        let f = ((u128::from(inverse) << 64).div_ceil(u128::from(m))) as u64;
        let offset = walk.offset as u64;
        let key = |c: usize| {
            let c = c as u64;
            let x = if c >= offset {
                c - offset
            } else {
                c + m - offset
            };
            x.wrapping_mul(f)
        };
        let (mut best, mut best_key) = (0, u64::MAX);
        for (k, &c) in self.slots.iter().enumerate() {
            let p = key(c);
            if p < best_key {
                (best, best_key) = (k, p);
            }
        }
        let c = self.slots.swap_remove(best);
        taken.set(c);
        walk.next = add_mod(c, walk.skip as usize, m as usize) as u32;
        c
    }
}

/// `a⁻¹ mod m` (extended Euclid), `None` when `a` and `m` share a factor.
fn inverse_mod(a: u64, m: u64) -> Option<u64> {
    let (mut r0, mut r1) = (m as i64, (a % m) as i64);
    let (mut t0, mut t1) = (0i64, 1i64);
    while r1 != 0 {
        let q = r0 / r1;
        (r0, r1) = (r1, r0 - q * r1);
        (t0, t1) = (t1, t0 - q * t1);
    }
    (r0 == 1).then(|| t0.rem_euclid(m as i64) as u64)
}

/// `(a + b) mod m` for `a, b < m`.
#[inline(always)]
fn add_mod(a: usize, b: usize, m: usize) -> usize {
    // `a + b − m` wraps above `a + b` unless the sum reached `m`: the smaller is the sum mod `m`.
    (a + b).min((a + b).wrapping_sub(m))
}

#[cfg(test)]
mod tests;
