//! Per-worker counters, owned and written by the worker alone (plain stores, no atomics RMW),
//! and their publication in the shared-memory stats segment the sidecar reads.
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// DNS queries answered from the packet cache (set when the worker stops).
    pub dns_cache_hits: u64,
    /// DNS queries the packet cache did not look up because too few lookups hit (a flood of
    /// names asked once; set when the worker stops).
    pub dns_cache_bypassed: u64,
    /// Flows the flow table took in (set when the worker stops).
    pub flow_inserts: u64,
    /// New flows the flow table refused because it was full (set when the worker stops): they
    /// were forwarded without an entry, by the consistent hash alone.
    pub flow_full: u64,
    /// Forward packets too big for their tunnel, answered with ICMP "fragmentation needed" or
    /// "packet too big" (set when the worker stops; counted in `answered` too).
    pub too_big_answered: u64,
    /// TSC cycles spent in poll rounds that received packets, from the round's start to its
    /// last transmit (set when the worker stops). Per packet received it is what a packet costs
    /// the worker whether or not it was the bottleneck (VPP's clocks per packet).
    pub busy_cycles: u64,
    /// Poll rounds that received packets (set when the worker stops): packets received per
    /// such round is the worker's mean burst (VPP's vectors per call).
    pub busy_polls: u64,
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
        self.dns_cache_hits += o.dns_cache_hits;
        self.dns_cache_bypassed += o.dns_cache_bypassed;
        self.flow_inserts += o.flow_inserts;
        self.flow_full += o.flow_full;
        self.too_big_answered += o.too_big_answered;
        self.busy_cycles += o.busy_cycles;
        self.busy_polls += o.busy_polls;
        for (a, b) in self.drops.iter_mut().zip(o.drops.iter()) {
            *a += b;
        }
    }

    /// A one-line summary: `rx=.. tx=.. answered=.. forwarded=.. dropped=.. (reason=n ...)`,
    /// then `dns_cache_hits=..` and `dns_cache_bypassed=..` when there were any,
    /// `flow_inserts=.. flow_full=..` when any flow was inserted or refused,
    /// `too_big_answered=..` when any forward packet was too big for its tunnel, and
    /// `cycles_per_packet=..` (busy TSC cycles per packet received) and `packets_per_poll=..`
    /// (packets per poll round that received any) once the workers stopped.
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
        if self.dns_cache_hits > 0 {
            s.push_str(&format!(" dns_cache_hits={}", self.dns_cache_hits));
        }
        if self.dns_cache_bypassed > 0 {
            s.push_str(&format!(" dns_cache_bypassed={}", self.dns_cache_bypassed));
        }
        if self.flow_inserts > 0 || self.flow_full > 0 {
            s.push_str(&format!(
                " flow_inserts={} flow_full={}",
                self.flow_inserts, self.flow_full
            ));
        }
        if self.too_big_answered > 0 {
            s.push_str(&format!(" too_big_answered={}", self.too_big_answered));
        }
        if self.busy_cycles > 0 && self.rx_packets > 0 {
            let per_packet = self.busy_cycles as f64 / self.rx_packets as f64;
            s.push_str(&format!(" cycles_per_packet={per_packet:.1}"));
        }
        if self.busy_polls > 0 {
            let burst = self.rx_packets as f64 / self.busy_polls as f64;
            s.push_str(&format!(" packets_per_poll={burst:.1}"));
        }
        s
    }
}

/// A worker's counters as other threads and processes see them: the worker's block in the stats
/// segment ([`stats_layout`]), which it writes at most once per millisecond with plain stores under a
/// seqlock (never waiting), together with its flow-table and DNS counters and its heartbeat.
#[derive(Debug)]
pub struct PublishedCounters {
    segment: Arc<stats_layout::Writer>,
    index: usize,
    /// rx packets and generation at the last publication of the service counters (written by
    /// the owning worker only, plain load and store): they are published only when they may
    /// have changed.
    services_seen: [AtomicU64; 2],
}

impl PublishedCounters {
    /// Worker `index`'s block of `segment`.
    pub fn new(segment: Arc<stats_layout::Writer>, index: usize) -> Self {
        assert!(index < segment.workers(), "no block for worker {index}");
        PublishedCounters {
            segment,
            index,
            services_seen: [AtomicU64::new(u64::MAX), AtomicU64::new(u64::MAX)],
        }
    }

    /// Publishes the worker's counters and state. Called by the owning worker only.
    #[inline]
    pub fn publish(&self, c: &WorkerCounters, state: &WorkerState) {
        self.segment.publish_worker(self.index, &values(c, state));
        let s = &state.services;
        let [rx, generation] = &self.services_seen;
        if rx.load(Ordering::Relaxed) != c.rx_packets
            || generation.load(Ordering::Relaxed) != s.generation
        {
            self.segment.publish_services(self.index, s);
            rx.store(c.rx_packets, Ordering::Relaxed);
            generation.store(s.generation, Ordering::Relaxed);
        }
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
            dns_cache_hits: v.dns_cache_hits,
            dns_cache_bypassed: v.dns_cache_bypassed,
            flow_inserts: v.flow_inserts,
            flow_full: v.flow_full,
            too_big_answered: v.too_big_answered,
            busy_cycles: 0,
            busy_polls: 0,
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
        dns_cache_hits: state.dns_cache.hits,
        dns_cache_bypassed: state.dns_cache.bypassed,
        too_big_answered: f.counters.too_big_icmp,
        ..Default::default()
    };
    v.drops[..DropReason::COUNT].copy_from_slice(&c.drops);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_gives_cycles_and_packets_per_busy_poll() {
        let mut c = WorkerCounters {
            rx_packets: 96,
            busy_cycles: 96 * 250,
            busy_polls: 4,
            ..WorkerCounters::default()
        };
        let s = c.summary();
        assert!(
            s.ends_with(" cycles_per_packet=250.0 packets_per_poll=24.0"),
            "{s}"
        );
        // Summed over workers; nothing when no round received a packet.
        c.add(&c.clone());
        assert!(c.summary().ends_with(" packets_per_poll=24.0"));
        assert!(!WorkerCounters::default().summary().contains("per_"));
    }

    #[test]
    fn the_summary_gives_cache_and_flow_table_figures_when_there_were_any() {
        let none = WorkerCounters::default().summary();
        assert!(!none.contains("flow_") && !none.contains("dns_"), "{none}");
        let mut c = WorkerCounters {
            dns_cache_bypassed: 5,
            flow_inserts: 7,
            flow_full: 2,
            ..WorkerCounters::default()
        };
        c.add(&c.clone());
        assert!(
            c.summary()
                .ends_with(" dns_cache_bypassed=10 flow_inserts=14 flow_full=4"),
            "{}",
            c.summary()
        );
    }

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

    /// DNS on .53 and a forward service on .10 with two off-link IPIP backends.
    fn services_config(dns: &str, extra: &str) -> String {
        let zone = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../configs/zones/example.test.zone"
        );
        format!(
            r#"{}
[[vip]]
address = "203.0.113.53"
[[service]]
name = "{dns}"
vip = "203.0.113.53"
protocol = "udp"
port = 53
kind = "dns"
zones = ["{zone}"]
[[service]]
name = "web"
vip = "203.0.113.10"
protocol = "tcp"
port = 80
kind = "forward"
encap = "ipip"
[[service.backend]]
address = "192.0.2.10"
[[service.backend]]
address = "192.0.2.11"
{extra}"#,
            crate::testutil::BASIC_CONFIG
        )
    }

    fn send(
        snap: &crate::snapshot::Snapshot,
        state: &mut WorkerState,
        frames: impl IntoIterator<Item = Vec<u8>>,
    ) -> Vec<Verdict> {
        frames
            .into_iter()
            .map(|f| {
                let mut b = crate::packet::TestBuffer::new(&f);
                crate::pipeline::process(&mut b, 0, snap, state)
            })
            .collect()
    }

    #[test]
    fn packets_are_counted_per_service_and_backend_and_labelled_across_a_reload() {
        use crate::forward::flow_table::TCP_SYN;
        use crate::forward::frames::tcp4;
        use crate::testutil::{snapshot, udp4};
        use std::net::Ipv4Addr;
        let client = Ipv4Addr::new(198, 51, 100, 2);
        let dns_vip = Ipv4Addr::new(203, 0, 113, 53);
        let web_vip = Ipv4Addr::new(203, 0, 113, 10);
        let query = |i: u16| udp4(client, dns_vip, 1000 + i, 53, b"not even dns");
        let syn = |i: u16| tcp4(client, web_vip, 2000 + i, 80, TCP_SYN, b"");

        let seg = stats_layout::Writer::anonymous(&["edge0"], 1).unwrap();
        let p = PublishedCounters::new(Arc::new(seg), 0);
        let mut snap = snapshot(&services_config("dns", ""));
        let slots = snap.assign_stat_slots(&stats_layout::SlotTable::default());
        p.segment.publish_service_names(&slots);
        let mut state = WorkerState::default();
        state.services.rebase(&snap.stat_slots);
        let mut c = WorkerCounters::default();
        let dns_len = query(0).len() as u64;
        let v = send(&snap, &mut state, (0..3).map(query).chain((0..40).map(syn)));
        assert!(v[3..].iter().all(|v| *v == Verdict::Forward), "{v:?}");
        c.rx_packets = 43;
        p.publish(&c, &state);
        let s = p.segment.read().unwrap();
        assert_eq!(s.services.len(), 2);
        let (dns, web) = (&s.services[0], &s.services[1]);
        assert_eq!((dns.name.as_str(), dns.total_packets()), ("dns", 3));
        assert_eq!(dns.total_bytes(), 3 * dns_len);
        assert_eq!((web.name.as_str(), web.total_packets()), ("web", 40));
        let per_backend: Vec<u64> = web.backends.iter().map(|b| b.total_packets()).collect();
        assert_eq!(per_backend.iter().sum::<u64>(), 40);
        assert!(per_backend.iter().all(|&n| n > 0), "{per_backend:?}");
        assert_eq!(web.backends[0].address.to_string(), "192.0.2.10");

        // Reload: dns renamed, a service added; web keeps its slot and counts.
        let extra = r#"
[[service]]
name = "web8080"
vip = "203.0.113.10"
protocol = "tcp"
port = 8080
kind = "forward"
encap = "ipip"
[[service.backend]]
address = "192.0.2.12"
"#;
        let config = crate::config::Config::parse(
            std::path::Path::new("test.toml"),
            &services_config("dns-v2", extra),
        )
        .unwrap();
        let mut snap2 =
            crate::snapshot::Snapshot::build(&config, &[crate::testutil::PORT_MAC], 2).unwrap();
        let slots2 = snap2.assign_stat_slots(&slots);
        p.segment.publish_service_names(&slots2);
        state.services.rebase(&snap2.stat_slots);
        let alt = |i: u16| tcp4(client, web_vip, 3000 + i, 8080, TCP_SYN, b"");
        send(
            &snap2,
            &mut state,
            (0..2)
                .map(query)
                .chain((0..5).map(alt))
                .chain((0..1).map(syn)),
        );
        c.rx_packets += 8;
        p.publish(&c, &state);
        let s = p.segment.read().unwrap();
        assert_eq!(s.services_generation, 2);
        let got: Vec<(&str, u64)> = s
            .services
            .iter()
            .map(|s| (s.name.as_str(), s.total_packets()))
            .collect();
        assert_eq!(got, vec![("dns-v2", 2), ("web", 41), ("web8080", 5)]);
        assert_eq!(s.services[2].backends[0].total_packets(), 5);
        assert_eq!(
            s.services[1]
                .backends
                .iter()
                .map(|b| b.total_packets())
                .sum::<u64>(),
            41
        );
    }
}
