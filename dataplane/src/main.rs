//! `anycastd`: run the dataplane, or check a config.
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use dataplane::config::Config;
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
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Check { file } => check(&file),
        Command::Run {
            config,
            status_interval,
        } => run(&config, status_interval),
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
    let runtime = match Runtime::start(config, stop) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(1);
        }
    };
    runtime.wait(Duration::from_secs(status_interval));
    tracing::info!("signal received: draining and stopping");
    let report = runtime.shutdown();
    let mut total = WorkerCounters::default();
    for (i, c) in report.workers.iter().enumerate() {
        println!("worker {i}: {}", c.summary());
        total.add(c);
    }
    println!("total: {}", total.summary());
    ExitCode::SUCCESS
}
