//! `anycastd-sidecar --config FILE`: maps the dataplane's stats segment read-only and serves it
//! over HTTP: Prometheus text on `/metrics`, `/healthz` (200 while the dataplane's heartbeat is
//! fresh, 503 otherwise), `/stats.json` and `/bgp`. With `[sidecar.bgp]` a thread of its own
//! announces the anycast prefixes through BIRD and/or ExaBGP while the dataplane is healthy and
//! withdraws them when it is not or while the drain file exists (`anycastd-sidecar drain`).
//! No DPDK: it reads only the `[stats]`, `[sidecar]` and `[[vip]]` tables of the dataplane's
//! config file, through the layout crate the dataplane writes with.
mod bgp;
mod metrics;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bgp::BgpStatus;
use clap::{CommandFactory, Parser, Subcommand};
use stats_layout::config::{SidecarConfig, StatsConfig};
use stats_layout::health::{assess, process_alive};
use stats_layout::{file_id, Reader, SegmentValues};

/// Serves anycastd's counters to Prometheus and announces its prefixes while it is healthy.
#[derive(Parser)]
#[command(name = "anycastd-sidecar", version, about)]
struct Cli {
    /// The anycastd config file (only `[stats]`, `[sidecar]` and `[[vip]]` are read).
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve HTTP and run the BGP health loop (what runs without a command).
    Run,
    /// Create the drain file: the running sidecar withdraws the prefixes at its next check,
    /// while the dataplane keeps serving.
    Drain,
    /// Remove the drain file: the prefixes are announced again while the dataplane is healthy.
    Undrain,
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
        let now = stats_layout::unix_ms();
        let age_ms = now.saturating_sub(h.heartbeat_unix_ms);
        let stale_ms = stale_after.as_millis() as u64;
        let healthy = assess(v, now, stale_ms, process_alive(h.pid)).is_ok();
        View {
            values,
            healthy,
            heartbeat_age: Some(age_ms as f64 / 1e3),
        }
    }
}

impl View {
    /// Why the dataplane is not healthy, or None when it is.
    pub fn unhealthy_reason(&self) -> Option<String> {
        match (&self.values, self.healthy) {
            (_, true) => None,
            (None, _) => Some("no dataplane (no stats segment)".to_owned()),
            (Some(s), _) => Some(format!(
                "state={:?} pid={} alive={} heartbeat_age_s={:.3}",
                s.header.state,
                s.header.pid,
                process_alive(s.header.pid),
                self.heartbeat_age.unwrap_or(f64::INFINITY)
            )),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(config) = cli.config else {
        Cli::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "--config FILE is required",
            )
            .exit()
    };
    let (stats, sidecar) = match stats_layout::config::load(&config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    match cli.command.unwrap_or(Cmd::Run) {
        Cmd::Run => run(stats, sidecar),
        Cmd::Drain | Cmd::Undrain if sidecar.bgp.is_none() => {
            eprintln!(
                "error: {}: no [sidecar.bgp] table: there is nothing to drain",
                config.display()
            );
            ExitCode::from(1)
        }
        Cmd::Drain => drain(sidecar.bgp.as_ref().map(|b| b.drain_file.as_path()), true),
        Cmd::Undrain => drain(sidecar.bgp.as_ref().map(|b| b.drain_file.as_path()), false),
    }
}

/// Creates (`on`) or removes the drain file.
fn drain(file: Option<&std::path::Path>, on: bool) -> ExitCode {
    let Some(file) = file else {
        return ExitCode::from(1);
    };
    let mut was_drained = true;
    let result = if on {
        file.parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                std::fs::write(
                    file,
                    format!(
                        "drained by anycastd-sidecar drain at unix_ms={}\n",
                        stats_layout::unix_ms()
                    ),
                )
            })
    } else {
        match std::fs::remove_file(file) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                was_drained = false;
                Ok(())
            }
            r => r,
        }
    };
    match result {
        Ok(()) => {
            if on {
                println!(
                    "drained: {} exists; the sidecar withdraws the prefixes at its next check",
                    file.display()
                );
            } else if was_drained {
                println!(
                    "undrained: {} removed; the prefixes are announced while the dataplane is healthy",
                    file.display()
                );
            } else {
                println!("not drained: {} does not exist", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            ExitCode::from(1)
        }
    }
}

/// What the HTTP threads share.
struct Shared {
    source: Mutex<Source>,
    stale_after: Duration,
    bgp: Option<Arc<Mutex<BgpStatus>>>,
}

impl Shared {
    fn view(&self) -> View {
        self.source
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .view(self.stale_after)
    }

    fn bgp(&self) -> Option<BgpStatus> {
        self.bgp
            .as_ref()
            .map(|b| b.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// Serves HTTP (and runs the BGP health loop on a thread of its own) until killed.
fn run(stats: StatsConfig, sidecar: SidecarConfig) -> ExitCode {
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
    let mut shared = Shared {
        source: Mutex::new(Source {
            path: stats.path.clone(),
            reader: None,
        }),
        stale_after: sidecar.stale_after,
        bgp: None,
    };
    if let Some(cfg) = sidecar.bgp.clone() {
        let speakers = bgp::speakers(&cfg);
        let status = Arc::new(Mutex::new(BgpStatus::new(&cfg, &speakers)));
        shared.bgp = Some(Arc::clone(&status));
        eprintln!(
            "anycastd-sidecar: bgp: {} prefixes ({}), speakers {}, check every {:?}, rise {} fall {}, drain file {}",
            cfg.prefixes.len(),
            status.lock().unwrap_or_else(|e| e.into_inner()).prefixes.join(", "),
            speakers.iter().map(|s| s.name()).collect::<Vec<_>>().join("+"),
            cfg.check_interval,
            cfg.rise,
            cfg.fall,
            cfg.drain_file.display()
        );
        // The health loop reads the segment through a mapping of its own, so it never waits for
        // an HTTP request (nor one for it).
        let mut source = Source {
            path: stats.path,
            reader: None,
        };
        let stale_after = sidecar.stale_after;
        let health = bgp::Health::new(cfg, speakers, status);
        let spawned = std::thread::Builder::new()
            .name("bgp-health".into())
            .spawn(move || {
                health.run(move || match source.view(stale_after).unhealthy_reason() {
                    None => Ok(()),
                    Some(why) => Err(why),
                })
            });
        if let Err(e) = spawned {
            eprintln!("error: cannot start the BGP health thread: {e}");
            return ExitCode::from(1);
        }
    }
    let shared = Arc::new(shared);
    // One short-lived thread per connection, so a slow client cannot hold up /healthz; the
    // segment is read under the lock only (never while talking to a client).
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let shared = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name("http".into())
            .spawn(move || {
                if let Err(e) = serve(conn, &shared) {
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
fn serve(conn: TcpStream, shared: &Shared) -> std::io::Result<()> {
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
    let view = || shared.view();
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
                metrics::render(&view(), shared.bgp().as_ref()),
            ),
            "/healthz" => {
                let v = view();
                let why = match (&v.values, v.unhealthy_reason()) {
                    (_, None) => "ok\n".to_owned(),
                    (None, Some(why)) => format!("{why}\n"),
                    (Some(_), Some(why)) => format!("unhealthy: {why}\n"),
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
                    "bgp": shared.bgp(),
                });
                ("200 OK", "application/json", format!("{body}\n"))
            }
            "/bgp" => match shared.bgp() {
                Some(b) => (
                    "200 OK",
                    "application/json",
                    format!("{}\n", serde_json::json!(b)),
                ),
                None => (
                    "404 Not Found",
                    "text/plain",
                    "BGP health is not configured ([sidecar.bgp])\n".to_owned(),
                ),
            },
            _ => (
                "404 Not Found",
                "text/plain",
                "try /metrics, /healthz, /stats.json or /bgp\n".to_owned(),
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
