//! The TOML config: parsing, validation, and errors that name file, line and key.
//!
//! [`Config::load`] is the one entry point: `anycastd check`, `anycastd run` and reloads all call it,
//! so what `check` accepts is exactly what the dataplane runs.
mod raw;

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
pub use raw::{Encap, IdleMode, Protocol, DEFAULT_CONTROL_SOCKET};

/// An error in a config file, located by file, line and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The config file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Dotted key path, e.g. `port[0].addresses`, when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// One DPDK port as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortConfig {
    /// Operator-chosen name (unique).
    pub name: String,
    /// A PCI address (`0000:01:00.0`) or a DPDK vdev string (`net_tap0,iface=anyc0`).
    pub device: String,
    /// The node's own addresses on this port, with prefix length.
    pub addresses: Vec<IpNet>,
    /// Kernel TAP interface for the exception path (traffic to the node's addresses that the
    /// dataplane does not answer), if any.
    pub punt_tap: Option<String>,
    /// Largest IP packet the port receives and sends (bytes, [`MIN_MTU`]..=[`MAX_MTU`]): set on
    /// the device, and the limit of forwarded packets once encapsulated.
    pub mtu: u16,
}

/// A port's MTU when the config gives none: Ethernet's.
pub const DEFAULT_MTU: u16 = 1500;
/// Smallest port MTU: IPv6's minimum link MTU.
pub const MIN_MTU: u16 = 1280;
/// Largest port MTU: a jumbo frame (packets are single-segment mbufs sized for it).
pub const MAX_MTU: u16 = 9000;

impl PortConfig {
    /// True when `device` is a PCI address rather than a vdev string.
    pub fn is_pci(&self) -> bool {
        let head = self.device.split(',').next().unwrap_or("");
        let parts: Vec<&str> = head.split([':', '.']).collect();
        (parts.len() == 4 || parts.len() == 3)
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_hexdigit()))
    }

    /// The ethdev name DPDK gives this device: the vdev name or the PCI address.
    pub fn dpdk_name(&self) -> &str {
        self.device.split(',').next().unwrap_or(&self.device)
    }
}

/// A DNS answer service's own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsServiceConfig {
    /// Zone files (RFC 1035 master format), resolved against the config file's directory.
    pub zones: Vec<PathBuf>,
    /// The node's identity for NSID and CHAOS `id.server`/`hostname.bind`.
    pub identity: String,
    /// Minimal responses (NSD's and BIND's `minimal-responses: yes`): positive answers carry
    /// no authority NS RRset, and additional records are added only for NS RRsets (referral
    /// glue, an NS query's targets). Off by default, as in NSD and BIND.
    pub minimal_responses: bool,
}

/// A backend of a forward service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendConfig {
    /// The backend's address (the outer destination, or the L2 DSR neighbour).
    pub address: IpAddr,
    /// Relative share of new flows (≥ 1).
    pub weight: u32,
    /// Whether it takes new flows.
    pub state: BackendState,
}

/// A backend's administrative state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendState {
    /// Takes new and existing flows.
    Active,
    /// Keeps existing flows, takes no new ones.
    Draining,
    /// Out of the table; its flows rehash.
    Down,
}

/// A forward service's own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardServiceConfig {
    /// How packets reach the backends.
    pub encap: Encap,
    /// Maglev lookup table size (prime).
    pub table_size: u32,
    /// UDP destination port of GUE encapsulation.
    pub gue_port: u16,
    /// Outer IPv4 source address for IPIP/GUE (default: the port's first IPv4 address).
    pub source_v4: Option<std::net::Ipv4Addr>,
    /// Outer IPv6 source address for IPIP/GUE (default: the port's first IPv6 address).
    pub source_v6: Option<std::net::Ipv6Addr>,
    /// The backends.
    pub backends: Vec<BackendConfig>,
}

/// What a service does with its traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceKind {
    /// Answer DNS queries from zone files.
    Dns(DnsServiceConfig),
    /// Load-balance to backends.
    Forward(ForwardServiceConfig),
}

/// A service on one or more VIPs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Unique name (used in logs and metrics).
    pub name: String,
    /// The VIPs it listens on (each declared in `[[vip]]`).
    pub vips: Vec<IpAddr>,
    /// Transport protocol.
    pub protocol: Protocol,
    /// Inclusive destination port range; `0..=65535` when configured as `port = 0`.
    pub ports: (u16, u16),
    /// Kind-specific settings.
    pub kind: ServiceKind,
}

impl ServiceConfig {
    /// True when the service takes `port`.
    pub fn matches_port(&self, port: u16) -> bool {
        self.ports.0 <= port && port <= self.ports.1
    }
}

/// A validated config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The file it was read from.
    pub source: PathBuf,
    /// Arguments handed to `rte_eal_init` (the program name is prepended).
    pub eal_args: Vec<String>,
    /// Workers (= rx/tx queue pairs per port).
    pub workers: usize,
    /// Cores to pin workers to, one per worker; `None` picks cores after the main lcore's.
    pub cores: Option<Vec<usize>>,
    /// Busy-poll or back off when idle.
    pub idle: IdleMode,
    /// Mbufs in the packet pool.
    pub mbufs: u32,
    /// rx/tx descriptors per queue.
    pub descriptors: u16,
    /// Each worker's flow table: capacity (preallocated at start), timeouts, new-flow limit.
    pub flow_table: crate::forward::FlowTableConfig,
    /// Path of the control socket (`anycastd reload`).
    pub control_socket: PathBuf,
    /// Reload when the config file or a zone file it names changes (checked twice a second).
    pub watch: bool,
    /// The ports.
    pub ports: Vec<PortConfig>,
    /// Anycast addresses served on every port.
    pub vips: Vec<IpAddr>,
    /// Services on the VIPs.
    pub services: Vec<ServiceConfig>,
    /// `[stats]`: where the counters are published for the sidecar.
    pub stats: stats_layout::config::StatsConfig,
    /// `[sidecar]`: read by `anycastd-sidecar`; validated here so `check` catches its errors.
    pub sidecar: stats_layout::config::SidecarConfig,
}

impl Config {
    /// Reads, parses and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_owned(),
            line: None,
            key: None,
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(path, &text)
    }

    /// Parses and validates config `text` read from `path` (used for error messages and to
    /// resolve relative paths).
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        raw::parse(path, text)
    }

    /// The directory relative paths in this config are resolved against.
    pub fn base_dir(&self) -> &Path {
        self.source.parent().unwrap_or_else(|| Path::new("."))
    }

    /// The files a reload reads: this config file and every zone file it names.
    pub fn watched_files(&self) -> Vec<PathBuf> {
        let mut out = vec![self.source.clone()];
        for s in &self.services {
            if let ServiceKind::Dns(d) = &s.kind {
                out.extend(d.zones.iter().cloned());
            }
        }
        out
    }

    /// Every address the dataplane answers ARP/NDP and ICMP for on `port`: the port's own
    /// addresses and all VIPs.
    pub fn local_addresses(&self, port: &PortConfig) -> Vec<IpAddr> {
        let mut seen = HashSet::new();
        port.addresses
            .iter()
            .map(IpNet::addr)
            .chain(self.vips.iter().copied())
            .filter(|a| seen.insert(*a))
            .collect()
    }
}

impl Config {
    /// The settings that differ between `self` (in force) and `new` and that only a restart can
    /// apply: EAL arguments, workers, cores, idle mode, mbufs, descriptors, the flow table, the control socket,
    /// and the port list (names, devices, punt taps, MTUs). Addresses, VIPs and services can change
    /// live. Empty when `new` can be applied by a reload.
    pub fn restart_only_changes(&self, new: &Config) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |changed: bool, key: &str| {
            if changed {
                out.push(key.to_owned());
            }
        };
        check(self.eal_args != new.eal_args, "eal.args");
        check(self.workers != new.workers, "dataplane.workers");
        check(self.cores != new.cores, "dataplane.cores");
        check(self.idle != new.idle, "dataplane.idle");
        check(self.mbufs != new.mbufs, "dataplane.mbufs");
        check(self.descriptors != new.descriptors, "dataplane.descriptors");
        check(self.flow_table != new.flow_table, "flow_table");
        check(
            self.control_socket != new.control_socket,
            "dataplane.control_socket",
        );
        check(self.stats.path != new.stats.path, "stats.path");
        if self.ports.len() != new.ports.len() {
            out.push(format!(
                "port (the number of ports, {} -> {})",
                self.ports.len(),
                new.ports.len()
            ));
        } else {
            for (i, (a, b)) in self.ports.iter().zip(&new.ports).enumerate() {
                if a.name != b.name {
                    out.push(format!("port[{i}].name"));
                }
                if a.device != b.device {
                    out.push(format!("port[{i}].device"));
                }
                if a.punt_tap != b.punt_tap {
                    out.push(format!("port[{i}].punt_tap"));
                }
                if a.mtu != b.mtu {
                    out.push(format!("port[{i}].mtu"));
                }
            }
        }
        out
    }
}

/// Cores online on this machine (not limited by the calling thread's affinity, which the EAL
/// narrows to its main lcore).
pub fn online_cores() -> usize {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|s| parse_cpu_list(s.trim()))
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Parses a kernel CPU list ("0-3,5") into the highest CPU number + 1.
fn parse_cpu_list(s: &str) -> Option<usize> {
    let mut max = None;
    for part in s.split(',') {
        let last = part.rsplit('-').next()?.trim().parse::<usize>().ok()?;
        max = max.max(Some(last));
    }
    max.map(|m| m + 1)
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
