//! Ethernet ports: find, configure (queues, RSS), start, burst I/O, link status and stats.
use std::ffi::{CStr, CString};

use super::{Burst, DpdkError, Eal, Mempool, MAX_BURST};
use crate::snapshot::Mac;

/// A symmetric Toeplitz key (0x6d5a repeated): both directions of a flow hash alike, so a flow
/// and its replies land on the same queue.
const SYMMETRIC_RSS_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
];

/// Drivers whose several queues are fed by the peer (the kernel, a memif peer) rather than by
/// RSS: `workers > 1` works on them without RSS offloads.
const SELF_SPREADING_DRIVERS: [&str; 2] = ["net_tap", "net_memif"];

/// Link state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkStatus {
    /// Link up.
    pub up: bool,
    /// Speed in Mbit/s.
    pub speed_mbps: u32,
}

/// Basic device counters (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub ipackets: u64,
    /// Packets sent.
    pub opackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Bytes sent.
    pub obytes: u64,
    /// Packets the device dropped because rx queues were full.
    pub imissed: u64,
    /// Receive errors.
    pub ierrors: u64,
    /// Transmit errors.
    pub oerrors: u64,
    /// rx mbuf allocation failures.
    pub rx_nombuf: u64,
}

/// A configured and started port. Stopped and closed on drop.
#[derive(Debug)]
pub struct Port {
    id: u16,
    name: String,
    queues: u16,
    rss: bool,
    mac: Mac,
}

/// One worker's rx/tx queue pair on a port: all it needs for burst I/O. Queues are not shared,
/// so burst calls on different handles run concurrently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueHandle {
    /// DPDK port id.
    pub port: u16,
    /// Queue index (the same for rx and tx).
    pub queue: u16,
}

impl QueueHandle {
    /// Receives up to `MAX_BURST - rx.len()` packets into `rx`; returns how many arrived.
    #[inline]
    pub fn rx_burst(&self, rx: &mut Burst) -> usize {
        let room = (MAX_BURST - rx.len) as u16;
        // SAFETY: ptrs[len..] has room for `room` pointers; the queue is owned by this worker.
        let n = unsafe {
            ffi::anyc_rx_burst(
                self.port,
                self.queue,
                rx.ptrs.as_mut_ptr().add(rx.len),
                room,
            )
        };
        rx.len += usize::from(n);
        usize::from(n)
    }

    /// Sends what `tx` holds, retrying up to `retries` times while the device takes some.
    /// Returns (sent, dropped); dropped mbufs are freed. `tx` is empty afterwards.
    #[inline]
    pub fn tx_burst(&self, tx: &mut Burst, retries: u32) -> (usize, usize) {
        let mut sent = 0;
        let mut tries = 0;
        while !tx.is_empty() {
            // SAFETY: ptrs[..len] are owned mbufs; the device takes ownership of the first n.
            let n = usize::from(unsafe {
                ffi::anyc_tx_burst(self.port, self.queue, tx.ptrs.as_mut_ptr(), tx.len as u16)
            });
            tx.consume_front(n);
            sent += n;
            if n == 0 {
                tries += 1;
                if tries > retries {
                    break;
                }
            }
        }
        let dropped = tx.len();
        tx.clear();
        (sent, dropped)
    }
}

impl QueueHandle {
    /// Offers what `tx` holds to the device once and keeps, in order, what it did not take (a
    /// traffic generator retries those instead of building new frames). Returns how many were
    /// sent.
    #[inline]
    pub fn tx_burst_keep(&self, tx: &mut Burst) -> usize {
        if tx.is_empty() {
            return 0;
        }
        // SAFETY: ptrs[..len] are owned mbufs; the device takes ownership of the first n, which
        // consume_front then forgets.
        let n = usize::from(unsafe {
            ffi::anyc_tx_burst(self.port, self.queue, tx.ptrs.as_mut_ptr(), tx.len as u16)
        });
        tx.consume_front(n);
        n
    }
}

/// Refuses an `mtu` the device does not take, with its range, before configure would (DPDK
/// says only "invalid argument"). The largest is what configure allows: the driver's `max_mtu`,
/// and its longest frame less the link overhead (that frame less `max_mtu` when the driver
/// gives both, else 18 bytes of Ethernet header and CRC).
fn check_mtu(
    info: &ffi::rte_eth_dev_info,
    mtu: u16,
    dpdk_name: &str,
    driver: &str,
) -> Result<(), DpdkError> {
    let (max_frame, max_mtu) = (info.max_rx_pktlen, u32::from(info.max_mtu));
    let overhead = if info.max_mtu != u16::MAX && max_frame > max_mtu {
        max_frame - max_mtu
    } else {
        18
    };
    let max = max_mtu.min(max_frame.saturating_sub(overhead));
    let min = u32::from(info.min_mtu);
    if (min..=max).contains(&u32::from(mtu)) {
        return Ok(());
    }
    Err(DpdkError {
        call: format!("configure {dpdk_name}"),
        errno: libc::EINVAL,
        message: format!(
            "mtu {mtu} is outside what device {dpdk_name} ({driver}) takes: {min}..={max} \
             (frames up to {max_frame} bytes)"
        ),
    })
}

impl Port {
    /// Finds the device DPDK created for `dpdk_name` (a vdev name or PCI address), configures
    /// `queues` rx/tx queue pairs with `descriptors` each over `pool` and an MTU of `mtu`
    /// (refused when the device cannot take it), enables RSS on IP/TCP/UDP when `queues > 1`,
    /// and starts it.
    pub fn open(
        _eal: &Eal,
        dpdk_name: &str,
        queues: u16,
        descriptors: u16,
        mtu: u16,
        pool: &Mempool,
    ) -> Result<Port, DpdkError> {
        let cname = CString::new(dpdk_name)
            .map_err(|_| DpdkError::from_errno("port name", libc::EINVAL))?;
        let mut id = 0u16;
        // SAFETY: cname is a valid C string; id is a valid out pointer.
        let ret = unsafe { ffi::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id) };
        if ret != 0 {
            return Err(DpdkError {
                call: format!("rte_eth_dev_get_port_by_name({dpdk_name})"),
                errno: libc::ENODEV,
                message: format!(
                    "no ethdev named '{dpdk_name}': check the port's device string (a vdev such as \
                     net_tap0,iface=x or a PCI address bound to a DPDK driver with dpdk-devbind)"
                ),
            });
        }
        let mut info = ffi::rte_eth_dev_info::default();
        // SAFETY: id is a valid port; info is a valid out pointer.
        let ret = unsafe { ffi::rte_eth_dev_info_get(id, &mut info) };
        if ret != 0 {
            return Err(DpdkError::from_code(
                format!("rte_eth_dev_info_get({dpdk_name})"),
                ret,
            ));
        }
        if queues > info.max_rx_queues || queues > info.max_tx_queues {
            return Err(DpdkError {
                call: format!("configure {dpdk_name}"),
                errno: libc::EINVAL,
                message: format!(
                    "{queues} workers need {queues} rx/tx queues but the device offers {} rx / {} tx",
                    info.max_rx_queues, info.max_tx_queues
                ),
            });
        }
        let mut conf = ffi::rte_eth_conf::default();
        let wanted_rss = u64::from(ffi::RTE_ETH_RSS_IP)
            | u64::from(ffi::RTE_ETH_RSS_TCP)
            | u64::from(ffi::RTE_ETH_RSS_UDP);
        let rss_hf = wanted_rss & info.flow_type_rss_offloads;
        let mut key = SYMMETRIC_RSS_KEY;
        let driver = if info.driver_name.is_null() {
            "?".to_owned()
        } else {
            // SAFETY: driver_name is a static NUL-terminated string owned by the driver.
            unsafe { CStr::from_ptr(info.driver_name) }
                .to_string_lossy()
                .into_owned()
        };
        // Devices whose queues are fed by their peer rather than by hardware RSS: net_tap's
        // kernel side picks a queue per flow (tun's symmetric flow hash), a memif peer writes
        // each of its queues.
        let peer_spread = queues > 1 && SELF_SPREADING_DRIVERS.contains(&driver.as_str());
        if peer_spread {
            tracing::info!(
                port = dpdk_name,
                driver,
                queues,
                "the device's peer spreads flows over its queues; no RSS configured"
            );
        }
        check_mtu(&info, mtu, dpdk_name, &driver)?;
        conf.rxmode.mtu = u32::from(mtu);
        let rss = queues > 1 && rss_hf != 0 && !peer_spread;
        if queues > 1 && !rss && !peer_spread {
            return Err(DpdkError {
                call: format!("configure {dpdk_name}"),
                errno: libc::ENOTSUP,
                message: format!(
                    "device {dpdk_name} has no RSS, so it cannot spread flows over {queues} workers; \
                     use workers = 1"
                ),
            });
        }
        if rss {
            conf.rxmode.mq_mode = ffi::RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
            if usize::from(info.hash_key_size) == key.len() {
                conf.rx_adv_conf.rss_conf.rss_key = key.as_mut_ptr();
                conf.rx_adv_conf.rss_conf.rss_key_len = key.len() as u8;
            }
        }
        // SAFETY: id is valid; conf is fully initialised and the key outlives the call.
        let ret = unsafe { ffi::rte_eth_dev_configure(id, queues, queues, &conf) };
        if ret != 0 {
            return Err(DpdkError::from_code(
                format!("rte_eth_dev_configure({dpdk_name})"),
                ret,
            ));
        }
        if u32::from(mtu) != ffi::RTE_ETHER_MTU {
            // Configure gave the driver the MTU; a device with a kernel side (net_tap) or that
            // reads it only from its own setting is told again. Devices without the setting
            // (most vdevs) carry frames of any length.
            // SAFETY: id is valid and configured.
            let ret = unsafe { ffi::rte_eth_dev_set_mtu(id, mtu) };
            if ret == -libc::ENOTSUP {
                tracing::debug!("{dpdk_name}: no MTU setting; frames up to mtu {mtu} pass");
            } else if ret != 0 {
                return Err(DpdkError::from_code(
                    format!("rte_eth_dev_set_mtu({dpdk_name}, {mtu})"),
                    ret,
                ));
            }
        }
        let (mut nb_rx, mut nb_tx) = (descriptors, descriptors);
        // SAFETY: id is valid; the out pointers are valid.
        let ret = unsafe { ffi::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut nb_rx, &mut nb_tx) };
        if ret != 0 {
            return Err(DpdkError::from_code(
                format!("rte_eth_dev_adjust_nb_rx_tx_desc({dpdk_name})"),
                ret,
            ));
        }
        // SAFETY: id is valid.
        let socket = unsafe { ffi::rte_eth_dev_socket_id(id) };
        let socket = if socket < 0 { 0 } else { socket as u32 };
        for q in 0..queues {
            // SAFETY: id/q valid; NULL conf means the device defaults; pool outlives the port.
            let ret = unsafe {
                ffi::rte_eth_rx_queue_setup(id, q, nb_rx, socket, std::ptr::null(), pool.as_ptr())
            };
            if ret != 0 {
                return Err(DpdkError::from_code(
                    format!("rte_eth_rx_queue_setup({dpdk_name}, {q})"),
                    ret,
                ));
            }
            // SAFETY: as above.
            let ret =
                unsafe { ffi::rte_eth_tx_queue_setup(id, q, nb_tx, socket, std::ptr::null()) };
            if ret != 0 {
                return Err(DpdkError::from_code(
                    format!("rte_eth_tx_queue_setup({dpdk_name}, {q})"),
                    ret,
                ));
            }
        }
        // SAFETY: id is valid and configured.
        let ret = unsafe { ffi::rte_eth_dev_start(id) };
        if ret != 0 {
            return Err(DpdkError::from_code(
                format!("rte_eth_dev_start({dpdk_name})"),
                ret,
            ));
        }
        // Multicast is needed for NDP (solicited-node groups); not every vdev supports it.
        // SAFETY: id is valid and started.
        if unsafe { ffi::rte_eth_allmulticast_enable(id) } != 0 {
            tracing::debug!("{dpdk_name}: allmulticast not supported");
        }
        let mut addr = ffi::rte_ether_addr::default();
        // SAFETY: id valid; addr is a valid out pointer.
        let ret = unsafe { ffi::rte_eth_macaddr_get(id, &mut addr) };
        if ret != 0 {
            // Answering from an all-zero MAC would fail silently: refuse the port instead.
            return Err(DpdkError::from_code(
                format!("rte_eth_macaddr_get({dpdk_name})"),
                ret,
            ));
        }
        tracing::info!(
            port = dpdk_name,
            id,
            driver,
            queues,
            rss,
            mtu,
            rx_desc = nb_rx,
            tx_desc = nb_tx,
            "port started"
        );
        Ok(Port {
            id,
            name: dpdk_name.to_owned(),
            queues,
            rss,
            mac: addr.addr_bytes,
        })
    }

    /// DPDK port id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The ethdev name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The port's MAC address.
    pub fn mac(&self) -> Mac {
        self.mac
    }

    /// Sets the port's MAC address (for net_tap, the kernel interface's too).
    pub fn set_mac(&mut self, mac: Mac) -> Result<(), DpdkError> {
        extern "C" {
            // Not in the ffi allowlist; a stable exported DPDK 22.11 function.
            fn rte_eth_dev_default_mac_addr_set(
                port_id: u16,
                mac_addr: *mut ffi::rte_ether_addr,
            ) -> i32;
        }
        let mut addr = ffi::rte_ether_addr { addr_bytes: mac };
        // SAFETY: id is a valid started port; addr is a valid rte_ether_addr for the call.
        let ret = unsafe { rte_eth_dev_default_mac_addr_set(self.id, &mut addr) };
        if ret != 0 {
            return Err(DpdkError::from_code(
                format!("rte_eth_dev_default_mac_addr_set({})", self.name),
                ret,
            ));
        }
        self.mac = mac;
        Ok(())
    }

    /// True when RSS spreads flows over the queues.
    pub fn rss(&self) -> bool {
        self.rss
    }

    /// The handle for queue `q`.
    pub fn queue(&self, q: u16) -> QueueHandle {
        assert!(q < self.queues, "queue {q} of {}", self.queues);
        QueueHandle {
            port: self.id,
            queue: q,
        }
    }

    /// Link status, without waiting.
    pub fn link(&self) -> LinkStatus {
        let mut link = ffi::rte_eth_link::default();
        // SAFETY: id valid; link is a valid out pointer.
        unsafe { ffi::rte_eth_link_get_nowait(self.id, &mut link) };
        LinkStatus {
            up: link.link_status() != 0,
            speed_mbps: link.link_speed,
        }
    }

    /// Basic device counters.
    pub fn stats(&self) -> PortStats {
        let mut s = ffi::rte_eth_stats::default();
        // SAFETY: id valid; s is a valid out pointer.
        unsafe { ffi::rte_eth_stats_get(self.id, &mut s) };
        PortStats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        }
    }

    /// Extended device counters as (name, value).
    pub fn xstats(&self) -> Vec<(String, u64)> {
        // SAFETY: id valid; a NULL array asks for the count.
        let n = unsafe { ffi::rte_eth_xstats_get_names(self.id, std::ptr::null_mut(), 0) };
        if n <= 0 {
            return Vec::new();
        }
        let mut names = vec![ffi::rte_eth_xstat_name::default(); n as usize];
        let mut vals = vec![ffi::rte_eth_xstat::default(); n as usize];
        // SAFETY: both arrays hold n entries.
        let got_names =
            unsafe { ffi::rte_eth_xstats_get_names(self.id, names.as_mut_ptr(), n as u32) };
        // SAFETY: as above.
        let got_vals = unsafe { ffi::rte_eth_xstats_get(self.id, vals.as_mut_ptr(), n as u32) };
        if got_names != n || got_vals != n {
            return Vec::new();
        }
        vals.iter()
            .filter_map(|v| {
                let name = names.get(v.id as usize)?;
                // SAFETY: DPDK NUL-terminates xstat names within the 64-byte array.
                let s = unsafe { CStr::from_ptr(name.name.as_ptr()) };
                Some((s.to_string_lossy().into_owned(), v.value))
            })
            .collect()
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        // SAFETY: the port was started by us; workers using its queues have stopped.
        unsafe {
            if ffi::rte_eth_dev_stop(self.id) != 0 {
                tracing::warn!(port = self.name, "stop failed");
            }
            ffi::rte_eth_dev_close(self.id);
        }
    }
}
