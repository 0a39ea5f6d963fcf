//! The read-only state workers consult per packet, built from a [`Config`] off the hot path:
//! each port's MAC and local addresses, and the services on the VIPs with their compiled data
//! (zones, Maglev tables). Replaced whole on reload, never mutated in place.
use std::net::IpAddr;

use crate::answer::dns::DnsService;
use crate::config::{Config, Protocol, ServiceKind};
use crate::forward::ForwardService;

/// An Ethernet MAC address.
pub type Mac = [u8; 6];

/// The addresses the dataplane owns on one port (node addresses and VIPs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalAddrs {
    v4: Vec<[u8; 4]>,
    v6: Vec<[u8; 16]>,
}

impl LocalAddrs {
    /// Builds the set from a list of addresses.
    pub fn new(addrs: &[IpAddr]) -> Self {
        let mut s = Self::default();
        for a in addrs {
            match a {
                IpAddr::V4(v4) => s.v4.push(v4.octets()),
                IpAddr::V6(v6) => s.v6.push(v6.octets()),
            }
        }
        s
    }
    /// True when `a` is one of ours.
    #[inline]
    pub fn has_v4(&self, a: &[u8; 4]) -> bool {
        self.v4.iter().any(|x| x == a)
    }
    /// True when `a` is one of ours.
    #[inline]
    pub fn has_v6(&self, a: &[u8; 16]) -> bool {
        self.v6.iter().any(|x| x == a)
    }
    /// True when `a` is one of ours.
    #[inline]
    pub fn has(&self, a: &IpAddr) -> bool {
        match a {
            IpAddr::V4(v4) => self.has_v4(&v4.octets()),
            IpAddr::V6(v6) => self.has_v6(&v6.octets()),
        }
    }
    /// Our IPv6 addresses.
    pub fn v6(&self) -> &[[u8; 16]] {
        &self.v6
    }
    /// Our IPv4 addresses.
    pub fn v4(&self) -> &[[u8; 4]] {
        &self.v4
    }
}

/// What a worker needs to know about one port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSnapshot {
    /// The port's name from the config.
    pub name: String,
    /// The port's MAC address (the source of every frame we send).
    pub mac: Mac,
    /// Node addresses and VIPs answered on this port.
    pub local: LocalAddrs,
    /// The node's own addresses only (no VIPs).
    pub node: LocalAddrs,
}

/// A service's compiled runtime data.
pub enum ServiceRuntime {
    /// Answers DNS from compiled zones.
    Dns(DnsService),
    /// Forwards to backends.
    Forward(ForwardService),
}

/// One service as workers see it.
pub struct Service {
    /// The service's name.
    pub name: String,
    /// Its compiled data.
    pub runtime: ServiceRuntime,
    /// Its slot in the per-service counters ([`Snapshot::assign_stat_slots`]).
    pub stat_slot: u16,
    /// Per backend (forward services, config order): its slot in the per-backend counters.
    pub backend_slots: Box<[u16]>,
}

impl Service {
    /// The counter slot of backend `b` (the sink when it has none).
    #[inline(always)]
    pub fn backend_slot(&self, b: u16) -> u16 {
        self.backend_slots
            .get(usize::from(b))
            .copied()
            .unwrap_or(stats_layout::services::NO_BACKEND_SLOT)
    }
}

/// (VIP, protocol, port range) → index into [`Snapshot::services`].
///
/// IPv4 and IPv6 VIPs sit in separate lists keyed by the address as an integer: a lookup
/// compares a register with each entry, not the 17-byte `IpAddr` enum, whose wide loads would
/// wait on the narrower stores that just built the packet's metadata.
#[derive(Debug, Clone, Default)]
pub struct ServiceTable {
    v4: Vec<(u32, Protocol, u16, u16, usize)>,
    v6: Vec<(u128, Protocol, u16, u16, usize)>,
}

impl ServiceTable {
    /// Binds `vip`, `proto` and ports `lo..=hi` to service `idx` (after any earlier binding
    /// of the same destination).
    pub fn insert(&mut self, vip: IpAddr, proto: Protocol, (lo, hi): (u16, u16), idx: usize) {
        match vip {
            IpAddr::V4(a) => self.v4.push((u32::from(a), proto, lo, hi, idx)),
            IpAddr::V6(a) => self.v6.push((u128::from(a), proto, lo, hi, idx)),
        }
    }

    /// The service bound to `vip`, `proto`, `port`, if any.
    #[inline]
    pub fn lookup(&self, vip: &IpAddr, proto: Protocol, port: u16) -> Option<usize> {
        match *vip {
            IpAddr::V4(a) => find(&self.v4, u32::from(a), proto, port),
            IpAddr::V6(a) => find(&self.v6, u128::from(a), proto, port),
        }
    }
}

/// The first of `entries` bound to (`vip`, `proto`, `port`).
#[inline(always)]
fn find<A: PartialEq + Copy>(
    entries: &[(A, Protocol, u16, u16, usize)],
    vip: A,
    proto: Protocol,
    port: u16,
) -> Option<usize> {
    entries
        .iter()
        .find(|e| e.0 == vip && e.1 == proto && e.2 <= port && port <= e.3)
        .map(|e| e.4)
}

/// Everything workers read per packet.
pub struct Snapshot {
    /// Increments with every successful load or reload.
    pub generation: u64,
    /// Per port, indexed like the config's ports.
    pub ports: Vec<PortSnapshot>,
    /// Compiled services.
    pub services: Vec<Service>,
    /// Service lookup by destination.
    pub table: ServiceTable,
    /// When each counter slot was assigned (workers rebase their per-service counters on it).
    pub stat_slots: stats_layout::SlotSince,
}

/// Why a snapshot could not be built (a zone or service failed to compile).
#[derive(Debug, thiserror::Error)]
#[error("service '{service}': {message}")]
pub struct BuildError {
    /// The service that failed.
    pub service: String,
    /// What failed, naming file and line where there is one.
    pub message: String,
}

impl Snapshot {
    /// Compiles `config` into a snapshot. `macs` holds each port's MAC, in config order.
    pub fn build(config: &Config, macs: &[Mac], generation: u64) -> Result<Snapshot, BuildError> {
        let ports = config
            .ports
            .iter()
            .zip(macs)
            .map(|(p, mac)| PortSnapshot {
                name: p.name.clone(),
                mac: *mac,
                local: LocalAddrs::new(&config.local_addresses(p)),
                node: LocalAddrs::new(&p.addresses.iter().map(|n| n.addr()).collect::<Vec<_>>()),
            })
            .collect();
        let mut services = Vec::new();
        let mut table = ServiceTable::default();
        for (idx, s) in config.services.iter().enumerate() {
            let err = |message: String| BuildError {
                service: s.name.clone(),
                message,
            };
            let runtime = match &s.kind {
                ServiceKind::Dns(d) => ServiceRuntime::Dns(DnsService::build(d).map_err(err)?),
                ServiceKind::Forward(f) => {
                    ServiceRuntime::Forward(ForwardService::build(f, config).map_err(err)?)
                }
            };
            for vip in &s.vips {
                table.insert(*vip, s.protocol, s.ports, idx);
            }
            services.push(Service {
                name: s.name.clone(),
                runtime,
                stat_slot: stats_layout::services::NO_SERVICE_SLOT,
                backend_slots: Box::default(),
            });
        }
        Ok(Snapshot {
            generation,
            ports,
            services,
            table,
            stat_slots: stats_layout::SlotSince::default(),
        })
    }

    /// Gives each service and backend its counter slot, keeping the slots `previous` gave the
    /// same service names (and addresses), so their counts carry on across a reload. Returns the
    /// new assignment, whose names the control thread publishes before workers see the snapshot.
    pub fn assign_stat_slots(
        &mut self,
        previous: &stats_layout::SlotTable,
    ) -> stats_layout::SlotTable {
        let addrs: Vec<Vec<IpAddr>> = self
            .services
            .iter()
            .map(|s| match &s.runtime {
                ServiceRuntime::Forward(f) => f.backends().iter().map(|b| b.address).collect(),
                ServiceRuntime::Dns(_) => Vec::new(),
            })
            .collect();
        let list: Vec<(&str, &[IpAddr])> = self
            .services
            .iter()
            .zip(&addrs)
            .map(|(s, a)| (s.name.as_str(), a.as_slice()))
            .collect();
        let (table, assigned) = previous.assign(self.generation, &list);
        for ((s, slot), backends) in self
            .services
            .iter_mut()
            .zip(assigned.services)
            .zip(assigned.backends)
        {
            s.stat_slot = slot;
            s.backend_slots = backends.into_boxed_slice();
        }
        self.stat_slots = table.since();
        table
    }
}
