//! A flow's identity (its 5-tuple key and hash) and the TCP state that sets its timeout.

/// A flow's 5-tuple, as the five little-endian 64-bit words it is hashed from: the client
/// address (16-byte form: IPv4 in the first 4 bytes, the rest zero), the VIP, then client port,
/// service port and protocol (bit 7 set for IPv6) in the last word. Compared word by word.
#[derive(Debug, Clone, Copy, Eq, Default)]
pub struct FlowKey {
    w: [u64; 5],
}

impl PartialEq for FlowKey {
    /// One XOR per word and one test (the derived comparison of `[u64; 5]` calls `bcmp`).
    #[inline(always)]
    fn eq(&self, o: &FlowKey) -> bool {
        let (a, b) = (&self.w, &o.w);
        (a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4]) == 0
    }
}

impl std::hash::Hash for FlowKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.w.hash(h);
    }
}

/// An address's 16 bytes as two little-endian words.
#[inline(always)]
fn le_words(a: &[u8; 16]) -> [u64; 2] {
    let (lo, hi) = a.split_at(8);
    let w = |b: &[u8]| {
        let mut x = [0u8; 8];
        x.copy_from_slice(b);
        u64::from_le_bytes(x)
    };
    [w(lo), w(hi)]
}

/// Two little-endian words back as 16 bytes.
#[inline(always)]
fn le_bytes(w: u64, v: u64) -> [u8; 16] {
    let mut o = [0u8; 16];
    o[..8].copy_from_slice(&w.to_le_bytes());
    o[8..].copy_from_slice(&v.to_le_bytes());
    o
}

impl FlowKey {
    /// The all-zero key (`Default`, usable in constants).
    pub const ZERO: FlowKey = FlowKey { w: [0; 5] };

    /// The key of client `src`:`sport` to `dst`:`dport` over `proto` (16-byte address forms).
    #[inline]
    pub fn new(src: [u8; 16], dst: [u8; 16], sport: u16, dport: u16, proto: u8) -> FlowKey {
        Self::from_words(le_words(&src), le_words(&dst), sport, dport, proto)
    }

    /// The key from the addresses as little-endian 64-bit words of their 16-byte forms.
    #[inline(always)]
    pub fn from_words(src: [u64; 2], dst: [u64; 2], sport: u16, dport: u16, proto: u8) -> FlowKey {
        let last = u64::from(sport) | u64::from(dport) << 16 | u64::from(proto) << 32;
        FlowKey {
            w: [src[0], src[1], dst[0], dst[1], last],
        }
    }

    /// Client address (16-byte form).
    pub fn src(&self) -> [u8; 16] {
        le_bytes(self.w[0], self.w[1])
    }

    /// VIP (16-byte form).
    pub fn dst(&self) -> [u8; 16] {
        le_bytes(self.w[2], self.w[3])
    }

    /// Client port.
    pub fn sport(&self) -> u16 {
        self.w[4] as u16
    }

    /// Service port.
    pub fn dport(&self) -> u16 {
        (self.w[4] >> 16) as u16
    }

    /// IP protocol (6 or 17); bit 7 set for IPv6.
    pub fn proto(&self) -> u8 {
        (self.w[4] >> 32) as u8
    }

    /// The key's 64-bit hash: indexes the flow table and the Maglev table, and seeds GUE
    /// source ports and IPv6 flow labels.
    #[inline]
    pub fn hash(&self) -> u64 {
        crate::forward::hash::hash5(self.w, 0)
    }

    /// [`FlowKey::hash`] from the key's parts, as little-endian 64-bit words of the addresses
    /// (lets the hot path hash values it holds in registers rather than re-read the key).
    #[inline(always)]
    pub fn hash_words(src: [u64; 2], dst: [u64; 2], sport: u16, dport: u16, proto: u8) -> u64 {
        Self::from_words(src, dst, sport, dport, proto).hash()
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

    /// The state after a packet with `tcp_flags` (`None` for UDP): one load from a table built
    /// at compile time by [`FlowState::next_by_rule`].
    #[inline(always)]
    pub fn next(self, tcp_flags: Option<u8>) -> FlowState {
        match tcp_flags {
            None => FlowState::Udp,
            Some(f) => NEXT[self as usize][usize::from(f)],
        }
    }

    /// The state after a TCP packet with flags `f`, by the rules (what [`FlowState::next`]
    /// looks up).
    pub const fn next_by_rule(self, f: u8) -> FlowState {
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

/// [`FlowState::next_by_rule`] for every state (as `u8`) and flags byte.
const NEXT: [[FlowState; 256]; 4] = {
    let states = [
        FlowState::Udp,
        FlowState::SynSent,
        FlowState::Established,
        FlowState::Closing,
    ];
    let mut t = [[FlowState::Udp; 256]; 4];
    let mut s = 0;
    while s < 4 {
        let mut f = 0;
        while f < 256 {
            t[s][f] = states[s].next_by_rule(f as u8);
            f += 1;
        }
        s += 1;
    }
    t
};
