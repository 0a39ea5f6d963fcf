//! Memory for large per-worker tables (the flow table): anonymous mappings aligned to 2 MiB with
//! transparent huge pages asked for (`madvise(MADV_HUGEPAGE)`), so a table of millions of flows
//! costs a TLB entry per 2 MiB instead of per 4 KiB and a page fault per 2 MiB on first touch.
//! Requests under 2 MiB go to the global allocator. Where the kernel has THP off, the mapping
//! is ordinary memory. An OS wrapper rather than DPDK's own heap: a `--no-huge -m 512` EAL heap
//! could not hold a million-flow table.
use std::ptr::NonNull;

use allocator_api2::alloc::{AllocError, Allocator, Global, Layout};

/// Huge page size the mappings are aligned to.
pub const HUGE_PAGE: usize = 2 << 20;

/// An [`Allocator`] for hashbrown tables: big allocations on 2 MiB-aligned THP mappings.
#[derive(Debug, Clone, Copy, Default)]
pub struct HugeAlloc;

fn mapped(layout: &Layout) -> bool {
    layout.size() >= HUGE_PAGE && layout.align() <= HUGE_PAGE
}

// SAFETY: allocate returns either the global allocator's block or a fresh private mapping of at
// least `layout.size()` bytes aligned to 2 MiB (≥ every alignment it accepts), valid until
// deallocate unmaps exactly that range; blocks are not shared between calls, and the allocator
// holds no state, so clones are interchangeable.
unsafe impl Allocator for HugeAlloc {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if !mapped(&layout) {
            return Global.allocate(layout);
        }
        let len = layout.size().next_multiple_of(HUGE_PAGE);
        let map_len = len + HUGE_PAGE;
        // SAFETY: an anonymous private mapping (no file, no fixed address); the result is checked
        // against MAP_FAILED before use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(AllocError);
        }
        let start = p as usize;
        let aligned = start.next_multiple_of(HUGE_PAGE);
        let head = aligned - start;
        let tail = map_len - head - len;
        // SAFETY: both ranges lie inside the mapping just made and outside the part kept; unmapping
        // them cannot touch any other allocation. THP advice failing (THP off) is harmless.
        unsafe {
            if head > 0 {
                libc::munmap(p, head);
            }
            if tail > 0 {
                libc::munmap((aligned + len) as *mut libc::c_void, tail);
            }
            libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
        }
        let ptr = NonNull::new(aligned as *mut u8).ok_or(AllocError)?;
        Ok(NonNull::slice_from_raw_parts(ptr, len))
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if !mapped(&layout) {
            // SAFETY: the caller hands back a block this allocator gave out for `layout`, which
            // for this size came from the global allocator.
            unsafe { Global.deallocate(ptr, layout) };
            return;
        }
        let len = layout.size().next_multiple_of(HUGE_PAGE);
        // SAFETY: `ptr` is the start of a mapping of `len` bytes made by `allocate` for this
        // layout (same size, so the same rounded length) and not used after this call.
        unsafe { libc::munmap(ptr.as_ptr() as *mut libc::c_void, len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_blocks_are_aligned_mappings_and_small_ones_global() {
        let big = Layout::from_size_align(5 * HUGE_PAGE + 123, 64).unwrap();
        let b = HugeAlloc.allocate(big).unwrap();
        assert_eq!(b.as_ptr() as *mut u8 as usize % HUGE_PAGE, 0);
        assert!(b.len() >= big.size());
        let p = b.as_ptr() as *mut u8;
        // SAFETY: the block is at least `big.size()` bytes, writable, and ours until freed.
        unsafe {
            p.write(1);
            p.add(big.size() - 1).write(2);
            assert_eq!(p.read() + p.add(big.size() - 1).read(), 3);
            HugeAlloc.deallocate(NonNull::new(p).unwrap(), big);
        }
        let small = Layout::from_size_align(4096, 8).unwrap();
        let s = HugeAlloc.allocate(small).unwrap();
        // SAFETY: returned by allocate for `small` just above.
        unsafe { HugeAlloc.deallocate(NonNull::new(s.as_ptr() as *mut u8).unwrap(), small) };
    }
}
