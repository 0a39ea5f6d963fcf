//! ICMP errors about forwarded flows (IPv4 destination unreachable, incl. fragmentation needed;
//! ICMPv6 destination unreachable and packet too big) go to the flow's backend.
//!
//! A router on the client's path quotes the packet it could not deliver: a reply the backend
//! sent from the VIP to the client. Reversing the quoted tuple gives the flow's own key, so the
//! flow table (or Maglev, without inserting) picks the same backend as the flow, and the whole
//! ICMP packet is encapsulated to it like the flow's packets.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::service::flow_key;
use super::WorkerForwardState;
use crate::config::Protocol;
use crate::packet::parse::{IPPROTO_TCP, IPPROTO_UDP};
use crate::packet::{IpMeta, PacketBuffer};
use crate::snapshot::{PortSnapshot, ServiceRuntime, Snapshot};
use crate::verdict::{DropReason, Verdict};

/// The quoted packet's addresses, protocol and ports, as quoted (VIP → client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoted {
    /// Quoted source (the VIP).
    pub src: IpAddr,
    /// Quoted destination (the client).
    pub dst: IpAddr,
    /// TCP or UDP.
    pub proto: u8,
    /// Quoted source port (the service port).
    pub sport: u16,
    /// Quoted destination port (the client's).
    pub dport: u16,
}

/// Reads the quoted packet of an ICMP error message `msg` (from its type byte on). `None` when
/// it is not an error we route or quotes no TCP/UDP header.
pub fn quoted(msg: &[u8], v6: bool) -> Option<Quoted> {
    if msg.len() < 8 {
        return None;
    }
    let is_error = if v6 {
        msg[0] == 1 || msg[0] == 2
    } else {
        msg[0] == 3
    };
    if !is_error {
        return None;
    }
    let inner = &msg[8..];
    let (src, dst, proto, l4) = if v6 {
        if inner.len() < 48 || inner[0] >> 4 != 6 {
            return None;
        }
        let mut s = [0u8; 16];
        let mut d = [0u8; 16];
        s.copy_from_slice(&inner[8..24]);
        d.copy_from_slice(&inner[24..40]);
        (
            IpAddr::V6(Ipv6Addr::from(s)),
            IpAddr::V6(Ipv6Addr::from(d)),
            inner[6],
            40,
        )
    } else {
        if inner.len() < 20 || inner[0] >> 4 != 4 {
            return None;
        }
        let ihl = usize::from(inner[0] & 0x0f) * 4;
        if ihl < 20 || inner.len() < ihl + 8 {
            return None;
        }
        (
            IpAddr::V4(Ipv4Addr::new(inner[12], inner[13], inner[14], inner[15])),
            IpAddr::V4(Ipv4Addr::new(inner[16], inner[17], inner[18], inner[19])),
            inner[9],
            ihl,
        )
    };
    if proto != IPPROTO_TCP && proto != IPPROTO_UDP {
        return None;
    }
    let p = inner.get(l4..l4 + 4)?;
    Some(Quoted {
        src,
        dst,
        proto,
        sport: u16::from_be_bytes([p[0], p[1]]),
        dport: u16::from_be_bytes([p[2], p[3]]),
    })
}

/// Forwards an ICMP error addressed to one of our addresses that quotes a packet of a forward
/// service's flow. `None` when the packet is not such an error (the caller handles it).
pub fn forward_error<B: PacketBuffer>(
    buf: &mut B,
    ip: &IpMeta,
    port: &PortSnapshot,
    snap: &Snapshot,
    state: &mut WorkerForwardState,
    now_ms: u64,
) -> Option<Verdict> {
    if ip.fragment || !port.local.has(&ip.dst) {
        return None;
    }
    let v6 = matches!(ip.dst, IpAddr::V6(_));
    let msg = buf.data().get(ip.l4..ip.l4 + ip.l4_len)?;
    let q = quoted(msg, v6)?;
    let proto = if q.proto == IPPROTO_UDP {
        Protocol::Udp
    } else {
        Protocol::Tcp
    };
    let idx = snap.table.lookup(&q.src, proto, q.sport)?;
    let ServiceRuntime::Forward(f) = &snap.services.get(idx)?.runtime else {
        return None;
    };
    // The flow's own key: client → VIP.
    let key = flow_key(&q.dst, &q.src, q.dport, q.sport, q.proto);
    let hash = key.hash();
    state.counters.icmp_errors += 1;
    Some(match f.pick(&key, hash, None, false, state, now_ms) {
        Some(b) => f.deliver(buf, ip, port, b, hash, state, now_ms),
        None => {
            state.counters.no_backend += 1;
            Verdict::Drop(DropReason::NoBackend)
        }
    })
}
