//! The only safe wrapper over the raw `ffi` bindings: EAL, mempools, mbufs, ports, burst I/O and
//! thread registration, plus the huge-page allocator and the prefetch hint for per-worker
//! tables. Every `unsafe` block in the dataplane lives in this module.
mod burst;
mod eal;
mod huge_alloc;
mod mbuf;
mod mempool;
mod port;
mod prefetch;

pub use burst::{Burst, MAX_BURST};
pub use eal::{exit_now, register_thread, tsc, tsc_hz, Eal};
pub use huge_alloc::{HugeAlloc, HUGE_PAGE};
pub use mbuf::{Mbuf, MbufRef};
pub use mempool::Mempool;
pub use port::{LinkStatus, Port, PortStats, QueueHandle};
pub use prefetch::{prefetch, prefetch_l2};

/// The DPDK version built against, and how it is linked (`"static"` or `"shared"`).
pub use ffi::{DPDK_LINK, DPDK_VERSION};

use std::ffi::CStr;

/// An error from DPDK, with the call that failed and DPDK's message for the errno.
#[derive(Debug, thiserror::Error)]
#[error("{call} failed: {message} (errno {errno})")]
pub struct DpdkError {
    /// The DPDK function (and subject) that failed.
    pub call: String,
    /// DPDK's errno (positive).
    pub errno: i32,
    /// DPDK's description of the errno.
    pub message: String,
}

impl DpdkError {
    /// Builds an error from a negative return code or from `rte_errno` when `code` is -1.
    pub(crate) fn from_code(call: impl Into<String>, code: i32) -> Self {
        let errno = if code == -1 {
            // SAFETY: reading the thread-local rte_errno through the shim has no preconditions.
            unsafe { ffi::anyc_errno() }
        } else {
            code.abs()
        };
        Self::from_errno(call, errno)
    }

    /// Builds an error from a positive errno.
    pub(crate) fn from_errno(call: impl Into<String>, errno: i32) -> Self {
        // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated string.
        let message = unsafe { CStr::from_ptr(ffi::rte_strerror(errno)) }
            .to_string_lossy()
            .into_owned();
        Self {
            call: call.into(),
            errno,
            message,
        }
    }
}
