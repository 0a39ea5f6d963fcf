//! `[[port]]`: the NICs (or virtual devices) a node answers on, their addresses and punt TAPs.
use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use super::Ctx;
use crate::config::{ConfigError, PortConfig, DEFAULT_MTU, MAX_MTU, MIN_MTU};

/// Longest kernel interface name (IFNAMSIZ - 1).
const MAX_IFNAME: usize = 15;

/// One `[[port]]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPort {
    name: Spanned<String>,
    device: Spanned<String>,
    #[serde(default)]
    addresses: Vec<Spanned<String>>,
    punt_tap: Option<Spanned<String>>,
    mtu: Option<Spanned<i64>>,
}

/// The ports, validated: at least one, names, devices, addresses and punt TAPs each used once.
/// Also returns the ports' addresses (a VIP must not be one of them).
pub(super) fn build(
    raw: &[Spanned<RawPort>],
    cx: &Ctx<'_>,
) -> Result<(Vec<PortConfig>, HashSet<IpAddr>), ConfigError> {
    if raw.is_empty() {
        return Err(ConfigError {
            file: cx.file.to_owned(),
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
    for (i, p) in raw.iter().enumerate() {
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
            Some(t) => Some(punt_tap(t, &key("punt_tap"), &mut taps, cx)?),
        };
        let mtu = match &p.mtu {
            None => DEFAULT_MTU,
            Some(m) => cx.int_in(m, &key("mtu"), MIN_MTU.into(), MAX_MTU.into())? as u16,
        };
        let port = PortConfig {
            name,
            device,
            addresses,
            punt_tap,
            mtu,
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
    Ok((ports, own))
}

/// A port's punt TAP: an interface name no other port's TAP has (`taps` holds theirs).
fn punt_tap(
    t: &Spanned<String>,
    key: &str,
    taps: &mut HashSet<String>,
    cx: &Ctx<'_>,
) -> Result<String, ConfigError> {
    let n = t.get_ref().trim();
    let ok = !n.is_empty()
        && n.len() <= MAX_IFNAME
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(cx.err(
            &t.span(),
            key,
            format!("'{n}' is not an interface name (1..={MAX_IFNAME} of a-z, 0-9, '-', '_', '.')"),
        ));
    }
    if !taps.insert(n.to_owned()) {
        return Err(cx.err(
            &t.span(),
            key,
            format!("punt tap '{n}' is used by two ports"),
        ));
    }
    Ok(n.to_owned())
}
