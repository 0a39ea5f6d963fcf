//! What the dataplane does with a packet: verdicts are data, so packet logic is unit-tested on byte
//! buffers and the burst loop only acts on them.

/// The outcome of processing one packet.
#[derive(Debug, Clone, Copy, Eq)]
pub enum Verdict {
    /// The packet was rewritten in place into an answer; send it back on the queue it came from.
    Answer,
    /// The packet was rewritten (encapsulated or re-addressed) for a backend; send it on the port.
    Forward,
    /// Hand the packet to the kernel through the exception path.
    Punt,
    /// Drop the packet and count it under this reason.
    Drop(DropReason),
}

impl Verdict {
    /// One number per verdict: the drop reasons' own values, then the three others.
    #[inline(always)]
    const fn code(self) -> u8 {
        match self {
            Verdict::Drop(r) => r as u8,
            Verdict::Answer => DropReason::COUNT as u8,
            Verdict::Forward => DropReason::COUNT as u8 + 1,
            Verdict::Punt => DropReason::COUNT as u8 + 2,
        }
    }
}

/// Compares codes: the derived comparison decodes both discriminants first, and verdicts are
/// compared once per packet (the pipeline, the benchmarks).
impl PartialEq for Verdict {
    #[inline(always)]
    fn eq(&self, other: &Self) -> bool {
        self.code() == other.code()
    }
}

/// Why a packet was dropped. Each reason has its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    /// Not addressed to one of our addresses or VIPs.
    NotForUs = 0,
    /// Truncated or inconsistent headers (short frame, bad IHL, bad lengths).
    Malformed,
    /// An IP or L4 checksum did not verify.
    BadChecksum,
    /// A protocol or message type we do not handle (e.g. ICMP other than echo request).
    Unsupported,
    /// Addressed to a VIP, but no service matches the protocol and port.
    NoService,
    /// A forward service has no backend able to take the flow.
    NoBackend,
    /// The next hop's MAC address is not resolved yet.
    NextHopUnresolved,
    /// Too big to forward after encapsulation, and no ICMP error may be sent.
    TooBig,
    /// The answer did not fit in the buffer.
    NoRoom,
    /// The tx queue stayed full after retries.
    TxFull,
    /// The exception path (kernel TAP) was full or absent.
    PuntFailed,
}

impl DropReason {
    /// Number of reasons; sizes per-reason counter arrays.
    pub const COUNT: usize = 11;
    /// Every reason, in counter order.
    pub const ALL: [DropReason; Self::COUNT] = [
        DropReason::NotForUs,
        DropReason::Malformed,
        DropReason::BadChecksum,
        DropReason::Unsupported,
        DropReason::NoService,
        DropReason::NoBackend,
        DropReason::NextHopUnresolved,
        DropReason::TooBig,
        DropReason::NoRoom,
        DropReason::TxFull,
        DropReason::PuntFailed,
    ];

    /// Index into a per-reason counter array.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// A stable snake_case name, used in logs and metric labels.
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::NotForUs => "not_for_us",
            DropReason::Malformed => "malformed",
            DropReason::BadChecksum => "bad_checksum",
            DropReason::Unsupported => "unsupported",
            DropReason::NoService => "no_service",
            DropReason::NoBackend => "no_backend",
            DropReason::NextHopUnresolved => "next_hop_unresolved",
            DropReason::TooBig => "too_big",
            DropReason::NoRoom => "no_room",
            DropReason::TxFull => "tx_full",
            DropReason::PuntFailed => "punt_failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_index_their_own_slot() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i, "{}", r.name());
        }
    }
}
