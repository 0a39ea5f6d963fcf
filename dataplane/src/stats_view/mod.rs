//! `anycastd stats`: the stats segment in a terminal, for an operator on the box. Reads the
//! segment with [`stats_layout::Reader`] (no DPDK, only read access to the file) every interval
//! and shows totals and rates per second; `--once` prints one plain-text reading and exits.
//!
//! On a terminal each frame replaces the previous one (cursor home, clear to end); when stdout
//! is not a terminal, frames are printed one after the other as plain text. The segment is
//! re-mapped when the dataplane restarts (a new file), and rates restart with it.
pub mod render;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stats_layout::config::{StatsConfig, DEFAULT_STALE_AFTER_MS};
use stats_layout::health::{assess, process_alive, Health};
use stats_layout::{file_id, Reader, SegmentValues};

pub use render::{render, Frame};

/// What `anycastd stats` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// The dataplane's config file (its `[stats] path` and `[sidecar] stale_after_ms`).
    pub config: Option<PathBuf>,
    /// The segment file itself (instead of `config`).
    pub path: Option<PathBuf>,
    /// Time between readings.
    pub interval: Duration,
    /// One reading, plain text, then exit.
    pub once: bool,
}

/// Parses `--interval` seconds (0.1 to 3600, decimals allowed).
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !(0.1..=3600.0).contains(&secs) {
        return Err(format!(
            "{secs} s: the interval must be 0.1 to 3600 seconds"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The segment path and heartbeat threshold to use.
fn resolve(o: &Options) -> Result<(PathBuf, u64), String> {
    if let Some(p) = &o.path {
        return Ok((p.clone(), DEFAULT_STALE_AFTER_MS));
    }
    let Some(file) = &o.config else {
        return Ok((StatsConfig::default().path, DEFAULT_STALE_AFTER_MS));
    };
    let (stats, sidecar) = stats_layout::config::load(file)?;
    Ok((stats.path, sidecar.stale_after.as_millis() as u64))
}

/// Maps the segment, with the operator's message when it cannot.
fn open(path: &Path) -> Result<Reader, String> {
    Reader::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!("no dataplane running: {} not found", path.display())
        }
        _ => format!("cannot read the stats segment {}: {e}", path.display()),
    })
}

/// One reading and its verdict.
fn read(reader: &Reader, stale_ms: u64) -> std::io::Result<(SegmentValues, Health, u64)> {
    let v = reader.read()?;
    let now = stats_layout::unix_ms();
    let health = assess(&v, now, stale_ms, process_alive(v.header.pid));
    Ok((v, health, now))
}

/// Runs `anycastd stats`: exit 0 after `--once` or Ctrl-C, 1 when there is no (live) dataplane
/// to show at the start.
pub fn run(o: &Options) -> ExitCode {
    match run_inner(o) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// [`run`], returning the exit status (or the error message for status 1).
fn run_inner(o: &Options) -> Result<u8, String> {
    let (path, stale_ms) = resolve(o)?;
    let mut reader = open(&path)?;
    let (values, health, now) = read(&reader, stale_ms).map_err(|e| e.to_string())?;
    let not_running = match health {
        Health::Dead | Health::Stale(_) | Health::WorkerStale(_) | Health::WorkerSilent(_) => {
            Some(1)
        }
        Health::Stopped => Some(0),
        Health::Ok | Health::Starting => None,
    };
    let stdout = std::io::stdout();
    if o.once || not_running.is_some() {
        let text = render(&Frame {
            path: &path,
            values: &values,
            previous: None,
            dt: 0.0,
            now_unix_ms: now,
            health,
        });
        let _ = stdout.lock().write_all(text.as_bytes());
        return Ok(match not_running {
            Some(1) => {
                eprintln!(
                    "error: no dataplane running: {} is {health}",
                    path.display()
                );
                1
            }
            _ => 0,
        });
    }

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    }
    let tty = stdout.is_terminal();
    let mut out = stdout.lock();
    if tty {
        let _ = out.write_all(b"\x1b[?25l");
    }
    let mut previous: Option<(SegmentValues, Instant)> = None;
    let mut current = Some((values, health, now, Instant::now()));
    let mut message = String::new();
    while !stop.load(Ordering::Relaxed) {
        let text = match &current {
            Some((v, health, now, at)) => {
                let (prev, dt) = match &previous {
                    Some((p, t)) => (Some(p), at.duration_since(*t).as_secs_f64()),
                    None => (None, 0.0),
                };
                render(&Frame {
                    path: &path,
                    values: v,
                    previous: prev,
                    dt,
                    now_unix_ms: *now,
                    health: *health,
                })
            }
            None => String::new(),
        };
        let frame = if tty {
            // Home, each line cleared to its end, then the rest of the screen cleared.
            let mut f = String::from("\x1b[H");
            for line in text.lines().chain(message.lines()) {
                f.push_str(line);
                f.push_str("\x1b[K\n");
            }
            f.push_str("\x1b[J");
            f
        } else {
            format!("{text}{message}\n")
        };
        if out
            .write_all(frame.as_bytes())
            .and_then(|_| out.flush())
            .is_err()
        {
            // The reader went away (a closed pipe): nothing more to show.
            return Ok(0);
        }
        let deadline = Instant::now() + o.interval;
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20).min(o.interval));
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
        // A restarted dataplane is a new file: map it, and start the rates again.
        if file_id(&path).ok() != Some(reader.id()) {
            match open(&path) {
                Ok(r) => {
                    reader = r;
                    previous = None;
                    current = None;
                    message.clear();
                }
                Err(e) => {
                    message = format!("{e} (waiting for it)\n");
                    continue;
                }
            }
        }
        match read(&reader, stale_ms) {
            Ok((v, health, now)) => {
                previous = current.take().map(|(v, _, _, at)| (v, at));
                current = Some((v, health, now, Instant::now()));
            }
            Err(e) => message = format!("cannot read {}: {e}\n", path.display()),
        }
    }
    if tty {
        let _ = out.write_all(b"\x1b[?25h");
        let _ = out.flush();
    }
    Ok(0)
}

#[cfg(test)]
mod tests;
