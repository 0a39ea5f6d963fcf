//! `[flow_table]`: each worker's flow-table capacity, idle timeouts and new-flow rate limit.
use serde::Deserialize;
use toml::Spanned;

use super::Ctx;
use crate::config::ConfigError;
use crate::forward::FlowTableConfig;

/// The table as written; every key is optional.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFlowTable {
    capacity: Option<Spanned<i64>>,
    tcp_syn_timeout_s: Option<Spanned<i64>>,
    tcp_established_timeout_s: Option<Spanned<i64>>,
    tcp_closing_timeout_s: Option<Spanned<i64>>,
    udp_timeout_s: Option<Spanned<i64>>,
    new_flows_per_sec: Option<Spanned<i64>>,
    new_flow_burst: Option<Spanned<i64>>,
}

/// Longest idle timeout: the flow table's wrapping millisecond clock is valid for ages under
/// 24 days, so a day keeps every deadline unambiguous.
const MAX_TIMEOUT_S: i64 = 86_400;

/// Validates `[flow_table]` into the workers' settings, defaults for what is missing.
pub(super) fn build(raw: &RawFlowTable, cx: &Ctx<'_>) -> Result<FlowTableConfig, ConfigError> {
    let mut c = FlowTableConfig::default();
    let int =
        |v: &Option<Spanned<i64>>, key: &str, lo: i64, hi: i64| optional_int(cx, v, key, lo, hi);
    if let Some(n) = int(&raw.capacity, "capacity", 1024, 1 << 28)? {
        c.capacity = n as usize;
    }
    let timeout_ms = |v, key| int(v, key, 1, MAX_TIMEOUT_S).map(|s| s.map(|s| (s * 1000) as u32));
    if let Some(t) = timeout_ms(&raw.tcp_syn_timeout_s, "tcp_syn_timeout_s")? {
        c.syn_timeout_ms = t;
    }
    if let Some(t) = timeout_ms(&raw.tcp_established_timeout_s, "tcp_established_timeout_s")? {
        c.established_timeout_ms = t;
    }
    if let Some(t) = timeout_ms(&raw.tcp_closing_timeout_s, "tcp_closing_timeout_s")? {
        c.closing_timeout_ms = t;
    }
    if let Some(t) = timeout_ms(&raw.udp_timeout_s, "udp_timeout_s")? {
        c.udp_timeout_ms = t;
    }
    if let Some(n) = int(
        &raw.new_flows_per_sec,
        "new_flows_per_sec",
        0,
        i64::from(u32::MAX),
    )? {
        c.new_flows_per_sec = n as u32;
    }
    if let Some(n) = int(
        &raw.new_flow_burst,
        "new_flow_burst",
        0,
        i64::from(u32::MAX),
    )? {
        c.new_flow_burst = n as u32;
    }
    Ok(c)
}

/// `flow_table.KEY` checked against `lo..=hi`, when it is given.
fn optional_int(
    cx: &Ctx<'_>,
    v: &Option<Spanned<i64>>,
    key: &str,
    lo: i64,
    hi: i64,
) -> Result<Option<i64>, ConfigError> {
    v.as_ref()
        .map(|v| cx.int_in(v, &format!("flow_table.{key}"), lo, hi))
        .transpose()
}
