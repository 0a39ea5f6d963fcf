//! One frame of `anycastd stats`: a pure function of the segment's values, the previous values
//! and the time between them, so it is tested without a dataplane.
use std::fmt::Write;
use std::path::Path;

use stats_layout::health::{Health, RCODE_NAMES};
use stats_layout::{SegmentValues, ServiceValues, WorkerValues, DROP_REASONS};

/// Everything one frame shows.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// The segment file.
    pub path: &'a Path,
    /// The values read now.
    pub values: &'a SegmentValues,
    /// The values read one interval ago (rates are shown when they are of the same run).
    pub previous: Option<&'a SegmentValues>,
    /// Seconds between `previous` and `values`.
    pub dt: f64,
    /// Wall-clock time of the read (Unix ms).
    pub now_unix_ms: u64,
    /// The dataplane's health.
    pub health: Health,
}

/// Counter increase per second, when there is a previous reading of the same counter that is
/// not larger (a smaller one means a restart or a slot reassigned) and time passed.
pub fn rate(now: u64, previous: Option<u64>, dt: f64) -> Option<f64> {
    let p = previous?;
    (dt > 0.0 && now >= p).then(|| (now - p) as f64 / dt)
}

/// A rate for a table cell: one decimal, or `-` when unknown.
pub fn fmt_rate(r: Option<f64>) -> String {
    r.map_or_else(|| "-".to_owned(), |r| format!("{r:.1}"))
}

/// A duration as `3d04h05m06s`, `4h05m06s`, `5m06s` or `6s`.
pub fn fmt_duration(ms: u64) -> String {
    let s = ms / 1000;
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m{s:02}s"),
        (0, _, _) => format!("{h}h{m:02}m{s:02}s"),
        _ => format!("{d}d{h:02}h{m:02}m{s:02}s"),
    }
}

/// True when `b` is an earlier reading of the same dataplane run as `a`.
fn same_run(a: &SegmentValues, b: &SegmentValues) -> bool {
    a.header.pid == b.header.pid
        && a.header.start_unix_ms == b.header.start_unix_ms
        && a.workers.len() == b.workers.len()
        && a.ports.len() == b.ports.len()
}

/// A table column: its heading and the worker counter it shows.
type Column = (&'static str, fn(&WorkerValues) -> u64);

/// The main per-worker columns.
const COLUMNS: [Column; 6] = [
    ("rx", |w| w.rx_packets),
    ("tx", |w| w.tx_packets),
    ("answered", |w| w.answered),
    ("forwarded", |w| w.forwarded),
    ("punted", |w| w.punted),
    ("dropped", |w| w.dropped()),
];

const LABEL: usize = 12;
const CELL: usize = 13;

fn row(out: &mut String, label: &str, cells: impl IntoIterator<Item = String>) {
    let _ = write!(out, "{label:<LABEL$}");
    for c in cells {
        let _ = write!(out, "{c:>CELL$}");
    }
    out.push('\n');
}

fn sum(ws: &[WorkerValues], f: impl Fn(&WorkerValues) -> u64) -> u64 {
    ws.iter().map(f).sum()
}

/// Renders one frame as plain text (no escape codes).
pub fn render(f: &Frame<'_>) -> String {
    let v = f.values;
    let prev = f.previous.filter(|p| same_run(v, p));
    let dt = f.dt;
    let h = &v.header;
    let mut out = String::with_capacity(4096);
    let end_ms = if h.state == stats_layout::RunState::Stopped {
        h.heartbeat_unix_ms.max(h.start_unix_ms)
    } else {
        f.now_unix_ms
    };
    let _ = writeln!(
        out,
        "anycastd stats  pid {}  up {}  generation {}  reloads {} (failed {})  health: {}",
        h.pid,
        fmt_duration(end_ms.saturating_sub(h.start_unix_ms)),
        h.generation,
        h.reloads,
        h.reload_failures,
        f.health
    );
    let _ = writeln!(
        out,
        "segment {}  workers {}  ports {}  {}",
        f.path.display(),
        h.workers,
        h.ports,
        if prev.is_some() {
            format!("rates over {dt:.1} s")
        } else {
            "rates after the next reading".to_owned()
        }
    );
    if v.unsettled_blocks > 0 {
        let _ = writeln!(
            out,
            "warning: {} blocks read unsettled (dataplane killed mid-update)",
            v.unsettled_blocks
        );
    }

    // Totals, then rates, per worker and over all.
    out.push('\n');
    row(&mut out, "packets", COLUMNS.iter().map(|c| c.0.to_owned()));
    for (i, w) in v.workers.iter().enumerate() {
        row(
            &mut out,
            &format!("worker {i}"),
            COLUMNS.iter().map(|c| c.1(w).to_string()),
        );
    }
    row(
        &mut out,
        "total",
        COLUMNS.iter().map(|c| sum(&v.workers, c.1).to_string()),
    );
    row(
        &mut out,
        "per second",
        COLUMNS.iter().map(|c| c.0.to_owned()),
    );
    for (i, w) in v.workers.iter().enumerate() {
        let p = prev.and_then(|p| p.workers.get(i));
        row(
            &mut out,
            &format!("worker {i}"),
            COLUMNS
                .iter()
                .map(|c| fmt_rate(rate(c.1(w), p.map(c.1), dt))),
        );
    }
    row(
        &mut out,
        "total",
        COLUMNS.iter().map(|c| {
            fmt_rate(rate(
                sum(&v.workers, c.1),
                prev.map(|p| sum(&p.workers, c.1)),
                dt,
            ))
        }),
    );
    let rx_bytes = sum(&v.workers, |w| w.rx_bytes);
    let tx_bytes = sum(&v.workers, |w| w.tx_bytes);
    let bits = |now: u64, get: fn(&WorkerValues) -> u64| {
        rate(now, prev.map(|p| sum(&p.workers, get)), dt)
            .map_or_else(|| "-".to_owned(), |r| format!("{:.3}", r * 8.0 / 1e6))
    };
    let _ = writeln!(
        out,
        "bytes       rx {rx_bytes} ({} Mbit/s)  tx {tx_bytes} ({} Mbit/s)",
        bits(rx_bytes, |w| w.rx_bytes),
        bits(tx_bytes, |w| w.tx_bytes)
    );

    drops(&mut out, v, prev, dt);
    dns(&mut out, v, prev, dt);
    flows(&mut out, v, prev, dt);
    ports(&mut out, v, prev, dt);
    services(&mut out, v, prev, dt);
    out
}

fn drops(out: &mut String, v: &SegmentValues, prev: Option<&SegmentValues>, dt: f64) {
    out.push_str("\ndrops by reason");
    let mut any = false;
    for (i, reason) in DROP_REASONS.iter().enumerate() {
        let n = sum(&v.workers, |w| w.drops[i]);
        if n == 0 {
            continue;
        }
        if !any {
            out.push('\n');
            any = true;
        }
        let r = rate(n, prev.map(|p| sum(&p.workers, |w| w.drops[i])), dt);
        let _ = writeln!(out, "  {reason:<22}{n:>CELL$}{:>CELL$}/s", fmt_rate(r));
    }
    if !any {
        out.push_str(": none\n");
    }
}

fn dns(out: &mut String, v: &SegmentValues, prev: Option<&SegmentValues>, dt: f64) {
    let q = sum(&v.workers, |w| w.dns_queries);
    let r = rate(q, prev.map(|p| sum(&p.workers, |w| w.dns_queries)), dt);
    let hits = sum(&v.workers, |w| w.dns_cache_hits);
    let _ = write!(
        out,
        "\ndns         queries {q} ({}/s)  from cache {hits}",
        fmt_rate(r)
    );
    let bypassed = sum(&v.workers, |w| w.dns_cache_bypassed);
    if bypassed > 0 {
        let _ = write!(out, "  cache bypassed {bypassed}");
    }
    for (i, name) in RCODE_NAMES.iter().enumerate() {
        let n = sum(&v.workers, |w| w.rcodes[i]);
        if n > 0 {
            let _ = write!(out, "  {name} {n}");
        }
    }
    out.push('\n');
}

fn flows(out: &mut String, v: &SegmentValues, prev: Option<&SegmentValues>, dt: f64) {
    out.push('\n');
    let cols: [Column; 6] = [
        ("flows", |w| w.flows),
        ("inserts", |w| w.flow_inserts),
        ("expired", |w| w.flow_expired),
        ("table full", |w| w.flow_full),
        ("rate limited", |w| w.flow_rate_limited),
        ("stateless", |w| w.stateless),
    ];
    row(out, "flow table", cols.iter().map(|c| c.0.to_owned()));
    for (i, w) in v.workers.iter().enumerate() {
        row(
            out,
            &format!("worker {i}"),
            cols.iter().map(|c| c.1(w).to_string()),
        );
    }
    let ins = sum(&v.workers, |w| w.flow_inserts);
    let r = rate(ins, prev.map(|p| sum(&p.workers, |w| w.flow_inserts)), dt);
    let _ = writeln!(out, "  new flows inserted per second: {}", fmt_rate(r));
    let big = sum(&v.workers, |w| w.too_big_answered);
    if big > 0 {
        let r = rate(
            big,
            prev.map(|p| sum(&p.workers, |w| w.too_big_answered)),
            dt,
        );
        let _ = writeln!(
            out,
            "  too big for the tunnel (see the ports' mtu), answered: {big} ({}/s)",
            fmt_rate(r)
        );
    }
}

fn ports(out: &mut String, v: &SegmentValues, prev: Option<&SegmentValues>, dt: f64) {
    out.push('\n');
    row(
        out,
        "port",
        ["rx", "rx/s", "tx", "tx/s", "missed", "errors", "nombuf"].map(str::to_owned),
    );
    for (i, p) in v.ports.iter().enumerate() {
        let q = prev.and_then(|q| q.ports.get(i));
        row(
            out,
            &p.name,
            [
                p.ipackets.to_string(),
                fmt_rate(rate(p.ipackets, q.map(|q| q.ipackets), dt)),
                p.opackets.to_string(),
                fmt_rate(rate(p.opackets, q.map(|q| q.opackets), dt)),
                p.imissed.to_string(),
                (p.ierrors + p.oerrors).to_string(),
                p.rx_nombuf.to_string(),
            ],
        );
    }
}

/// The previous reading of the same service slot under the same name and assignment.
fn previous_service<'a>(
    prev: Option<&'a SegmentValues>,
    s: &ServiceValues,
) -> Option<&'a ServiceValues> {
    prev?
        .services
        .iter()
        .find(|p| p.slot == s.slot && p.name == s.name && p.since_generation == s.since_generation)
}

fn services(out: &mut String, v: &SegmentValues, prev: Option<&SegmentValues>, dt: f64) {
    out.push('\n');
    if v.services.is_empty() {
        out.push_str("services: none\n");
        return;
    }
    let _ = writeln!(
        out,
        "{:<28}{:>CELL$}{:>CELL$}{:>CELL$}",
        "service / backend", "packets", "packets/s", "bytes"
    );
    for s in &v.services {
        let p = previous_service(prev, s);
        let n = s.total_packets();
        let _ = writeln!(
            out,
            "{:<28}{n:>CELL$}{:>CELL$}{:>CELL$}",
            s.name,
            fmt_rate(rate(n, p.map(ServiceValues::total_packets), dt)),
            s.total_bytes()
        );
        for b in &s.backends {
            let pb = p.and_then(|p| {
                p.backends.iter().find(|x| {
                    x.slot == b.slot
                        && x.address == b.address
                        && x.since_generation == b.since_generation
                })
            });
            let n = b.total_packets();
            let r = rate(n, pb.map(|x| x.total_packets()), dt);
            let _ = writeln!(
                out,
                "  {:<26}{n:>CELL$}{:>CELL$}",
                b.address.to_string(),
                fmt_rate(r)
            );
        }
    }
}
