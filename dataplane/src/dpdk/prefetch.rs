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
