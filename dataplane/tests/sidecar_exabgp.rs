//! BGP health through ExaBGP's process API: the sidecar in ExaBGP mode writes the `announce` /
//! `withdraw` lines for each transition (start, kill -9, restart, drain, undrain, stop) and exits
//! when ExaBGP closes its stdin; and a real ExaBGP in the "node" namespace, running the sidecar
//! as its process, peers with bird in the "router" namespace, which learns the VIPs within 3 s
//! and withdraws them within 3 s of kill -9. Run `cargo build --workspace --bins` first.
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::bgp::{config, drain, kill9, sidecar, wire, Bird, BAR, PREFIXES, TIMERS};
use common::sidecar::{free_port, sidecar_bin};
use common::Dataplane;

#[test]
fn exabgp_mode_writes_process_api_lines() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let file = dir.path().join("anycastd.toml");
    let cfg = config(dir.path(), "bgpx", port, "[sidecar.bgp.exabgp]\n");
    std::fs::write(&file, &cfg).unwrap();
    let mut sc = sidecar(&file, true);
    let (tx, rx) = mpsc::channel();
    let stdout = sc.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let expect = |verb: &str| {
        let want: Vec<String> = PREFIXES
            .iter()
            .map(|p| format!("{verb} route {p} next-hop self"))
            .collect();
        let mut got = Vec::new();
        let deadline = Instant::now() + BAR;
        while got.len() < want.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) => got.push(l),
                Err(_) => panic!("wanted {want:?}, got {got:?}"),
            }
        }
        assert_eq!(got, want);
    };
    // At start: withdrawn (harmless when ExaBGP has nothing yet, right after a sidecar restart).
    expect("withdraw");
    let mut dp = Dataplane::start(&cfg);
    expect("announce");
    kill9(&dp);
    expect("withdraw");
    let _ = dp.stop();
    let mut dp = Dataplane::start(&config(dir.path(), "bgpy", port, "[sidecar.bgp.exabgp]\n"));
    expect("announce");
    drain(&file, "drain");
    expect("withdraw");
    drain(&file, "undrain");
    expect("announce");
    let _ = dp.stop();
    expect("withdraw");
    assert!(rx.try_recv().is_err(), "nothing else on stdout");
    // ExaBGP gone (its end of the pipe closed): the sidecar exits by itself.
    drop(sc.0.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if let Some(status) = sc.0.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(Instant::now() < deadline, "the sidecar outlived its stdin");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// ExaBGP, stopped with SIGTERM (so it ends its processes) and reaped on drop.
struct Exabgp(std::process::Child);

impl Drop for Exabgp {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Prints a log file when the test fails (or always, with SHOW_EXABGP_LOG set).
struct ShowOnPanic(std::path::PathBuf);

impl Drop for ShowOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("SHOW_EXABGP_LOG").is_some() {
            let log = std::fs::read_to_string(&self.0).unwrap_or_default();
            eprintln!("{}:\n{log}", self.0.display());
        }
    }
}

#[test]
fn exabgp_peers_with_the_router_and_withdraws_on_death() {
    let dir = tempfile::tempdir().unwrap();
    let ns = wire("x");
    let router = Bird::start(
        &ns.1 .0,
        dir.path(),
        "router",
        &format!(
            r#"router id 198.51.100.102;
protocol device {{ }}
protocol bgp node {{
  local 198.51.100.102 as 65000; neighbor 198.51.100.101 as 65001; {TIMERS}
  ipv4 {{ import all; export none; }};
  ipv6 {{ import all; export none; }};
}}
"#
        ),
    );
    // ExaBGP 4.2.21 (Debian 12) sometimes sends `next-hop self` without a NEXT_HOP attribute:
    // give the next hops explicitly, as the README advises.
    let speakers =
        "[sidecar.bgp.exabgp]\nnext_hop_v4 = \"198.51.100.101\"\nnext_hop_v6 = \"2001:db8:ff::1\"\n";
    let port = free_port();
    let file = dir.path().join("anycastd.toml");
    std::fs::write(&file, config(dir.path(), "exa0", port, speakers)).unwrap();
    let exa_conf = dir.path().join("exabgp.conf");
    std::fs::write(
        &exa_conf,
        format!(
            r#"process anycastd {{
  run {} --config {};
  encoder text;
}}
neighbor 198.51.100.102 {{
  router-id 198.51.100.101;
  local-address 198.51.100.101;
  local-as 65001;
  peer-as 65000;
  family {{ ipv4 unicast; ipv6 unicast; }}
  api {{ processes [ anycastd ]; }}
}}
"#,
            sidecar_bin().display(),
            file.display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("exabgp.log")).unwrap();
    let _show = ShowOnPanic(dir.path().join("exabgp.log"));
    let _exabgp = Exabgp(
        Command::new("ip")
            .args(["netns", "exec", &ns.0 .0, "exabgp"])
            .arg(&exa_conf)
            .env("exabgp.daemon.user", "root")
            .env("exabgp.daemon.drop", "false")
            .env("exabgp.log.destination", "stderr")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("exabgp (Debian package exabgp) must be installed"),
    );
    router.wait_established(1);
    let mut dp = Dataplane::start(&config(dir.path(), "exa1", port, speakers));
    let learned = router.wait_learned(true, BAR);
    eprintln!("exabgp: router learned {PREFIXES:?} {learned:?} after anycastd was running");
    kill9(&dp);
    let died = Instant::now();
    router.wait_learned(false, BAR);
    eprintln!(
        "exabgp: death -> withdrawal at the router: {:?}",
        died.elapsed()
    );
    let _ = dp.stop();
    let mut dp = Dataplane::start(&config(dir.path(), "exa2", port, speakers));
    router.wait_learned(true, BAR);
    let _ = dp.stop();
    router.wait_learned(false, BAR);
}
