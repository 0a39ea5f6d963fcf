//! Per-worker counters, owned and written by the worker alone (plain stores, no atomics RMW).
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
