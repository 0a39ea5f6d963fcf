//! Start-up and shut-down of the whole dataplane: EAL, mempool, ports, snapshot, workers, and the
//! control thread's wait for a stop signal.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use arc_swap::ArcSwap;

use crate::config::Config;
use crate::control::ControlSocket;
use crate::dpdk::{Eal, Mempool, Port};
use crate::snapshot::{Mac, Snapshot};
use crate::stats::{PublishedCounters, WorkerCounters};
use crate::worker;

mod setup;
use setup::{
    bind_control_socket, check_mbufs, log_serving, longest_frame, open_ports, open_segment,
    worker_specs, MEMPOOL_CACHE,
};
pub use setup::{eal_args, mbufs_needed, punt_vdev, worker_cores};

/// What a successful reload did.
#[derive(Debug, Clone, PartialEq)]
pub struct ReloadDone {
    /// The generation now serving.
    pub generation: u64,
    /// Time from reading the file to publishing the snapshot.
    pub elapsed: Duration,
}

/// Reload counters of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReloadStats {
    /// The generation serving (1 at start-up, +1 per successful reload).
    pub generation: u64,
    /// Successful reloads.
    pub reloads: u64,
    /// Failed or refused reloads (the old config kept serving).
    pub failures: u64,
}

/// How long the control thread waits for workers to drop an old snapshot, so that it (not a
/// worker) frees it.
const RETIRE_WAIT: Duration = Duration::from_secs(2);

/// Final numbers of a run.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Per-worker counters.
    pub workers: Vec<WorkerCounters>,
    /// Reloads done and failed.
    pub reloads: ReloadStats,
}

/// A running dataplane. Field order is drop order: workers are joined explicitly, then ports
/// close, then the pool is freed, then the EAL is cleaned up (when dropped; [`Runtime::shutdown`]
/// leaves the EAL to the end of the process).
pub struct Runtime {
    config: Config,
    stop: Arc<AtomicBool>,
    reload_requested: Arc<AtomicBool>,
    control: Option<ControlSocket>,
    macs: Vec<Mac>,
    reload_stats: ReloadStats,
    snapshot: Arc<ArcSwap<Snapshot>>,
    workers: Vec<(
        Arc<PublishedCounters>,
        std::thread::JoinHandle<WorkerCounters>,
    )>,
    ports: Vec<Port>,
    /// Per port, its punt TAP (same MAC as the port), if configured.
    punt_ports: Vec<Option<Port>>,
    pool: Arc<Mempool>,
    eal: Arc<Eal>,
    started: Instant,
    /// The shared-memory stats segment (workers write their blocks, this thread the rest).
    segment: Arc<stats_layout::Writer>,
    /// The per-service counter slots of the snapshot serving.
    stat_slots: stats_layout::SlotTable,
}

impl Runtime {
    /// Brings the dataplane up: EAL, pool, ports, snapshot (zones, tables), workers.
    ///
    /// `reload_requested` is the flag SIGHUP sets; the control thread reloads when it finds it
    /// set. The control socket is bound before DPDK starts, so a second instance on the same
    /// socket fails early.
    pub fn start(
        config: Config,
        stop: Arc<AtomicBool>,
        reload_requested: Arc<AtomicBool>,
    ) -> Result<Runtime> {
        let started = Instant::now();
        check_mbufs(&config)?;
        // Compile the services before touching DPDK, so bad zones fail fast and clearly.
        let dry = Snapshot::build(&config, &vec![[0; 6]; config.ports.len()], 0)
            .with_context(|| format!("{}: cannot build the services", config.source.display()))?;
        drop(dry);
        let control = bind_control_socket(&config)?;

        let args = eal_args(&config);
        tracing::info!(?args, "initialising EAL");
        let eal = Arc::new(Eal::init(&args).context("DPDK EAL initialisation failed")?);
        let frame = longest_frame(&config);
        let pool = Mempool::new(
            &eal,
            "anycastd_pkts",
            config.mbufs,
            MEMPOOL_CACHE,
            frame,
            -1,
        )
        .context("cannot create the packet mempool (try more memory: EAL -m, or hugepages)")?;
        let pool = Arc::new(pool);
        let (ports, punt_ports) = open_ports(&config, &eal, &pool)?;
        let macs: Vec<_> = ports.iter().map(Port::mac).collect();
        let mut snap = Snapshot::build(&config, &macs, 1)?;
        let stat_slots = snap.assign_stat_slots(&stats_layout::SlotTable::default());
        let snapshot = Arc::new(ArcSwap::from_pointee(snap));
        let specs = worker_specs(&config, &ports, &punt_ports, &pool);
        let segment = Arc::new(open_segment(&config)?);
        segment.publish_service_names(&stat_slots);
        let workers = worker::spawn_all(specs, &eal, &snapshot, &stop, &segment)
            .context("cannot start worker threads")?;
        log_serving(&config, &ports);
        tracing::info!(
            workers = config.workers,
            control_socket = %control
                .as_ref()
                .map_or("none".into(), |c| c.path().display().to_string()),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "anycastd running"
        );
        Ok(Runtime {
            config,
            stop,
            reload_requested,
            control,
            macs,
            reload_stats: ReloadStats {
                generation: 1,
                ..ReloadStats::default()
            },
            snapshot,
            workers,
            ports,
            punt_ports,
            pool,
            eal,
            started,
            segment,
            stat_slots,
        })
        .inspect(|rt| {
            rt.publish_control();
            rt.segment.set_state(stats_layout::RunState::Running);
        })
    }

    /// The control thread's part of the stats segment: heartbeat (wall clock and the workers'
    /// clock), config generation and reload counters, and the ports' device counters.
    fn publish_control(&self) {
        let r = self.reload_stats;
        self.segment
            .set_generation(r.generation, r.reloads, r.failures);
        for (i, port) in self.ports.iter().enumerate() {
            let s = port.stats();
            self.segment.publish_port(
                i,
                &stats_layout::PortValues {
                    name: String::new(),
                    ipackets: s.ipackets,
                    opackets: s.opackets,
                    ibytes: s.ibytes,
                    obytes: s.obytes,
                    imissed: s.imissed,
                    ierrors: s.ierrors,
                    oerrors: s.oerrors,
                    rx_nombuf: s.rx_nombuf,
                },
            );
        }
        let hz = crate::dpdk::tsc_hz(&self.eal).max(1);
        self.segment
            .heartbeat(crate::dpdk::tsc() / (hz / 1000).max(1));
    }

    /// Counters as last published by each worker.
    pub fn counters(&self) -> Vec<WorkerCounters> {
        self.workers.iter().map(|(p, _)| p.read()).collect()
    }

    /// The config in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.snapshot.load()
    }

    /// Reload counters.
    pub fn reload_stats(&self) -> ReloadStats {
        self.reload_stats
    }

    /// Re-reads the config file with exactly the code `anycastd check` runs (`Config::load`,
    /// `Snapshot::build`), and publishes the new snapshot for the workers to pick up at their
    /// next poll. Settings only a restart can apply are refused, and any error leaves the old
    /// config serving untouched. The old snapshot is freed here once no worker holds it.
    pub fn reload(&mut self) -> Result<ReloadDone, String> {
        let started = Instant::now();
        let result = self.try_reload(started);
        match &result {
            Ok(done) => {
                self.reload_stats.reloads += 1;
                tracing::info!(
                    generation = done.generation,
                    elapsed_ms = done.elapsed.as_secs_f64() * 1e3,
                    "reloaded {}",
                    self.config.source.display()
                );
            }
            Err(e) => {
                self.reload_stats.failures += 1;
                tracing::error!(
                    failures = self.reload_stats.failures,
                    "reload failed, the old config keeps serving: {e}"
                );
            }
        }
        result
    }

    fn try_reload(&mut self, started: Instant) -> Result<ReloadDone, String> {
        let new = Config::load(&self.config.source).map_err(|e| e.to_string())?;
        let restart = self.config.restart_only_changes(&new);
        if !restart.is_empty() {
            return Err(format!(
                "{}: {} changed: a restart is needed to apply {}; nothing was changed",
                new.source.display(),
                restart.join(", "),
                if restart.len() == 1 { "it" } else { "them" }
            ));
        }
        let generation = self.reload_stats.generation + 1;
        let mut snap = Snapshot::build(&new, &self.macs, generation)
            .map_err(|e| format!("{}: {e}", new.source.display()))?;
        // The new names go out before the workers count for them (see stats_layout::services).
        let stat_slots = snap.assign_stat_slots(&self.stat_slots);
        self.segment.publish_service_names(&stat_slots);
        self.stat_slots = stat_slots;
        let old = self.snapshot.swap(Arc::new(snap));
        let elapsed = started.elapsed();
        self.config = new;
        self.reload_stats.generation = generation;
        retire(old);
        Ok(ReloadDone {
            generation,
            elapsed,
        })
    }

    /// Answers one control socket command.
    fn control_command(&mut self, cmd: &str) -> String {
        match cmd {
            "reload" => match self.reload() {
                Ok(done) => format!(
                    "ok generation={} elapsed_ms={:.3}",
                    done.generation,
                    done.elapsed.as_secs_f64() * 1e3
                ),
                Err(e) => format!("error: {e}"),
            },
            "status" => {
                let r = self.reload_stats;
                let mut out = format!(
                    "ok generation={} reloads={} reload_failures={}\n",
                    r.generation, r.reloads, r.failures
                );
                let mut total = WorkerCounters::default();
                for (i, c) in self.counters().iter().enumerate() {
                    out.push_str(&format!("worker {i}: {}\n", c.summary()));
                    total.add(c);
                }
                out.push_str(&format!("total: {}\n", total.summary()));
                out
            }
            other => format!("error: unknown command '{other}' (expected reload or status)"),
        }
    }

    /// Blocks until the stop flag is set, serving reload requests (SIGHUP, control socket) and
    /// logging a status line every `status_every` when traffic changed.
    pub fn wait(&mut self, status_every: Duration) {
        let mut last_status = Instant::now();
        let mut last = WorkerCounters::default();
        let mut last_check = Instant::now();
        let mut seen = fingerprint(&self.config.watched_files());
        let mut last_publish = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
            if last_publish.elapsed() >= STATS_EVERY {
                last_publish = Instant::now();
                self.publish_control();
            }
            if self.config.watch && last_check.elapsed() >= WATCH_EVERY {
                last_check = Instant::now();
                let now = fingerprint(&self.config.watched_files());
                if now != seen {
                    tracing::info!("config or zone file changed: reloading");
                    let _ = self.reload();
                    // Whatever the outcome, wait for the next change (a fixed file is one).
                    seen = fingerprint(&self.config.watched_files());
                }
            }
            if self.reload_requested.swap(false, Ordering::SeqCst) {
                tracing::info!("SIGHUP: reloading");
                let _ = self.reload();
            }
            if let Some(control) = self.control.take() {
                control.serve_pending(|cmd| self.control_command(cmd));
                self.control = Some(control);
            }
            if !status_every.is_zero() && last_status.elapsed() >= status_every {
                let mut total = WorkerCounters::default();
                for c in self.counters() {
                    total.add(&c);
                }
                if total != last {
                    let secs = last_status.elapsed().as_secs_f64();
                    tracing::info!(
                        "status: {} | {:.0} pps in, {:.0} pps out",
                        total.summary(),
                        (total.rx_packets - last.rx_packets) as f64 / secs,
                        (total.tx_packets - last.tx_packets) as f64 / secs
                    );
                    last = total;
                }
                last_status = Instant::now();
            }
        }
    }

    /// Stops the workers (they drain their queues), hands the final counters to `on_stopped`,
    /// then stops and closes the ports and frees the mempool.
    /// `on_stopped` runs before DPDK's teardown so that what it reports is out even if that
    /// teardown fails. The EAL is left initialised, its memory mapped
    /// ([`Eal::release_at_exit`]): end the process next, with [`crate::dpdk::exit_now`].
    pub fn shutdown(mut self, on_stopped: impl FnOnce(&RunReport)) {
        self.stop.store(true, Ordering::SeqCst);
        let mut workers = Vec::new();
        for (published, handle) in std::mem::take(&mut self.workers) {
            match handle.join() {
                Ok(c) => workers.push(c),
                Err(_) => {
                    tracing::error!("a worker panicked; reporting its last published counters");
                    workers.push(published.read());
                }
            }
        }
        // Final values for the sidecar: the workers published theirs as they stopped.
        self.publish_control();
        self.segment.set_state(stats_layout::RunState::Stopped);
        for (p, port) in self.config.ports.iter().zip(&self.ports) {
            let s = port.stats();
            tracing::info!(
                port = p.name,
                ipackets = s.ipackets,
                opackets = s.opackets,
                imissed = s.imissed,
                ierrors = s.ierrors,
                oerrors = s.oerrors,
                rx_nombuf = s.rx_nombuf,
                "port stats"
            );
        }
        let report = RunReport {
            workers,
            reloads: self.reload_stats,
        };
        on_stopped(&report);
        tracing::info!(
            uptime_s = self.started.elapsed().as_secs_f64(),
            free_mbufs = self.pool.available(),
            "stopping"
        );
        drop(self.control);
        drop(self.punt_ports);
        drop(self.ports);
        drop(self.pool);
        // Not cleaned up: the process ends next (see `Eal::release_at_exit`).
        Eal::release_at_exit(self.eal);
    }
}

/// How often the control thread refreshes its heartbeat and the port counters in the segment.
const STATS_EVERY: Duration = Duration::from_millis(100);

/// How often a `watch = true` config's files are checked for changes.
const WATCH_EVERY: Duration = Duration::from_millis(500);

/// Modification time and length of each file (`None` when unreadable).
fn fingerprint(files: &[std::path::PathBuf]) -> Vec<Option<(std::time::SystemTime, u64)>> {
    files
        .iter()
        .map(|f| {
            let m = std::fs::metadata(f).ok()?;
            Some((m.modified().ok()?, m.len()))
        })
        .collect()
}

/// Frees a replaced snapshot on this (the control) thread: waits, bounded, until the workers'
/// guards on it are gone (each worker loads the snapshot once per poll loop). Zones and tables
/// can be large; freeing them here keeps the work off the workers.
fn retire(old: Arc<Snapshot>) {
    let deadline = Instant::now() + RETIRE_WAIT;
    while Arc::strong_count(&old) > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(200));
    }
    if Arc::strong_count(&old) > 1 {
        tracing::warn!("a worker still holds the old snapshot; it frees it when done");
    }
    drop(old);
}
