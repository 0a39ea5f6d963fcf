//! BGP health with real BIRD 2: a "node" namespace runs bird importing the include file the
//! sidecar writes and peers (IPv4 and IPv6 sessions over a veth pair) with bird in a "router"
//! namespace. anycastd runs on a net_null port; the sidecar drives the node's bird through its
//! control socket. The router learns the VIPs within 3 s of start, withdraws them within 3 s of
//! `kill -9` of the dataplane, learns them again after a restart, withdraws them while the
//! dataplane is stopped (SIGSTOP: a stale heartbeat) and learns them after SIGCONT, withdraws
//! them on `anycastd-sidecar drain` while the dataplane keeps running, and learns them after
//! `undrain`. Run `cargo build --workspace --bins` first (the sidecar is another package).
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::bgp::{
    bgp, bgp_json, bird_speaker, config, drain, kill9, sidecar, Bird, BAR, PREFIXES,
};
use common::sidecar::{free_port, get, promtool_check, wait_status};
use common::{sh, Dataplane, Netns};

#[test]
fn bird_router_learns_and_withdraws_the_vips() {
    let dir = tempfile::tempdir().unwrap();
    let bgp = bgp(dir.path(), "t");
    let port = free_port();
    let file = dir.path().join("anycastd.toml");
    let write = |prefix: &str| {
        let c = config(dir.path(), prefix, port, &bird_speaker(&bgp));
        std::fs::write(&file, &c).unwrap();
        c
    };
    let cfg = write("bgpa");
    let _sidecar = sidecar(&file, false);
    // The sidecar's first act is to write the withdrawn state.
    wait_status(port, "/healthz", 503, Duration::from_secs(5));
    assert!(bgp_json(port).contains("\"announced\":false"));

    let started = Instant::now();
    let mut dp = Dataplane::start(&cfg);
    let learned = bgp.router.wait_learned(true, BAR);
    eprintln!(
        "router learned {PREFIXES:?} {:?} after anycastd was running ({:?} after its start)",
        learned,
        started.elapsed()
    );
    let include = std::fs::read_to_string(&bgp.include).unwrap();
    assert!(
        include.contains("route 203.0.113.10/32 blackhole;"),
        "{include}"
    );
    // The decision is published before bird is told; the speaker's sync state once birdc
    // has answered.
    let b = bgp_json(port);
    assert!(b.contains("\"announced\":true"), "{b}");
    let deadline = Instant::now() + Duration::from_secs(1);
    while !bgp_json(port).contains("\"in_sync\":true") {
        assert!(
            Instant::now() < deadline,
            "bird not in sync: {}",
            bgp_json(port)
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // kill -9: withdrawn within the bar.
    kill9(&dp);
    let died = Instant::now();
    bgp.router.wait_learned(false, BAR);
    let withdrawn = died.elapsed();
    eprintln!("death -> withdrawal at the router: {withdrawn:?}");
    let _ = dp.stop();

    // Restart: announced again.
    let cfg = write("bgpb");
    let restarted = Instant::now();
    let mut dp = Dataplane::start(&cfg);
    let back = bgp.router.wait_learned(true, BAR);
    eprintln!(
        "restart: learned again {back:?} after running ({:?} after its start)",
        restarted.elapsed()
    );

    // A hung dataplane (SIGSTOP: alive, heartbeat stale beyond stale_after_ms): withdrawn;
    // SIGCONT: back.
    let signal = |sig: &str| {
        Command::new("kill")
            .args([sig, &dp.pid().to_string()])
            .status()
            .unwrap()
    };
    signal("-STOP");
    let t = Instant::now();
    bgp.router.wait_learned(false, BAR);
    eprintln!("SIGSTOP -> withdrawal (stale heartbeat): {:?}", t.elapsed());
    assert!(
        t.elapsed() >= Duration::from_millis(500),
        "not before stale_after_ms"
    );
    signal("-CONT");
    let t = Instant::now();
    bgp.router.wait_learned(true, BAR);
    eprintln!("SIGCONT -> learned: {:?}", t.elapsed());

    // Drain: withdrawn while the dataplane keeps serving.
    drain(&file, "drain");
    let t = Instant::now();
    bgp.router.wait_learned(false, BAR);
    eprintln!("drain -> withdrawal: {:?}", t.elapsed());
    wait_status(port, "/healthz", 200, Duration::from_secs(1));
    let (_, m) = get(port, "/metrics");
    assert!(m.contains("\nanycastd_up 1\n"), "{m}");
    assert!(m.contains("\nanycastd_bgp_announced 0\n"), "{m}");
    assert!(m.contains("\nanycastd_bgp_drained 1\n"), "{m}");
    assert!(m.contains("\nanycastd_bgp_healthy 1\n"), "{m}");
    let age: f64 = m
        .lines()
        .find_map(|l| l.strip_prefix("anycastd_heartbeat_age_seconds "))
        .and_then(|v| v.parse().ok())
        .expect("a heartbeat age");
    assert!(
        age < 0.5,
        "the dataplane keeps beating while drained: {age}"
    );
    let b = bgp_json(port);
    assert!(b.contains("\"drained\":true"), "{b}");
    assert!(dp.drain_log().iter().all(|l| !l.contains("panicked")));

    // Undrain: back.
    drain(&file, "undrain");
    let t = Instant::now();
    bgp.router.wait_learned(true, BAR);
    eprintln!("undrain -> learned: {:?}", t.elapsed());
    let (_, m) = get(port, "/metrics");
    assert!(m.contains("\nanycastd_bgp_announcements_total 4\n"), "{m}");
    assert!(m.contains("\nanycastd_bgp_withdrawals_total 3\n"), "{m}");
    assert!(
        m.contains("anycastd_bgp_speaker_errors_total{speaker=\"bird\"} 0\n"),
        "{m}"
    );
    promtool_check(&m, dir.path());

    // A clean stop withdraws too (the segment is marked stopped).
    let done = dp.stop();
    assert!(done.status.success(), "{}", done.stderr);
    bgp.router.wait_learned(false, BAR);
}

#[test]
fn bird_errors_are_retried_until_bird_answers() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let file = dir.path().join("anycastd.toml");
    // No bird on this socket yet: the sidecar logs, counts and retries; nothing crashes.
    let sock = dir.path().join("late.ctl");
    let include = dir.path().join("late-prefixes.conf");
    let speakers = format!(
        "[sidecar.bgp.bird]\ninclude_file = \"{}\"\nsocket = \"{}\"\n",
        include.display(),
        sock.display()
    );
    let cfg = config(dir.path(), "bgpe", port, &speakers);
    std::fs::write(&file, &cfg).unwrap();
    let _sidecar = sidecar(&file, false);
    let deadline = Instant::now() + Duration::from_secs(5);
    let errors = |m: &str| {
        m.lines()
            .find_map(|l| l.strip_prefix("anycastd_bgp_speaker_errors_total{speaker=\"bird\"} "))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    loop {
        let (_, m) = get(port, "/metrics");
        if errors(&m) >= 3 {
            assert!(m.contains("anycastd_bgp_speaker_in_sync{speaker=\"bird\"} 0\n"));
            promtool_check(&m, dir.path());
            break;
        }
        assert!(Instant::now() < deadline, "no retries counted:\n{m}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let b = bgp_json(port);
    assert!(
        b.contains("Unable to connect to server control socket"),
        "{b}"
    );
    assert!(std::fs::read_to_string(&include)
        .unwrap()
        .contains("State: withdrawn"));
    // bird comes up on that socket: the next check reconfigures it.
    let ns = Netns(format!("anyc-bgpe-{}", std::process::id()));
    sh(&format!("ip netns add {}", ns.0));
    let bird = Bird::start(
        &ns.0,
        dir.path(),
        "late",
        &format!(
            "router id 198.51.100.9;\nprotocol device {{ }}\ninclude \"{}\";\n",
            include.display()
        ),
    );
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let (_, m) = get(port, "/metrics");
        if m.contains("anycastd_bgp_speaker_in_sync{speaker=\"bird\"} 1\n") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "bird never in sync:\n{m}\n{}\n{}",
            bgp_json(port),
            std::fs::read_to_string(&bird.log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `cargo test -p anycastd --test sidecar_bgp -- --ignored --nocapture`: death -> withdrawal at
/// the router over several kill -9s.
#[test]
#[ignore]
fn figures_death_to_withdrawal() {
    let dir = tempfile::tempdir().unwrap();
    let bgp = bgp(dir.path(), "f");
    let port = free_port();
    let file = dir.path().join("anycastd.toml");
    std::fs::write(&file, config(dir.path(), "bgpf", port, &bird_speaker(&bgp))).unwrap();
    let _sidecar = sidecar(&file, false);
    let mut withdrawals = Vec::new();
    let mut announcements = Vec::new();
    for i in 0..8 {
        let cfg = config(dir.path(), &format!("bgpf{i}"), port, &bird_speaker(&bgp));
        let mut dp = Dataplane::start(&cfg);
        announcements.push(bgp.router.wait_learned(true, BAR));
        // Let the heartbeat phase vary between runs.
        std::thread::sleep(Duration::from_millis(300 + 37 * i));
        kill9(&dp);
        let died = Instant::now();
        bgp.router.wait_learned(false, BAR);
        withdrawals.push(died.elapsed());
        let _ = dp.stop();
    }
    let ms = |v: &mut Vec<Duration>| {
        v.sort();
        let m: Vec<String> = v.iter().map(|d| format!("{}", d.as_millis())).collect();
        m.join(" ")
    };
    eprintln!(
        "death -> withdrawal at the router (ms, sorted, check_interval 200 ms, fall 2): {}",
        ms(&mut withdrawals)
    );
    eprintln!(
        "running -> learned at the router (ms, sorted, rise 3): {}",
        ms(&mut announcements)
    );
}
