//! Authoritative DNS answered in the dataplane from compiled zones.
//! Placeholder until the DNS work lands: a dns service fails to build with a clear message.
use crate::config::DnsServiceConfig;
use crate::packet::{IpMeta, PacketBuffer};
use crate::snapshot::PortSnapshot;
use crate::verdict::{DropReason, Verdict};

/// Per-worker DNS counters.
#[derive(Debug, Clone, Default)]
pub struct DnsCounters {}

/// A DNS service's compiled zones.
pub struct DnsService {}

impl DnsService {
    /// Loads and compiles the service's zone files.
    pub fn build(_config: &DnsServiceConfig) -> Result<Self, String> {
        Err("kind = \"dns\" is not supported by this build yet".into())
    }

    /// Answers a UDP query in place.
    pub fn handle<B: PacketBuffer>(
        &self,
        _buf: &mut B,
        _ip: &IpMeta,
        _port: &PortSnapshot,
        _counters: &mut DnsCounters,
    ) -> Verdict {
        Verdict::Drop(DropReason::Unsupported)
    }
}
