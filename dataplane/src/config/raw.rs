//! The config file as written (serde, with spans), and its validation into [`super::Config`].
use std::collections::HashSet;
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

mod flow_table;
mod ports;
mod services;

use super::{Config, ConfigError};

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
    port: Vec<Spanned<ports::RawPort>>,
    #[serde(default)]
    vip: Vec<Spanned<RawVip>>,
    #[serde(default)]
    service: Vec<Spanned<services::RawService>>,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVip {
    address: Spanned<String>,
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

/// Default mbuf pool size.
pub const DEFAULT_MBUFS: u32 = 8191;
/// Default descriptors per queue.
pub const DEFAULT_DESCRIPTORS: u16 = 1024;
/// Default path of the control socket (`anycastd reload`).
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/anycastd/anycastd.sock";
/// Longest Unix socket path (`sun_path` holds 108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 107;
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

/// Parses and validates the config file `path` (its text `text`).
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
    let cores = cores(raw.dataplane.cores.as_ref(), workers, &cx)?;
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
    let control_socket = control_socket(raw.dataplane.control_socket.as_ref(), base, &cx)?;

    let (ports, own) = ports::build(&raw.port, &cx)?;
    let vips = vips(&raw.vip, &own, &cx)?;
    let services = services::build(&raw.service, &vips, base, &cx)?;

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

/// `[[vip]]`: the anycast addresses, each once and none a port's address (`own`).
fn vips(
    raw: &[Spanned<RawVip>],
    own: &HashSet<IpAddr>,
    cx: &Ctx<'_>,
) -> Result<Vec<IpAddr>, ConfigError> {
    let mut vips = Vec::new();
    for (i, v) in raw.iter().enumerate() {
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
    Ok(vips)
}

/// `dataplane.cores`: one existing core per worker, each listed once (`None`: not pinned).
fn cores(
    cores: Option<&Spanned<Vec<i64>>>,
    workers: usize,
    cx: &Ctx<'_>,
) -> Result<Option<Vec<usize>>, ConfigError> {
    let Some(c) = cores else {
        return Ok(None);
    };
    let online = super::online_cores();
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
    Ok(Some(out))
}

/// `dataplane.control_socket`, relative to `base`: a path a Unix socket can have (the default
/// when it is not set).
fn control_socket(
    socket: Option<&Spanned<String>>,
    base: &Path,
    cx: &Ctx<'_>,
) -> Result<PathBuf, ConfigError> {
    let Some(v) = socket else {
        return Ok(PathBuf::from(DEFAULT_CONTROL_SOCKET));
    };
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
    Ok(p)
}
