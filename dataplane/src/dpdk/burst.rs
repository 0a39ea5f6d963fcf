//! A fixed-size array of owned mbuf pointers: what rx fills and tx drains, with no allocation.
use std::ptr::NonNull;

use super::{Mbuf, MbufRef};

/// Packets per rx/tx burst.
pub const MAX_BURST: usize = 32;

/// Up to [`MAX_BURST`] owned mbufs. Mbufs still held when it drops are freed.
#[derive(Debug)]
pub struct Burst {
    pub(crate) ptrs: [*mut ffi::rte_mbuf; MAX_BURST],
    pub(crate) len: usize,
}

impl Default for Burst {
    fn default() -> Self {
        Self::new()
    }
}

impl Burst {
    /// An empty burst.
    pub const fn new() -> Self {
        Burst {
            ptrs: [std::ptr::null_mut(); MAX_BURST],
            len: 0,
        }
    }

    /// Mbufs held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when it holds none.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when no more fit.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len == MAX_BURST
    }

    /// Borrows mbuf `i` as a packet buffer. Panics if `i >= len()`.
    #[inline]
    pub fn get(&mut self, i: usize) -> MbufRef<'_> {
        assert!(i < self.len);
        // SAFETY: slots below len hold valid owned mbufs; self is mutably borrowed for the ref.
        unsafe { MbufRef::new(NonNull::new_unchecked(self.ptrs[i])) }
    }

    /// Adds an owned mbuf; gives it back if the burst is full.
    #[inline]
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.is_full() {
            return Err(m);
        }
        self.ptrs[self.len] = m.into_raw().as_ptr();
        self.len += 1;
        Ok(())
    }

    /// Moves the mbufs whose `keep[i]` is true into `into` (in order) and frees the others.
    /// Returns how many were moved. Mbufs that do not fit in `into` are freed and counted in the
    /// second value.
    #[inline]
    pub fn split_into(&mut self, keep: &[bool], into: &mut Burst) -> (usize, usize) {
        let mut moved = 0;
        let mut overflow = 0;
        let mut free: [*mut ffi::rte_mbuf; MAX_BURST] = [std::ptr::null_mut(); MAX_BURST];
        let mut nfree = 0;
        for i in 0..self.len {
            let p = self.ptrs[i];
            if keep.get(i).copied().unwrap_or(false) {
                if into.len < MAX_BURST {
                    into.ptrs[into.len] = p;
                    into.len += 1;
                    moved += 1;
                    continue;
                }
                overflow += 1;
            }
            free[nfree] = p;
            nfree += 1;
        }
        self.len = 0;
        if nfree > 0 {
            // SAFETY: free[..nfree] holds owned mbufs no longer referenced by any burst.
            unsafe { ffi::rte_pktmbuf_free_bulk(free.as_mut_ptr(), nfree as u32) };
        }
        (moved, overflow)
    }

    /// Sorts the mbufs three ways by `dest[i]`: 1 → `a`, 2 → `b`, anything else is freed (as are
    /// mbufs that do not fit). Returns how many did not fit.
    #[inline]
    pub fn split3_into(&mut self, dest: &[u8], a: &mut Burst, b: &mut Burst) -> usize {
        let mut overflow = 0;
        let mut free: [*mut ffi::rte_mbuf; MAX_BURST] = [std::ptr::null_mut(); MAX_BURST];
        let mut nfree = 0;
        for i in 0..self.len {
            let p = self.ptrs[i];
            let to = match dest.get(i) {
                Some(1) => Some(&mut *a),
                Some(2) => Some(&mut *b),
                _ => None,
            };
            if let Some(to) = to {
                if to.len < MAX_BURST {
                    to.ptrs[to.len] = p;
                    to.len += 1;
                    continue;
                }
                overflow += 1;
            }
            free[nfree] = p;
            nfree += 1;
        }
        self.len = 0;
        if nfree > 0 {
            // SAFETY: free[..nfree] holds owned mbufs no longer referenced by any burst.
            unsafe { ffi::rte_pktmbuf_free_bulk(free.as_mut_ptr(), nfree as u32) };
        }
        overflow
    }

    /// Frees every mbuf held.
    pub fn clear(&mut self) {
        if self.len > 0 {
            // SAFETY: ptrs[..len] are owned mbufs; the burst forgets them below.
            unsafe { ffi::rte_pktmbuf_free_bulk(self.ptrs.as_mut_ptr(), self.len as u32) };
            self.len = 0;
        }
    }

    /// Drops the first `n` entries (they were handed to the device) and shifts the rest down.
    #[inline]
    pub(crate) fn consume_front(&mut self, n: usize) {
        let n = n.min(self.len);
        self.ptrs.copy_within(n..self.len, 0);
        self.len -= n;
    }
}

impl Drop for Burst {
    fn drop(&mut self) {
        self.clear();
    }
}
