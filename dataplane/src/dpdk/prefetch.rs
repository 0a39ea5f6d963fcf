//! Safe cache-line prefetch hints for the per-worker tables.

/// `prefetcht0`'s hint: into every level of the cache.
const T0: i32 = 3;
/// `prefetcht1`'s hint: into level 2 and beyond, not level 1.
const T1: i32 = 2;
#[cfg(target_arch = "x86_64")]
const _: () =
    assert!(T0 == core::arch::x86_64::_MM_HINT_T0 && T1 == core::arch::x86_64::_MM_HINT_T1);

/// Asks the CPU to bring the cache line holding `value` into its caches (`prefetcht0`); no
/// effect where the architecture has no such hint.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    hint::<T0, T>(value);
}

/// Asks the CPU to bring the cache line holding `value` into its level-2 cache, not level 1
/// (`prefetcht1`): for lines wanted later, in numbers that would crowd the level-1 cache (the
/// flow table's next sweep slice). No effect where the architecture has no such hint.
#[inline(always)]
pub fn prefetch_l2<T>(value: &T) {
    hint::<T1, T>(value);
}

/// `_mm_prefetch` with hint `HINT` for the line holding `value` (nothing off x86_64).
#[inline(always)]
fn hint<const HINT: i32, T>(value: &T) {
    // SAFETY: a prefetch is only a hint: it never faults or changes memory, whatever the
    // address; here it is a live reference's anyway.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::x86_64::_mm_prefetch::<HINT>((value as *const T).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
