//! Classifies one frame and hands it to the answer or forward path: a pure function of
//! (packet, snapshot, worker state) → [`Verdict`], tested on byte buffers.
use crate::answer;
use crate::answer::dns::DnsCounters;
use crate::config::Protocol;
use crate::forward::WorkerForwardState;
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
    let Some(port) = snap.ports.get(port_idx) else {
        return Verdict::Drop(DropReason::NotForUs);
    };
    let frame = buf.data();
    if frame.len() < 14 {
        return Verdict::Drop(DropReason::Malformed);
    }
    // Unicast frames must be for our MAC; broadcast and multicast go on to the protocol checks.
    if frame[0] & 1 == 0 && frame[0..6] != port.mac {
        return Verdict::Drop(DropReason::NotForUs);
    }
    let parsed = parse(frame);
    // Next-hop learning (ARP/NDP) and ICMP errors about forwarded flows. An ICMPv4 echo
    // request, the common ICMP message, is neither: it skips the check.
    if !is_icmp4_echo_request(buf.data(), &parsed) {
        let now = state.now_ms;
        let fwd = &mut state.forward;
        if let Some(v) = crate::forward::intercept(buf, &parsed, port, snap, fwd, now) {
            return v;
        }
    }
    // Matched by reference: moving the parsed header copies it with wide loads right after
    // the narrow stores that built it, which stalls store-to-load forwarding.
    match &parsed {
        Err(reason) => Verdict::Drop(*reason),
        Ok(Parsed::Arp) => answer::arp::handle(buf.data_mut(), port),
        Ok(Parsed::Ipv4(ip)) => {
            if !port.local.has(&ip.dst) {
                return Verdict::Drop(DropReason::NotForUs);
            }
            match ip.proto {
                IPPROTO_ICMP => answer::icmp::handle(buf.data_mut(), ip, port),
                IPPROTO_UDP | IPPROTO_TCP => l4(buf, ip, port, snap, state),
                _ => Verdict::Drop(DropReason::Unsupported),
            }
        }
        Ok(Parsed::Ipv6(ip)) => match ip.proto {
            // NDP targets solicited-node multicast: icmp6 checks destinations itself.
            IPPROTO_ICMPV6 => answer::icmp6::handle(buf, ip, port),
            IPPROTO_UDP | IPPROTO_TCP if port.local.has(&ip.dst) => l4(buf, ip, port, snap, state),
            _ if !port.local.has(&ip.dst) => Verdict::Drop(DropReason::NotForUs),
            _ => Verdict::Drop(DropReason::Unsupported),
        },
        Ok(Parsed::Other(_)) => Verdict::Drop(DropReason::Unsupported),
    }
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
    port: &PortSnapshot,
    snap: &Snapshot,
    state: &mut WorkerState,
) -> Verdict {
    let (proto, min) = if ip.proto == IPPROTO_UDP {
        (Protocol::Udp, 8)
    } else {
        (Protocol::Tcp, 20)
    };
    if ip.l4_len < min {
        return Verdict::Drop(DropReason::Malformed);
    }
    let frame = buf.data();
    let dport = u16::from_be_bytes([frame[ip.l4 + 2], frame[ip.l4 + 3]]);
    let Some(idx) = snap.table.lookup(&ip.dst, proto, dport) else {
        return Verdict::Drop(if port.node.has(&ip.dst) {
            DropReason::NotForUs
        } else {
            DropReason::NoService
        });
    };
    let service = &snap.services[idx];
    state.services.count_service(service.stat_slot, frame.len());
    match &service.runtime {
        ServiceRuntime::Dns(dns) => dns.handle(buf, ip, port, &mut state.dns),
        ServiceRuntime::Forward(fwd) => {
            let v = fwd.handle(idx, buf, ip, port, &mut state.forward, state.now_ms);
            if v == Verdict::Forward {
                let slot = service.backend_slot(state.forward.last_backend);
                state.services.count_backend(slot);
            }
            v
        }
    }
}

#[cfg(test)]
mod tests;
