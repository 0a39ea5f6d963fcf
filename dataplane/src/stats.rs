//! Per-worker counters, owned and written by the worker alone (plain stores, no atomics RMW).
use std::sync::atomic::{AtomicU64, Ordering};

use crate::verdict::{DropReason, Verdict};

/// One worker's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerCounters {
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets answered in place.
    pub answered: u64,
    /// Packets forwarded to a backend.
    pub forwarded: u64,
    /// Packets handed to the kernel.
    pub punted: u64,
    /// Drops by reason, indexed by [`DropReason::index`].
    pub drops: [u64; DropReason::COUNT],
}

impl WorkerCounters {
    /// Counts one verdict.
    #[inline]
    pub fn count(&mut self, v: Verdict) {
        match v {
            Verdict::Answer => self.answered += 1,
            Verdict::Forward => self.forwarded += 1,
            Verdict::Punt => self.punted += 1,
            Verdict::Drop(r) => self.drops[r.index()] += 1,
        }
    }

    /// Counts a drop for `reason`.
    #[inline]
    pub fn drop(&mut self, reason: DropReason, n: u64) {
        self.drops[reason.index()] += n;
    }

    /// All drops.
    pub fn dropped(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Adds another worker's counters (for totals).
    pub fn add(&mut self, o: &WorkerCounters) {
        self.rx_packets += o.rx_packets;
        self.rx_bytes += o.rx_bytes;
        self.tx_packets += o.tx_packets;
        self.tx_bytes += o.tx_bytes;
        self.answered += o.answered;
        self.forwarded += o.forwarded;
        self.punted += o.punted;
        for (a, b) in self.drops.iter_mut().zip(o.drops.iter()) {
            *a += b;
        }
    }

    /// A one-line summary: `rx=.. tx=.. answered=.. forwarded=.. dropped=.. (reason=n ...)`.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "rx={} tx={} answered={} forwarded={} punted={} dropped={}",
            self.rx_packets,
            self.tx_packets,
            self.answered,
            self.forwarded,
            self.punted,
            self.dropped()
        );
        let reasons: Vec<String> = DropReason::ALL
            .iter()
            .filter(|r| self.drops[r.index()] > 0)
            .map(|r| format!("{}={}", r.name(), self.drops[r.index()]))
            .collect();
        if !reasons.is_empty() {
            s.push_str(&format!(" ({})", reasons.join(" ")));
        }
        s
    }
}

/// A worker's counters as other threads see them: the worker publishes its private
/// [`WorkerCounters`] here with plain relaxed stores (no read-modify-write) once per poll loop.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct PublishedCounters {
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    answered: AtomicU64,
    forwarded: AtomicU64,
    punted: AtomicU64,
    drops: [AtomicU64; DropReason::COUNT],
}

impl PublishedCounters {
    /// Called by the owning worker only.
    #[inline]
    pub fn publish(&self, c: &WorkerCounters) {
        self.rx_packets.store(c.rx_packets, Ordering::Relaxed);
        self.rx_bytes.store(c.rx_bytes, Ordering::Relaxed);
        self.tx_packets.store(c.tx_packets, Ordering::Relaxed);
        self.tx_bytes.store(c.tx_bytes, Ordering::Relaxed);
        self.answered.store(c.answered, Ordering::Relaxed);
        self.forwarded.store(c.forwarded, Ordering::Relaxed);
        self.punted.store(c.punted, Ordering::Relaxed);
        for (a, v) in self.drops.iter().zip(c.drops.iter()) {
            a.store(*v, Ordering::Relaxed);
        }
    }

    /// A copy of the last published values (each counter individually up to date).
    pub fn read(&self) -> WorkerCounters {
        let mut drops = [0u64; DropReason::COUNT];
        for (d, a) in drops.iter_mut().zip(self.drops.iter()) {
            *d = a.load(Ordering::Relaxed);
        }
        WorkerCounters {
            rx_packets: self.rx_packets.load(Ordering::Relaxed),
            rx_bytes: self.rx_bytes.load(Ordering::Relaxed),
            tx_packets: self.tx_packets.load(Ordering::Relaxed),
            tx_bytes: self.tx_bytes.load(Ordering::Relaxed),
            answered: self.answered.load(Ordering::Relaxed),
            forwarded: self.forwarded.load(Ordering::Relaxed),
            punted: self.punted.load(Ordering::Relaxed),
            drops,
        }
    }
}
