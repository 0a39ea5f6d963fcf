use std::time::Duration;

use super::*;

fn prefixes() -> Vec<Prefix> {
    ["203.0.113.10/32", "2001:db8:53::53/128", "203.0.113.0/24"]
        .iter()
        .map(|p| p.parse().unwrap())
        .collect()
}

fn config(rise: u32, fall: u32) -> BgpConfig {
    BgpConfig {
        prefixes: prefixes(),
        from_vips: false,
        check_interval: Duration::from_millis(200),
        rise,
        fall,
        drain_file: "/nonexistent/drain".into(),
        bird: None,
        exabgp: None,
    }
}

#[test]
fn damper_needs_rise_healthy_checks_in_a_row_and_fall_unhealthy_ones() {
    let mut d = Damper::new(3, 2);
    assert!(!d.healthy());
    // Two good, one bad: the run of good checks starts again.
    assert_eq!(
        [true, true, false, true, true].map(|ok| d.observe(ok)),
        [false; 5]
    );
    assert!(d.observe(true), "third healthy check in a row");
    // One bad check alone does not withdraw (fall = 2), and a good one resets the count.
    assert!(d.observe(false));
    assert!(d.observe(true));
    assert!(d.observe(false));
    assert!(!d.observe(false), "second unhealthy check in a row");
    assert!(!d.observe(true));
    assert!(!d.observe(true));
    assert!(d.observe(true));
    // rise = fall = 1 follows every check.
    let mut d = Damper::new(1, 1);
    assert_eq!(
        [true, false, true, true, false].map(|ok| d.observe(ok)),
        [true, false, true, true, false]
    );
    // Zero counts act as 1 rather than never flipping.
    assert!(Damper::new(0, 0).observe(true));
}

#[test]
fn drain_withdraws_regardless_of_health() {
    assert!(wanted(true, false));
    assert!(!wanted(true, true));
    assert!(!wanted(false, false));
    assert!(!wanted(false, true));
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("drain");
    assert!(!drained(&f));
    std::fs::write(&f, "").unwrap();
    assert!(drained(&f));
}

/// A speaker recording what it was asked, failing while `fail` says so.
struct Fake {
    log: Arc<Mutex<Vec<bool>>>,
    fail: Arc<Mutex<bool>>,
}

impl Speaker for Fake {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn apply(&mut self, announce: bool, p: &[Prefix]) -> Result<(), String> {
        assert_eq!(p.len(), 3);
        self.log.lock().unwrap().push(announce);
        if *self.fail.lock().unwrap() {
            Err("socket gone".into())
        } else {
            Ok(())
        }
    }
}

#[test]
fn health_applies_each_change_once_retries_failures_and_counts_transitions() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let fail = Arc::new(Mutex::new(false));
    let speakers: Vec<Box<dyn Speaker>> = vec![Box::new(Fake {
        log: Arc::clone(&log),
        fail: Arc::clone(&fail),
    })];
    let cfg = config(2, 2);
    let status = Arc::new(Mutex::new(BgpStatus::new(&cfg, &speakers)));
    let mut h = Health::new(cfg, speakers, Arc::clone(&status));
    let bad = || Err("heartbeat stale".to_owned());
    // Start: withdrawn is applied once, then nothing while the state holds.
    assert!(!h.tick(bad(), false));
    assert!(!h.tick(Ok(()), false));
    assert_eq!(*log.lock().unwrap(), [false]);
    assert!(h.tick(Ok(()), false), "rise = 2");
    assert!(h.tick(Ok(()), false));
    assert_eq!(*log.lock().unwrap(), [false, true]);
    {
        let st = status.lock().unwrap();
        assert!(st.announced && st.healthy && !st.drained);
        assert_eq!((st.announcements, st.withdrawals, st.checks), (1, 0, 4));
        assert_eq!(st.unhealthy_reason, None);
        assert!(st.speakers[0].in_sync);
    }
    // Drain: withdrawn at the next check, although healthy; undrain: back at once.
    assert!(!h.tick(Ok(()), true));
    assert!(status.lock().unwrap().drained);
    assert!(h.tick(Ok(()), false));
    assert_eq!(*log.lock().unwrap(), [false, true, false, true]);
    // The speaker fails: retried at every check until it succeeds.
    *fail.lock().unwrap() = true;
    assert!(h.tick(bad(), false));
    assert!(!h.tick(bad(), false), "fall = 2");
    assert!(!h.tick(bad(), false));
    {
        let st = status.lock().unwrap();
        assert!(!st.announced);
        assert_eq!(st.unhealthy_reason.as_deref(), Some("heartbeat stale"));
        assert!(!st.speakers[0].in_sync);
        assert_eq!(st.speakers[0].errors, 2);
        assert_eq!(st.speakers[0].last_error.as_deref(), Some("socket gone"));
    }
    *fail.lock().unwrap() = false;
    assert!(!h.tick(bad(), false));
    assert!(!h.tick(bad(), false));
    assert_eq!(
        *log.lock().unwrap(),
        [false, true, false, true, false, false, false]
    );
    let st = status.lock().unwrap();
    assert!(st.speakers[0].in_sync);
    assert_eq!(st.speakers[0].last_error, None);
    assert_eq!((st.announcements, st.withdrawals), (2, 2));
}

#[test]
fn bird_include_file_has_both_protocols_and_routes_only_when_announced() {
    let mut p = prefixes();
    p.sort();
    let on = bird::render("anycastd", true, &p);
    assert!(on.contains("# State: announced."), "{on}");
    assert!(on.ends_with(
        "protocol static anycastd_v4 {\n  ipv4;\n  route 203.0.113.0/24 blackhole;\n  \
         route 203.0.113.10/32 blackhole;\n}\nprotocol static anycastd_v6 {\n  ipv6;\n  \
         route 2001:db8:53::53/128 blackhole;\n}\n"
    ));
    let off = bird::render("edge", false, &p);
    assert!(off.contains("# State: withdrawn."), "{off}");
    assert!(off.ends_with(
        "protocol static edge_v4 {\n  ipv4;\n}\nprotocol static edge_v6 {\n  ipv6;\n}\n"
    ));
    assert!(!off.contains("route "));
}

#[test]
fn include_file_is_replaced_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("inc.conf");
    std::fs::write(&f, "old").unwrap();
    let before = std::fs::metadata(&f).unwrap();
    bird::write_atomic(&f, "new\n").unwrap();
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "new\n");
    use std::os::unix::fs::MetadataExt;
    assert_ne!(std::fs::metadata(&f).unwrap().ino(), before.ino());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temp left"
    );
    let e = bird::write_atomic(&dir.path().join("missing/inc.conf"), "x").unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
}

#[test]
fn birdc_replies_are_checked() {
    let ok = "0001 BIRD 2.0.12 ready.\n0002-Reading configuration from /etc/bird/bird.conf\n\
              0003 Reconfigured\n";
    assert_eq!(bird::check_reply(ok), Ok(()));
    assert_eq!(
        bird::check_reply("0001 x\n0004 Reconfiguration in progress\n"),
        Ok(())
    );
    assert_eq!(
        bird::check_reply(
            "0001 x\n0005 Reconfiguration already in progress, queueing new config\n"
        ),
        Ok(())
    );
    let parse = "0001 BIRD 2.0.12 ready.\n0002-Reading configuration from /x/bird.conf\n\
                 8002 /x/inc.conf:1:1 syntax error, unexpected GARBAGE\n";
    assert_eq!(
        bird::check_reply(parse),
        Err("/x/inc.conf:1:1 syntax error, unexpected GARBAGE".into())
    );
    assert!(bird::check_reply("0006 Reconfiguration ignored, shutting down\n").is_err());
    let e = bird::check_reply("").unwrap_err();
    assert!(e.contains("unexpected reply"), "{e}");
}

#[test]
fn birdc_failures_are_errors_not_panics() {
    let e = bird::configure(Path::new("/nonexistent/birdc"), Path::new("/tmp/x.ctl")).unwrap_err();
    assert!(e.contains("cannot run /nonexistent/birdc"), "{e}");
    // A "birdc" that fails like birdc does when BIRD is not running.
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("birdc");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'Unable to connect to server control socket (/x): No such file or directory' >&2\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let e = bird::configure(&fake, Path::new("/x")).unwrap_err();
    assert!(
        e.starts_with("Unable to connect to server control socket"),
        "{e}"
    );
}

#[test]
fn exabgp_commands_are_one_line_per_prefix() {
    let p = prefixes();
    let selfish = stats_layout::config::ExabgpConfig {
        next_hop_v4: "self".into(),
        next_hop_v6: "self".into(),
    };
    let explicit = stats_layout::config::ExabgpConfig {
        next_hop_v4: "198.51.100.1".into(),
        next_hop_v6: "2001:db8::1".into(),
    };
    assert_eq!(
        exabgp::commands(true, &p[..2], &selfish),
        "announce route 203.0.113.10/32 next-hop self\n\
         announce route 2001:db8:53::53/128 next-hop self\n"
    );
    assert_eq!(
        exabgp::commands(false, &p[..2], &explicit),
        "withdraw route 203.0.113.10/32 next-hop 198.51.100.1\n\
         withdraw route 2001:db8:53::53/128 next-hop 2001:db8::1\n"
    );
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Arc::new(Mutex::new(Vec::new()));
    let mut s = exabgp::Exabgp::new(selfish, Box::new(Shared(Arc::clone(&buf))));
    s.apply(true, &p[..1]).unwrap();
    s.apply(false, &p[..1]).unwrap();
    assert_eq!(
        String::from_utf8(buf.lock().unwrap().clone()).unwrap(),
        "announce route 203.0.113.10/32 next-hop self\nwithdraw route 203.0.113.10/32 next-hop self\n"
    );
}
