//! The parts of [`super::Runtime::start`]: the checks before DPDK starts, the EAL's
//! arguments, the ports and punt TAPs opened, the workers' specifications, the stats segment.
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use crate::config::{Config, DEFAULT_MTU};
use crate::control::ControlSocket;
use crate::dpdk::{Eal, Mempool, Port, MAX_BURST};
use crate::worker::WorkerSpec;

/// Per-lcore mempool cache size.
pub(super) const MEMPOOL_CACHE: u32 = 256;
/// Neighbour answers a worker's inbox holds.
const NEIGHBOR_INBOX: usize = 256;

/// The EAL arguments for `config`: the configured ones plus one `--vdev` (or `-a` for PCI) per
/// port.
pub fn eal_args(config: &Config) -> Vec<String> {
    let mut args = config.eal_args.clone();
    for p in &config.ports {
        if p.is_pci() {
            args.push("-a".into());
        } else {
            args.push("--vdev".into());
        }
        args.push(p.device.clone());
    }
    for (i, p) in config.ports.iter().enumerate() {
        if let Some(tap) = &p.punt_tap {
            args.push("--vdev".into());
            args.push(format!("{},iface={tap}", punt_vdev(i)));
        }
    }
    args
}

/// The ethdev name of port `i`'s punt TAP.
pub fn punt_vdev(i: usize) -> String {
    format!("net_tap_anycpunt{i}")
}

/// The ethdevs the config opens: its ports and their punt TAPs.
fn ethdevs(config: &Config) -> usize {
    config.ports.len() + config.ports.iter().filter(|p| p.punt_tap.is_some()).count()
}

/// Mbufs the ports and workers can hold at once; the pool must be larger.
pub fn mbufs_needed(config: &Config) -> u64 {
    let queues = (ethdevs(config) * config.workers) as u64;
    let per_queue = 2 * u64::from(config.descriptors);
    let lcores = config.workers as u64 + 1;
    queues * per_queue
        + config.workers as u64 * 2 * MAX_BURST as u64
        + lcores * u64::from(MEMPOOL_CACHE)
}

/// Cores for the workers: the configured list, or cores 1.. (after the control thread's core 0),
/// wrapping around on small machines.
pub fn worker_cores(config: &Config) -> Vec<usize> {
    if let Some(c) = &config.cores {
        return c.clone();
    }
    let n = crate::config::online_cores();
    (0..config.workers)
        .map(|w| if n > 1 { 1 + w % (n - 1) } else { 0 })
        .collect()
}

/// Creates the stats segment at `[stats] path`. When the default path is held by another
/// anycastd on this box, the counters go to an unshared segment instead (with a warning); an
/// explicit path must work.
pub(super) fn open_segment(config: &Config) -> Result<stats_layout::Writer> {
    let names: Vec<&str> = config.ports.iter().map(|p| p.name.as_str()).collect();
    match stats_layout::Writer::create(&config.stats.path, &names, config.workers) {
        Ok(w) => {
            tracing::info!(path = %config.stats.path.display(), "stats segment");
            Ok(w)
        }
        Err(e) if config.stats.default_path => {
            tracing::warn!(
                "stats segment not shared ({}: {e}); set [stats] path for the sidecar",
                config.stats.path.display()
            );
            stats_layout::Writer::anonymous(&names, config.workers)
                .context("cannot allocate the stats segment")
        }
        Err(e) => Err(e).with_context(|| {
            format!(
                "cannot create the stats segment {}",
                config.stats.path.display()
            )
        }),
    }
}

/// Fails when `dataplane.mbufs` cannot fill every queue ([`mbufs_needed`]).
pub(super) fn check_mbufs(config: &Config) -> Result<()> {
    let needed = mbufs_needed(config);
    if u64::from(config.mbufs) < needed {
        bail!(
            "{}: dataplane.mbufs = {} is too small: {} ports (punt taps included) × {} queues × {} descriptors need at least {needed}",
            config.source.display(),
            config.mbufs,
            ethdevs(config),
            config.workers,
            config.descriptors
        );
    }
    Ok(())
}

/// The control socket (`anycastd reload`). The default path is shared by every instance on the
/// box: when another one holds it, there is none (SIGHUP still reloads). An explicit path must
/// work.
pub(super) fn bind_control_socket(config: &Config) -> Result<Option<ControlSocket>> {
    match ControlSocket::bind(&config.control_socket) {
        Ok(c) => Ok(Some(c)),
        Err(e)
            if config.control_socket
                == std::path::Path::new(crate::config::DEFAULT_CONTROL_SOCKET) =>
        {
            tracing::warn!(
                "control socket disabled ({e}); SIGHUP still reloads; set \
                 [dataplane] control_socket for `anycastd reload`"
            );
            Ok(None)
        }
        Err(e) => Err(e).with_context(|| {
            format!(
                "cannot open the control socket {}",
                config.control_socket.display()
            )
        }),
    }
}

/// The longest frame any port receives: its MTU with the Ethernet header and room for a CRC
/// (the packet mbufs' data room, single-segment, is sized for it).
pub(super) fn longest_frame(config: &Config) -> u16 {
    let mtu = config
        .ports
        .iter()
        .map(|p| p.mtu)
        .max()
        .unwrap_or(DEFAULT_MTU);
    mtu + 18
}

/// Opens the configured ports, a queue per worker each, and their punt TAPs (`None` for a port
/// without one), each TAP with its port's MAC.
pub(super) fn open_ports(
    config: &Config,
    eal: &Eal,
    pool: &Arc<Mempool>,
) -> Result<(Vec<Port>, Vec<Option<Port>>)> {
    let open = |name: &str, mtu: u16| {
        Port::open(
            eal,
            name,
            config.workers as u16,
            config.descriptors,
            mtu,
            pool,
        )
    };
    let mut ports = Vec::new();
    for p in &config.ports {
        let port = open(p.dpdk_name(), p.mtu)
            .with_context(|| format!("port '{}' ({})", p.name, p.device))?;
        ports.push(port);
    }
    let mut punt_ports = Vec::new();
    for (i, (p, port)) in config.ports.iter().zip(&ports).enumerate() {
        let Some(tap) = &p.punt_tap else {
            punt_ports.push(None);
            continue;
        };
        // The kernel's side keeps Ethernet's MTU: its TCP peers (BGP, ssh) then send segments
        // that fit it whatever the port's MTU.
        let mut punt = open(&punt_vdev(i), DEFAULT_MTU)
            .with_context(|| format!("punt tap '{tap}' of port '{}'", p.name))?;
        // The kernel answers from the port's addresses, so it needs the port's MAC.
        punt.set_mac(port.mac())
            .with_context(|| format!("punt tap '{tap}': cannot set its MAC"))?;
        tracing::info!(
            port = p.name,
            punt_tap = tap,
            "exception path to the kernel"
        );
        punt_ports.push(Some(punt));
    }
    Ok((ports, punt_ports))
}

/// Each worker's core, queues (its own on every port and punt TAP), settings and the other
/// workers' neighbour inboxes: neighbour answers one worker sees are copied to the others
/// (bounded inboxes).
pub(super) fn worker_specs(
    config: &Config,
    ports: &[Port],
    punt_ports: &[Option<Port>],
    pool: &Arc<Mempool>,
) -> Vec<WorkerSpec> {
    let cores = worker_cores(config);
    let inboxes: Vec<_> = (0..config.workers)
        .map(|_| crossbeam_channel::bounded(NEIGHBOR_INBOX))
        .collect();
    (0..config.workers)
        .map(|w| WorkerSpec {
            index: w,
            core: cores.get(w).copied(),
            queues: ports
                .iter()
                .enumerate()
                .map(|(i, p)| (i, p.queue(w as u16)))
                .collect(),
            punt: punt_ports
                .iter()
                .map(|t| t.as_ref().map(|t| t.queue(w as u16)))
                .collect(),
            idle: config.idle,
            flow_table: config.flow_table,
            pool: Some(Arc::clone(pool)),
            share_to: inboxes
                .iter()
                .enumerate()
                .filter(|(o, _)| *o != w)
                .map(|(_, (tx, _))| tx.clone())
                .collect(),
            inbox: (config.workers > 1).then(|| inboxes[w].1.clone()),
        })
        .collect()
}

/// Logs each port's MAC and link.
pub(super) fn log_serving(config: &Config, ports: &[Port]) {
    for (p, port) in config.ports.iter().zip(ports) {
        let mac = port.mac();
        let link = port.link();
        tracing::info!(
            port = p.name,
            mac = format!(
                "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
            ),
            link_up = link.up,
            speed_mbps = link.speed_mbps,
            "serving"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(mbufs: u32, descriptors: u16, punt_tap: bool) -> Config {
        let tap = if punt_tap { "punt_tap = \"k0\"\n" } else { "" };
        let text = format!(
            "[dataplane]\nworkers = 2\nmbufs = {mbufs}\ndescriptors = {descriptors}\n\
             [[port]]\nname = \"a\"\ndevice = \"net_null0\"\n{tap}"
        );
        Config::parse(std::path::Path::new("/etc/anycastd/t.toml"), &text).unwrap()
    }

    /// Every queue's descriptors twice (rx ring and tx ring), a burst per worker twice, and a
    /// mempool cache per lcore: the pool must hold them all, or start-up says how many it needs.
    #[test]
    fn mbufs_must_cover_every_queue() {
        // 1 port × 2 workers × 2 × 1024, + 2 × 2 × 32, + 3 lcores × 256.
        assert_eq!(mbufs_needed(&config(8191, 1024, false)), 4096 + 128 + 768);
        // The punt TAP is one more queue per worker.
        assert_eq!(mbufs_needed(&config(8191, 1024, true)), 8192 + 128 + 768);
        assert!(check_mbufs(&config(8191, 1024, false)).is_ok());
        let err = check_mbufs(&config(8191, 1024, true))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("dataplane.mbufs = 8191 is too small") && err.ends_with("at least 9088"),
            "{err}"
        );
    }
}
