//! ExaBGP's process API: run by ExaBGP as a `process`, the sidecar writes one command per line
//! to its stdout (`announce route P next-hop self`, `withdraw route P next-hop self`) and reads
//! (and discards, logging errors) what ExaBGP answers on its stdin. When stdin is a pipe and
//! closes (ExaBGP went away) the sidecar exits, as ExaBGP expects of its processes.
use std::io::{BufRead, Write};
use std::os::unix::fs::FileTypeExt;

use stats_layout::config::{ExabgpConfig, Prefix};

use super::Speaker;

/// The commands that announce or withdraw `prefixes`, one per line, with the next hop of each
/// prefix's family.
pub fn commands(announce: bool, prefixes: &[Prefix], config: &ExabgpConfig) -> String {
    let verb = if announce { "announce" } else { "withdraw" };
    prefixes
        .iter()
        .map(|p| {
            let hop = if p.addr.is_ipv4() {
                &config.next_hop_v4
            } else {
                &config.next_hop_v6
            };
            format!("{verb} route {p} next-hop {hop}\n")
        })
        .collect()
}

/// The ExaBGP speaker, writing to `out`.
pub struct Exabgp {
    config: ExabgpConfig,
    out: Box<dyn Write + Send>,
}

impl Exabgp {
    /// A speaker writing to the process's stdout; also starts a thread that reads ExaBGP's
    /// acknowledgements from stdin (so its pipe never fills), logs the errors it reports, and
    /// ends the process when stdin is a pipe or socket that closes (not /dev/null or a tty).
    pub fn stdout(config: ExabgpConfig) -> Exabgp {
        let piped = std::fs::metadata("/proc/self/fd/0")
            .is_ok_and(|m| m.file_type().is_fifo() || m.file_type().is_socket());
        let spawned = std::thread::Builder::new()
            .name("exabgp-acks".into())
            .spawn(move || {
                for line in std::io::stdin().lock().lines().map_while(Result::ok) {
                    if line.trim() == "error" {
                        eprintln!("anycastd-sidecar: bgp: exabgp refused a command");
                    }
                }
                if piped {
                    eprintln!("anycastd-sidecar: bgp: stdin closed (ExaBGP gone): exiting");
                    std::process::exit(0);
                }
            });
        if let Err(e) = spawned {
            eprintln!("anycastd-sidecar: cannot start a thread: {e}");
        }
        Exabgp::new(config, Box::new(std::io::stdout()))
    }

    /// A speaker writing to `out`.
    pub fn new(config: ExabgpConfig, out: Box<dyn Write + Send>) -> Exabgp {
        Exabgp { config, out }
    }
}

impl Speaker for Exabgp {
    fn name(&self) -> &'static str {
        "exabgp"
    }

    fn apply(&mut self, announce: bool, prefixes: &[Prefix]) -> Result<(), String> {
        let text = commands(announce, prefixes, &self.config);
        self.out
            .write_all(text.as_bytes())
            .and_then(|()| self.out.flush())
            .map_err(|e| format!("cannot write to ExaBGP (stdout): {e}"))
    }
}
