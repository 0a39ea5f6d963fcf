//! Per-worker counters, owned and written by the worker alone (plain stores, no atomics RMW),
//! and their publication in the shared-memory stats segment the sidecar reads.
use std::sync::Arc;

use crate::pipeline::WorkerState;
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

/// A worker's counters as other threads and processes see them: the worker's block in the stats
/// segment ([`stats_layout`]), which it writes once per poll round with plain stores under a
/// seqlock (never waiting), together with its flow-table and DNS counters and its heartbeat.
#[derive(Debug)]
pub struct PublishedCounters {
    segment: Arc<stats_layout::Writer>,
    index: usize,
}

impl PublishedCounters {
    /// Worker `index`'s block of `segment`.
    pub fn new(segment: Arc<stats_layout::Writer>, index: usize) -> Self {
        assert!(index < segment.workers(), "no block for worker {index}");
        PublishedCounters { segment, index }
    }

    /// Publishes the worker's counters and state. Called by the owning worker only.
    #[inline]
    pub fn publish(&self, c: &WorkerCounters, state: &WorkerState) {
        self.segment.publish_worker(self.index, &values(c, state));
    }

    /// A consistent copy of the last published counters.
    pub fn read(&self) -> WorkerCounters {
        let v = self.segment.read_worker(self.index).unwrap_or_default();
        let mut drops = [0u64; DropReason::COUNT];
        drops.copy_from_slice(&v.drops[..DropReason::COUNT]);
        WorkerCounters {
            rx_packets: v.rx_packets,
            rx_bytes: v.rx_bytes,
            tx_packets: v.tx_packets,
            tx_bytes: v.tx_bytes,
            answered: v.answered,
            forwarded: v.forwarded,
            punted: v.punted,
            drops,
        }
    }
}

/// The segment's view of a worker's counters and state.
#[inline]
pub fn values(c: &WorkerCounters, state: &WorkerState) -> stats_layout::WorkerValues {
    let f = &state.forward;
    let mut v = stats_layout::WorkerValues {
        heartbeat_ms: state.now_ms,
        rx_packets: c.rx_packets,
        rx_bytes: c.rx_bytes,
        tx_packets: c.tx_packets,
        tx_bytes: c.tx_bytes,
        answered: c.answered,
        forwarded: c.forwarded,
        punted: c.punted,
        flows: f.flows.len() as u64,
        flow_inserts: f.flows.counters.inserts,
        flow_expired: f.flows.counters.expired,
        flow_full: f.flows.counters.full,
        flow_rate_limited: f.flows.counters.rate_limited,
        stateless: f.counters.stateless,
        dns_queries: state.dns.queries,
        rcodes: state.dns.rcode,
        ..Default::default()
    };
    v.drops[..DropReason::COUNT].copy_from_slice(&c.drops);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_reason_names_are_the_drop_reasons() {
        let names: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(names, stats_layout::DROP_REASONS);
    }

    #[test]
    fn published_counters_read_back_with_state() {
        let seg = Arc::new(stats_layout::Writer::anonymous(&["p0"], 2).unwrap());
        let p = PublishedCounters::new(Arc::clone(&seg), 1);
        let mut c = WorkerCounters {
            rx_packets: 5,
            ..WorkerCounters::default()
        };
        c.count(Verdict::Answer);
        c.count(Verdict::Drop(DropReason::PuntFailed));
        let mut state = WorkerState {
            now_ms: 42,
            ..WorkerState::default()
        };
        state.dns.rcode[3] = 2;
        p.publish(&c, &state);
        assert_eq!(p.read(), c);
        let all = seg.read().unwrap();
        assert_eq!(all.workers[1].heartbeat_ms, 42);
        assert_eq!(all.workers[1].rcodes[3], 2);
        assert_eq!(all.workers[1].drops[DropReason::PuntFailed.index()], 1);
        assert_eq!(all.workers[0], stats_layout::WorkerValues::default());
    }
}
