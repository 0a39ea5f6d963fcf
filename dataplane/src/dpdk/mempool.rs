//! Packet mbuf pools.
use std::ffi::CString;
use std::ptr::NonNull;

use super::{Burst, DpdkError, Eal, Mbuf, MAX_BURST};

/// A DPDK packet mbuf pool (`rte_pktmbuf_pool_create`). Freed on drop: drop it after every port
/// that received into it is closed.
#[derive(Debug)]
pub struct Mempool {
    raw: NonNull<ffi::rte_mempool>,
}

// SAFETY: a DPDK mempool is designed for concurrent use from many lcores; the pointer is only
// freed in Drop, which takes &mut self.
unsafe impl Send for Mempool {}
// SAFETY: as above; all operations we expose are thread-safe in DPDK.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Creates a pool of `n` mbufs whose data room holds a frame of `frame_len` bytes (at least
    /// DPDK's default of 2048; the headroom for encapsulation comes on top), with a per-lcore
    /// cache of `cache` mbufs, on `socket` (-1 = any).
    pub fn new(
        _eal: &Eal,
        name: &str,
        n: u32,
        cache: u32,
        frame_len: u16,
        socket: i32,
    ) -> Result<Mempool, DpdkError> {
        let room = u32::from(frame_len).max(ffi::RTE_MBUF_DEFAULT_DATAROOM);
        let buf_size = u16::try_from(room + ffi::RTE_PKTMBUF_HEADROOM)
            .map_err(|_| DpdkError::from_errno("rte_pktmbuf_pool_create", libc::EINVAL))?;
        let cname = CString::new(name)
            .map_err(|_| DpdkError::from_errno("rte_pktmbuf_pool_create", libc::EINVAL))?;
        // SAFETY: the EAL is initialised; cname is a valid NUL-terminated string for the call.
        let raw =
            unsafe { ffi::rte_pktmbuf_pool_create(cname.as_ptr(), n, cache, 0, buf_size, socket) };
        NonNull::new(raw).map(|raw| Mempool { raw }).ok_or_else(|| {
            DpdkError::from_code(format!("rte_pktmbuf_pool_create({name}, {n} mbufs)"), -1)
        })
    }

    /// Allocates one mbuf, or `None` when the pool is empty.
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: the pool pointer is valid for the life of self.
        let m = unsafe { ffi::anyc_pktmbuf_alloc(self.raw.as_ptr()) };
        // SAFETY: a non-null result is a freshly allocated mbuf we now own.
        NonNull::new(m).map(|m| unsafe { Mbuf::from_raw(m) })
    }

    /// Allocates `n` fresh mbufs (data length 0) at once and appends them to `burst`; all or
    /// nothing. Returns how many were added: `n` (capped to the burst's free room), or 0 when the
    /// pool has too few free mbufs.
    pub fn alloc_bulk(&self, burst: &mut Burst, n: usize) -> usize {
        let n = n.min(MAX_BURST - burst.len);
        if n == 0 {
            return 0;
        }
        // SAFETY: the pool pointer is valid for the life of self; ptrs[len..len + n] is in bounds
        // (n ≤ MAX_BURST - len) and receives n owned mbufs on success, which the burst then owns.
        let ret = unsafe {
            ffi::anyc_pktmbuf_alloc_bulk(
                self.raw.as_ptr(),
                burst.ptrs.as_mut_ptr().add(burst.len),
                n as u32,
            )
        };
        if ret != 0 {
            return 0;
        }
        burst.len += n;
        n
    }

    /// Mbufs currently free in the pool.
    pub fn available(&self) -> u32 {
        // SAFETY: the pool pointer is valid for the life of self.
        unsafe { ffi::anyc_mempool_avail_count(self.raw.as_ptr()) }
    }

    /// The raw pool pointer, for queue setup.
    pub(crate) fn as_ptr(&self) -> *mut ffi::rte_mempool {
        self.raw.as_ptr()
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // SAFETY: we own the pool; ports using it were closed before (Runtime field order).
        unsafe { ffi::rte_mempool_free(self.raw.as_ptr()) }
    }
}
