//! A safe cache-line prefetch hint for the per-worker tables.

/// Asks the CPU to bring the cache line holding `value` into its caches (`prefetcht0`); no
/// effect where the architecture has no such hint.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it never faults or changes memory, whatever the
    // address; here it is a live reference's anyway.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            (value as *const T).cast::<i8>(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Asks the CPU to bring the cache line holding `value` into its level-2 cache, not level 1
/// (`prefetcht1`): for lines wanted later, in numbers that would crowd the level-1 cache (the
/// flow table's next sweep slice). No effect where the architecture has no such hint.
#[inline(always)]
pub fn prefetch_l2<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as `prefetch`: a hint that never faults or changes memory, for a live reference.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T1 }>(
            (value as *const T).cast::<i8>(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
