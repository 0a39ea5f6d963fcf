//! `anycastd`: run the dataplane, check a config, or talk to / watch a running one.
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use dataplane::config::{Config, DEFAULT_CONTROL_SOCKET};
use dataplane::runtime::Runtime;
use dataplane::snapshot::Snapshot;
use dataplane::stats::WorkerCounters;

/// Userspace DPDK dataplane for anycast edge nodes.
#[derive(Parser)]
#[command(name = "anycastd", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the dataplane until SIGINT/SIGTERM.
    Run {
        /// The config file.
        #[arg(long, short)]
        config: PathBuf,
        /// Seconds between status lines while traffic flows (0 = none).
        #[arg(long, default_value_t = 10)]
        status_interval: u64,
    },
    /// Validate a config file (and compile its zones and tables); exit 0 when valid, 1 otherwise.
    Check {
        /// The config file.
        file: PathBuf,
    },
    /// Ask the running anycastd to reload its config file (as SIGHUP does); prints the result,
    /// exits 0 when the new config serves, 1 when it was refused (the old one keeps serving).
    Reload {
        /// The control socket (`[dataplane] control_socket`).
        #[arg(long, default_value = DEFAULT_CONTROL_SOCKET)]
        socket: PathBuf,
        /// Seconds to wait for the answer (large zones take a while to compile).
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Print the running anycastd's generation, reload counters and per-worker counters.
    Status {
        /// The control socket (`[dataplane] control_socket`).
        #[arg(long, default_value = DEFAULT_CONTROL_SOCKET)]
        socket: PathBuf,
    },
    /// Show the stats segment's counters in the terminal (totals and rates per second,
    /// refreshing until Ctrl-C). Needs no DPDK, only read access to the segment file.
    Stats {
        /// The anycastd config file (its `[stats] path` and `[sidecar] stale_after_ms`).
        #[arg(long, short, conflicts_with = "path")]
        config: Option<PathBuf>,
        /// The segment file [default: /run/anycastd/stats].
        #[arg(long)]
        path: Option<PathBuf>,
        /// Seconds between readings (0.1 to 3600).
        #[arg(long, default_value = "1", value_parser = dataplane::stats_view::parse_interval)]
        interval: Duration,
        /// Print one plain-text reading and exit (for scripts).
        #[arg(long)]
        once: bool,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    // `--version` also names the DPDK built against and how it is linked.
    let version = format!(
        "{} (DPDK {}, linked {})",
        env!("CARGO_PKG_VERSION"),
        dataplane::dpdk::DPDK_VERSION,
        dataplane::dpdk::DPDK_LINK
    );
    let version: &'static str = Box::leak(version.into_boxed_str());
    let matches = Cli::command().version(version).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match cli.command {
        Command::Check { file } => check(&file),
        Command::Run {
            config,
            status_interval,
        } => run(&config, status_interval),
        Command::Reload { socket, timeout } => {
            control(&socket, "reload", Duration::from_secs(timeout.max(1)))
        }
        Command::Status { socket } => control(&socket, "status", Duration::from_secs(10)),
        Command::Stats {
            config,
            path,
            interval,
            once,
        } => dataplane::stats_view::run(&dataplane::stats_view::Options {
            config,
            path,
            interval,
            once,
        }),
    }
}

/// Sends one control command and prints the answer; exit 0 when it starts with `ok`.
fn control(socket: &std::path::Path, command: &str, timeout: Duration) -> ExitCode {
    match dataplane::control::request(socket, command, timeout) {
        Ok(reply) => {
            let ok = reply.starts_with("ok");
            if ok {
                print!("{reply}");
                ExitCode::SUCCESS
            } else {
                eprint!("{reply}");
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn check(file: &std::path::Path) -> ExitCode {
    let config = match Config::load(file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = Snapshot::build(&config, &vec![[0; 6]; config.ports.len()], 0) {
        eprintln!("error: {}: {e}", file.display());
        return ExitCode::from(1);
    }
    println!(
        "{}: ok ({} ports, {} VIPs, {} services, {} workers)",
        file.display(),
        config.ports.len(),
        config.vips.len(),
        config.services.len(),
        config.workers
    );
    ExitCode::SUCCESS
}

fn run(file: &std::path::Path, status_interval: u64) -> ExitCode {
    let config = match Config::load(file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // A second signal while stopping exits at once (status 1).
        let registered =
            signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&stop))
                .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&stop)));
        if let Err(e) = registered {
            eprintln!("error: cannot install signal handlers: {e}");
            return ExitCode::from(1);
        }
    }
    // SIGHUP asks the control thread to reload the config file.
    let reload = Arc::new(AtomicBool::new(false));
    if let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&reload)) {
        eprintln!("error: cannot install the SIGHUP handler: {e}");
        return ExitCode::from(1);
    }
    let mut runtime = match Runtime::start(config, stop, reload) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(1);
        }
    };
    runtime.wait(Duration::from_secs(status_interval));
    tracing::info!("signal received: draining and stopping");
    // The summary goes out before DPDK's teardown (the ports' close).
    runtime.shutdown(|report| {
        let mut total = WorkerCounters::default();
        for (i, c) in report.workers.iter().enumerate() {
            println!("worker {i}: {}", c.summary());
            total.add(c);
        }
        println!("total: {}", total.summary());
        println!(
            "reloads: generation={} ok={} failed={}",
            report.reloads.generation, report.reloads.reloads, report.reloads.failures
        );
    });
    // DPDK 22.11 does not join its interrupt thread at cleanup: running the shared libraries'
    // destructors could free an interrupt handle under it (seen over net_memif). Everything is
    // stopped and printed, so leave without them.
    dataplane::dpdk::exit_now(0)
}
