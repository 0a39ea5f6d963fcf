//! A flow's identity (its 5-tuple key and hash) and the TCP state that sets its timeout.

/// A flow's 5-tuple. IPv4 addresses sit in the first 4 bytes of the 16, the rest zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FlowKey {
    /// Client address.
    pub src: [u8; 16],
    /// VIP.
    pub dst: [u8; 16],
    /// Client port.
    pub sport: u16,
    /// Service port.
    pub dport: u16,
    /// IP protocol (6 or 17); bit 7 set for IPv6.
    pub proto: u8,
}

impl FlowKey {
    /// The all-zero key (`Default`, usable in constants).
    pub const ZERO: FlowKey = FlowKey {
        src: [0; 16],
        dst: [0; 16],
        sport: 0,
        dport: 0,
        proto: 0,
    };

    /// The key's 64-bit hash: indexes the flow table and the Maglev table, and seeds GUE
    /// source ports and IPv6 flow labels.
    #[inline]
    pub fn hash(&self) -> u64 {
        let w = |a: &[u8; 16], i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&a[i..i + 8]);
            u64::from_le_bytes(b)
        };
        Self::hash_words(
            [w(&self.src, 0), w(&self.src, 8)],
            [w(&self.dst, 0), w(&self.dst, 8)],
            self.sport,
            self.dport,
            self.proto,
        )
    }

    /// [`FlowKey::hash`] from the key's parts, as little-endian 64-bit words of the addresses
    /// (lets the hot path hash values it holds in registers rather than re-read the key).
    #[inline(always)]
    pub fn hash_words(src: [u64; 2], dst: [u64; 2], sport: u16, dport: u16, proto: u8) -> u64 {
        let last = u64::from(sport) | u64::from(dport) << 16 | u64::from(proto) << 32;
        crate::forward::hash::hash5([src[0], src[1], dst[0], dst[1], last], 0)
    }
}

/// TCP connection state as seen from the client's side (replies bypass us with DSR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FlowState {
    /// UDP (or any non-TCP protocol).
    Udp = 0,
    /// Only SYNs seen so far.
    SynSent,
    /// The client acknowledged: a live connection (also any flow first met mid-stream).
    Established,
    /// FIN or RST seen.
    Closing,
}

/// TCP flags.
pub const TCP_FIN: u8 = 0x01;
/// TCP SYN flag.
pub const TCP_SYN: u8 = 0x02;
/// TCP RST flag.
pub const TCP_RST: u8 = 0x04;
/// TCP ACK flag.
pub const TCP_ACK: u8 = 0x10;

impl FlowState {
    /// The state of a new flow whose first packet carries `tcp_flags` (`None` for UDP).
    #[inline]
    pub fn first(tcp_flags: Option<u8>) -> FlowState {
        match tcp_flags {
            None => FlowState::Udp,
            Some(f) if f & (TCP_FIN | TCP_RST) != 0 => FlowState::Closing,
            Some(f) if f & TCP_SYN != 0 && f & TCP_ACK == 0 => FlowState::SynSent,
            Some(_) => FlowState::Established,
        }
    }

    /// The state after a packet with `tcp_flags` (`None` for UDP).
    #[inline]
    pub fn next(self, tcp_flags: Option<u8>) -> FlowState {
        let Some(f) = tcp_flags else {
            return FlowState::Udp;
        };
        if f & (TCP_FIN | TCP_RST) != 0 {
            return FlowState::Closing;
        }
        match self {
            // A fresh SYN on a closing tuple starts a new connection (port reuse).
            FlowState::Closing if f & TCP_SYN != 0 && f & TCP_ACK == 0 => FlowState::SynSent,
            FlowState::Closing => FlowState::Closing,
            FlowState::SynSent if f & TCP_ACK != 0 => FlowState::Established,
            FlowState::SynSent => FlowState::SynSent,
            FlowState::Established | FlowState::Udp => FlowState::Established,
        }
    }
}
