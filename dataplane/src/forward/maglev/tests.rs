//! Tests of the Maglev build: shares, disruption, and the table slot for slot against the
//! paper's one-probe-at-a-time walk.
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

/// Random sizes (primes), backend counts (some above the size, so some quotas are 0) and
/// weights, against the one-probe-at-a-time walk.
#[test]
fn random_configs_build_the_papers_table() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mum(seed, 0xbf58_476d_1ce4_e5b9)
    };
    let primes = [2u32, 3, 5, 7, 13, 31, 101, 257, 1009, 4099, 10007];
    for round in 0..60 {
        let size = primes[(next() % primes.len() as u64) as usize];
        let n = 1 + (next() % (2 * u64::from(size)).min(300)) as usize;
        let spread = [1u64, 2, 10, 1000, 65535][round % 5];
        let weights: Vec<u32> = (0..n).map(|_| (next() % (spread + 1)) as u32).collect();
        let bs = backends(n, |i| weights[i]);
        assert_eq!(
            Maglev::build(size, &bs).slots(),
            &build_one_probe_at_a_time(size, &bs)[..],
            "m={size} n={n} weights={weights:?}"
        );
    }
}

#[test]
fn divisor_is_exact() {
    for d in [
        1u64,
        2,
        3,
        7,
        1000,
        65536,
        65537,
        u64::from(u32::MAX),
        1 << 40,
        u64::MAX,
    ] {
        let div = Divisor::new(d);
        for x in [
            0u64,
            1,
            d - 1,
            d,
            d.saturating_add(1),
            1 << 40,
            u64::MAX - 1,
            u64::MAX,
        ] {
            assert_eq!(div.div_rem(x), (x / d, x % d), "x={x} d={d}");
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
