use super::render::{fmt_duration, fmt_rate, rate};
use super::*;
use stats_layout::{PortValues, RunState, ServiceCounters, SlotTable, WorkerValues, Writer};

/// A segment with two workers, one port and two services (web has two backends).
fn segment() -> (Writer, SlotTable) {
    let w = Writer::anonymous(&["edge0"], 2).unwrap();
    let backends = ["192.0.2.10".parse().unwrap(), "192.0.2.11".parse().unwrap()];
    let (t, _) = SlotTable::default().assign(1, &[("dns", &[]), ("web", &backends)]);
    w.publish_service_names(&t);
    w.set_state(RunState::Running);
    (w, t)
}

/// Publishes `k` times a base amount of traffic.
fn publish(w: &Writer, t: &SlotTable, k: u64) {
    for i in 0..2 {
        let mut v = WorkerValues {
            rx_packets: 100 * k + i,
            tx_packets: 90 * k,
            answered: 60 * k,
            forwarded: 30 * k,
            rx_bytes: 6400 * k,
            dns_queries: 50 * k,
            dns_cache_hits: 20 * k,
            dns_cache_bypassed: 3 * k,
            flows: 7,
            flow_inserts: 20 * k,
            too_big_answered: 2 * k,
            ..WorkerValues::default()
        };
        v.drops[4] = 10 * k + i; // no_service
        v.rcodes[3] = 5 * k; // NXDOMAIN
        w.publish_worker(i as usize, &v);
        let mut c = ServiceCounters::default();
        c.rebase(&t.since());
        c.packets[0] = 50 * k;
        c.bytes[0] = 4000 * k;
        c.packets[1] = 30 * k;
        c.backend_packets[0] = 10 * k;
        c.backend_packets[1] = 20 * k;
        w.publish_services(i as usize, &c);
    }
    w.publish_port(
        0,
        &PortValues {
            ipackets: 200 * k,
            opackets: 180 * k,
            ..PortValues::default()
        },
    );
}

fn frame<'a>(
    v: &'a SegmentValues,
    prev: Option<&'a SegmentValues>,
    dt: f64,
    health: Health,
) -> String {
    render(&Frame {
        path: Path::new("/run/anycastd/stats"),
        values: v,
        previous: prev,
        dt,
        now_unix_ms: v.header.start_unix_ms + 3_723_000,
        health,
    })
}

/// The cells of the first line after `section` that starts with `label`.
fn cells<'a>(text: &'a str, section: &str, label: &str) -> Vec<&'a str> {
    let rest = &text[text
        .find(section)
        .unwrap_or_else(|| panic!("no {section}:\n{text}"))..];
    let line = rest
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no {label} after {section}:\n{text}"));
    line[label.len()..].split_whitespace().collect()
}

#[test]
fn rates_need_a_previous_reading_of_the_same_counter_and_time() {
    assert_eq!(rate(300, Some(100), 2.0), Some(100.0));
    assert_eq!(rate(300, None, 2.0), None);
    assert_eq!(rate(300, Some(100), 0.0), None);
    assert_eq!(
        rate(5, Some(100), 1.0),
        None,
        "a counter that went down restarted"
    );
    assert_eq!(fmt_rate(Some(12.345)), "12.3");
    assert_eq!(fmt_rate(None), "-");
    assert_eq!(fmt_duration(6_000), "6s");
    assert_eq!(fmt_duration(366_000), "6m06s");
    assert_eq!(fmt_duration(3_723_000), "1h02m03s");
    assert_eq!(fmt_duration(90_061_000), "1d01h01m01s");
}

#[test]
fn one_reading_shows_totals_and_no_rates_in_plain_text() {
    let (w, t) = segment();
    publish(&w, &t, 1);
    w.set_generation(3, 2, 1);
    let v = w.read().unwrap();
    let text = frame(&v, None, 0.0, Health::Ok);
    assert!(
        !text.contains('\x1b'),
        "escape codes in plain text:\n{text}"
    );
    let header = text.lines().next().unwrap();
    assert_eq!(
        header,
        format!(
            "anycastd stats  pid {}  up 1h02m03s  generation 3  reloads 2 (failed 1)  health: ok",
            std::process::id()
        )
    );
    assert!(text.contains("rates after the next reading"), "{text}");
    assert_eq!(
        cells(&text, "packets", "worker 1"),
        ["101", "90", "60", "30", "0", "11"]
    );
    assert_eq!(
        cells(&text, "packets", "total"),
        ["201", "180", "120", "60", "0", "21"]
    );
    assert_eq!(cells(&text, "per second", "total"), ["-"; 6]);
    assert_eq!(
        cells(&text, "drops by reason", "  no_service"),
        ["21", "-/s"]
    );
    assert!(
        text.contains("queries 100 (-/s)  from cache 40  cache bypassed 6  NXDOMAIN 10\n"),
        "{text}"
    );
    assert_eq!(
        cells(&text, "flow table", "worker 0"),
        ["7", "20", "0", "0", "0", "0"]
    );
    assert_eq!(
        cells(&text, "port", "edge0"),
        ["200", "-", "180", "-", "0", "0", "0"]
    );
    assert_eq!(
        cells(&text, "service / backend", "dns"),
        ["100", "-", "8000"]
    );
    assert_eq!(cells(&text, "service / backend", "web"), ["60", "-", "0"]);
    assert_eq!(cells(&text, "web", "  192.0.2.10"), ["20", "-"]);
    assert_eq!(cells(&text, "web", "  192.0.2.11"), ["40", "-"]);
}

#[test]
fn two_readings_show_rates_over_the_interval() {
    let (w, t) = segment();
    publish(&w, &t, 1);
    let before = w.read().unwrap();
    publish(&w, &t, 3);
    let after = w.read().unwrap();
    let text = frame(&after, Some(&before), 2.0, Health::Ok);
    assert!(text.contains("rates over 2.0 s"), "{text}");
    // Worker 0: rx 100 → 300 in 2 s.
    assert_eq!(
        cells(&text, "per second", "worker 0"),
        ["100.0", "90.0", "60.0", "30.0", "0.0", "10.0"]
    );
    assert_eq!(
        cells(&text, "per second", "total"),
        ["200.0", "180.0", "120.0", "60.0", "0.0", "20.0"]
    );
    assert_eq!(
        cells(&text, "drops by reason", "  no_service"),
        ["61", "20.0/s"]
    );
    assert_eq!(
        cells(&text, "port", "edge0"),
        ["600", "200.0", "540", "180.0", "0", "0", "0"]
    );
    assert_eq!(
        cells(&text, "service / backend", "dns"),
        ["300", "100.0", "24000"]
    );
    assert_eq!(cells(&text, "web", "  192.0.2.11"), ["120", "40.0"]);
    assert!(
        text.contains("new flows inserted per second: 40.0"),
        "{text}"
    );
    assert!(
        text.contains("too big for the tunnel (see the ports' mtu), answered: 12 (4.0/s)"),
        "{text}"
    );
    assert!(
        text.contains("bytes       rx 38400 (0.102 Mbit/s)"),
        "{text}"
    );
}

#[test]
fn a_renamed_service_or_another_run_has_no_rate() {
    let (w, t) = segment();
    publish(&w, &t, 1);
    let before = w.read().unwrap();
    let (t2, _) = t.assign(
        2,
        &[("dns-v2", &[]), ("web", &["192.0.2.10".parse().unwrap()])],
    );
    w.publish_service_names(&t2);
    publish(&w, &t2, 2);
    let after = w.read().unwrap();
    let text = frame(&after, Some(&before), 1.0, Health::Ok);
    assert_eq!(
        cells(&text, "service / backend", "dns-v2"),
        ["200", "-", "16000"]
    );
    assert_eq!(
        cells(&text, "service / backend", "web"),
        ["120", "60.0", "0"]
    );
    assert!(!text.contains("192.0.2.11"), "{text}");
    // Another dataplane (another start time): no rates at all.
    let mut other = before.clone();
    other.header.start_unix_ms -= 1;
    let text = frame(&after, Some(&other), 1.0, Health::Stopped);
    assert_eq!(cells(&text, "per second", "total"), ["-"; 6]);
    assert!(
        text.contains("health: stopped (counts are final)"),
        "{text}"
    );
}

#[test]
fn options_are_checked() {
    assert_eq!(parse_interval("0.5"), Ok(Duration::from_millis(500)));
    assert!(parse_interval("0").is_err());
    assert!(parse_interval("fast").is_err());
    assert!(parse_interval("NaN").is_err());
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("a.toml");
    std::fs::write(
        &cfg,
        "[stats]\npath = \"seg\"\n[sidecar]\nstale_after_ms = 300\n",
    )
    .unwrap();
    let o = Options {
        config: Some(cfg),
        path: None,
        interval: Duration::from_secs(1),
        once: true,
    };
    assert_eq!(resolve(&o), Ok((dir.path().join("seg"), 300)));
    let e = run_inner(&o).unwrap_err();
    assert_eq!(
        e,
        format!(
            "no dataplane running: {} not found",
            dir.path().join("seg").display()
        )
    );
    std::fs::write(dir.path().join("seg"), b"junk").unwrap();
    assert!(run_inner(&o)
        .unwrap_err()
        .starts_with("cannot read the stats segment"));
}

#[test]
fn once_exits_1_for_a_dead_or_stale_dataplane_and_0_for_a_live_or_stopped_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stats");
    let w = Writer::create(&path, &["edge0"], 1).unwrap();
    let o = Options {
        config: None,
        path: Some(path),
        interval: Duration::from_secs(1),
        once: true,
    };
    // Running (this process), but no heartbeat ever: stale.
    w.set_state(RunState::Running);
    assert_eq!(run_inner(&o), Ok(1));
    w.heartbeat(10_000);
    w.publish_worker(
        0,
        &WorkerValues {
            heartbeat_ms: 10_000,
            ..WorkerValues::default()
        },
    );
    assert_eq!(run_inner(&o), Ok(0));
    w.set_state(RunState::Stopped);
    assert_eq!(run_inner(&o), Ok(0));
}
