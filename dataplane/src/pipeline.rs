//! Classifies one frame and hands it to the answer or forward path: a pure function of
//! (packet, snapshot, worker state) → [`Verdict`], tested on byte buffers.
use crate::answer;
use crate::answer::dns::cache::PacketCache;
use crate::answer::dns::DnsCounters;
use crate::config::Protocol;
use crate::forward::{Prepared, WorkerForwardState};
use crate::packet::parse::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP};
use crate::packet::{parse, IpMeta, PacketBuffer, Parsed};
use crate::snapshot::{PortSnapshot, ServiceRuntime, Snapshot};
use crate::verdict::{DropReason, Verdict};

/// State a worker owns and the pipeline updates.
#[derive(Debug, Default)]
pub struct WorkerState {
    /// Forwarding state: flow table, neighbour cache.
    pub forward: WorkerForwardState,
    /// DNS counters.
    pub dns: DnsCounters,
    /// Responses of the DNS fast path, answered again by copying.
    pub dns_cache: PacketCache,
    /// Per-service and per-backend packet counters (slots from the snapshot).
    pub services: stats_layout::ServiceCounters,
    /// Milliseconds on the worker's clock, set once per burst.
    pub now_ms: u64,
}

/// Processes one frame received on port `port_idx`, rewriting it in place.
#[inline]
pub fn process<B: PacketBuffer>(
    buf: &mut B,
    port_idx: usize,
    snap: &Snapshot,
    state: &mut WorkerState,
) -> Verdict {
    match stage_one(buf, port_idx, snap, state) {
        Stage::Done(v) => v,
        Stage::Forward(p) => stage_two(buf, &p, snap, state),
    }
}

/// A packet after [`stage_one`]: its verdict, or the forward service it goes to, with its flow
/// read and its flow-table line prefetched, for [`stage_two`].
#[derive(Debug, Clone, Copy)]
pub enum Stage {
    /// Processed: nothing left to do.
    Done(Verdict),
    /// For a forward service: finish with [`stage_two`].
    Forward(Pending),
}

impl From<Verdict> for Stage {
    #[inline(always)]
    fn from(v: Verdict) -> Stage {
        Stage::Done(v)
    }
}

/// A forward packet between the two stages.
#[derive(Debug, Clone, Copy)]
pub struct Pending {
    service: usize,
    port_idx: usize,
    prepared: Prepared,
}

/// Stage one of a burst, all of [`process`] but a forward service's own work. Run it over the
/// whole burst, then [`stage_two`] over the packets it left pending, in order: a forward
/// packet's flow-table line is then fetched while the rest of the burst is classified, so with
/// a table larger than the CPU caches the lookups' memory misses overlap. A pending packet must
/// not change before its stage two, and the snapshot must be the same.
///
/// Always inlined: its result then stays in registers instead of going through memory.
#[inline(always)]
pub fn stage_one<B: PacketBuffer>(
    buf: &mut B,
    port_idx: usize,
    snap: &Snapshot,
    state: &mut WorkerState,
) -> Stage {
    let Some(port) = snap.ports.get(port_idx) else {
        return Verdict::Drop(DropReason::NotForUs).into();
    };
    // One borrow of the frame for the checks and fast paths below.
    let frame = buf.data_mut();
    if frame.len() < 14 {
        return Verdict::Drop(DropReason::Malformed).into();
    }
    // Unicast frames must be for our MAC; broadcast and multicast go on to the protocol checks.
    if frame[0] & 1 == 0 && frame[0..6] != port.mac {
        return Verdict::Drop(DropReason::NotForUs).into();
    }
    // The common ICMP and ICMPv6 echo requests and neighbour solicitations, answered without
    // the full parse; anything unusual about them (options, fragments, bad checksums) falls
    // through to the general path.
    if let Some(v) = answer::icmp::answer_plain_echo(frame, port) {
        return v.into();
    }
    if let Some(v) = answer::icmp6::answer_plain_echo(frame, port) {
        return v.into();
    }
    if let Some((addr, mac)) = answer::ndp::answer_plain_solicitation(frame, port) {
        // What the general path's neighbour learning takes from a solicitation.
        state.forward.learn_neighbor(&addr, true, mac, state.now_ms);
        return Verdict::Answer.into();
    }
    let parsed = parse(frame);
    // Next-hop learning (ARP/NDP) and ICMP errors about forwarded flows. An ICMPv4 echo
    // request, the common ICMP message, is neither: it skips the check.
    if !is_icmp4_echo_request(frame, &parsed) {
        let now = state.now_ms;
        let fwd = &mut state.forward;
        if let Some(v) = crate::forward::intercept(buf, &parsed, port, snap, fwd, now) {
            return v.into();
        }
    }
    // Matched by reference: moving the parsed header copies it with wide loads right after
    // the narrow stores that built it, which stalls store-to-load forwarding.
    match &parsed {
        Err(reason) => Verdict::Drop(*reason).into(),
        Ok(Parsed::Arp) => answer::arp::handle(buf.data_mut(), port).into(),
        Ok(Parsed::Ipv4(ip)) => {
            if !port.local.has(&ip.dst) {
                return Verdict::Drop(DropReason::NotForUs).into();
            }
            match ip.proto {
                IPPROTO_ICMP => answer::icmp::handle(buf.data_mut(), ip, port).into(),
                IPPROTO_UDP | IPPROTO_TCP => l4(buf, ip, port_idx, port, snap, state),
                _ => Verdict::Drop(DropReason::Unsupported).into(),
            }
        }
        Ok(Parsed::Ipv6(ip)) => match ip.proto {
            // NDP targets solicited-node multicast: icmp6 checks destinations itself.
            IPPROTO_ICMPV6 => answer::icmp6::handle(buf, ip, port).into(),
            IPPROTO_UDP | IPPROTO_TCP if port.local.has(&ip.dst) => {
                l4(buf, ip, port_idx, port, snap, state)
            }
            _ if !port.local.has(&ip.dst) => Verdict::Drop(DropReason::NotForUs).into(),
            _ => Verdict::Drop(DropReason::Unsupported).into(),
        },
        Ok(Parsed::Other(_)) => Verdict::Drop(DropReason::Unsupported).into(),
    }
}

/// Between the stages: a pending packet's flow-table home line read and the next one asked for
/// ([`Prepared::fetch_lines`]), once [`stage_one`] has asked for every pending packet's home.
#[inline(always)]
pub fn fetch_lines(p: &Pending, state: &WorkerState) {
    p.prepared.fetch_lines(&state.forward);
}

/// Stage two of a burst: a forward service's work on a packet [`stage_one`] left pending.
#[inline]
pub fn stage_two<B: PacketBuffer>(
    buf: &mut B,
    p: &Pending,
    snap: &Snapshot,
    state: &mut WorkerState,
) -> Verdict {
    let (Some(service), Some(port)) = (snap.services.get(p.service), snap.ports.get(p.port_idx))
    else {
        return Verdict::Drop(DropReason::NoService);
    };
    let ServiceRuntime::Forward(fwd) = &service.runtime else {
        return Verdict::Drop(DropReason::NoService);
    };
    let now = state.now_ms;
    let v = fwd.handle_prepared(&p.prepared, buf, port, &mut state.forward, now);
    if v == Verdict::Forward {
        let slot = service.backend_slot(state.forward.last_backend);
        state.services.count_backend(slot);
    }
    v
}

/// True for an IPv4 ICMP message whose type byte says echo request.
#[inline(always)]
fn is_icmp4_echo_request(frame: &[u8], parsed: &Result<Parsed, DropReason>) -> bool {
    match parsed {
        Ok(Parsed::Ipv4(ip)) if ip.proto == IPPROTO_ICMP => {
            frame.get(ip.l4) == Some(&answer::icmp::ECHO_REQUEST)
        }
        _ => false,
    }
}

/// TCP/UDP to one of our addresses: find the service on (VIP, protocol, port).
#[inline]
fn l4<B: PacketBuffer>(
    buf: &mut B,
    ip: &IpMeta,
    port_idx: usize,
    port: &PortSnapshot,
    snap: &Snapshot,
    state: &mut WorkerState,
) -> Stage {
    let (proto, min) = if ip.proto == IPPROTO_UDP {
        (Protocol::Udp, 8)
    } else {
        (Protocol::Tcp, 20)
    };
    if ip.l4_len < min {
        return Verdict::Drop(DropReason::Malformed).into();
    }
    let frame = buf.data();
    let dport = u16::from_be_bytes([frame[ip.l4 + 2], frame[ip.l4 + 3]]);
    let Some(idx) = snap.table.lookup(&ip.dst, proto, dport) else {
        return Verdict::Drop(if port.node.has(&ip.dst) {
            DropReason::NotForUs
        } else {
            DropReason::NoService
        })
        .into();
    };
    let service = &snap.services[idx];
    state.services.count_service(service.stat_slot, frame.len());
    match &service.runtime {
        ServiceRuntime::Dns(dns) => dns
            .handle_cached(buf, ip, port, &mut state.dns, &mut state.dns_cache)
            .into(),
        ServiceRuntime::Forward(fwd) => {
            if let Some(v) = fwd.answer_too_big(buf, ip, port, &mut state.forward) {
                return v.into();
            }
            Stage::Forward(Pending {
                service: idx,
                port_idx,
                prepared: fwd.prepare(buf, ip, &state.forward),
            })
        }
    }
}

#[cfg(test)]
mod tests;
