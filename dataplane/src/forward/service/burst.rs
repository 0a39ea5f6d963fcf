//! Bursts: hash every packet first and prefetch the flow-table lines each lookup will read, then
//! process the packets. With a table far larger than the CPU caches the lookups' DRAM misses
//! then overlap instead of being paid one after the other.
//!
//! A caller with a burst of parsed packets, some of them for forward services:
//! 1. for each forward packet `i`: `prep[i] = service.prepare(buf_i, &ip_i, &state.forward)`;
//! 2. for each: `prep[i].fetch_lines(&state.forward)` (the home line read, the next one asked
//!    for);
//! 3. for each again, in order: `service.handle_prepared(&prep[i], buf_i, port, state, now)`,
//!    reading [`WorkerForwardState::last_backend`] after each as with `handle`.
//!
//! [`ForwardService::handle_burst`] does both for a burst that all goes to one service.
use super::{flow_key_hashed, ForwardService};
use crate::forward::flow_table::FlowKey;
use crate::forward::WorkerForwardState;
use crate::packet::parse::{IPPROTO_TCP, IPPROTO_UDP};
use crate::packet::{IpMeta, PacketBuffer};
use crate::snapshot::PortSnapshot;
use crate::verdict::{DropReason, Verdict};

/// Packets [`ForwardService::handle_burst`] prepares ahead of processing them.
pub const BURST: usize = 32;

/// A packet after stage one ([`ForwardService::prepare`]): its flow key and hash, TCP flags,
/// frame length and what stage two needs of its IP header read, or the reason it will be
/// dropped. Stage two takes no parsed header: copying one between the stages cost more than
/// these few words (its addresses, written a byte at a time, were read back in wide moves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prepared {
    pub(super) key: FlowKey,
    pub(super) hash: u64,
    pub(super) tcp_flags: Option<u8>,
    pub(super) frame_len: usize,
    pub(super) inner: Inner,
    pub(super) early: Result<(), DropReason>,
}

/// What delivering a packet needs of its IP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Inner {
    /// The IP packet's length (header and payload, no Ethernet padding).
    pub(super) len: usize,
    /// IPv6 (else IPv4).
    pub(super) v6: bool,
    /// A fragment: forwarded statelessly, never inserted in the flow table.
    pub(super) fragment: bool,
}

impl Inner {
    /// The summary of `ip`.
    #[inline(always)]
    pub(super) fn of(ip: &IpMeta) -> Inner {
        Inner {
            len: ip.l4.saturating_sub(ip.l3) + ip.l4_len,
            v6: ip.src.is_ipv6(),
            fragment: ip.fragment,
        }
    }
}

impl Prepared {
    const NONE: Prepared = Prepared {
        key: FlowKey::ZERO,
        hash: 0,
        tcp_flags: None,
        frame_len: 0,
        inner: Inner {
            len: 0,
            v6: false,
            fragment: false,
        },
        early: Err(DropReason::Malformed),
    };

    /// Reads the flow of the packet in `frame`, described by `ip`.
    #[inline(always)]
    pub(super) fn new(frame: &[u8], ip: &IpMeta) -> Prepared {
        let fail = |r| Prepared {
            early: Err(r),
            ..Prepared::NONE
        };
        let l4 = ip.l4;
        if ip.proto != IPPROTO_TCP && ip.proto != IPPROTO_UDP {
            return fail(DropReason::Unsupported);
        }
        let Some(ports) = frame.get(l4..l4 + 4) else {
            return fail(DropReason::Malformed);
        };
        // Fragments: no ports in most of them, so every fragment of a datagram hashes on the
        // addresses alone and goes statelessly.
        let (sport, dport) = if ip.fragment {
            (0, 0)
        } else {
            (
                u16::from_be_bytes([ports[0], ports[1]]),
                u16::from_be_bytes([ports[2], ports[3]]),
            )
        };
        let tcp_flags = if ip.proto == IPPROTO_TCP && !ip.fragment {
            match frame.get(l4 + 13) {
                Some(&f) => Some(f),
                None => return fail(DropReason::Malformed),
            }
        } else {
            None
        };
        let (key, hash) = flow_key_hashed(&ip.src, &ip.dst, sport, dport, ip.proto);
        Prepared {
            key,
            hash,
            tcp_flags,
            frame_len: frame.len(),
            inner: Inner::of(ip),
            early: Ok(()),
        }
    }

    /// The flow hash (0 for a packet that will be dropped).
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The second pass of a burst ([`crate::forward::flow_table::FlowTable::fetch_lines`]),
    /// after [`ForwardService::prepare`] of every packet.
    #[inline(always)]
    pub fn fetch_lines(&self, state: &WorkerForwardState) {
        if self.early.is_ok() {
            state.flows.fetch_lines(self.hash);
        }
    }
}

impl ForwardService {
    /// Stage one of a burst: reads the packet's flow and prefetches the flow-table lines its
    /// lookup will read. Pass the result to [`ForwardService::handle_prepared`] with the same,
    /// unchanged packet once the rest of the burst is prepared too.
    #[inline]
    pub fn prepare<B: PacketBuffer>(
        &self,
        buf: &B,
        ip: &IpMeta,
        state: &WorkerForwardState,
    ) -> Prepared {
        let p = Prepared::new(buf.data(), ip);
        if p.early.is_ok() {
            state.flows.prefetch(p.hash);
        }
        p
    }

    /// Forwards a burst of packets of this service: `bufs[i]` described by `ips[i]`, its verdict
    /// and the backend it went to (as [`WorkerForwardState::last_backend`], meaningful when the
    /// verdict is `Forward`) written to `out[i]`. Goes by `BURST` (32) packets at a time: all are
    /// prepared, their home lines read and next lines asked for, then handled. Handles
    /// `min(bufs, ips, out)` packets.
    pub fn handle_burst<B: PacketBuffer>(
        &self,
        bufs: &mut [B],
        ips: &[IpMeta],
        port: &PortSnapshot,
        state: &mut WorkerForwardState,
        now_ms: u64,
        out: &mut [(Verdict, u16)],
    ) {
        let n = bufs.len().min(ips.len()).min(out.len());
        let mut prep = [Prepared::NONE; BURST];
        let mut at = 0;
        while at < n {
            let m = (n - at).min(BURST);
            let (bs, is, os) = (
                &mut bufs[at..at + m],
                &ips[at..at + m],
                &mut out[at..at + m],
            );
            for ((p, b), ip) in prep.iter_mut().zip(bs.iter()).zip(is) {
                *p = self.prepare(b, ip, state);
            }
            for p in &prep[..m] {
                p.fetch_lines(state);
            }
            for ((p, b), o) in prep.iter().zip(bs.iter_mut()).zip(os) {
                let v = self.handle_prepared(p, b, port, state, now_ms);
                *o = (v, state.last_backend);
            }
            at += m;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::forward::flow_table::{TCP_ACK, TCP_SYN};
    use crate::forward::frames::tcp4;
    use crate::forward::{NextHop, WorkerForwardState};
    use crate::packet::{parse, PacketBuffer, Parsed, TestBuffer};
    use crate::snapshot::ServiceRuntime;
    use crate::testutil::{snapshot, udp4};
    use crate::verdict::Verdict;
    use std::net::Ipv4Addr;

    const CONFIG: &str = r#"
[[port]]
name = "edge0"
device = "net_null0"
addresses = ["198.51.100.1/24"]
[[vip]]
address = "203.0.113.10"
[[service]]
name = "web"
vip = "203.0.113.10"
protocol = "tcp"
port = 80
kind = "forward"
encap = "gue"
[[service.backend]]
address = "198.51.100.11"
[[service.backend]]
address = "198.51.100.12"
[[service.backend]]
address = "198.51.100.13"
[[service.backend]]
address = "192.0.2.99"
"#;

    /// A burst gives every packet the verdict, backend, bytes and flow-table effects that
    /// `handle` one packet at a time gives (across more than one BURST, with drops mixed in).
    #[test]
    fn burst_equals_one_at_a_time() {
        let snap = snapshot(CONFIG);
        let ServiceRuntime::Forward(svc) = &snap.services[0].runtime else {
            panic!("not forward");
        };
        let port = &snap.ports[0];
        let mut frames = Vec::new();
        for i in 0..80u32 {
            let client = Ipv4Addr::from(0x0a00_0000 + i % 50);
            let f = match i % 4 {
                0 => tcp4(
                    client,
                    Ipv4Addr::new(203, 0, 113, 10),
                    1000,
                    80,
                    TCP_SYN,
                    b"",
                ),
                1 => tcp4(
                    client,
                    Ipv4Addr::new(203, 0, 113, 10),
                    1000,
                    80,
                    TCP_ACK,
                    b"x",
                ),
                2 => udp4(
                    client,
                    Ipv4Addr::new(203, 0, 113, 10),
                    2000,
                    80,
                    b"datagram",
                ),
                _ => tcp4(
                    client,
                    Ipv4Addr::new(203, 0, 113, 10),
                    3000,
                    80,
                    TCP_ACK,
                    b"",
                ),
            };
            frames.push(f);
        }
        // Too big for every backend's tunnel: answered before the flow lookup, both ways.
        for i in [10, 51] {
            let client = Ipv4Addr::from(0x0a00_0000 + i);
            let dst = Ipv4Addr::new(203, 0, 113, 10);
            frames[i as usize] = tcp4(client, dst, 4000, 80, TCP_ACK, &[0u8; 1460]);
        }
        let mut metas: Vec<_> = frames
            .iter()
            .map(|f| match parse(f) {
                Ok(Parsed::Ipv4(m)) => m,
                other => panic!("{other:?}"),
            })
            .collect();
        // Drops decided at stage one: a protocol that is not forwarded, a truncated header.
        metas[5].proto = 1;
        metas[40].l4 = frames[40].len();
        let fresh = || {
            let mut st = WorkerForwardState::new(1024);
            for b in svc.backends() {
                if let NextHop::Neighbor { ip, v6, .. } = b.next_hop {
                    st.neighbors.resolve(&ip, v6, 0);
                    st.neighbors.learn(&ip, v6, [2, 0xbb, 0, 0, 0, 1], 0);
                }
            }
            st
        };
        let (mut one, mut many) = (fresh(), fresh());
        let mut expect = Vec::new();
        for (f, m) in frames.iter().zip(&metas) {
            let mut b = TestBuffer::new(f);
            let v = svc.handle(0, &mut b, m, port, &mut one, 7);
            expect.push((v, one.last_backend, b.data().to_vec()));
        }
        let mut bufs: Vec<TestBuffer> = frames.iter().map(|f| TestBuffer::new(f)).collect();
        let mut out = vec![(Verdict::Answer, u16::MAX); frames.len()];
        svc.handle_burst(&mut bufs, &metas, port, &mut many, 7, &mut out);
        for (i, ((v, b, bytes), (got, buf))) in expect.iter().zip(out.iter().zip(&bufs)).enumerate()
        {
            assert_eq!(got.0, *v, "packet {i}");
            if *v == Verdict::Forward {
                assert_eq!(got.1, *b, "packet {i}");
            }
            assert_eq!(buf.data(), &bytes[..], "packet {i}");
        }
        assert!(expect.iter().filter(|e| e.0 == Verdict::Forward).count() >= 70);
        assert_eq!(
            (expect[10].0, expect[51].0),
            (Verdict::Answer, Verdict::Answer)
        );
        assert_eq!(one.counters.too_big_icmp, 2);
        assert_eq!(one.flows.counters, many.flows.counters);
        assert_eq!(one.counters, many.counters);
        assert_eq!(one.flows.len(), many.flows.len());
    }
}
