//! The `[stats]` and `[sidecar]` tables of the anycastd config file (with `[sidecar.bgp]`, which
//! also reads the `[[vip]]` addresses), parsed here so the dataplane and the sidecar read them
//! with the same code. Other tables are ignored.
pub mod bgp;

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

pub use bgp::{BgpConfig, BirdConfig, ExabgpConfig, Prefix};

/// Default path of the stats segment.
pub const DEFAULT_STATS_PATH: &str = "/run/anycastd/stats";
/// Default listen address of the sidecar.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9477";
/// Default heartbeat age beyond which the dataplane counts as unhealthy.
pub const DEFAULT_STALE_AFTER_MS: u64 = 1000;

/// `[stats]`: where the dataplane publishes its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsConfig {
    /// The segment file (relative paths are relative to the config file).
    pub path: PathBuf,
    /// True when `path` is the default (then a second instance on the box falls back to an
    /// unshared segment instead of failing).
    pub default_path: bool,
}

impl Default for StatsConfig {
    fn default() -> Self {
        StatsConfig {
            path: PathBuf::from(DEFAULT_STATS_PATH),
            default_path: true,
        }
    }
}

/// `[sidecar]`: the sidecar's HTTP endpoint and health threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SidecarConfig {
    /// Address `/metrics`, `/healthz` and `/stats.json` are served on.
    pub listen: SocketAddr,
    /// Heartbeat age beyond which `/healthz` answers 503 (and BGP health counts a check bad).
    pub stale_after: Duration,
    /// `[sidecar.bgp]`: announce/withdraw the anycast prefixes, when configured.
    pub bgp: Option<BgpConfig>,
}

impl Default for SidecarConfig {
    fn default() -> Self {
        SidecarConfig {
            listen: DEFAULT_LISTEN.parse().expect("valid default"),
            stale_after: Duration::from_millis(DEFAULT_STALE_AFTER_MS),
            bgp: None,
        }
    }
}

/// A bad value in `[stats]` or `[sidecar]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableError {
    /// Byte range in the file, when known.
    pub span: Option<Range<usize>>,
    /// Dotted key, e.g. `sidecar.listen`.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

#[derive(Deserialize, Default)]
struct Raw {
    #[serde(default)]
    stats: Option<RawStats>,
    #[serde(default)]
    sidecar: Option<RawSidecar>,
    #[serde(default)]
    vip: Vec<Spanned<bgp::RawVipAddress>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStats {
    path: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSidecar {
    listen: Option<Spanned<String>>,
    stale_after_ms: Option<Spanned<i64>>,
    bgp: Option<bgp::RawBgp>,
}

fn err(span: Range<usize>, key: &str, message: impl Into<String>) -> TableError {
    TableError {
        span: Some(span),
        key: key.into(),
        message: message.into(),
    }
}

/// Reads the config file at `path` and parses its `[stats]` and `[sidecar]` tables (see
/// [`parse`]); errors read `file:line: key: message`, as the dataplane's own.
pub fn load(path: &Path) -> Result<(StatsConfig, SidecarConfig), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    parse(path, &text).map_err(|e| {
        let line = e
            .span
            .and_then(|s| text.get(..s.start))
            .map(|t| format!(":{}", t.matches('\n').count() + 1))
            .unwrap_or_default();
        let key = if e.key.is_empty() {
            String::new()
        } else {
            format!(": {}", e.key)
        };
        format!("{}{line}{key}: {}", path.display(), e.message)
    })
}

/// The TOML parser's message for a syntax error in `text`, on one line. The parser has none for
/// some errors (a key with no value where the file ends), which get one here.
pub fn toml_message(e: &toml::de::Error, text: &str) -> String {
    let lines: Vec<&str> = e
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if !lines.is_empty() {
        return lines.join("; ");
    }
    match e.span() {
        Some(at) if at.start >= text.trim_end().len() => {
            "the file ends in the middle of an entry (is it cut short?)".to_owned()
        }
        _ => "not valid TOML here".to_owned(),
    }
}

/// Parses the `[stats]` and `[sidecar]` tables of config `text` (the file at `source`, against
/// whose directory a relative stats path is resolved), with defaults for what is missing.
pub fn parse(source: &Path, text: &str) -> Result<(StatsConfig, SidecarConfig), TableError> {
    let raw: Raw = toml::from_str(text).map_err(|e| TableError {
        span: e.span(),
        key: String::new(),
        message: toml_message(&e, text),
    })?;
    let mut stats = StatsConfig::default();
    if let Some(path) = raw.stats.and_then(|s| s.path) {
        stats.path = bgp::path_value(source, &path, "stats.path")?;
        stats.default_path = stats.path == Path::new(DEFAULT_STATS_PATH);
    }
    let mut sidecar = SidecarConfig::default();
    let vips = raw.vip;
    if let Some(raw) = raw.sidecar {
        if let Some(l) = raw.listen {
            sidecar.listen = l.get_ref().trim().parse().map_err(|_| {
                err(
                    l.span(),
                    "sidecar.listen",
                    format!("'{}' is not an address:port", l.get_ref()),
                )
            })?;
        }
        if let Some(v) = raw.stale_after_ms {
            let n = *v.get_ref();
            if !(100..=60_000).contains(&n) {
                return Err(err(
                    v.span(),
                    "sidecar.stale_after_ms",
                    format!("{n} is out of range 100..=60000"),
                ));
            }
            sidecar.stale_after = Duration::from_millis(n as u64);
        }
        if let Some(b) = &raw.bgp {
            sidecar.bgp = Some(bgp::validate(source, text, b, &vips)?);
        }
    }
    Ok((stats, sidecar))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<(StatsConfig, SidecarConfig), TableError> {
        parse(Path::new("/etc/anycastd/a.toml"), text)
    }

    #[test]
    fn a_file_cut_short_after_a_key_is_said_to_be() {
        let e = p("[sidecar]\nlisten =").unwrap_err();
        assert_eq!(
            e.message,
            "the file ends in the middle of an entry (is it cut short?)"
        );
        let e = p("[sidecar]\nlisten = \n").unwrap_err();
        assert_eq!(e.message, "invalid string; expected `\"`, `'`");
    }

    #[test]
    fn defaults_when_absent_and_other_tables_ignored() {
        let (s, c) = p("[dataplane]\nworkers = 2\n[[port]]\nname = \"x\"\n").unwrap();
        assert_eq!(s, StatsConfig::default());
        assert!(s.default_path);
        assert_eq!(c.listen, "127.0.0.1:9477".parse().unwrap());
        assert_eq!(c.stale_after, Duration::from_secs(1));
    }

    #[test]
    fn values_are_read_and_relative_paths_resolved() {
        let (s, c) = p(
            "[stats]\npath = \"run/stats\"\n[sidecar]\nlisten = \"[::1]:9100\"\nstale_after_ms = 250\n",
        )
        .unwrap();
        assert_eq!(s.path, Path::new("/etc/anycastd/run/stats"));
        assert!(!s.default_path);
        assert_eq!(c.listen, "[::1]:9100".parse().unwrap());
        assert_eq!(c.stale_after, Duration::from_millis(250));
        let (s, _) = p("[stats]\npath = \"/run/anycastd/stats\"\n").unwrap();
        assert!(s.default_path);
    }

    #[test]
    fn bad_values_name_their_key_and_place() {
        let text = "[stats]\npath = \"\"\n";
        let e = p(text).unwrap_err();
        assert_eq!(e.key, "stats.path");
        assert_eq!(&text[e.span.unwrap()], "\"\"");
        assert_eq!(
            p("[stats]\npath = \"/run/x/\"\n").unwrap_err().key,
            "stats.path"
        );
        let e = p("[sidecar]\nlisten = \"localhost\"\n").unwrap_err();
        assert_eq!(e.key, "sidecar.listen");
        assert!(e.message.contains("localhost"), "{}", e.message);
        let e = p("[sidecar]\nstale_after_ms = 5\n").unwrap_err();
        assert_eq!(e.key, "sidecar.stale_after_ms");
        let e = p("[stats]\nsize = 3\n").unwrap_err();
        assert!(e.message.contains("size"), "{}", e.message);
        let e = p("[sidecar]\nlisten = 9477\n").unwrap_err();
        assert!(e.span.is_some());
    }
}
