//! ExaBGP's process API: run by ExaBGP as a `process`, the sidecar writes one command per line
//! to its stdout (`announce route P next-hop self`, `withdraw route P next-hop self`) and reads
//! (and discards, logging errors) what ExaBGP answers on its stdin.
use std::io::{BufRead, Write};

use stats_layout::config::{ExabgpConfig, Prefix};

use super::Speaker;

/// The commands that announce or withdraw `prefixes`, one per line.
pub fn commands(announce: bool, prefixes: &[Prefix], next_hop: &str) -> String {
    let verb = if announce { "announce" } else { "withdraw" };
    prefixes
        .iter()
        .map(|p| format!("{verb} route {p} next-hop {next_hop}\n"))
        .collect()
}

/// The ExaBGP speaker, writing to `out`.
pub struct Exabgp {
    config: ExabgpConfig,
    out: Box<dyn Write + Send>,
}

impl Exabgp {
    /// A speaker writing to the process's stdout; also starts a thread that reads ExaBGP's
    /// acknowledgements from stdin (so its pipe never fills) and logs the errors it reports.
    pub fn stdout(config: ExabgpConfig) -> Exabgp {
        let spawned = std::thread::Builder::new()
            .name("exabgp-acks".into())
            .spawn(|| {
                for line in std::io::stdin().lock().lines().map_while(Result::ok) {
                    if line.trim() == "error" {
                        eprintln!("anycastd-sidecar: bgp: exabgp refused a command");
                    }
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
        let text = commands(announce, prefixes, &self.config.next_hop);
        self.out
            .write_all(text.as_bytes())
            .and_then(|()| self.out.flush())
            .map_err(|e| format!("cannot write to ExaBGP (stdout): {e}"))
    }
}
