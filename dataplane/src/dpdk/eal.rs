//! EAL initialisation, cleanup, thread registration and the TSC clock.
use std::ffi::CString;
use std::os::raw::{c_char, c_int};
use std::sync::atomic::{AtomicBool, Ordering};

use super::DpdkError;

static INITIALISED: AtomicBool = AtomicBool::new(false);

/// The initialised EAL. One per process; `rte_eal_cleanup` runs on drop, so drop it last (after
/// every port and mempool).
#[derive(Debug)]
pub struct Eal {
    _private: (),
}

impl Eal {
    /// Runs `rte_eal_init` with `args` (the program name is prepended).
    pub fn init(args: &[String]) -> Result<Eal, DpdkError> {
        if INITIALISED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError {
                call: "rte_eal_init".into(),
                errno: libc::EALREADY,
                message: "the EAL is already initialised in this process".into(),
            });
        }
        let mut owned: Vec<CString> = Vec::with_capacity(args.len() + 1);
        owned.push(CString::new("anycastd").expect("static name"));
        for a in args {
            owned.push(CString::new(a.as_str()).map_err(|_| DpdkError {
                call: "rte_eal_init".into(),
                errno: libc::EINVAL,
                message: format!("EAL argument {a:?} contains a NUL byte"),
            })?);
        }
        // rte_eal_init may permute argv; hand it pointers into strings we keep alive until the end
        // of the process (EAL keeps some of them, e.g. the file prefix).
        let owned: &'static [CString] = Box::leak(owned.into_boxed_slice());
        let argv: &'static mut [*mut c_char] = Box::leak(
            owned
                .iter()
                .map(|s| s.as_ptr() as *mut c_char)
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        // SAFETY: argv holds argc valid NUL-terminated strings that live for the whole process;
        // the EAL is initialised at most once (guarded by INITIALISED).
        let ret = unsafe { ffi::rte_eal_init(argv.len() as c_int, argv.as_mut_ptr()) };
        if ret < 0 {
            INITIALISED.store(false, Ordering::SeqCst);
            return Err(DpdkError::from_code("rte_eal_init", -1));
        }
        Ok(Eal { _private: () })
    }

    /// Number of EAL lcores (including registered non-EAL threads).
    pub fn lcore_count(&self) -> u32 {
        // SAFETY: the EAL is initialised (we hold an Eal).
        unsafe { ffi::rte_lcore_count() }
    }

    /// Lets go of the EAL without `rte_eal_cleanup`, for a process that ends next with
    /// [`exit_now`]. DPDK 22.11 does not stop its interrupt thread at clean-up, and the clean-up
    /// unmaps the memory that thread's interrupt handles live in: a core dump of a SIGSEGV at
    /// shut-down over net_memif had that thread in `rte_intr_fd_get` while the main thread was
    /// in `rte_eal_cleanup`'s unmapping (`bench/README.md`). The clean-up frees nothing the
    /// end of the process does not (it unmaps, it does not remove hugepage files), so this
    /// leaves the memory mapped until then. Ports and mempools should be closed and freed
    /// first, as for a clean-up.
    pub fn release_at_exit(eal: std::sync::Arc<Eal>) {
        std::mem::forget(eal);
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: called once, after the owner dropped ports and mempools (field order in Runtime).
        let ret = unsafe { ffi::rte_eal_cleanup() };
        if ret != 0 {
            tracing::warn!("rte_eal_cleanup returned {ret}");
        }
    }
}

/// Registers the calling (non-EAL) thread with DPDK so it gets an lcore id and mempool caches
/// work. Returns the lcore id.
pub fn register_thread(_eal: &Eal) -> Result<u32, DpdkError> {
    // SAFETY: the EAL is initialised (the caller holds a reference to it).
    let ret = unsafe { ffi::rte_thread_register() };
    if ret != 0 {
        return Err(DpdkError::from_code("rte_thread_register", -1));
    }
    // SAFETY: reading the calling thread's lcore id has no preconditions.
    Ok(unsafe { ffi::anyc_lcore_id() })
}

/// The TSC counter (cycles). Inlined `rdtsc` on x86-64 (as DPDK's `rte_rdtsc`), so the burst
/// loop reads its clock without a call; the shim elsewhere.
#[inline(always)]
pub fn tsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc reads the time-stamp counter; it has no preconditions.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // SAFETY: rdtsc through the shim has no preconditions.
        unsafe { ffi::anyc_tsc_cycles() }
    }
}

/// TSC ticks per second, as the EAL measured it.
pub fn tsc_hz(_eal: &Eal) -> u64 {
    // SAFETY: the EAL is initialised.
    unsafe { ffi::rte_get_tsc_hz() }
}

/// Flushes stdout/stderr and ends the process at once with `code`, without running C library
/// destructors or `atexit` handlers (DPDK 22.11's interrupt thread may still be running then).
/// An instrumented build (`-Cprofile-generate`, `-Cinstrument-coverage`) writes its profile
/// first, which its `atexit` handler would have done. Call only after every port is closed and
/// the EAL is cleaned up or released ([`Eal::release_at_exit`]).
pub fn exit_now(code: i32) -> ! {
    use std::io::Write;
    // SAFETY: no preconditions; a no-op returning -1 in a build without LLVM's profile runtime.
    let _ = unsafe { ffi::anyc_write_llvm_profile() };
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: _exit has no preconditions; buffered Rust output was flushed above.
    unsafe { libc::_exit(code) }
}
