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
//! the same slots from a list of the free ones instead (`FreeList`); a test checks the table
//! against the one-probe-at-a-time walk. Build time: `maglev/build_m65537_n1000` in
//! `benches/forward.rs`.
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
        let n = order.len();
        let total: u64 = order.iter().map(|b| u64::from(b.weight.max(1))).sum();
        let w_max = order.iter().map(|b| b.weight.max(1)).max().unwrap_or(1);

        // Quotas by largest remainder: they sum to exactly m.
        let mut quota: Vec<usize> = Vec::with_capacity(n);
        let mut rem: Vec<(u64, usize)> = Vec::with_capacity(n);
        for (i, b) in order.iter().enumerate() {
            let num = m as u64 * u64::from(b.weight.max(1));
            quota.push((num / total) as usize);
            rem.push((num % total, i));
        }
        let short = m - quota.iter().sum::<usize>();
        rem.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, i) in rem.iter().take(short) {
            quota[i] += 1;
        }

        let mut walk: Vec<Walk> = order
            .iter()
            .zip(&quota)
            .map(|(b, &q)| Walk::new(b, q, m))
            .collect();
        // Every slot is claimed (the quotas sum to m), so the initial value is never seen.
        let mut slots = vec![0u16; m];
        // Taken slots as a bitset: 8 KiB for M = 65537, so probing stays in L1.
        let mut taken = Taken(vec![0u64; m.div_ceil(64)]);
        // The last few claims scan a free list instead of probing.
        let tail_from = m.saturating_sub(FreeList::threshold(m));
        let mut tail: Option<FreeList> = None;
        let w_max = u64::from(w_max);
        // Backends still under quota, in order.
        let mut live: Vec<usize> = (0..n).filter(|&i| walk[i].left > 0).collect();
        let mut filled = 0usize;
        while filled < m && !live.is_empty() {
            let mut finished = false;
            for &i in &live {
                let w = &mut walk[i];
                w.credit += w.weight;
                while w.credit >= w_max && w.left > 0 {
                    w.credit -= w_max;
                    let c = if filled < tail_from {
                        w.claim_by_probing(&mut taken, m)
                    } else {
                        tail.get_or_insert_with(|| FreeList::from_taken(&taken, m))
                            .claim(w, &mut taken)
                    };
                    slots[c] = w.index;
                    w.left -= 1;
                    filled += 1;
                }
                finished |= w.left == 0;
            }
            if finished {
                live.retain(|&i| walk[i].left > 0);
            }
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
        self.0[c >> 6] |= 1 << (c & 63);
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

/// A backend's walk through its permutation `offset + j·skip mod m`, and its turns.
struct Walk {
    /// The next slot it will try.
    next: usize,
    offset: usize,
    skip: usize,
    /// Claims left under its quota.
    left: usize,
    /// Its weight, and the credit its turns are paid from.
    weight: u64,
    credit: u64,
    /// What its slots hold.
    index: u16,
}

impl Walk {
    /// The walk of backend `b` in a table of `m` slots, with `quota` claims to make. Offset and
    /// skip come from the backend's identity, so its permutation does not depend on the others.
    fn new(b: &MaglevBackend, quota: usize, m: usize) -> Walk {
        let mm = m as u64;
        let offset = (mum(b.id ^ SEED_OFFSET, SEED_SKIP) % mm) as usize;
        Walk {
            next: offset,
            offset,
            skip: (mum(b.id ^ SEED_SKIP, SEED_OFFSET) % (mm - 1) + 1) as usize,
            left: quota,
            weight: u64::from(b.weight.max(1)),
            credit: 0,
            index: b.index,
        }
    }

    /// Claims the first free slot at or after `next` in the walk, the paper's loop.
    #[inline(always)]
    fn claim_by_probing(&mut self, taken: &mut Taken, m: usize) -> usize {
        let (mut c, skip) = (self.next, self.skip);
        while !taken.is_free(c) {
            c = add_mod(c, skip, m);
        }
        taken.set(c);
        self.next = add_mod(c, skip, m);
        c
    }
}

/// The free slots, once they are few: the claims that would probe longest (a backend finds one
/// of the last `k` free slots after `m / k` tries on average, `m·ln m` tries over a whole build,
/// most of them here) instead compute each free slot's place in the claiming backend's walk and
/// take the earliest. That is the slot probing would reach first: every slot before a backend's
/// `next` is already taken, so no free slot lies behind it.
struct FreeList {
    slots: Vec<usize>,
    reduce: Reduce,
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
            reduce: Reduce::new(m as u64),
        }
    }

    /// Claims, for `walk`, the free slot earliest in its walk (the list is not empty). A
    /// walk's skip has an inverse when `m` is prime, as configs require; otherwise the walk
    /// probes.
    fn claim(&mut self, walk: &mut Walk, taken: &mut Taken) -> usize {
        let m = self.reduce.m;
        let Some(inverse) = inverse_mod(walk.skip as u64, m) else {
            let c = walk.claim_by_probing(taken, m as usize);
            if let Some(k) = self.slots.iter().position(|&f| f == c) {
                self.slots.swap_remove(k);
            }
            return c;
        };
        let offset = walk.offset as u64;
        let place = |c: usize| {
            let c = c as u64;
            let from_offset = if c >= offset {
                c - offset
            } else {
                c + m - offset
            };
            self.reduce.rem(from_offset * inverse)
        };
        let (mut best, mut best_place) = (0, u64::MAX);
        for (k, &c) in self.slots.iter().enumerate() {
            let p = place(c);
            if p < best_place {
                (best, best_place) = (k, p);
            }
        }
        let c = self.slots.swap_remove(best);
        taken.set(c);
        walk.next = add_mod(c, walk.skip, m as usize);
        c
    }
}

/// `x mod m` by multiplication (Barrett), for `x < 2⁴⁸` and `m < 2²⁴`.
struct Reduce {
    m: u64,
    /// `⌊2⁶⁴ / m⌋`.
    r: u64,
}

impl Reduce {
    fn new(m: u64) -> Reduce {
        Reduce {
            m,
            r: (u128::from(u64::MAX) / u128::from(m.max(1))) as u64,
        }
    }

    #[inline(always)]
    fn rem(&self, x: u64) -> u64 {
        let q = ((u128::from(x) * u128::from(self.r)) >> 64) as u64;
        // q is the quotient or one less.
        let r = x - q * self.m;
        if r >= self.m {
            r - self.m
        } else {
            r
        }
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
    let s = a + b;
    if s >= m {
        s - m
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward::hash::hash_bytes;

    const M: u32 = 65537;

    fn backends(n: usize, weight: impl Fn(usize) -> u32) -> Vec<MaglevBackend> {
        (0..n)
            .map(|i| MaglevBackend {
                id: hash_bytes(format!("10.{}.{}.1", i / 256, i % 256).as_bytes(), 0),
                weight: weight(i),
                index: i as u16,
            })
            .collect()
    }

    fn counts(t: &Maglev, n: usize) -> Vec<usize> {
        let mut c = vec![0; n];
        for &s in t.slots() {
            c[s as usize] += 1;
        }
        c
    }

    /// Largest relative deviation of a backend's slot count from its weighted share.
    fn worst_deviation(t: &Maglev, bs: &[MaglevBackend]) -> f64 {
        let total: u64 = bs.iter().map(|b| u64::from(b.weight)).sum();
        let c = counts(t, bs.len());
        bs.iter()
            .map(|b| {
                let want = f64::from(M) * f64::from(b.weight) / total as f64;
                (c[b.index as usize] as f64 - want).abs() / want
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn every_slot_is_filled_and_shares_are_within_one_percent() {
        for n in [10usize, 100, 1000] {
            let bs = backends(n, |_| 1);
            let t = Maglev::build(M, &bs);
            assert_eq!(t.len(), M as usize);
            assert!(t.slots().iter().all(|&s| (s as usize) < n));
            let dev = worst_deviation(&t, &bs);
            // Off by less than one slot: 1/65.5 = 0.83% relative at n = 1000.
            assert!(dev < 0.01, "n={n}: worst relative deviation {dev}");
            let c = counts(&t, n);
            let (lo, hi) = (c.iter().min().unwrap(), c.iter().max().unwrap());
            assert!(hi - lo <= 1, "n={n}: counts {lo}..{hi}");
        }
    }

    #[test]
    fn weights_set_the_share() {
        for n in [10usize, 100, 1000] {
            let bs = backends(n, |i| 1 + (i % 4) as u32);
            let t = Maglev::build(M, &bs);
            let dev = worst_deviation(&t, &bs);
            // Weight-1 backends own ~26 slots at n = 1000: less than one slot off is < 4%.
            let bound = if n == 1000 { 0.04 } else { 0.01 };
            assert!(dev < bound, "n={n}: worst relative deviation {dev}");
        }
        // Two backends 3:1 → 75% / 25% to the slot.
        let bs = backends(2, |i| if i == 0 { 3 } else { 1 });
        let c = counts(&Maglev::build(M, &bs), 2);
        assert!(
            c[0].abs_diff(49153) <= 1 && c[1].abs_diff(16384) <= 1,
            "{c:?}"
        );
    }

    /// Slots whose owner changed between two tables.
    fn moved(a: &Maglev, b: &Maglev) -> usize {
        a.slots()
            .iter()
            .zip(b.slots())
            .filter(|(x, y)| x != y)
            .count()
    }

    #[test]
    fn removing_one_backend_moves_little_else() {
        for n in [10usize, 100, 1000] {
            let bs = backends(n, |_| 1);
            let before = Maglev::build(M, &bs);
            for removed in [0usize, n / 2, n - 1] {
                let rest: Vec<MaglevBackend> = bs
                    .iter()
                    .copied()
                    .filter(|b| b.index as usize != removed)
                    .collect();
                let after = Maglev::build(M, &rest);
                let own = before
                    .slots()
                    .iter()
                    .filter(|&&s| s as usize == removed)
                    .count();
                let others_moved = moved(&before, &after) - own;
                let limit = (M as usize - own) / 50;
                assert!(
                    others_moved <= limit,
                    "n={n} removed={removed}: {others_moved} other slots moved (limit {limit})"
                );
                assert!(after.slots().iter().all(|&s| s as usize != removed));
            }
        }
    }

    /// The paper's walk, one slot at a time, with the same turns and quotas: the table
    /// `build` must reproduce slot for slot.
    fn build_one_probe_at_a_time(size: u32, backends: &[MaglevBackend]) -> Vec<u16> {
        let m = size as usize;
        let mut order = backends.to_vec();
        order.sort_by_key(|b| (b.id, b.index));
        let total: u64 = order.iter().map(|b| u64::from(b.weight.max(1))).sum();
        let w_max = u64::from(order.iter().map(|b| b.weight.max(1)).max().unwrap());
        let mut quota: Vec<usize> = order
            .iter()
            .map(|b| (m as u64 * u64::from(b.weight.max(1)) / total) as usize)
            .collect();
        let mut rem: Vec<(u64, usize)> = order
            .iter()
            .enumerate()
            .map(|(i, b)| (m as u64 * u64::from(b.weight.max(1)) % total, i))
            .collect();
        rem.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let short = m - quota.iter().sum::<usize>();
        for &(_, i) in rem.iter().take(short) {
            quota[i] += 1;
        }
        let mm = m as u64;
        let mut next: Vec<usize> = order
            .iter()
            .map(|b| (mum(b.id ^ SEED_OFFSET, SEED_SKIP) % mm) as usize)
            .collect();
        let skip: Vec<usize> = order
            .iter()
            .map(|b| (mum(b.id ^ SEED_SKIP, SEED_OFFSET) % (mm - 1) + 1) as usize)
            .collect();
        let (mut credit, mut count) = (vec![0u64; order.len()], vec![0usize; order.len()]);
        let mut slots = vec![u16::MAX; m];
        let mut filled = 0;
        while filled < m {
            for i in 0..order.len() {
                if count[i] >= quota[i] {
                    continue;
                }
                credit[i] += u64::from(order[i].weight.max(1));
                while credit[i] >= w_max && count[i] < quota[i] {
                    credit[i] -= w_max;
                    while slots[next[i]] != u16::MAX {
                        next[i] = (next[i] + skip[i]) % m;
                    }
                    slots[next[i]] = order[i].index;
                    next[i] = (next[i] + skip[i]) % m;
                    count[i] += 1;
                    filled += 1;
                }
            }
        }
        slots
    }

    #[test]
    fn free_list_tail_builds_the_papers_table() {
        for (size, n) in [
            (M, 1000usize),
            (M, 10),
            (7, 3),
            (11, 11),
            (251, 40),
            (65521, 333),
        ] {
            for weight in [|_: usize| 1u32, |i: usize| 1 + (i % 5) as u32] {
                let bs = backends(n, weight);
                let t = Maglev::build(size, &bs);
                assert_eq!(
                    t.slots(),
                    &build_one_probe_at_a_time(size, &bs)[..],
                    "m={size} n={n}"
                );
            }
        }
    }

    #[test]
    fn config_order_does_not_matter() {
        let bs = backends(50, |i| 1 + (i % 3) as u32);
        let mut rev = bs.clone();
        rev.reverse();
        assert_eq!(Maglev::build(M, &bs), Maglev::build(M, &rev));
    }

    #[test]
    fn empty_and_tiny_tables() {
        let t = Maglev::build(M, &[]);
        assert!(t.is_empty());
        assert_eq!(t.lookup(12345), None);
        let bs = backends(3, |_| 1);
        let t = Maglev::build(7, &bs);
        assert_eq!(t.len(), 7);
        for h in [0u64, u64::MAX, 1 << 63, 42] {
            assert!(t.lookup(h).is_some());
        }
        // Extreme weights still fill every slot.
        let bs = backends(3, |i| if i == 0 { 65535 } else { 1 });
        let t = Maglev::build(M, &bs);
        let c = counts(&t, 3);
        assert_eq!(c.iter().sum::<usize>(), M as usize);
        assert!(c[1] >= 1 && c[2] >= 1, "{c:?}");
    }

    #[test]
    fn lookups_spread_over_the_table() {
        let bs = backends(4, |_| 1);
        let t = Maglev::build(M, &bs);
        let mut c = [0usize; 4];
        for i in 0..40_000u64 {
            let h = crate::forward::hash::hash5([i, 0, 0, 0, 0], 0);
            c[t.lookup(h).unwrap() as usize] += 1;
        }
        for x in c {
            assert!((9_000..11_000).contains(&x), "{c:?}");
        }
    }
}
