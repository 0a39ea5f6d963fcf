//! `[[service]]`: what a node does with traffic to a VIP, protocol and port range: answer it
//! from zone files (`kind = "dns"`) or forward it to backends (`kind = "forward"`).
use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::{resolve, Ctx, Encap, Protocol};
use crate::config::{
    BackendConfig, BackendState, ConfigError, DnsServiceConfig, ForwardServiceConfig,
    ServiceConfig, ServiceKind,
};

/// Default Maglev table size (prime, as in the Maglev paper).
pub const DEFAULT_TABLE_SIZE: u32 = 65537;
/// Default GUE port.
pub const DEFAULT_GUE_PORT: u16 = 6080;

/// One `[[service]]` as written: the keys of both kinds (a kind's validation refuses the
/// other's).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
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

/// A service as it is checked: its index in the file and how its keys are named in errors.
struct At<'a> {
    i: usize,
    s: &'a RawService,
    cx: &'a Ctx<'a>,
}

impl At<'_> {
    fn key(&self, k: &str) -> String {
        format!("service[{}].{k}", self.i)
    }

    /// An error about key `k` at the line of `kind =`.
    fn kind_err(&self, k: &str, msg: impl Into<String>) -> ConfigError {
        self.cx.err(&self.s.kind.span(), self.key(k), msg)
    }

    /// Refuses `field`, set (`present`) in a service of another kind than its own.
    fn forbid(&self, present: bool, field: &str, kind: &str) -> Result<(), ConfigError> {
        if present {
            Err(self.kind_err(field, format!("is not a setting of kind = \"{kind}\"")))
        } else {
            Ok(())
        }
    }
}

/// The services, validated: unique names, declared VIPs, no two services of one protocol on a
/// VIP with overlapping ports, each kind's own settings. Zone paths are relative to `base`.
pub(super) fn build(
    raw: &[Spanned<RawService>],
    vips: &[IpAddr],
    base: &Path,
    cx: &Ctx<'_>,
) -> Result<Vec<ServiceConfig>, ConfigError> {
    let mut services = Vec::new();
    let mut service_names = HashSet::new();
    let mut bound: HashSet<(IpAddr, Protocol, u16, u16)> = HashSet::new();
    for (i, s) in raw.iter().enumerate() {
        let at = At {
            i,
            s: s.get_ref(),
            cx,
        };
        let s = at.s;
        let name = s.name.get_ref().trim().to_owned();
        if name.is_empty() {
            return Err(cx.err(&s.name.span(), at.key("name"), "must not be empty"));
        }
        if !service_names.insert(name.clone()) {
            return Err(cx.err(
                &s.name.span(),
                at.key("name"),
                format!("duplicate service name '{name}'"),
            ));
        }
        let svc_vips = service_vips(&at, vips)?;
        let ports_range = port_range(&at)?;
        for vip in &svc_vips {
            for other in bound.iter().filter(|o| o.0 == *vip && o.1 == s.protocol) {
                if ports_range.0 <= other.3 && other.2 <= ports_range.1 {
                    return Err(cx.err(
                        &s.name.span(),
                        at.key("port"),
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
        let kind = match s.kind.get_ref().as_str() {
            "dns" => dns(&at, base)?,
            "forward" => forward(&at)?,
            other => {
                return Err(at.kind_err(
                    "kind",
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
    Ok(services)
}

/// The service's VIPs (one or a list), each declared as a `[[vip]]` (in `vips`).
fn service_vips(at: &At<'_>, vips: &[IpAddr]) -> Result<Vec<IpAddr>, ConfigError> {
    let s = at.s;
    let vip_span = s.vip.span();
    let vip_list: Vec<Spanned<String>> = match s.vip.get_ref() {
        OneOrMany::One(v) => vec![Spanned::new(vip_span.clone(), v.clone())],
        OneOrMany::Many(v) => v
            .iter()
            .map(|v| Spanned::new(vip_span.clone(), v.clone()))
            .collect(),
    };
    if vip_list.is_empty() {
        return Err(at.cx.err(&s.name.span(), at.key("vip"), "lists no VIP"));
    }
    let mut svc_vips = Vec::new();
    for v in vip_list {
        let addr = at.cx.ip(&v, &at.key("vip"))?;
        if !vips.contains(&addr) {
            return Err(at.cx.err(
                &v.span(),
                at.key("vip"),
                format!("{addr} is not declared as a [[vip]]"),
            ));
        }
        svc_vips.push(addr);
    }
    Ok(svc_vips)
}

/// The service's ports, first and last: one port, 0 for all, or a range "a-b".
fn port_range(at: &At<'_>) -> Result<(u16, u16), ConfigError> {
    let (cx, key) = (at.cx, at.key("port"));
    let port_span = at.s.port.span();
    match at.s.port.get_ref() {
        PortSpec::Single(p) => {
            let p = cx.int_in(&Spanned::new(port_span, *p), &key, 0, 65535)? as u16;
            Ok(if p == 0 { (0, 65535) } else { (p, p) })
        }
        PortSpec::Range(r) => {
            let bad = || {
                cx.err(
                    &port_span,
                    key.as_str(),
                    format!("'{r}' is not a port range like \"8000-8099\""),
                )
            };
            let (a, b) = r.split_once('-').ok_or_else(bad)?;
            let a: u16 = a.trim().parse().map_err(|_| bad())?;
            let b: u16 = b.trim().parse().map_err(|_| bad())?;
            if a == 0 || a > b {
                return Err(bad());
            }
            Ok((a, b))
        }
    }
}

/// `kind = "dns"`: UDP, at least one zone file (relative to `base`), no forward settings.
fn dns(at: &At<'_>, base: &Path) -> Result<ServiceKind, ConfigError> {
    let s = at.s;
    at.forbid(s.encap.is_some(), "encap", "dns")?;
    at.forbid(s.table_size.is_some(), "table_size", "dns")?;
    at.forbid(s.gue_port.is_some(), "gue_port", "dns")?;
    at.forbid(!s.backend.is_empty(), "backend", "dns")?;
    if s.protocol != Protocol::Udp {
        return Err(at.kind_err(
            "protocol",
            "a dns service answers UDP; use a forward service for TCP/53",
        ));
    }
    let zones = s
        .zones
        .as_ref()
        .filter(|z| !z.is_empty())
        .ok_or_else(|| at.kind_err("zones", "a dns service needs at least one zone file"))?;
    let identity = s
        .identity
        .as_ref()
        .map(|i| i.get_ref().clone())
        .unwrap_or_else(|| hostname().unwrap_or_else(|| "anycastd".into()));
    Ok(ServiceKind::Dns(DnsServiceConfig {
        zones: zones.iter().map(|z| resolve(base, z.get_ref())).collect(),
        identity,
        minimal_responses: s.minimal_responses.unwrap_or(false),
    }))
}

/// `kind = "forward"`: an encapsulation, at least one backend, no dns settings.
fn forward(at: &At<'_>) -> Result<ServiceKind, ConfigError> {
    let (s, cx) = (at.s, at.cx);
    at.forbid(s.zones.is_some(), "zones", "forward")?;
    at.forbid(s.identity.is_some(), "identity", "forward")?;
    at.forbid(
        s.minimal_responses.is_some(),
        "minimal_responses",
        "forward",
    )?;
    let encap = s.encap.ok_or_else(|| {
        at.kind_err(
            "encap",
            "a forward service needs encap = \"ipip\" | \"gue\" | \"l2dsr\"",
        )
    })?;
    let table_size = match &s.table_size {
        Some(t) => {
            let n = cx.int_in(t, &at.key("table_size"), 7, 16_777_259)? as u32;
            if !is_prime(n) {
                return Err(cx.err(&t.span(), at.key("table_size"), format!("{n} is not prime")));
            }
            n
        }
        None => DEFAULT_TABLE_SIZE,
    };
    let gue_port = match &s.gue_port {
        Some(p) => cx.int_in(p, &at.key("gue_port"), 1, 65535)? as u16,
        None => DEFAULT_GUE_PORT,
    };
    let source_v4 = source(at, &s.source_v4, "source_v4", "IPv4", |a| match a {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(_) => None,
    })?;
    let source_v6 = source(at, &s.source_v6, "source_v6", "IPv6", |a| match a {
        IpAddr::V6(v6) => Some(v6),
        IpAddr::V4(_) => None,
    })?;
    Ok(ServiceKind::Forward(ForwardServiceConfig {
        encap,
        table_size,
        gue_port,
        source_v4,
        source_v6,
        backends: backends(at)?,
    }))
}

/// A forward service's `source_v4` / `source_v6` (`key`), when set: an address of `family`,
/// which `of_family` takes (it returns `None` for the other family).
fn source<T>(
    at: &At<'_>,
    raw: &Option<Spanned<String>>,
    key: &str,
    family: &str,
    of_family: impl Fn(IpAddr) -> Option<T>,
) -> Result<Option<T>, ConfigError> {
    let Some(a) = raw else {
        return Ok(None);
    };
    of_family(at.cx.ip(a, &at.key(key))?)
        .map(Some)
        .ok_or_else(|| {
            at.cx.err(
                &a.span(),
                at.key(key),
                format!("must be an {family} address"),
            )
        })
}

/// A forward service's backends: at least one, each address once, weights 1..=65535.
fn backends(at: &At<'_>) -> Result<Vec<BackendConfig>, ConfigError> {
    let cx = at.cx;
    let mut backends = Vec::new();
    for (j, b) in at.s.backend.iter().enumerate() {
        let b = b.get_ref();
        let bkey = |k: &str| format!("service[{}].backend[{j}].{k}", at.i);
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
        return Err(at.kind_err(
            "backend",
            "a forward service needs at least one [[service.backend]]",
        ));
    }
    Ok(backends)
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

/// This machine's host name (a dns service's default `identity`).
fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}
