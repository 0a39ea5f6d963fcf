//! BGP health: a thread of its own checks the dataplane every `check_interval`, damps the result
//! (`rise` healthy checks in a row to announce, `fall` unhealthy ones to withdraw), withdraws at
//! once while the drain file exists, and hands each change to the configured speakers (BIRD
//! through an include file and `birdc configure`, ExaBGP through its process API on stdout).
//! A speaker that fails is retried at every check until it has applied the current state.
pub mod bird;
pub mod exabgp;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use stats_layout::config::{BgpConfig, Prefix};

/// The damping state machine: turns a series of health checks into a damped health.
#[derive(Debug, Clone)]
pub struct Damper {
    rise: u32,
    fall: u32,
    healthy: bool,
    run: u32,
}

impl Damper {
    /// Starts unhealthy: `rise` healthy checks are needed before the first announcement.
    pub fn new(rise: u32, fall: u32) -> Damper {
        Damper {
            rise: rise.max(1),
            fall: fall.max(1),
            healthy: false,
            run: 0,
        }
    }

    /// Feeds one check; returns the damped health. It flips only after `rise` (or `fall`)
    /// consecutive checks that disagree with it; one agreeing check resets the count.
    pub fn observe(&mut self, ok: bool) -> bool {
        if ok == self.healthy {
            self.run = 0;
        } else {
            self.run += 1;
            if self.run >= if ok { self.rise } else { self.fall } {
                self.healthy = ok;
                self.run = 0;
            }
        }
        self.healthy
    }

    /// The damped health.
    #[cfg(test)]
    pub fn healthy(&self) -> bool {
        self.healthy
    }
}

/// What the prefixes should be: announced only while healthy (damped) and not drained.
pub fn wanted(damped_healthy: bool, drained: bool) -> bool {
    damped_healthy && !drained
}

/// Something that announces or withdraws the prefixes.
pub trait Speaker: Send {
    /// Short name for logs, metrics and `/bgp` (`bird`, `exabgp`).
    fn name(&self) -> &'static str;
    /// Makes the speaker announce (`true`) or withdraw (`false`) `prefixes`.
    fn apply(&mut self, announce: bool, prefixes: &[Prefix]) -> Result<(), String>;
}

/// One speaker's state, as `/bgp` and `/metrics` show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SpeakerStatus {
    /// `bird` or `exabgp`.
    pub name: &'static str,
    /// True when the speaker has applied the current state.
    pub in_sync: bool,
    /// Failed attempts since the sidecar started.
    pub errors: u64,
    /// The last failure's message, cleared on success.
    pub last_error: Option<String>,
}

/// The announce state shared with the HTTP side.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BgpStatus {
    /// True while the prefixes are (meant to be) announced.
    pub announced: bool,
    /// The damped dataplane health.
    pub healthy: bool,
    /// Why the last check found the dataplane unhealthy (none when it was healthy).
    pub unhealthy_reason: Option<String>,
    /// True while the drain file exists.
    pub drained: bool,
    /// The drain file.
    pub drain_file: String,
    /// What is announced while healthy.
    pub prefixes: Vec<String>,
    /// Transitions to announced.
    pub announcements: u64,
    /// Transitions to withdrawn.
    pub withdrawals: u64,
    /// When the state last changed (Unix ms; the sidecar's start at first).
    pub since_unix_ms: u64,
    /// Checks done.
    pub checks: u64,
    /// Per speaker.
    pub speakers: Vec<SpeakerStatus>,
}

impl BgpStatus {
    /// The state before the first check: withdrawn.
    pub fn new(config: &BgpConfig, speakers: &[Box<dyn Speaker>]) -> BgpStatus {
        BgpStatus {
            announced: false,
            healthy: false,
            unhealthy_reason: Some("not checked yet".into()),
            drained: false,
            drain_file: config.drain_file.display().to_string(),
            prefixes: config.prefixes.iter().map(ToString::to_string).collect(),
            announcements: 0,
            withdrawals: 0,
            since_unix_ms: stats_layout::unix_ms(),
            checks: 0,
            speakers: speakers
                .iter()
                .map(|s| SpeakerStatus {
                    name: s.name(),
                    in_sync: false,
                    errors: 0,
                    last_error: None,
                })
                .collect(),
        }
    }
}

/// True while the drain file exists (a dangling symlink counts too).
pub fn drained(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// The health loop's state: damper, speakers and what each has applied.
pub struct Health {
    config: BgpConfig,
    damper: Damper,
    speakers: Vec<Box<dyn Speaker>>,
    applied: Vec<Option<bool>>,
    last_logged: Vec<Option<(String, Instant)>>,
    status: Arc<Mutex<BgpStatus>>,
}

/// How often the same speaker error is logged again.
const ERROR_LOG_EVERY: Duration = Duration::from_secs(10);

impl Health {
    /// A loop for `config` driving `speakers`, publishing into `status`.
    pub fn new(
        config: BgpConfig,
        speakers: Vec<Box<dyn Speaker>>,
        status: Arc<Mutex<BgpStatus>>,
    ) -> Health {
        let n = speakers.len();
        Health {
            damper: Damper::new(config.rise, config.fall),
            config,
            speakers,
            applied: vec![None; n],
            last_logged: vec![None; n],
            status,
        }
    }

    /// One check: `check` is the dataplane's raw health (Err says why not); `drained` whether
    /// the drain file exists. Changes the state when due and brings every speaker in line
    /// (each is tried once per tick until it succeeds). Returns the wanted state.
    pub fn tick(&mut self, check: Result<(), String>, drained: bool) -> bool {
        let healthy = self.damper.observe(check.is_ok());
        let want = wanted(healthy, drained);
        let mut st = self
            .status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        st.checks += 1;
        if want != st.announced {
            if want {
                st.announcements += 1;
                let why = if st.drained {
                    "drain file removed".to_owned()
                } else {
                    format!("dataplane healthy for {} checks", self.config.rise)
                };
                eprintln!(
                    "anycastd-sidecar: bgp: announcing {} ({why})",
                    st.prefixes.join(", ")
                );
            } else {
                st.withdrawals += 1;
                let why = if drained {
                    format!("drain file {} exists", self.config.drain_file.display())
                } else {
                    format!(
                        "dataplane unhealthy for {} checks: {}",
                        self.config.fall,
                        check.as_ref().err().map_or("?", String::as_str)
                    )
                };
                eprintln!(
                    "anycastd-sidecar: bgp: withdrawing {} ({why})",
                    st.prefixes.join(", ")
                );
            }
            st.announced = want;
            st.since_unix_ms = stats_layout::unix_ms();
        }
        st.healthy = healthy;
        st.drained = drained;
        st.unhealthy_reason = check.err();
        for (s, applied) in st.speakers.iter_mut().zip(&self.applied) {
            s.in_sync = *applied == Some(want);
        }
        // Publish the decision before the speakers act on it, so whoever sees the routes change
        // also sees the new state here.
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = st.clone();
        for (i, speaker) in self.speakers.iter_mut().enumerate() {
            if self.applied[i] == Some(want) {
                continue;
            }
            let s = &mut st.speakers[i];
            match speaker.apply(want, &self.config.prefixes) {
                Ok(()) => {
                    if s.last_error.is_some() {
                        eprintln!("anycastd-sidecar: bgp: {} recovered", speaker.name());
                    }
                    self.applied[i] = Some(want);
                    self.last_logged[i] = None;
                    s.in_sync = true;
                    s.last_error = None;
                }
                Err(e) => {
                    s.in_sync = false;
                    s.errors += 1;
                    let quiet = self.last_logged[i]
                        .as_ref()
                        .is_some_and(|(m, at)| *m == e && at.elapsed() < ERROR_LOG_EVERY);
                    if !quiet {
                        eprintln!(
                            "anycastd-sidecar: bgp: {} failed to {}: {e} (retrying every check)",
                            speaker.name(),
                            if want { "announce" } else { "withdraw" }
                        );
                        self.last_logged[i] = Some((e.clone(), Instant::now()));
                    }
                    s.last_error = Some(e);
                }
            }
        }
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = st;
        want
    }

    /// Runs forever: `check` every `check_interval`, on the calling thread.
    pub fn run(mut self, mut check: impl FnMut() -> Result<(), String>) -> ! {
        let interval = self.config.check_interval;
        let mut next = Instant::now();
        loop {
            let drained = drained(&self.config.drain_file);
            self.tick(check(), drained);
            next += interval;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else {
                next = now; // fell behind (a slow birdc): do not burst to catch up
            }
        }
    }
}

/// The speakers `config` asks for.
pub fn speakers(config: &BgpConfig) -> Vec<Box<dyn Speaker>> {
    let mut out: Vec<Box<dyn Speaker>> = Vec::new();
    if let Some(b) = &config.bird {
        out.push(Box::new(bird::Bird::new(b.clone())));
    }
    if let Some(e) = &config.exabgp {
        out.push(Box::new(exabgp::Exabgp::stdout(e.clone())));
    }
    out
}

#[cfg(test)]
mod tests;
