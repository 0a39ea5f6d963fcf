//! The seqlock every block of the segment is read and written under: a single writer makes the
//! block's sequence word odd, stores the values and makes it even again (never waiting); readers
//! retry until they copied between two equal even readings of it.
use std::sync::atomic::{fence, AtomicU64, Ordering};

/// Seqlock write of `values` into `block` (block[0] is the sequence word). Single writer only.
#[inline]
pub(crate) fn seq_write(block: &[AtomicU64], values: &[u64]) {
    let s = block[0].load(Ordering::Relaxed);
    block[0].store(s.wrapping_add(1), Ordering::Relaxed);
    fence(Ordering::Release);
    for (slot, v) in block[1..].iter().zip(values) {
        slot.store(*v, Ordering::Relaxed);
    }
    block[0].store(s.wrapping_add(2), Ordering::Release);
}

/// Seqlock read of `out.len()` values after the sequence word. Returns true when the copy is
/// one consistent publication; false when the block did not settle within [`READ_PATIENCE`]
/// (a writer killed in the middle of a publication leaves it odd for ever), in which case `out`
/// holds the values as they are, possibly mixing two publications.
#[inline]
pub(crate) fn seq_read(block: &[AtomicU64], out: &mut [u64]) -> bool {
    seq_read_with(&block[0], || {
        for (o, slot) in out.iter_mut().zip(&block[1..]) {
            *o = slot.load(Ordering::Relaxed);
        }
    })
}

/// The seqlock read loop of [`seq_read`] around `copy`, which loads (relaxed) the words the
/// sequence word `seq` protects: lets a reader copy only the parts of a block it needs.
#[inline]
pub(crate) fn seq_read_with(seq: &AtomicU64, mut copy: impl FnMut()) -> bool {
    let mut started: Option<std::time::Instant> = None;
    for attempt in 0u32.. {
        let s1 = seq.load(Ordering::Acquire);
        if s1 & 1 == 0 {
            copy();
            fence(Ordering::Acquire);
            if seq.load(Ordering::Relaxed) == s1 {
                return true;
            }
        }
        if attempt < 64 {
            std::hint::spin_loop();
        } else {
            let t = *started.get_or_insert_with(std::time::Instant::now);
            // Both time and tries: a reader descheduled for longer than the patience (a
            // loaded machine) still gets its retries before calling a block unsettled.
            if t.elapsed() > READ_PATIENCE && attempt > 64 + MIN_YIELDING_TRIES {
                break;
            }
            std::thread::yield_now();
        }
    }
    copy();
    false
}

/// Retries after the spinning ones (each after a `yield_now`) before a block may be called
/// unsettled, however long they took.
const MIN_YIELDING_TRIES: u32 = 256;

/// How long a reader retries a block the writer keeps changing (a worker publishes once per
/// poll round, in well under a microsecond).
pub const READ_PATIENCE: std::time::Duration = std::time::Duration::from_millis(50);
