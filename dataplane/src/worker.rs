//! The burst loop: rx 32 → process each packet → tx answers and forwards on the same queue →
//! free the rest, counting everything; counters go to the stats segment once per millisecond.
//! One worker per queue index, pinned to its own core.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use arrayvec::ArrayVec;
use crossbeam_channel::{Receiver, Sender};

use crate::config::IdleMode;
use crate::dpdk::{self, Burst, Eal, Mempool, QueueHandle, MAX_BURST};
use crate::exception;
use crate::packet::PacketBuffer;
use crate::pipeline::{self, Pending, Stage, WorkerState};
use crate::snapshot::{PortSnapshot, Snapshot};
use crate::stats::{PublishedCounters, WorkerCounters};
use crate::verdict::{DropReason, Verdict};

/// Times a tx burst is retried while the device takes nothing, before the rest is dropped.
const TX_RETRIES: u32 = 8;
/// Empty polls before an adaptive worker starts sleeping.
const ADAPTIVE_SPIN_POLLS: u32 = 256;
/// Longest sleep of an adaptive worker (bounds the wake-up latency).
const ADAPTIVE_MAX_SLEEP: Duration = Duration::from_micros(200);
/// Milliseconds between upkeep rounds (backend next-hop requests, idle flow expiry); a new
/// snapshot generation triggers one at once, so backends added by a reload are resolved before
/// their first packet.
const UPKEEP_MS: u64 = 50;
/// Most requests one upkeep round sends per port.
const UPKEEP_REQUESTS: usize = 64;
/// Flow-table buckets an idle worker sweeps per upkeep round.
const UPKEEP_BUCKETS: usize = 1024;
/// Poll rounds after stop is requested, to answer what is already queued.
const DRAIN_ROUNDS: u32 = 64;

/// What one worker serves.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    /// Worker index (also its queue index on every port).
    pub index: usize,
    /// Core to pin to, if any.
    pub core: Option<usize>,
    /// (port index in the snapshot, queue) pairs this worker polls.
    pub queues: Vec<(usize, QueueHandle)>,
    /// Per entry of `queues`: the worker's queue on that port's punt TAP, if it has one.
    /// Punted frames are sent there; what the kernel sends there goes out of the port.
    pub punt: Vec<Option<QueueHandle>>,
    /// Busy-poll or back off.
    pub idle: IdleMode,
    /// Flow-table settings for the forward path (capacity, timeouts, new-flow limit).
    pub flow_table: crate::forward::FlowTableConfig,
    /// Pool for frames the worker originates (ARP/NDP requests for backends), if any.
    pub pool: Option<Arc<Mempool>>,
    /// The other workers' inboxes: every ARP reply and Neighbor Advertisement this worker
    /// receives is copied to them, since the answer to one worker's request may arrive on
    /// another worker's queue and neighbour caches are per worker.
    pub share_to: Vec<Sender<NeighborFrame>>,
    /// This worker's inbox of neighbour answers seen by the others.
    pub inbox: Option<Receiver<NeighborFrame>>,
}

/// Longest neighbour answer shared between workers (an NA with options fits).
const NEIGHBOR_FRAME_MAX: usize = 128;

/// A copy of an ARP reply or Neighbor Advertisement, passed between workers (no allocation).
#[derive(Clone, Copy)]
pub struct NeighborFrame {
    len: u8,
    bytes: [u8; NEIGHBOR_FRAME_MAX],
}

impl std::fmt::Debug for NeighborFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NeighborFrame({} bytes)", self.len)
    }
}

impl NeighborFrame {
    /// A copy of `frame` when it is an ARP reply or an ICMPv6 Neighbor Advertisement (no
    /// extension headers) short enough to share.
    #[inline]
    pub fn of(frame: &[u8]) -> Option<NeighborFrame> {
        if frame.len() > NEIGHBOR_FRAME_MAX || frame.len() < 42 {
            return None;
        }
        let answer = match u16::from_be_bytes([frame[12], frame[13]]) {
            0x0806 => u16::from_be_bytes([frame[20], frame[21]]) == 2,
            0x86dd => frame.len() >= 78 && frame[20] == 58 && frame[54] == 136,
            _ => false,
        };
        if !answer {
            return None;
        }
        let mut bytes = [0u8; NEIGHBOR_FRAME_MAX];
        bytes[..frame.len()].copy_from_slice(frame);
        Some(NeighborFrame {
            len: frame.len() as u8,
            bytes,
        })
    }

    /// The frame.
    pub fn data(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// Learns from a neighbour answer another worker received.
fn learn_shared(state: &mut WorkerState, f: &NeighborFrame) {
    let now = state.now_ms;
    let learned = match crate::packet::parse(f.data()) {
        Ok(crate::packet::Parsed::Arp) => state.forward.neighbors.learn_arp(f.data(), now),
        Ok(crate::packet::Parsed::Ipv6(ip)) => {
            state.forward.neighbors.learn_ndp(f.data(), &ip, now)
        }
        _ => false,
    };
    if learned {
        state.forward.counters.neighbors_learned += 1;
    }
}

/// Runs the burst loop until `stop` is set, then drains and returns the final counters.
pub fn run(
    spec: WorkerSpec,
    eal: &Eal,
    snapshot: &ArcSwap<Snapshot>,
    stop: &AtomicBool,
    published: &PublishedCounters,
) -> WorkerCounters {
    if let Some(core) = spec.core {
        if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
            tracing::warn!(worker = spec.index, core, "could not pin to core");
        }
    }
    let lcore = match dpdk::register_thread(eal) {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!(worker = spec.index, "{e}; mempool caches are bypassed");
            None
        }
    };
    tracing::info!(worker = spec.index, core = ?spec.core, lcore = ?lcore, queues = spec.queues.len(), "worker started");

    let cycles_per_ms = (dpdk::tsc_hz(eal) / 1000).max(1);
    let mut next_ms_tsc = 0u64;
    let mut snapshot_cache = arc_swap::Cache::new(snapshot);
    let mut state = WorkerState {
        forward: crate::forward::WorkerForwardState::with_config(spec.flow_table),
        ..WorkerState::default()
    };
    let mut counters = WorkerCounters::default();
    let mut rx = Burst::new();
    let mut tx = Burst::new();
    let mut punt_tx = Burst::new();
    let mut empty_polls = 0u32;
    let mut drain_left = DRAIN_ROUNDS;
    let mut seen_generation = 0u64;
    let mut next_upkeep = 0u64;
    let mut published_ms = u64::MAX;
    let mut busy_cycles = 0u64;
    let mut busy_polls = 0u64;
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        // The cache re-reads the shared pointer only (one atomic load) and holds a reference to
        // the current snapshot until it changes, so the control thread still frees old ones.
        let snap = snapshot_cache.load();
        // The millisecond clock: one division per millisecond, not per round.
        let t = dpdk::tsc();
        if t >= next_ms_tsc {
            state.now_ms = t / cycles_per_ms;
            next_ms_tsc = (state.now_ms + 1) * cycles_per_ms;
        }
        if snap.generation != seen_generation || state.now_ms >= next_upkeep {
            if snap.generation != seen_generation {
                state.services.rebase(&snap.stat_slots);
            }
            seen_generation = snap.generation;
            next_upkeep = state.now_ms + UPKEEP_MS;
            upkeep(
                &spec,
                snap,
                &mut state,
                &mut counters,
                &mut tx,
                empty_polls > 0,
            );
        }
        if let Some(inbox) = &spec.inbox {
            while let Ok(f) = inbox.try_recv() {
                learn_shared(&mut state, &f);
            }
        }
        let mut got = 0;
        for (i, (port_idx, queue)) in spec.queues.iter().enumerate() {
            let punt = spec.punt.get(i).copied().flatten();
            got += poll_once(
                &Io {
                    port_idx: *port_idx,
                    queue,
                    punt: punt.as_ref(),
                    share_to: &spec.share_to,
                },
                snap,
                &mut state,
                &mut counters,
                [&mut rx, &mut tx, &mut punt_tx],
            );
            if let Some(tap) = &punt {
                got += from_kernel(tap, queue, &mut counters, &mut rx);
            }
        }
        if got > 0 {
            busy_cycles += dpdk::tsc().wrapping_sub(t);
            busy_polls += 1;
        }
        // At most once per millisecond of the worker clock (the heartbeat's resolution): at
        // line rate that is one publication per hundreds of rounds, so the stats cost per
        // packet is a comparison. The last round is always published, below.
        if state.now_ms != published_ms {
            published.publish(&counters, &state);
            published_ms = state.now_ms;
        }
        if stopping {
            drain_left -= 1;
            if got == 0 || drain_left == 0 {
                break;
            }
            continue;
        }
        if got > 0 {
            empty_polls = 0;
        } else {
            empty_polls = empty_polls.saturating_add(1);
            if spec.idle == IdleMode::Adaptive && empty_polls > ADAPTIVE_SPIN_POLLS {
                let shift = ((empty_polls - ADAPTIVE_SPIN_POLLS) / 64).min(8);
                std::thread::sleep(Duration::from_micros(1u64 << shift).min(ADAPTIVE_MAX_SLEEP));
            } else {
                std::hint::spin_loop();
            }
        }
    }
    published.publish(&counters, &state);
    counters.dns_cache_hits = state.dns_cache.hits;
    counters.dns_cache_bypassed = state.dns_cache.bypassed;
    counters.flow_inserts = state.forward.flows.counters.inserts;
    counters.flow_full = state.forward.flows.counters.full;
    counters.too_big_answered = state.forward.counters.too_big_icmp;
    counters.busy_cycles = busy_cycles;
    counters.busy_polls = busy_polls;
    counters
}

/// What one poll touches: the port (index in the snapshot) and the worker's queue on it, its
/// punt TAP queue, and the other workers' neighbour inboxes.
struct Io<'a> {
    port_idx: usize,
    queue: &'a QueueHandle,
    punt: Option<&'a QueueHandle>,
    share_to: &'a [Sender<NeighborFrame>],
}

/// One rx burst on one queue, processed and answered; punted frames go to the punt TAP's
/// queue when there is one. Returns packets received.
#[inline]
fn poll_once(
    io: &Io<'_>,
    snap: &Snapshot,
    state: &mut WorkerState,
    counters: &mut WorkerCounters,
    [rx, tx, punt_tx]: [&mut Burst; 3],
) -> usize {
    let Io {
        port_idx,
        queue,
        punt,
        share_to,
    } = *io;
    let n = queue.rx_burst(rx);
    if n == 0 {
        return 0;
    }
    counters.rx_packets += n as u64;
    let mut out = Outcomes {
        punt: punt.is_some(),
        port: snap.ports.get(port_idx),
        dest: [0; MAX_BURST],
        kept_lens: 0,
    };
    // Two passes (see `pipeline::stage_one`): the whole burst is classified first, forward
    // packets' flow-table home lines prefetched; then those lines read and the next ones asked
    // for (`pipeline::fetch_lines`); then the forward services finish theirs. A packet stage
    // one finishes (an answer, a drop) is settled in the first pass. The pending ones go to a
    // list that is written only as they come: an array of a stage per packet, set up for every
    // burst, was 64 stores to 48 stack lines, where perf found 7.8% of the worker's samples in
    // a dns round (none of its packets pending).
    let mut pending: ArrayVec<(usize, Pending), MAX_BURST> = ArrayVec::new();
    for i in 0..n {
        let mut m = rx.get(i);
        counters.rx_bytes += u64::from(m.pkt_len());
        if !share_to.is_empty() {
            if let Some(f) = NeighborFrame::of(m.data()) {
                for to in share_to {
                    // A full inbox loses the copy: the next refresh asks again.
                    let _ = to.try_send(f);
                }
            }
        }
        let staged = if m.segments() == 1 {
            pipeline::stage_one(&mut m, port_idx, snap, state)
        } else {
            Stage::Done(Verdict::Drop(DropReason::Unsupported))
        };
        match staged {
            Stage::Done(v) => out.settle(i, &m, v, counters),
            // `n` ≤ MAX_BURST, the list's capacity: there is always room.
            Stage::Forward(p) => {
                if pending.try_push((i, p)).is_err() {
                    out.settle(i, &m, Verdict::Drop(DropReason::Unsupported), counters);
                }
            }
        }
    }
    for (_, p) in &pending {
        pipeline::fetch_lines(p, state);
    }
    for &(i, ref p) in &pending {
        let mut m = rx.get(i);
        let v = pipeline::stage_two(&mut m, p, snap, state);
        out.settle(i, &m, v, counters);
    }
    let kept_lens = out.kept_lens;
    rx.split3_into(&out.dest, tx, punt_tx);
    let (sent, dropped) = queue.tx_burst(tx, TX_RETRIES);
    counters.tx_packets += sent as u64;
    counters.tx_bytes += if dropped == 0 {
        kept_lens
    } else {
        kept_lens * sent as u64 / (sent + dropped) as u64
    };
    counters.drop(DropReason::TxFull, dropped as u64);
    if let Some(tap) = punt {
        if !punt_tx.is_empty() {
            let (_, failed) = tap.tx_burst(punt_tx, TX_RETRIES);
            // Counted as punted above; those the TAP refused are drops instead.
            counters.punted -= failed as u64;
            counters.drop(DropReason::PuntFailed, failed as u64);
        }
    }
    n
}

/// Where a burst's packets go: `dest[i]` 0 freed, 1 sent on the port, 2 to the kernel (punt
/// TAP), and the bytes of those sent on the port.
struct Outcomes<'a> {
    /// The queue has a punt TAP.
    punt: bool,
    port: Option<&'a PortSnapshot>,
    dest: [u8; MAX_BURST],
    kept_lens: u64,
}

impl Outcomes<'_> {
    /// Packet `i`'s final verdict `v`: to the kernel when it is a drop the punt TAP should see
    /// (and there is one), counted, and its destination with an answer's or forward's length.
    #[inline(always)]
    fn settle(
        &mut self,
        i: usize,
        m: &dpdk::MbufRef<'_>,
        v: Verdict,
        counters: &mut WorkerCounters,
    ) {
        let verdict = match v {
            Verdict::Punt if !self.punt => Verdict::Drop(DropReason::PuntFailed),
            Verdict::Drop(r)
                if self.punt
                    && self
                        .port
                        .is_some_and(|p| exception::should_punt(m.data(), p, r)) =>
            {
                Verdict::Punt
            }
            v => v,
        };
        counters.count(verdict);
        let to = match verdict {
            Verdict::Answer | Verdict::Forward => {
                self.kept_lens += m.len() as u64;
                1
            }
            Verdict::Punt => 2,
            _ => 0,
        };
        if let Some(d) = self.dest.get_mut(i) {
            *d = to;
        }
    }
}

/// Periodic work off the per-packet path: ARP/NDP requests for backends whose next hop is
/// unknown or due for a refresh (sent on each port), and, when idle, a flow-table sweep.
fn upkeep(
    spec: &WorkerSpec,
    snap: &Snapshot,
    state: &mut WorkerState,
    counters: &mut WorkerCounters,
    tx: &mut Burst,
    idle: bool,
) {
    if idle {
        state.forward.housekeeping(state.now_ms, UPKEEP_BUCKETS);
    }
    let Some(pool) = &spec.pool else {
        return;
    };
    for (port_idx, queue) in &spec.queues {
        for _ in 0..UPKEEP_REQUESTS.min(MAX_BURST) {
            let Some(mut m) = pool.alloc() else {
                break;
            };
            if !state.forward.solicit(snap, *port_idx, &mut m, state.now_ms) {
                break;
            }
            if tx.push(m).is_err() {
                break;
            }
        }
        if !tx.is_empty() {
            let (sent, dropped) = queue.tx_burst(tx, TX_RETRIES);
            counters.tx_packets += sent as u64;
            counters.drop(DropReason::TxFull, dropped as u64);
        }
    }
}

/// Sends what the kernel wrote to the punt TAP out of the port, unchanged (its frames carry
/// the port's MAC). Counted as transmitted. Returns frames taken from the TAP.
#[inline]
fn from_kernel(
    tap: &QueueHandle,
    port: &QueueHandle,
    counters: &mut WorkerCounters,
    burst: &mut Burst,
) -> usize {
    let n = tap.rx_burst(burst);
    if n == 0 {
        return 0;
    }
    let mut bytes = 0u64;
    for i in 0..n {
        bytes += u64::from(burst.get(i).pkt_len());
    }
    let (sent, dropped) = port.tx_burst(burst, TX_RETRIES);
    counters.tx_packets += sent as u64;
    counters.tx_bytes += bytes * sent as u64 / n as u64;
    counters.drop(DropReason::TxFull, dropped as u64);
    n
}

/// Starts workers on their own threads, sharing the snapshot and stop flag; worker `i` publishes
/// into block `i` of `segment`.
pub fn spawn_all(
    specs: Vec<WorkerSpec>,
    eal: &Arc<Eal>,
    snapshot: &Arc<ArcSwap<Snapshot>>,
    stop: &Arc<AtomicBool>,
    segment: &Arc<stats_layout::Writer>,
) -> std::io::Result<
    Vec<(
        Arc<PublishedCounters>,
        std::thread::JoinHandle<WorkerCounters>,
    )>,
> {
    let mut out = Vec::new();
    for spec in specs {
        let eal = Arc::clone(eal);
        let snapshot = Arc::clone(snapshot);
        let stop = Arc::clone(stop);
        let published = Arc::new(PublishedCounters::new(Arc::clone(segment), spec.index));
        let mine = Arc::clone(&published);
        let handle = std::thread::Builder::new()
            .name(format!("worker{}", spec.index))
            .spawn(move || run(spec, &eal, &snapshot, &stop, &mine))?;
        out.push((published, handle));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward::neighbors::v4_in_16;
    use crate::forward::neighbors::Resolution;

    fn arp(op: u16) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 0x21, 0x08, 0x06, 0, 1, 8, 0, 6, 4]);
        f.extend_from_slice(&op.to_be_bytes());
        f.extend_from_slice(&[2, 0, 0, 0, 0, 0x21, 198, 51, 100, 21]);
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 198, 51, 100, 1]);
        f
    }

    #[test]
    fn arp_replies_are_shared_and_teach_another_worker() {
        assert!(
            NeighborFrame::of(&arp(1)).is_none(),
            "requests are not shared"
        );
        let f = NeighborFrame::of(&arp(2)).expect("a reply is shared");
        assert_eq!(f.data(), &arp(2)[..]);
        // A worker that asked for 198.51.100.21 learns its MAC from the copy.
        let mut state = WorkerState::default();
        let ip = v4_in_16([198, 51, 100, 21]);
        let _ = state.forward.neighbors.resolve(&ip, false, 0);
        learn_shared(&mut state, &f);
        assert_eq!(
            state.forward.neighbors.resolve(&ip, false, 1),
            Resolution::Mac([2, 0, 0, 0, 0, 0x21])
        );
        // Other frames are not copied.
        assert!(NeighborFrame::of(&[0u8; 60]).is_none());
    }
}
