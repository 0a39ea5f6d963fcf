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
}

/// (VIP, protocol, port range) → index into [`Snapshot::services`].
#[derive(Debug, Clone, Default)]
pub struct ServiceTable {
    entries: Vec<(IpAddr, Protocol, u16, u16, usize)>,
}

impl ServiceTable {
    /// The service bound to `vip`, `proto`, `port`, if any.
    #[inline]
    pub fn lookup(&self, vip: &IpAddr, proto: Protocol, port: u16) -> Option<usize> {
        self.entries
            .iter()
            .find(|e| e.0 == *vip && e.1 == proto && e.2 <= port && port <= e.3)
            .map(|e| e.4)
    }
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
                table
                    .entries
                    .push((*vip, s.protocol, s.ports.0, s.ports.1, idx));
            }
            services.push(Service {
                name: s.name.clone(),
                runtime,
            });
        }
        Ok(Snapshot {
            generation,
            ports,
            services,
            table,
        })
    }
}
