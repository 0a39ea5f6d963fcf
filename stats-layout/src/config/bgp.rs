//! `[sidecar.bgp]`: which prefixes the sidecar announces while the dataplane is healthy, how
//! health is damped, the drain file, and the BGP speakers it drives (`[sidecar.bgp.bird]`,
//! `[sidecar.bgp.exabgp]`).
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{err, TableError};

/// Default time between two health checks.
pub const DEFAULT_CHECK_INTERVAL_MS: u64 = 200;
/// Default consecutive healthy checks before the prefixes are announced.
pub const DEFAULT_RISE: u32 = 3;
/// Default consecutive unhealthy checks before the prefixes are withdrawn.
pub const DEFAULT_FALL: u32 = 2;
/// Default drain file: while it exists the prefixes are withdrawn.
pub const DEFAULT_DRAIN_FILE: &str = "/run/anycastd/drain";
/// Default BIRD include file the sidecar writes.
pub const DEFAULT_BIRD_INCLUDE: &str = "/etc/bird/anycastd-prefixes.conf";
/// Default BIRD control socket (Debian's `bird2`).
pub const DEFAULT_BIRD_SOCKET: &str = "/run/bird/bird.ctl";
/// Default name stem of the generated static protocols (`anycastd_v4`, `anycastd_v6`).
pub const DEFAULT_BIRD_PROTOCOL: &str = "anycastd";

/// An IP prefix (address with no host bits set, and its length).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    /// The network address.
    pub addr: IpAddr,
    /// Prefix length: 0..=32 for IPv4, 0..=128 for IPv6.
    pub len: u8,
}

impl Prefix {
    /// The host route of `addr` (/32 or /128).
    pub fn host(addr: IpAddr) -> Prefix {
        let len = if addr.is_ipv4() { 32 } else { 128 };
        Prefix { addr, len }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Prefix {
    type Err = String;

    /// `ADDR/LEN` with no host bits set, or a bare address (a host route).
    fn from_str(s: &str) -> Result<Prefix, String> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("'{s}' is not an IP address or prefix"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match l {
            None => max,
            Some(l) => match l.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("'{s}': prefix length must be 0..={max}")),
            },
        };
        let masked = mask(addr, len);
        if masked != addr {
            return Err(format!(
                "'{s}' has host bits set (the prefix is {masked}/{len})"
            ));
        }
        Ok(Prefix { addr, len })
    }
}

fn mask(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpAddr::V6((u128::from(a) & m).into())
        }
    }
}

/// `[sidecar.bgp]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpConfig {
    /// What is announced while healthy: `prefixes` when given, else every `[[vip]]` address as
    /// a /32 or /128. Sorted, without duplicates.
    pub prefixes: Vec<Prefix>,
    /// True when `prefixes` came from the `[[vip]]` tables.
    pub from_vips: bool,
    /// Time between two health checks.
    pub check_interval: Duration,
    /// Consecutive healthy checks before announcing.
    pub rise: u32,
    /// Consecutive unhealthy checks before withdrawing.
    pub fall: u32,
    /// While this file exists the prefixes are withdrawn (operator drain).
    pub drain_file: PathBuf,
    /// Drive BIRD 2 through an include file and `birdc configure`.
    pub bird: Option<BirdConfig>,
    /// Write ExaBGP process-API commands to stdout.
    pub exabgp: Option<ExabgpConfig>,
}

/// `[sidecar.bgp.bird]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BirdConfig {
    /// The file the sidecar writes (atomically) and bird.conf includes.
    pub include_file: PathBuf,
    /// BIRD's control socket, handed to `birdc -s`.
    pub socket: PathBuf,
    /// The `birdc` program (looked up on PATH when it has no `/`).
    pub birdc: PathBuf,
    /// Name stem of the generated static protocols: `{protocol}_v4` and `{protocol}_v6`.
    pub protocol: String,
}

/// `[sidecar.bgp.exabgp]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExabgpConfig {
    /// `self` or an IPv4 address: the `next-hop` of the IPv4 prefixes.
    pub next_hop_v4: String,
    /// `self` or an IPv6 address: the `next-hop` of the IPv6 prefixes.
    pub next_hop_v6: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBgp {
    prefixes: Option<Spanned<Vec<Spanned<String>>>>,
    check_interval_ms: Option<Spanned<i64>>,
    rise: Option<Spanned<i64>>,
    fall: Option<Spanned<i64>>,
    drain_file: Option<Spanned<String>>,
    bird: Option<RawBird>,
    exabgp: Option<RawExabgp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBird {
    include_file: Option<Spanned<String>>,
    socket: Option<Spanned<String>>,
    birdc: Option<Spanned<String>>,
    protocol: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExabgp {
    next_hop_v4: Option<Spanned<String>>,
    next_hop_v6: Option<Spanned<String>>,
}

/// A `[[vip]]` table as the sidecar sees it: only its address (the dataplane checks the rest).
#[derive(Deserialize)]
pub(super) struct RawVipAddress {
    address: Spanned<String>,
}

fn ranged(v: &Spanned<i64>, key: &str, lo: i64, hi: i64) -> Result<i64, TableError> {
    let n = *v.get_ref();
    if (lo..=hi).contains(&n) {
        Ok(n)
    } else {
        Err(err(
            v.span(),
            key,
            format!("{n} is out of range {lo}..={hi}"),
        ))
    }
}

/// A path value: not empty, relative ones resolved against the config file's directory.
pub(super) fn path_value(
    source: &Path,
    v: &Spanned<String>,
    key: &str,
) -> Result<PathBuf, TableError> {
    let s = v.get_ref().trim();
    if s.is_empty() {
        return Err(err(v.span(), key, "must not be empty"));
    }
    if s.ends_with('/') {
        return Err(err(v.span(), key, "must name a file, not a directory"));
    }
    let p = Path::new(s);
    Ok(if p.is_absolute() {
        p.to_owned()
    } else {
        source.parent().unwrap_or_else(|| Path::new(".")).join(p)
    })
}

fn resolve(
    source: &Path,
    v: Option<&Spanned<String>>,
    key: &str,
    default: &str,
) -> Result<PathBuf, TableError> {
    match v {
        Some(v) => path_value(source, v, key),
        None => Ok(PathBuf::from(default)),
    }
}

/// The byte range of the first `[sidecar.bgp...]` header line in `text`, if any (tables are not
/// spanned by the toml crate when they are only implied by a sub-table's header).
fn header_span(text: &str) -> Option<std::ops::Range<usize>> {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        let name = t.strip_prefix('[').map(str::trim_start);
        if name.is_some_and(|n| n.starts_with("sidecar.bgp]") || n.starts_with("sidecar.bgp.")) {
            let start = at + (line.len() - line.trim_start().len());
            return Some(start..start + t.len());
        }
        at += line.len();
    }
    None
}

/// Validates `[sidecar.bgp]` (in config `text`) against the config's `[[vip]]` addresses.
pub(super) fn validate(
    source: &Path,
    text: &str,
    raw: &RawBgp,
    vips: &[Spanned<RawVipAddress>],
) -> Result<BgpConfig, TableError> {
    let table_err = |key: &str, message: &str| TableError {
        span: header_span(text),
        key: key.to_owned(),
        message: message.to_owned(),
    };
    let k = |s: &str| format!("sidecar.bgp.{s}");
    let (mut prefixes, from_vips) = match &raw.prefixes {
        Some(list) => {
            let mut out = Vec::new();
            for p in list.get_ref() {
                out.push(
                    p.get_ref()
                        .trim()
                        .parse::<Prefix>()
                        .map_err(|m| err(p.span(), &k("prefixes"), m))?,
                );
            }
            if out.is_empty() {
                return Err(err(list.span(), &k("prefixes"), "must not be empty"));
            }
            (out, false)
        }
        None => {
            let mut out = Vec::new();
            for (i, v) in vips.iter().enumerate() {
                let a = &v.get_ref().address;
                let addr: IpAddr = a.get_ref().trim().parse().map_err(|_| {
                    err(
                        a.span(),
                        &format!("vip[{i}].address"),
                        format!("'{}' is not an IP address", a.get_ref()),
                    )
                })?;
                out.push(Prefix::host(addr));
            }
            if out.is_empty() {
                return Err(table_err(
                    &k("prefixes"),
                    "nothing to announce: list prefixes or add [[vip]] tables",
                ));
            }
            (out, true)
        }
    };
    prefixes.sort();
    prefixes.dedup();
    let check_interval = match &raw.check_interval_ms {
        Some(v) => Duration::from_millis(ranged(v, &k("check_interval_ms"), 10, 10_000)? as u64),
        None => Duration::from_millis(DEFAULT_CHECK_INTERVAL_MS),
    };
    let count = |v: &Option<Spanned<i64>>, name: &str, default: u32| match v {
        Some(v) => ranged(v, &k(name), 1, 100).map(|n| n as u32),
        None => Ok(default),
    };
    let rise = count(&raw.rise, "rise", DEFAULT_RISE)?;
    let fall = count(&raw.fall, "fall", DEFAULT_FALL)?;
    let drain_file = resolve(
        source,
        raw.drain_file.as_ref(),
        &k("drain_file"),
        DEFAULT_DRAIN_FILE,
    )?;
    let bird = match &raw.bird {
        None => None,
        Some(b) => {
            let protocol = match &b.protocol {
                None => DEFAULT_BIRD_PROTOCOL.to_owned(),
                Some(p) => {
                    let s = p.get_ref();
                    let ok = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && s.len() <= 60;
                    if !ok {
                        return Err(err(
                            p.span(),
                            &k("bird.protocol"),
                            format!(
                                "'{s}' is not a BIRD protocol name (a letter, then letters, digits or _)"
                            ),
                        ));
                    }
                    s.clone()
                }
            };
            let birdc = match &b.birdc {
                None => PathBuf::from("birdc"),
                Some(v) if !v.get_ref().contains('/') && !v.get_ref().trim().is_empty() => {
                    PathBuf::from(v.get_ref().trim())
                }
                Some(v) => path_value(source, v, &k("bird.birdc"))?,
            };
            Some(BirdConfig {
                include_file: resolve(
                    source,
                    b.include_file.as_ref(),
                    &k("bird.include_file"),
                    DEFAULT_BIRD_INCLUDE,
                )?,
                socket: resolve(
                    source,
                    b.socket.as_ref(),
                    &k("bird.socket"),
                    DEFAULT_BIRD_SOCKET,
                )?,
                birdc,
                protocol,
            })
        }
    };
    let exabgp = match &raw.exabgp {
        None => None,
        Some(e) => {
            let hop = |v: &Option<Spanned<String>>, v4: bool| match v {
                None => Ok("self".to_owned()),
                Some(v) => {
                    let s = v.get_ref().trim();
                    let fits = s.parse::<IpAddr>().is_ok_and(|a| a.is_ipv4() == v4);
                    if s == "self" || fits {
                        Ok(s.to_owned())
                    } else {
                        let (key, family) = if v4 {
                            ("exabgp.next_hop_v4", "IPv4")
                        } else {
                            ("exabgp.next_hop_v6", "IPv6")
                        };
                        Err(err(
                            v.span(),
                            &k(key),
                            format!("'{s}' is neither \"self\" nor an {family} address"),
                        ))
                    }
                }
            };
            Some(ExabgpConfig {
                next_hop_v4: hop(&e.next_hop_v4, true)?,
                next_hop_v6: hop(&e.next_hop_v6, false)?,
            })
        }
    };
    if bird.is_none() && exabgp.is_none() {
        return Err(table_err(
            "sidecar.bgp",
            "no BGP speaker: add [sidecar.bgp.bird] and/or [sidecar.bgp.exabgp]",
        ));
    }
    Ok(BgpConfig {
        prefixes,
        from_vips,
        check_interval,
        rise,
        fall,
        drain_file,
        bird,
        exabgp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse, SidecarConfig};

    fn p(text: &str) -> Result<SidecarConfig, TableError> {
        parse(Path::new("/etc/anycastd/a.toml"), text).map(|(_, s)| s)
    }

    const VIPS: &str =
        "[[vip]]\naddress = \"203.0.113.10\"\n[[vip]]\naddress = \"2001:db8:53::53\"\n\
                        [[vip]]\naddress = \"203.0.113.10\"\n";

    #[test]
    fn defaults_and_prefixes_from_vips() {
        assert_eq!(p(VIPS).unwrap().bgp, None);
        let c = p(&format!("{VIPS}[sidecar.bgp.bird]\n")).unwrap();
        let b = c.bgp.unwrap();
        let shown: Vec<String> = b.prefixes.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["203.0.113.10/32", "2001:db8:53::53/128"]);
        assert!(b.from_vips);
        assert_eq!(b.check_interval, Duration::from_millis(200));
        assert_eq!((b.rise, b.fall), (3, 2));
        assert_eq!(b.drain_file, Path::new(DEFAULT_DRAIN_FILE));
        let bird = b.bird.unwrap();
        assert_eq!(bird.include_file, Path::new(DEFAULT_BIRD_INCLUDE));
        assert_eq!(bird.socket, Path::new(DEFAULT_BIRD_SOCKET));
        assert_eq!(bird.birdc, Path::new("birdc"));
        assert_eq!(bird.protocol, "anycastd");
        assert_eq!(b.exabgp, None);
    }

    #[test]
    fn explicit_values_are_read_and_paths_resolved() {
        let b = p(&format!(
            "{VIPS}[sidecar.bgp]\nprefixes = [\"203.0.113.0/24\", \"2001:db8:53::/48\", \"198.51.100.7\"]\n\
             check_interval_ms = 50\nrise = 1\nfall = 5\ndrain_file = \"drain\"\n\
             [sidecar.bgp.bird]\ninclude_file = \"bird/inc.conf\"\nsocket = \"/tmp/b.ctl\"\n\
             birdc = \"/usr/local/sbin/birdc\"\nprotocol = \"edge_vips\"\n\
             [sidecar.bgp.exabgp]\nnext_hop_v4 = \"198.51.100.1\"\nnext_hop_v6 = \"2001:db8::1\"\n"
        ))
        .unwrap()
        .bgp
        .unwrap();
        let shown: Vec<String> = b.prefixes.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["198.51.100.7/32", "203.0.113.0/24", "2001:db8:53::/48"]
        );
        assert!(!b.from_vips);
        assert_eq!(b.check_interval, Duration::from_millis(50));
        assert_eq!((b.rise, b.fall), (1, 5));
        assert_eq!(b.drain_file, Path::new("/etc/anycastd/drain"));
        let bird = b.bird.unwrap();
        assert_eq!(bird.include_file, Path::new("/etc/anycastd/bird/inc.conf"));
        assert_eq!(bird.socket, Path::new("/tmp/b.ctl"));
        assert_eq!(bird.birdc, Path::new("/usr/local/sbin/birdc"));
        assert_eq!(bird.protocol, "edge_vips");
        let e = b.exabgp.unwrap();
        assert_eq!(
            (e.next_hop_v4.as_str(), e.next_hop_v6.as_str()),
            ("198.51.100.1", "2001:db8::1")
        );
        let e = p("[sidecar.bgp]\nprefixes = [\"10.0.0.0/8\"]\nexabgp = {}\n").unwrap();
        let e = e.bgp.unwrap().exabgp.unwrap();
        assert_eq!(
            (e.next_hop_v4.as_str(), e.next_hop_v6.as_str()),
            ("self", "self")
        );
    }

    fn bad(text: &str, key: &str, snippet: &str, message: &str) {
        let e = p(text).unwrap_err();
        assert_eq!(e.key, key, "{e:?}");
        let span = e.span.clone().expect("a span");
        assert_eq!(&text[span], snippet, "{e:?}");
        assert!(e.message.contains(message), "{e:?}");
    }

    #[test]
    fn bad_values_name_their_key_and_place() {
        let bird = "[sidecar.bgp.bird]\n";
        bad(
            &format!("{VIPS}[sidecar.bgp]\nrise = 0\n{bird}"),
            "sidecar.bgp.rise",
            "0",
            "out of range 1..=100",
        );
        bad(
            &format!("{VIPS}[sidecar.bgp]\nfall = 101\n{bird}"),
            "sidecar.bgp.fall",
            "101",
            "1..=100",
        );
        bad(
            &format!("{VIPS}[sidecar.bgp]\ncheck_interval_ms = 5\n{bird}"),
            "sidecar.bgp.check_interval_ms",
            "5",
            "10..=10000",
        );
        bad(
            &format!("[sidecar.bgp]\nprefixes = [\"203.0.113.1/24\"]\n{bird}"),
            "sidecar.bgp.prefixes",
            "\"203.0.113.1/24\"",
            "host bits set (the prefix is 203.0.113.0/24)",
        );
        bad(
            &format!("[sidecar.bgp]\nprefixes = [\"2001:db8::/129\"]\n{bird}"),
            "sidecar.bgp.prefixes",
            "\"2001:db8::/129\"",
            "0..=128",
        );
        bad(
            &format!("[sidecar.bgp]\nprefixes = [\"vip\"]\n{bird}"),
            "sidecar.bgp.prefixes",
            "\"vip\"",
            "not an IP address",
        );
        bad(
            &format!("[sidecar.bgp]\nprefixes = []\n{bird}"),
            "sidecar.bgp.prefixes",
            "[]",
            "must not be empty",
        );
        let text = format!("[sidecar.bgp]\nrise = 2\n{bird}");
        let e = p(&text).unwrap_err();
        assert_eq!(e.key, "sidecar.bgp.prefixes");
        assert_eq!(&text[e.span.clone().unwrap()], "[sidecar.bgp]");
        assert!(e.message.contains("nothing to announce"), "{e:?}");
        bad(
            &format!("{VIPS}[sidecar.bgp]\ndrain_file = \"\"\n{bird}"),
            "sidecar.bgp.drain_file",
            "\"\"",
            "must not be empty",
        );
        bad(
            &format!("{VIPS}{bird}protocol = \"any-castd\"\n"),
            "sidecar.bgp.bird.protocol",
            "\"any-castd\"",
            "not a BIRD protocol name",
        );
        bad(
            &format!("{VIPS}[sidecar.bgp.exabgp]\nnext_hop_v4 = \"me\"\n"),
            "sidecar.bgp.exabgp.next_hop_v4",
            "\"me\"",
            "neither \"self\" nor an IPv4 address",
        );
        bad(
            &format!("{VIPS}[sidecar.bgp.exabgp]\nnext_hop_v6 = \"198.51.100.1\"\n"),
            "sidecar.bgp.exabgp.next_hop_v6",
            "\"198.51.100.1\"",
            "nor an IPv6 address",
        );
        bad(
            "[[vip]]\naddress = \"203.0.113.300\"\n[sidecar.bgp.bird]\n",
            "vip[0].address",
            "\"203.0.113.300\"",
            "not an IP address",
        );
        let e = p(&format!("{VIPS}[sidecar.bgp]\nrise = 2\n")).unwrap_err();
        assert_eq!(e.key, "sidecar.bgp");
        assert!(e.message.contains("no BGP speaker"), "{e:?}");
        let text = format!("{VIPS}[sidecar]\nbgp = {{ rise = 2 }}\n");
        assert!(p(&text).unwrap_err().message.contains("no BGP speaker"));
        let e = p(&format!("{VIPS}{bird}sock = \"x\"\n")).unwrap_err();
        assert!(e.message.contains("unknown field `sock`"), "{e:?}");
        assert!(e.span.is_some());
    }

    #[test]
    fn prefix_parsing_masks_and_bounds() {
        assert_eq!("0.0.0.0/0".parse::<Prefix>().unwrap().len, 0);
        assert_eq!("::/0".parse::<Prefix>().unwrap().to_string(), "::/0");
        assert_eq!(
            "2001:db8::1".parse::<Prefix>().unwrap().to_string(),
            "2001:db8::1/128"
        );
        assert!("203.0.113.10/33".parse::<Prefix>().is_err());
        assert!("203.0.113.10/x".parse::<Prefix>().is_err());
        assert!("2001:db8::1/64".parse::<Prefix>().is_err());
    }
}
