//! The config file as written (serde, with spans), and its validation into [`super::Config`].
use std::collections::HashSet;
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

mod flow_table;

use super::{
    BackendConfig, BackendState, Config, ConfigError, DnsServiceConfig, ForwardServiceConfig,
    PortConfig, ServiceConfig, ServiceKind,
};

/// Transport protocol of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
}

/// How a forward service reaches its backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encap {
    /// IP-in-IP (4in4, 6in6, 4in6, 6in4 by the backend's and the VIP's families).
    Ipip,
    /// Generic UDP Encapsulation.
    Gue,
    /// Layer-2 direct server return: rewrite the destination MAC only.
    L2dsr,
}

/// What a worker does after an empty poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdleMode {
    /// Spin: lowest latency, one core at 100%.
    #[default]
    Poll,
    /// Back off with short sleeps after empty polls.
    Adaptive,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    eal: RawEal,
    #[serde(default)]
    dataplane: RawDataplane,
    #[serde(default)]
    port: Vec<Spanned<RawPort>>,
    #[serde(default)]
    vip: Vec<Spanned<RawVip>>,
    #[serde(default)]
    service: Vec<Spanned<RawService>>,
    #[serde(default)]
    flow_table: flow_table::RawFlowTable,
    /// Typed and validated by `stats_layout::config` (shared with the sidecar).
    #[serde(default)]
    #[allow(dead_code)]
    stats: Option<toml::Table>,
    #[serde(default)]
    #[allow(dead_code)]
    sidecar: Option<toml::Table>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEal {
    #[serde(default)]
    args: Vec<String>,
}

fn default_workers() -> Spanned<i64> {
    Spanned::new(0..0, 1)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDataplane {
    #[serde(default = "default_workers")]
    workers: Spanned<i64>,
    cores: Option<Spanned<Vec<i64>>>,
    #[serde(default)]
    idle: IdleMode,
    mbufs: Option<Spanned<i64>>,
    descriptors: Option<Spanned<i64>>,
    control_socket: Option<Spanned<String>>,
    #[serde(default)]
    watch: bool,
}

impl Default for RawDataplane {
    fn default() -> Self {
        Self {
            workers: default_workers(),
            cores: None,
            idle: IdleMode::Poll,
            mbufs: None,
            descriptors: None,
            control_socket: None,
            watch: false,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPort {
    name: Spanned<String>,
    device: Spanned<String>,
    #[serde(default)]
    addresses: Vec<Spanned<String>>,
    punt_tap: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVip {
    address: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(untagged, expecting = "expected an address or a list of addresses")]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "expected a port number or a range such as \"1000-2000\""
)]
enum PortSpec {
    Single(i64),
    Range(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: Spanned<String>,
    vip: Spanned<OneOrMany>,
    protocol: Protocol,
    port: Spanned<PortSpec>,
    kind: Spanned<String>,
    // dns
    zones: Option<Vec<Spanned<String>>>,
    identity: Option<Spanned<String>>,
    minimal_responses: Option<bool>,
    // forward
    encap: Option<Encap>,
    table_size: Option<Spanned<i64>>,
    gue_port: Option<Spanned<i64>>,
    source_v4: Option<Spanned<String>>,
    source_v6: Option<Spanned<String>>,
    #[serde(default)]
    backend: Vec<Spanned<RawBackend>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBackend {
    address: Spanned<String>,
    #[serde(default = "default_weight")]
    weight: Spanned<i64>,
    #[serde(default = "default_state")]
    state: BackendState,
}

fn default_weight() -> Spanned<i64> {
    Spanned::new(0..0, 1)
}

fn default_state() -> BackendState {
    BackendState::Active
}

/// Default Maglev table size (prime, as in the Maglev paper).
pub const DEFAULT_TABLE_SIZE: u32 = 65537;
/// Default GUE port.
pub const DEFAULT_GUE_PORT: u16 = 6080;
/// Default mbuf pool size.
pub const DEFAULT_MBUFS: u32 = 8191;
/// Default descriptors per queue.
pub const DEFAULT_DESCRIPTORS: u16 = 1024;
/// Default path of the control socket (`anycastd reload`).
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/anycastd/anycastd.sock";
/// Longest Unix socket path (`sun_path` holds 108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 107;
/// Longest kernel interface name (IFNAMSIZ - 1).
const MAX_IFNAME: usize = 15;

struct Ctx<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    fn line_of(&self, span: &Range<usize>) -> Option<usize> {
        if span.start == 0 && span.end == 0 {
            return None;
        }
        let upto = self.text.get(..span.start)?;
        Some(upto.bytes().filter(|&b| b == b'\n').count() + 1)
    }

    fn err(
        &self,
        span: &Range<usize>,
        key: impl Into<String>,
        msg: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: self.file.to_owned(),
            line: self.line_of(span),
            key: Some(key.into()),
            message: msg.into(),
        }
    }

    fn ip(&self, s: &Spanned<String>, key: &str) -> Result<IpAddr, ConfigError> {
        s.get_ref().trim().parse().map_err(|_| {
            self.err(
                &s.span(),
                key,
                format!("'{}' is not an IP address", s.get_ref()),
            )
        })
    }

    fn int_in(&self, v: &Spanned<i64>, key: &str, lo: i64, hi: i64) -> Result<i64, ConfigError> {
        let n = *v.get_ref();
        if n < lo || n > hi {
            return Err(self.err(&v.span(), key, format!("{n} is out of range {lo}..={hi}")));
        }
        Ok(n)
    }
}

fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    let mut d = 2u32;
    while d.saturating_mul(d) <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 1;
    }
    true
}

pub(super) fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let cx = Ctx { file: path, text };
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let msg = stats_layout::config::toml_message(&e, text);
        ConfigError {
            file: path.to_owned(),
            line: if span == (0..0) {
                None
            } else {
                cx.line_of(&span)
            },
            key: None,
            message: msg,
        }
    })?;

    let workers = cx.int_in(&raw.dataplane.workers, "dataplane.workers", 1, 128)? as usize;
    let online = super::online_cores();
    let cores = match &raw.dataplane.cores {
        None => None,
        Some(c) => {
            let list = c.get_ref();
            if list.len() != workers {
                return Err(cx.err(
                    &c.span(),
                    "dataplane.cores",
                    format!(
                        "lists {} cores for {workers} workers; give one core per worker",
                        list.len()
                    ),
                ));
            }
            let mut out = Vec::with_capacity(list.len());
            for &core in list {
                if core < 0 || core as usize >= online {
                    return Err(cx.err(
                        &c.span(),
                        "dataplane.cores",
                        format!(
                            "core {core} does not exist (this machine has cores 0..{})",
                            online - 1
                        ),
                    ));
                }
                if out.contains(&(core as usize)) {
                    return Err(cx.err(
                        &c.span(),
                        "dataplane.cores",
                        format!("core {core} is listed twice"),
                    ));
                }
                out.push(core as usize);
            }
            Some(out)
        }
    };
    let mbufs = match &raw.dataplane.mbufs {
        Some(v) => cx.int_in(v, "dataplane.mbufs", 1023, 16 * 1024 * 1024)? as u32,
        None => DEFAULT_MBUFS,
    };
    let descriptors = match &raw.dataplane.descriptors {
        Some(v) => cx.int_in(v, "dataplane.descriptors", 64, 16384)? as u16,
        None => DEFAULT_DESCRIPTORS,
    };
    let flow_table = flow_table::build(&raw.flow_table, &cx)?;
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    let control_socket = match &raw.dataplane.control_socket {
        Some(v) => {
            let s = v.get_ref().trim();
            if s.is_empty() {
                return Err(cx.err(&v.span(), "dataplane.control_socket", "must not be empty"));
            }
            let p = resolve(base, s);
            if p.as_os_str().len() > MAX_SOCKET_PATH {
                return Err(cx.err(
                    &v.span(),
                    "dataplane.control_socket",
                    format!(
                        "'{}' is {} bytes long; a Unix socket path holds at most {MAX_SOCKET_PATH}",
                        p.display(),
                        p.as_os_str().len()
                    ),
                ));
            }
            p
        }
        None => PathBuf::from(DEFAULT_CONTROL_SOCKET),
    };

    if raw.port.is_empty() {
        return Err(ConfigError {
            file: path.to_owned(),
            line: None,
            key: Some("port".into()),
            message: "at least one [[port]] is required".into(),
        });
    }
    let mut ports = Vec::new();
    let mut names = HashSet::new();
    let mut devices = HashSet::new();
    let mut own = HashSet::new();
    let mut taps = HashSet::new();
    for (i, p) in raw.port.iter().enumerate() {
        let p = p.get_ref();
        let key = |k: &str| format!("port[{i}].{k}");
        let name = p.name.get_ref().trim().to_owned();
        if name.is_empty() {
            return Err(cx.err(&p.name.span(), key("name"), "must not be empty"));
        }
        if !names.insert(name.clone()) {
            return Err(cx.err(
                &p.name.span(),
                key("name"),
                format!("duplicate port name '{name}'"),
            ));
        }
        let device = p.device.get_ref().trim().to_owned();
        if device.is_empty() {
            return Err(cx.err(&p.device.span(), key("device"), "must not be empty"));
        }
        let mut addresses = Vec::new();
        for a in &p.addresses {
            let net: IpNet = a.get_ref().trim().parse().map_err(|_| {
                cx.err(
                    &a.span(),
                    key("addresses"),
                    format!(
                        "'{}' is not an address with prefix length (e.g. 198.51.100.1/24)",
                        a.get_ref()
                    ),
                )
            })?;
            if !own.insert(net.addr()) {
                return Err(cx.err(
                    &a.span(),
                    key("addresses"),
                    format!("address {} is used twice", net.addr()),
                ));
            }
            addresses.push(net);
        }
        let punt_tap = match &p.punt_tap {
            None => None,
            Some(t) => {
                let n = t.get_ref().trim();
                let ok = !n.is_empty()
                    && n.len() <= MAX_IFNAME
                    && n.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
                if !ok {
                    return Err(cx.err(
                        &t.span(),
                        key("punt_tap"),
                        format!(
                            "'{n}' is not an interface name (1..={MAX_IFNAME} of a-z, 0-9, '-', '_', '.')"
                        ),
                    ));
                }
                if !taps.insert(n.to_owned()) {
                    return Err(cx.err(
                        &t.span(),
                        key("punt_tap"),
                        format!("punt tap '{n}' is used by two ports"),
                    ));
                }
                Some(n.to_owned())
            }
        };
        let port = PortConfig {
            name,
            device,
            addresses,
            punt_tap,
        };
        if !devices.insert(port.dpdk_name().to_owned()) {
            return Err(cx.err(
                &p.device.span(),
                key("device"),
                format!("device '{}' is used by two ports", port.dpdk_name()),
            ));
        }
        ports.push(port);
    }

    let mut vips = Vec::new();
    for (i, v) in raw.vip.iter().enumerate() {
        let key = format!("vip[{i}].address");
        let addr = cx.ip(&v.get_ref().address, &key)?;
        if vips.contains(&addr) {
            return Err(cx.err(
                &v.get_ref().address.span(),
                key,
                format!("VIP {addr} is declared twice"),
            ));
        }
        if own.contains(&addr) {
            return Err(cx.err(
                &v.get_ref().address.span(),
                key,
                format!("VIP {addr} is also a port address"),
            ));
        }
        vips.push(addr);
    }

    let mut services = Vec::new();
    let mut service_names = HashSet::new();
    let mut bound: HashSet<(IpAddr, super::Protocol, u16, u16)> = HashSet::new();
    for (i, s) in raw.service.iter().enumerate() {
        let s = s.get_ref();
        let key = |k: &str| format!("service[{i}].{k}");
        let name = s.name.get_ref().trim().to_owned();
        if name.is_empty() {
            return Err(cx.err(&s.name.span(), key("name"), "must not be empty"));
        }
        if !service_names.insert(name.clone()) {
            return Err(cx.err(
                &s.name.span(),
                key("name"),
                format!("duplicate service name '{name}'"),
            ));
        }
        let vip_span = s.vip.span();
        let vip_list: Vec<Spanned<String>> = match s.vip.get_ref() {
            OneOrMany::One(v) => vec![Spanned::new(vip_span.clone(), v.clone())],
            OneOrMany::Many(v) => v
                .iter()
                .map(|v| Spanned::new(vip_span.clone(), v.clone()))
                .collect(),
        };
        if vip_list.is_empty() {
            return Err(cx.err(&s.name.span(), key("vip"), "lists no VIP"));
        }
        let mut svc_vips = Vec::new();
        for v in vip_list {
            let addr = cx.ip(&v, &key("vip"))?;
            if !vips.contains(&addr) {
                return Err(cx.err(
                    &v.span(),
                    key("vip"),
                    format!("{addr} is not declared as a [[vip]]"),
                ));
            }
            svc_vips.push(addr);
        }
        let port_span = s.port.span();
        let ports_range = match s.port.get_ref() {
            PortSpec::Single(p) => {
                let p =
                    cx.int_in(&Spanned::new(port_span.clone(), *p), &key("port"), 0, 65535)? as u16;
                if p == 0 {
                    (0, 65535)
                } else {
                    (p, p)
                }
            }
            PortSpec::Range(r) => {
                let bad = || {
                    cx.err(
                        &port_span,
                        key("port"),
                        format!("'{r}' is not a port range like \"8000-8099\""),
                    )
                };
                let (a, b) = r.split_once('-').ok_or_else(bad)?;
                let a: u16 = a.trim().parse().map_err(|_| bad())?;
                let b: u16 = b.trim().parse().map_err(|_| bad())?;
                if a == 0 || a > b {
                    return Err(bad());
                }
                (a, b)
            }
        };
        for vip in &svc_vips {
            for other in bound.iter().filter(|o| o.0 == *vip && o.1 == s.protocol) {
                if ports_range.0 <= other.3 && other.2 <= ports_range.1 {
                    return Err(cx.err(
                        &s.name.span(),
                        key("port"),
                        format!(
                            "service '{name}' overlaps another service on {vip} {:?} ports {}-{}",
                            s.protocol, other.2, other.3
                        ),
                    ));
                }
            }
        }
        for vip in &svc_vips {
            bound.insert((*vip, s.protocol, ports_range.0, ports_range.1));
        }
        let forbid = |present: bool, field: &str, kind: &str| -> Result<(), ConfigError> {
            if present {
                Err(cx.err(
                    &s.kind.span(),
                    key(field),
                    format!("is not a setting of kind = \"{kind}\""),
                ))
            } else {
                Ok(())
            }
        };
        let kind = match s.kind.get_ref().as_str() {
            "dns" => {
                forbid(s.encap.is_some(), "encap", "dns")?;
                forbid(s.table_size.is_some(), "table_size", "dns")?;
                forbid(s.gue_port.is_some(), "gue_port", "dns")?;
                forbid(!s.backend.is_empty(), "backend", "dns")?;
                if s.protocol != Protocol::Udp {
                    return Err(cx.err(
                        &s.kind.span(),
                        key("protocol"),
                        "a dns service answers UDP; use a forward service for TCP/53",
                    ));
                }
                let zones = s.zones.as_ref().filter(|z| !z.is_empty()).ok_or_else(|| {
                    cx.err(
                        &s.kind.span(),
                        key("zones"),
                        "a dns service needs at least one zone file",
                    )
                })?;
                let identity = s
                    .identity
                    .as_ref()
                    .map(|i| i.get_ref().clone())
                    .unwrap_or_else(|| hostname().unwrap_or_else(|| "anycastd".into()));
                ServiceKind::Dns(DnsServiceConfig {
                    zones: zones.iter().map(|z| resolve(base, z.get_ref())).collect(),
                    identity,
                    minimal_responses: s.minimal_responses.unwrap_or(false),
                })
            }
            "forward" => {
                forbid(s.zones.is_some(), "zones", "forward")?;
                forbid(s.identity.is_some(), "identity", "forward")?;
                forbid(
                    s.minimal_responses.is_some(),
                    "minimal_responses",
                    "forward",
                )?;
                let encap = s.encap.ok_or_else(|| {
                    cx.err(
                        &s.kind.span(),
                        key("encap"),
                        "a forward service needs encap = \"ipip\" | \"gue\" | \"l2dsr\"",
                    )
                })?;
                let table_size = match &s.table_size {
                    Some(t) => {
                        let n = cx.int_in(t, &key("table_size"), 7, 16_777_259)? as u32;
                        if !is_prime(n) {
                            return Err(cx.err(
                                &t.span(),
                                key("table_size"),
                                format!("{n} is not prime"),
                            ));
                        }
                        n
                    }
                    None => DEFAULT_TABLE_SIZE,
                };
                let gue_port = match &s.gue_port {
                    Some(p) => cx.int_in(p, &key("gue_port"), 1, 65535)? as u16,
                    None => DEFAULT_GUE_PORT,
                };
                let source_v4 = match &s.source_v4 {
                    Some(a) => match cx.ip(a, &key("source_v4"))? {
                        IpAddr::V4(v4) => Some(v4),
                        IpAddr::V6(_) => {
                            return Err(cx.err(
                                &a.span(),
                                key("source_v4"),
                                "must be an IPv4 address",
                            ))
                        }
                    },
                    None => None,
                };
                let source_v6 = match &s.source_v6 {
                    Some(a) => match cx.ip(a, &key("source_v6"))? {
                        IpAddr::V6(v6) => Some(v6),
                        IpAddr::V4(_) => {
                            return Err(cx.err(
                                &a.span(),
                                key("source_v6"),
                                "must be an IPv6 address",
                            ))
                        }
                    },
                    None => None,
                };
                let mut backends = Vec::new();
                for (j, b) in s.backend.iter().enumerate() {
                    let b = b.get_ref();
                    let bkey = |k: &str| format!("service[{i}].backend[{j}].{k}");
                    let address = cx.ip(&b.address, &bkey("address"))?;
                    if backends
                        .iter()
                        .any(|o: &BackendConfig| o.address == address)
                    {
                        return Err(cx.err(
                            &b.address.span(),
                            bkey("address"),
                            format!("backend {address} is listed twice"),
                        ));
                    }
                    let weight = cx.int_in(&b.weight, &bkey("weight"), 1, 65535)? as u32;
                    backends.push(BackendConfig {
                        address,
                        weight,
                        state: b.state,
                    });
                }
                if backends.is_empty() {
                    return Err(cx.err(
                        &s.kind.span(),
                        key("backend"),
                        "a forward service needs at least one [[service.backend]]",
                    ));
                }
                ServiceKind::Forward(ForwardServiceConfig {
                    encap,
                    table_size,
                    gue_port,
                    source_v4,
                    source_v6,
                    backends,
                })
            }
            other => {
                return Err(cx.err(
                    &s.kind.span(),
                    key("kind"),
                    format!("unknown kind '{other}' (expected \"dns\" or \"forward\")"),
                ))
            }
        };
        services.push(ServiceConfig {
            name,
            vips: svc_vips,
            protocol: s.protocol,
            ports: ports_range,
            kind,
        });
    }

    let (stats, sidecar) = stats_layout::config::parse(path, text).map_err(|e| ConfigError {
        file: path.to_owned(),
        line: e.span.as_ref().and_then(|s| cx.line_of(s)),
        key: (!e.key.is_empty()).then(|| e.key.clone()),
        message: e.message,
    })?;

    Ok(Config {
        source: path.to_owned(),
        stats,
        sidecar,
        eal_args: raw.eal.args,
        workers,
        cores,
        idle: raw.dataplane.idle,
        mbufs,
        descriptors,
        flow_table,
        control_socket,
        watch: raw.dataplane.watch,
        ports,
        vips,
        services,
    })
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_owned()
    } else {
        base.join(p)
    }
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}
