//! `anycastd-gen`: a DPDK traffic generator for benchmarking anycastd (or `dpdk-testpmd` in
//! macswap mode) over one port, normally a `net_memif` client. Sends one profile at a fixed rate
//! or as fast as the link takes, counts what comes back, validates sampled answers, measures
//! latency from TSC stamps carried in each frame, and prints one JSON object with the results on
//! stdout (progress goes to stderr).
//!
//! ```text
//! anycastd-gen --profile icmp --seconds 5 --dut anycastd -- -l 0 --no-huge -m 512 --no-pci \
//!     --file-prefix gen --vdev net_memif0,role=client,socket=/tmp/m.sock,mac=02:00:00:00:00:02
//! ```
//!
//! Shut-down order matters with DPDK 22.11's memif: after the run the generator stops polling,
//! prints its results and keeps the port open until the peer closes the link (or `--linger`
//! seconds pass), so neither side is forwarding when the other disconnects.
mod hist;
mod profile;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use dataplane::dpdk::{self, Burst, Eal, Mempool, Port, MAX_BURST};
use dataplane::packet::PacketBuffer;
use serde::Serialize;

use hist::Histogram;
use profile::{Builder, Dut, Profile};

#[derive(Parser, Debug)]
#[command(
    name = "anycastd-gen",
    version,
    about = "DPDK traffic generator for anycastd benchmarks (see bench/README.md)"
)]
struct Cli {
    /// Profile: arp, icmp, dns, forward-tcp, forward-udp, flood.
    #[arg(long, default_value = "icmp")]
    profile: String,
    /// What answers: "anycastd" (answers/forwards are validated) or "testpmd" (macswap echo).
    #[arg(long, default_value = "anycastd")]
    dut: String,
    /// Seconds of traffic.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Offered rate in Mpps, or "max" (as fast as the link takes frames).
    #[arg(long, default_value = "max")]
    rate: String,
    /// Frame size in bytes including the FCS (64..=1518); DNS queries keep their own size.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Concurrent flows (forward-tcp, forward-udp).
    #[arg(long, default_value_t = 1_000_000)]
    flows: u32,
    /// Share of forward packets that open a new flow (0..=1).
    #[arg(long, default_value_t = 0.01)]
    new_flow_share: f64,
    /// The DPDK port name to use.
    #[arg(long, default_value = "net_memif0")]
    port: String,
    /// Seconds to wait for the link to come up.
    #[arg(long, default_value_t = 10.0)]
    link_timeout: f64,
    /// Seconds to wait, after the results, for the peer to close the link before closing ours.
    #[arg(long, default_value_t = 30.0)]
    linger: f64,
    /// Seconds to wait after the peer closed the link before closing ours.
    #[arg(long, default_value_t = 2.0)]
    close_delay: f64,
    /// Validate every Nth frame that comes back (the first 1024 are all validated).
    #[arg(long, default_value_t = 64)]
    sample_every: u64,
    /// Write `--count` frames of the profile to this pcap file and exit (no DPDK): input for
    /// Pktgen-DPDK on real NICs (bench/pktgen/README.md).
    #[arg(long)]
    pcap: Option<std::path::PathBuf>,
    /// Frames written with `--pcap`.
    #[arg(long, default_value_t = 4096)]
    count: u64,
    /// Destination MAC of `--pcap` frames (the DUT NIC's); ARP requests stay broadcast.
    #[arg(long, default_value = "02:00:00:00:00:01")]
    dst_mac: String,
    /// Source MAC of `--pcap` frames (the generator NIC's).
    #[arg(long, default_value = "02:00:00:00:00:02")]
    src_mac: String,
    /// Arguments for rte_eal_init (after `--`).
    #[arg(last = true)]
    eal: Vec<String>,
}

/// The JSON object printed on stdout.
#[derive(Debug, Serialize)]
struct Results {
    profile: &'static str,
    dut: String,
    size: usize,
    seconds: f64,
    rate: String,
    /// Concurrent flows of the forward profiles (`--flows`).
    flows: u32,
    sent: u64,
    /// Transmit attempts the link refused whole (its ring was full); those frames are retried.
    tx_full: u64,
    received: u64,
    offered_mpps: f64,
    answered_mpps: f64,
    loss: f64,
    p50_us: Option<f64>,
    p99_us: Option<f64>,
    latency_samples: u64,
    validated: u64,
    errors: u64,
    /// Validated forwarded frames of a flow seen before, whose backend was compared with the
    /// earlier one's (`forward-tcp`, `forward-udp`).
    affinity_checks: u64,
    first_errors: Vec<String>,
    tsc_hz: u64,
}

struct Settings {
    profile: Profile,
    dut: Dut,
    rate_mpps: Option<f64>,
}

fn settings(cli: &Cli) -> Result<Settings> {
    let profile = Profile::parse(&cli.profile).map_err(anyhow::Error::msg)?;
    let dut = match cli.dut.as_str() {
        "anycastd" => Dut::Anycastd,
        "testpmd" | "macswap" => Dut::Macswap,
        other => bail!("unknown --dut '{other}' (expected anycastd or testpmd)"),
    };
    let rate_mpps = match cli.rate.as_str() {
        "max" => None,
        r => {
            let v: f64 = r
                .parse()
                .map_err(|_| anyhow::anyhow!("--rate '{r}' is neither a number of Mpps nor max"))?;
            if !(v > 0.0 && v.is_finite()) {
                bail!("--rate must be a positive number of Mpps (or max), not {r}");
            }
            Some(v)
        }
    };
    if !(64..=1518).contains(&cli.size) {
        bail!("--size {} is outside 64..=1518", cli.size);
    }
    if !(cli.seconds > 0.0 && cli.seconds <= 3600.0) {
        bail!("--seconds must be in (0, 3600]");
    }
    if !(0.0..=1.0).contains(&cli.new_flow_share) {
        bail!("--new-flow-share must be within 0..=1");
    }
    if cli.flows == 0 || cli.flows > profile::FLOW_SPAN {
        bail!("--flows must be within 1..={}", profile::FLOW_SPAN);
    }
    if !(0.0..=60.0).contains(&cli.close_delay) || !(0.0..=3600.0).contains(&cli.linger) {
        bail!("--close-delay must be within 0..=60 and --linger within 0..=3600 seconds");
    }
    if !(cli.link_timeout > 0.0 && cli.link_timeout <= 3600.0) {
        bail!("--link-timeout must be within (0, 3600] seconds");
    }
    if cli.sample_every == 0 {
        bail!("--sample-every must be at least 1");
    }
    if cli.eal.is_empty() && cli.pcap.is_none() {
        bail!("EAL arguments are missing: add `-- -l 0 --vdev net_memif0,role=client,...`");
    }
    Ok(Settings {
        profile,
        dut,
        rate_mpps,
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("anycastd-gen: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: &Cli) -> Result<()> {
    let s = settings(cli)?;
    let mut builder = Builder::new(
        s.profile,
        cli.size,
        cli.flows,
        cli.new_flow_share,
        0x9e37_79b9_7f4a_7c15,
    );
    if let Some(path) = &cli.pcap {
        return write_pcap(cli, &mut builder, path);
    }
    let eal = Eal::init(&cli.eal).context("DPDK EAL initialisation failed")?;
    // Frames of up to 1518 bytes out; the mbufs' default 2048 bytes also hold what comes back
    // (a tunnel adds at most 52).
    let pool = Mempool::new(&eal, "gen_pkts", 16383, 256, 1518, -1)
        .context("cannot create the mbuf pool (more EAL memory: -m, or hugepages)")?;
    let port = Port::open(&eal, &cli.port, 1, 1024, 1500, &pool)
        .with_context(|| format!("cannot open port {}", cli.port))?;
    let hz = dpdk::tsc_hz(&eal);
    let q = port.queue(0);

    let deadline = Instant::now() + Duration::from_secs_f64(cli.link_timeout);
    while !port.link().up {
        if Instant::now() > deadline {
            bail!(
                "link of {} still down after {} s: is the DUT (memif server) running?",
                cli.port,
                cli.link_timeout
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "anycastd-gen: {} against {} for {} s at {} Mpps, {} B frames",
        s.profile.name(),
        cli.dut,
        cli.seconds,
        cli.rate,
        cli.size
    );

    let mut hist = Histogram::new();
    let mut tx = Burst::new();
    let mut rx = Burst::new();
    let (mut sent, mut tx_full, mut received) = (0u64, 0u64, 0u64);
    let (mut validated, mut errors) = (0u64, 0u64);
    let mut first_errors = Vec::new();
    let cycles_per_ns = hz as f64 / 1e9;
    let run_cycles = (cli.seconds * hz as f64) as u64;
    let per_packet_cycles = s.rate_mpps.map(|r| hz as f64 / (r * 1e6));
    let start = dpdk::tsc();
    let tx_end = start + run_cycles;
    let mut seq = 0u64;
    let mut last_rx = start;
    let mut receive = |rx: &mut Burst, now: u64| -> usize {
        let n = rx.len();
        for i in 0..n {
            let m = rx.get(i);
            let f = m.data();
            received += 1;
            if let Some((stamp, mask)) = builder.stamp(f) {
                let cycles = (now as u32).wrapping_sub(stamp) & mask;
                hist.record((f64::from(cycles) / cycles_per_ns) as u64);
            }
            if received <= 1024 || received % cli.sample_every == 0 {
                validated += 1;
                if let Err(e) = builder.validate(f, s.dut) {
                    errors += 1;
                    if first_errors.len() < 8 {
                        first_errors.push(format!(
                            "{e} (frame of {} bytes: {:02x?})",
                            f.len(),
                            &f[..f.len().min(64)]
                        ));
                    }
                }
            }
        }
        rx.clear();
        n
    };
    // A separate builder borrow for tx: the closure above owns the validating one.
    let mut tx_builder = Builder::new(
        s.profile,
        cli.size,
        cli.flows,
        cli.new_flow_share,
        0x9e37_79b9_7f4a_7c15,
    );
    loop {
        let now = dpdk::tsc();
        if now >= tx_end {
            break;
        }
        if tx.is_empty() {
            let want = match per_packet_cycles {
                None => MAX_BURST,
                Some(c) => {
                    let due = ((now - start) as f64 / c) as u64;
                    (due.saturating_sub(sent) as usize).min(MAX_BURST)
                }
            };
            if want > 0 && pool.alloc_bulk(&mut tx, want) > 0 {
                let stamp = now as u32;
                for i in 0..tx.len() {
                    let len = tx_builder.len(seq);
                    let mut m = tx.get(i);
                    if m.set_len(len).is_err() {
                        bail!("mbuf too small for a {len}-byte frame");
                    }
                    tx_builder.build(m.data_mut(), seq, stamp);
                    seq += 1;
                }
            }
        }
        if !tx.is_empty() {
            let n = q.tx_burst_keep(&mut tx);
            sent += n as u64;
            if n == 0 {
                tx_full += 1;
            }
        }
        if q.rx_burst(&mut rx) > 0 {
            last_rx = now;
            receive(&mut rx, now);
        }
    }
    let tx_done = dpdk::tsc();
    // Drain: until 100 ms without a frame (at most 1 s).
    let quiet = hz / 10;
    let drain_end = tx_done + hz;
    loop {
        let now = dpdk::tsc();
        if now > drain_end || now.saturating_sub(last_rx.max(tx_done)) > quiet {
            break;
        }
        if q.rx_burst(&mut rx) > 0 {
            last_rx = now;
            receive(&mut rx, now);
        }
    }
    drop(tx);
    drop(rx);
    let secs = (tx_done - start) as f64 / hz as f64;
    let ns_to_us = |v: Option<u64>| v.map(|ns| (ns as f64 / 10.0).round() / 100.0);
    let results = Results {
        profile: s.profile.name(),
        dut: cli.dut.clone(),
        size: cli.size,
        seconds: secs,
        rate: cli.rate.clone(),
        flows: cli.flows,
        sent,
        tx_full,
        received,
        offered_mpps: sent as f64 / secs / 1e6,
        answered_mpps: received as f64 / secs / 1e6,
        loss: if sent == 0 {
            1.0
        } else {
            (1.0 - received as f64 / sent as f64).max(0.0)
        },
        p50_us: ns_to_us(hist.percentile(0.50)),
        p99_us: ns_to_us(hist.percentile(0.99)),
        latency_samples: hist.count(),
        validated,
        errors,
        affinity_checks: builder.affinity_checks(),
        first_errors,
        tsc_hz: hz,
    };
    println!("{}", serde_json::to_string(&results)?);
    let stats = port.stats();
    let affinity = match results.affinity_checks {
        0 => String::new(),
        n => format!(" ({n} a flow's backend checked again)"),
    };
    eprintln!(
        "anycastd-gen: sent {sent} ({tx_full} tx attempts found the link full), received {received}, \
         {errors} wrong of {validated} validated{affinity}; \
         port ipackets={} opackets={} imissed={}",
        stats.ipackets, stats.opackets, stats.imissed
    );
    // Keep the port open (not polling) until the DUT stops and disconnects.
    let deadline = Instant::now() + Duration::from_secs_f64(cli.linger);
    while port.link().up && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // The DUT (memif server) is still closing its port when our link goes down; closing ours
    // at that moment races with its teardown, so give it time to finish and exit.
    std::thread::sleep(Duration::from_secs_f64(cli.close_delay));
    drop(port);
    drop(pool);
    drop(eal);
    Ok(())
}

fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let parts: Vec<_> = s.split(':').collect();
    let mut mac = [0u8; 6];
    if parts.len() != 6 {
        bail!("'{s}' is not a MAC address (xx:xx:xx:xx:xx:xx)");
    }
    for (b, p) in mac.iter_mut().zip(parts) {
        *b = u8::from_str_radix(p, 16)
            .map_err(|_| anyhow::anyhow!("'{s}' is not a MAC address (xx:xx:xx:xx:xx:xx)"))?;
    }
    Ok(mac)
}

/// Writes `cli.count` frames of the profile as a classic pcap file (Ethernet, µs timestamps).
fn write_pcap(cli: &Cli, builder: &mut Builder, path: &std::path::Path) -> Result<()> {
    let dst = parse_mac(&cli.dst_mac)?;
    let src = parse_mac(&cli.src_mac)?;
    if cli.count == 0 || cli.count > 10_000_000 {
        bail!("--count must be within 1..=10000000");
    }
    let mut out = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65535, 1] {
        if v == 0x0004_0002 {
            out.extend_from_slice(&2u16.to_le_bytes());
            out.extend_from_slice(&4u16.to_le_bytes());
        } else {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    let mut f = Vec::new();
    for seq in 0..cli.count {
        f.resize(builder.len(seq), 0);
        builder.build(&mut f, seq, 0);
        if f[0] & 1 == 0 {
            f[0..6].copy_from_slice(&dst);
        }
        if f[6..12] == profile::GEN_MAC {
            f[6..12].copy_from_slice(&src);
        }
        if f[22..28] == profile::GEN_MAC && f[12..14] == [8, 6] {
            f[22..28].copy_from_slice(&src);
        }
        let len = f.len() as u32;
        for v in [(seq / 1_000_000) as u32, (seq % 1_000_000) as u32, len, len] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&f);
    }
    std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!(
        "anycastd-gen: wrote {} {} frames to {}",
        cli.count,
        cli.profile,
        path.display()
    );
    Ok(())
}
