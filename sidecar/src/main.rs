//! `anycastd-sidecar --config FILE`: maps the dataplane's stats segment read-only and serves it
//! over HTTP: Prometheus text on `/metrics`, `/healthz` (200 while the dataplane's heartbeat is
//! fresh, 503 otherwise) and `/stats.json`. No DPDK: it reads only the `[stats]` and `[sidecar]`
//! tables of the dataplane's config file, through the layout crate the dataplane writes with.
mod metrics;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser;
use stats_layout::config::{SidecarConfig, StatsConfig};
use stats_layout::{file_id, Reader, RunState, SegmentValues};

/// Serves anycastd's counters to Prometheus.
#[derive(Parser)]
#[command(name = "anycastd-sidecar", version, about)]
struct Cli {
    /// The anycastd config file (only `[stats]` and `[sidecar]` are read).
    #[arg(long, short)]
    config: PathBuf,
}

/// The mapped segment, re-mapped when the dataplane restarts.
struct Source {
    path: PathBuf,
    reader: Option<Reader>,
}

/// What one request sees.
pub struct View {
    /// The segment's values, when there is a segment.
    pub values: Option<SegmentValues>,
    /// True while the dataplane runs and its heartbeats are fresh.
    pub healthy: bool,
    /// Age of the control thread's heartbeat (s), when there is a segment.
    pub heartbeat_age: Option<f64>,
}

impl Source {
    /// Reads the segment, (re)mapping it when the file was replaced or is new.
    fn read(&mut self) -> Option<SegmentValues> {
        let now_id = file_id(&self.path).ok();
        if self.reader.as_ref().map(Reader::id) != now_id {
            self.reader = now_id.and_then(|_| Reader::open(&self.path).ok());
        }
        match self.reader.as_ref()?.read() {
            Ok(v) => Some(v),
            Err(_) => {
                self.reader = None;
                None
            }
        }
    }

    fn view(&mut self, stale_after: Duration) -> View {
        let values = self.read();
        let Some(v) = &values else {
            return View {
                values,
                healthy: false,
                heartbeat_age: None,
            };
        };
        let h = &v.header;
        let age_ms = stats_layout::unix_ms().saturating_sub(h.heartbeat_unix_ms);
        let stale_ms = stale_after.as_millis() as u64;
        let alive = alive(h.pid);
        let workers_fresh = v
            .workers
            .iter()
            .all(|w| h.heartbeat_clock_ms.saturating_sub(w.heartbeat_ms) <= stale_ms);
        let healthy = h.state == RunState::Running
            && alive
            && h.heartbeat_unix_ms > 0
            && age_ms <= stale_ms
            && workers_fresh;
        View {
            values,
            healthy,
            heartbeat_age: Some(age_ms as f64 / 1e3),
        }
    }
}

/// True while process `pid` exists and is not a zombie (a killed dataplane not yet reaped).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let state = s.rsplit_once(')')?.1.trim_start().chars().next()?;
            Some(!matches!(state, 'Z' | 'X' | 'x'))
        })
        .unwrap_or(false)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let text = match std::fs::read_to_string(&cli.config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {}: cannot read: {e}", cli.config.display());
            return ExitCode::from(1);
        }
    };
    let (stats, sidecar): (StatsConfig, SidecarConfig) =
        match stats_layout::config::parse(&cli.config, &text) {
            Ok(c) => c,
            Err(e) => {
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
                eprintln!("error: {}{line}{key}: {}", cli.config.display(), e.message);
                return ExitCode::from(1);
            }
        };
    let listener = match TcpListener::bind(sidecar.listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", sidecar.listen);
            return ExitCode::from(1);
        }
    };
    eprintln!(
        "anycastd-sidecar: serving {} on http://{}/metrics",
        stats.path.display(),
        listener.local_addr().map_or(sidecar.listen, |a| a)
    );
    let source = Arc::new(Mutex::new(Source {
        path: stats.path,
        reader: None,
    }));
    // One short-lived thread per connection, so a slow client cannot hold up /healthz; the
    // segment is read under the lock only (never while talking to a client).
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let source = Arc::clone(&source);
        let stale_after = sidecar.stale_after;
        let spawned = std::thread::Builder::new()
            .name("http".into())
            .spawn(move || {
                if let Err(e) = serve(conn, &source, stale_after) {
                    eprintln!("anycastd-sidecar: request failed: {e}");
                }
            });
        if let Err(e) = spawned {
            eprintln!("anycastd-sidecar: cannot start a thread: {e}");
        }
    }
    ExitCode::SUCCESS
}

/// Answers one HTTP/1.x request and closes the connection.
fn serve(conn: TcpStream, source: &Mutex<Source>, stale_after: Duration) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(2)))?;
    conn.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut reader = BufReader::new(&conn);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // Skip the headers (bounded by the read timeout).
    let mut line = String::new();
    while reader.read_line(&mut line)? > 0 && line.trim_end() != "" {
        line.clear();
    }
    let mut parts = request.split_whitespace();
    let method = parts.next().unwrap_or("");
    let target = parts.next().unwrap_or("");
    let path = target.split('?').next().unwrap_or("");
    let view = || {
        source
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .view(stale_after)
    };
    let (status, ctype, body) = if method != "GET" && method != "HEAD" {
        (
            "405 Method Not Allowed",
            "text/plain",
            "GET only\n".to_owned(),
        )
    } else {
        match path {
            "/metrics" => (
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                metrics::render(&view()),
            ),
            "/healthz" => {
                let v = view();
                let why = match (&v.values, v.healthy) {
                    (_, true) => "ok\n".to_owned(),
                    (None, _) => "no dataplane (no stats segment)\n".to_owned(),
                    (Some(s), _) => format!(
                        "unhealthy: state={:?} heartbeat_age_s={:.3}\n",
                        s.header.state,
                        v.heartbeat_age.unwrap_or(f64::INFINITY)
                    ),
                };
                let status = if v.healthy {
                    "200 OK"
                } else {
                    "503 Service Unavailable"
                };
                (status, "text/plain", why)
            }
            "/stats.json" => {
                let v = view();
                let body = serde_json::json!({
                    "up": v.healthy,
                    "heartbeat_age_seconds": v.heartbeat_age,
                    "drop_reasons": stats_layout::DROP_REASONS,
                    "segment": v.values,
                });
                ("200 OK", "application/json", format!("{body}\n"))
            }
            _ => (
                "404 Not Found",
                "text/plain",
                "try /metrics, /healthz or /stats.json\n".to_owned(),
            ),
        }
    };
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if method != "HEAD" {
        out.push_str(&body);
    }
    (&conn).write_all(out.as_bytes())?;
    (&conn).flush()
}
