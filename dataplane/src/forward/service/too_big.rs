//! Packets too big for a backend's tunnel: counted, and the client told with an ICMP
//! "fragmentation needed" or ICMPv6 "packet too big" ([`crate::forward::icmp::write_too_big`]),
//! never about an ICMP message.
//!
//! Two ways in. When every backend's tunnel lets the same largest inner packet through (one
//! encapsulation, one outer family: the usual service), a packet longer than that is too big
//! whichever backend it would go to, so it is answered before its flow is looked up: no
//! flow-table lookup, no new flow for a packet that is not forwarded, no next hop to resolve.
//! The worker's stage one does that with the header it parsed
//! ([`ForwardService::answer_too_big`]); `handle` and `handle_burst` in stage two
//! ([`ForwardService::too_big_for_all`], then [`refused`]). Otherwise the encapsulation refuses
//! the packet once its backend is chosen ([`refused`] too).
use super::{ForwardService, Hot, Inner, Prepared};
use crate::forward::WorkerForwardState;
use crate::packet::parse::{ETH_HLEN, IPPROTO_TCP, IPPROTO_UDP};
use crate::packet::{IpMeta, PacketBuffer, Parsed};
use crate::snapshot::PortSnapshot;
use crate::verdict::{DropReason, Verdict};

/// The largest inner packet every backend's tunnel lets through when they all agree, else
/// `None` (no backends, an L2-DSR backend, or tunnels of different overheads or MTUs).
pub(super) fn uniform_max_inner(hot: &[Hot]) -> Option<usize> {
    let first = hot.first()?.tpl?.mtu();
    hot.iter()
        .all(|h| h.tpl.is_some_and(|t| t.mtu() == first))
        .then_some(first)
}

impl ForwardService {
    /// Stage one's answer to a TCP or UDP packet (described by `ip`) too big for every
    /// backend's tunnel (see the module docs); `None` for any other packet, which goes on to
    /// its flow and backend. One comparison for a packet that fits.
    #[inline(always)]
    pub fn answer_too_big<B: PacketBuffer>(
        &self,
        buf: &mut B,
        ip: &IpMeta,
        port: &PortSnapshot,
        state: &mut WorkerForwardState,
    ) -> Option<Verdict> {
        let inner_len = Inner::of(ip).len;
        if inner_len <= self.too_big_above {
            return None;
        }
        answer_at_once(buf, ip, port, self.too_big_above, inner_len, state)
    }

    /// The tunnels' common limit when the prepared packet `p` is too big for every backend
    /// (the test of [`ForwardService::answer_too_big`], in stage two).
    #[inline(always)]
    pub(super) fn too_big_for_all(&self, p: &Prepared) -> Option<usize> {
        let max_inner = self.too_big_above;
        (p.inner.len > max_inner && ETH_HLEN + p.inner.len <= p.frame_len).then_some(max_inner)
    }
}

/// [`ForwardService::answer_too_big`] for a packet longer than `max_inner`, out of line.
#[inline(never)]
fn answer_at_once<B: PacketBuffer>(
    buf: &mut B,
    ip: &IpMeta,
    port: &PortSnapshot,
    max_inner: usize,
    inner_len: usize,
    state: &mut WorkerForwardState,
) -> Option<Verdict> {
    // What the encapsulation would refuse as malformed first, it still does (stage two).
    let tcp_or_udp = ip.proto == IPPROTO_TCP || ip.proto == IPPROTO_UDP;
    if !tcp_or_udp || ETH_HLEN + inner_len > buf.len() {
        return None;
    }
    Some(answer(buf, ip, port, max_inner, state))
}

/// A packet too big for a tunnel that lets `max_inner` bytes through, with the frame as it
/// arrived (the encapsulation refused it before writing): its header is parsed again here, off
/// the common path, rather than carried through it; then [`answer`].
#[inline(never)]
pub(super) fn refused<B: PacketBuffer>(
    buf: &mut B,
    port: &PortSnapshot,
    max_inner: usize,
    state: &mut WorkerForwardState,
) -> Verdict {
    match crate::packet::parse(buf.data()) {
        Ok(Parsed::Ipv4(ip) | Parsed::Ipv6(ip)) => answer(buf, &ip, port, max_inner, state),
        _ => {
            state.counters.too_big += 1;
            Verdict::Drop(DropReason::TooBig)
        }
    }
}

/// Counts a packet too big for `max_inner` and answers it, or drops it when no ICMP error may
/// be sent (not TCP or UDP, IPv4 without DF, a fragment, a reply that would not fit).
fn answer<B: PacketBuffer>(
    buf: &mut B,
    ip: &IpMeta,
    port: &PortSnapshot,
    max_inner: usize,
    state: &mut WorkerForwardState,
) -> Verdict {
    state.counters.too_big += 1;
    let mtu = max_inner.min(0xffff) as u16;
    let tcp_or_udp = ip.proto == IPPROTO_TCP || ip.proto == IPPROTO_UDP;
    if tcp_or_udp && crate::forward::icmp::write_too_big(buf, ip, &port.mac, mtu) {
        state.counters.too_big_icmp += 1;
        Verdict::Answer
    } else {
        Verdict::Drop(DropReason::TooBig)
    }
}
