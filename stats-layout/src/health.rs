//! Whether a segment's dataplane is serving, judged the same way by the sidecar (`/healthz`) and
//! `anycastd stats`; and the DNS RCODE names both use as labels.
use std::fmt;

use crate::{RunState, SegmentValues, RCODE_SLOTS};

/// DNS RCODE names (RFC 1035, 2136, 6895), indexed by RCODE.
pub const RCODE_NAMES: [&str; RCODE_SLOTS] = [
    "NOERROR",
    "FORMERR",
    "SERVFAIL",
    "NXDOMAIN",
    "NOTIMP",
    "REFUSED",
    "YXDOMAIN",
    "YXRRSET",
    "NXRRSET",
    "NOTAUTH",
    "NOTZONE",
    "DSOTYPENI",
    "RCODE12",
    "RCODE13",
    "RCODE14",
    "RCODE15",
];

/// The verdict on a segment's dataplane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Running, its process alive, control thread and workers publishing.
    Ok,
    /// Not serving yet.
    Starting,
    /// Stopped cleanly: the counts are final.
    Stopped,
    /// Marked running but its process is gone (killed).
    Dead,
    /// The control thread's heartbeat is older than allowed (its age in ms; `u64::MAX` when
    /// there was none).
    Stale(u64),
    /// A worker's last publication lags the control thread's heartbeat by more than allowed.
    WorkerStale(usize),
    /// A worker has not published at all while the control thread's heartbeat moved on by more
    /// than allowed (just started, or stuck before its first poll round).
    WorkerSilent(usize),
}

impl Health {
    /// True when the dataplane serves.
    pub fn is_ok(self) -> bool {
        self == Health::Ok
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Health::Ok => f.write_str("ok"),
            Health::Starting => f.write_str("starting"),
            Health::Stopped => f.write_str("stopped (counts are final)"),
            Health::Dead => f.write_str("dead (its process is gone)"),
            Health::Stale(u64::MAX) => f.write_str("stale (no heartbeat)"),
            Health::Stale(ms) => write!(f, "stale (heartbeat {:.1} s old)", *ms as f64 / 1e3),
            Health::WorkerStale(w) => write!(f, "stale (worker {w} stopped publishing)"),
            Health::WorkerSilent(w) => write!(f, "stale (worker {w} has not published yet)"),
        }
    }
}

/// Judges `v` at wall-clock time `now_unix_ms`: `alive` says whether its pid is a live process
/// ([`process_alive`]), `stale_after_ms` bounds the heartbeat ages.
pub fn assess(v: &SegmentValues, now_unix_ms: u64, stale_after_ms: u64, alive: bool) -> Health {
    let h = &v.header;
    match h.state {
        RunState::Stopped => return Health::Stopped,
        RunState::Starting if alive => return Health::Starting,
        _ => {}
    }
    if !alive {
        return Health::Dead;
    }
    if h.heartbeat_unix_ms == 0 {
        return Health::Stale(u64::MAX);
    }
    let age = now_unix_ms.saturating_sub(h.heartbeat_unix_ms);
    if age > stale_after_ms {
        return Health::Stale(age);
    }
    match v
        .workers
        .iter()
        .position(|w| h.heartbeat_clock_ms.saturating_sub(w.heartbeat_ms) > stale_after_ms)
    {
        Some(w) if v.workers[w].heartbeat_ms == 0 => Health::WorkerSilent(w),
        Some(w) => Health::WorkerStale(w),
        None => Health::Ok,
    }
}

/// True while process `pid` exists and is not a zombie (a killed dataplane not yet reaped).
pub fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let state = s.rsplit_once(')')?.1.trim_start().chars().next()?;
            Some(!matches!(state, 'Z' | 'X' | 'x'))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{WorkerValues, Writer};

    #[test]
    fn verdicts() {
        let w = Writer::anonymous(&[], 1).unwrap();
        let at = |s: &SegmentValues, now, alive| assess(s, now, 1000, alive);
        let mut s = w.read().unwrap();
        assert_eq!(at(&s, 0, true), Health::Starting);
        assert_eq!(at(&s, 0, false), Health::Dead);
        w.set_state(RunState::Running);
        s = w.read().unwrap();
        assert_eq!(at(&s, 1, true), Health::Stale(u64::MAX));
        assert_eq!(Health::Stale(u64::MAX).to_string(), "stale (no heartbeat)");
        w.heartbeat(5000);
        s = w.read().unwrap();
        let hb = s.header.heartbeat_unix_ms;
        assert_eq!(at(&s, hb + 100, true), Health::WorkerSilent(0));
        assert_eq!(
            Health::WorkerSilent(0).to_string(),
            "stale (worker 0 has not published yet)"
        );
        w.publish_worker(
            0,
            &WorkerValues {
                heartbeat_ms: 3000,
                ..WorkerValues::default()
            },
        );
        s = w.read().unwrap();
        assert_eq!(at(&s, hb + 100, true), Health::WorkerStale(0));
        w.publish_worker(
            0,
            &WorkerValues {
                heartbeat_ms: 4900,
                ..WorkerValues::default()
            },
        );
        s = w.read().unwrap();
        assert_eq!(at(&s, hb + 100, true), Health::Ok);
        assert_eq!(at(&s, hb + 2500, true), Health::Stale(2500));
        assert_eq!(
            Health::Stale(2500).to_string(),
            "stale (heartbeat 2.5 s old)"
        );
        assert_eq!(at(&s, hb, false), Health::Dead);
        w.set_state(RunState::Stopped);
        assert_eq!(at(&w.read().unwrap(), hb + 9999, false), Health::Stopped);
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(u32::MAX));
    }
}
