//! L4 load balancing: Maglev hashing, per-worker flow tables, encapsulation to backends.
//! Placeholder until the forward work lands: a forward service fails to build with a clear message.
use crate::config::{Config, ForwardServiceConfig};
use crate::packet::{IpMeta, PacketBuffer};
use crate::snapshot::PortSnapshot;
use crate::verdict::{DropReason, Verdict};

/// A worker's own forwarding state (flow table, neighbour cache), owned by the worker.
#[derive(Debug, Default)]
pub struct WorkerForwardState {}

impl WorkerForwardState {
    /// Preallocates the worker's state for `flow_capacity` flows.
    pub fn new(_flow_capacity: usize) -> Self {
        Self {}
    }
}

/// A forward service's compiled data (Maglev table, backends, encapsulation).
pub struct ForwardService {}

impl ForwardService {
    /// Builds the service's tables off the hot path.
    pub fn build(_config: &ForwardServiceConfig, _whole: &Config) -> Result<Self, String> {
        Err("kind = \"forward\" is not supported by this build yet".into())
    }

    /// Forwards one packet of this service to its backend.
    pub fn handle<B: PacketBuffer>(
        &self,
        _service: usize,
        _buf: &mut B,
        _ip: &IpMeta,
        _port: &PortSnapshot,
        _state: &mut WorkerForwardState,
        _now_ms: u64,
    ) -> Verdict {
        Verdict::Drop(DropReason::Unsupported)
    }
}
