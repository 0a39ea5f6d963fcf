//! The Prometheus text exposition format (0.0.4) of a [`View`]: `anycastd_*` families, each with
//! HELP and TYPE once, counters ending in `_total`, labels `worker`, `port`, `reason`, `rcode`,
//! `service`, `backend`.
//!
//! Every value is registered with the `metrics` crate: each scrape records the segment's
//! readings (absolute counter values, gauge values) into a fresh local
//! `metrics_exporter_prometheus` recorder and renders that, so a series that is gone from the
//! segment (a renamed service, a worker of a dataplane restarted with fewer workers) is gone
//! from the next scrape. The sidecar serves the text itself; the exporter has no listener here.
use metrics::{counter, describe_counter, describe_gauge, gauge};
use metrics_exporter_prometheus::PrometheusBuilder;
use stats_layout::health::RCODE_NAMES as RCODES;
use stats_layout::{WorkerValues, DROP_REASONS};

use crate::bgp::BgpStatus;
use crate::View;

/// The families described so far, in the order they are to be rendered.
#[derive(Default)]
struct Families(Vec<&'static str>);

impl Families {
    fn counter(&mut self, name: &'static str, help: &'static str) -> &'static str {
        describe_counter!(name, help);
        self.0.push(name);
        name
    }

    fn gauge(&mut self, name: &'static str, help: &'static str) -> &'static str {
        describe_gauge!(name, help);
        self.0.push(name);
        name
    }
}

/// A label value as the exporter must be given it to print it exactly: the exporter escapes
/// `"` and newlines but takes a backslash before `\` or `"` for an escape already made, so
/// backslashes are doubled here (checked by a test).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
}

/// Per-worker counter families: (name, help, field).
type WorkerField = (&'static str, &'static str, fn(&WorkerValues) -> u64);

const WORKER_COUNTERS: [WorkerField; 16] = [
    (
        "anycastd_rx_packets_total",
        "Packets received by the worker.",
        |w| w.rx_packets,
    ),
    (
        "anycastd_rx_bytes_total",
        "Bytes received by the worker.",
        |w| w.rx_bytes,
    ),
    (
        "anycastd_tx_packets_total",
        "Packets sent by the worker.",
        |w| w.tx_packets,
    ),
    (
        "anycastd_tx_bytes_total",
        "Bytes sent by the worker.",
        |w| w.tx_bytes,
    ),
    (
        "anycastd_answered_packets_total",
        "Packets answered in place (ARP, NDP, ICMP, DNS).",
        |w| w.answered,
    ),
    (
        "anycastd_forwarded_packets_total",
        "Packets forwarded to a backend.",
        |w| w.forwarded,
    ),
    (
        "anycastd_punted_packets_total",
        "Packets handed to the kernel through the punt TAP.",
        |w| w.punted,
    ),
    (
        "anycastd_flow_inserts_total",
        "Flows inserted into the worker's flow table.",
        |w| w.flow_inserts,
    ),
    (
        "anycastd_flow_expired_total",
        "Flows removed from the flow table after idling out.",
        |w| w.flow_expired,
    ),
    (
        "anycastd_flow_table_full_total",
        "New flows not inserted because the flow table was full.",
        |w| w.flow_full,
    ),
    (
        "anycastd_flow_rate_limited_total",
        "New flows not inserted because of the per-worker rate limit.",
        |w| w.flow_rate_limited,
    ),
    (
        "anycastd_stateless_flows_total",
        "New flows forwarded by the Maglev table alone (stateless fallback).",
        |w| w.stateless,
    ),
    (
        "anycastd_too_big_answered_total",
        "Forward packets too big for their backend's tunnel (the port's MTU), answered with \
         ICMP fragmentation needed or packet too big.",
        |w| w.too_big_answered,
    ),
    (
        "anycastd_dns_queries_total",
        "DNS queries handed to a DNS service.",
        |w| w.dns_queries,
    ),
    (
        "anycastd_dns_cache_hits_total",
        "DNS queries answered from the worker's packet cache.",
        |w| w.dns_cache_hits,
    ),
    (
        "anycastd_dns_cache_bypassed_total",
        "DNS queries not looked up in the packet cache because too few lookups hit.",
        |w| w.dns_cache_bypassed,
    ),
];

/// The `anycastd_bgp_*` families.
fn record_bgp(f: &mut Families, b: &BgpStatus) {
    let gauges: [(&'static str, &'static str, bool); 3] = [
        (
            "anycastd_bgp_announced",
            "1 while the sidecar announces the anycast prefixes, 0 while they are withdrawn.",
            b.announced,
        ),
        (
            "anycastd_bgp_healthy",
            "The damped dataplane health the announcement follows (rise/fall checks).",
            b.healthy,
        ),
        (
            "anycastd_bgp_drained",
            "1 while the drain file exists (prefixes withdrawn by the operator).",
            b.drained,
        ),
    ];
    for (name, help, v) in gauges {
        gauge!(f.gauge(name, help)).set(u8::from(v));
    }
    gauge!(f.gauge("anycastd_bgp_prefixes", "Prefixes announced while healthy."))
        .set(b.prefixes.len() as f64);
    counter!(f.counter(
        "anycastd_bgp_announcements_total",
        "Transitions from withdrawn to announced."
    ))
    .absolute(b.announcements);
    counter!(f.counter(
        "anycastd_bgp_withdrawals_total",
        "Transitions from announced to withdrawn."
    ))
    .absolute(b.withdrawals);
    gauge!(f.gauge(
        "anycastd_bgp_state_change_time_seconds",
        "When the announce state last changed (Unix time; the sidecar's start at first)."
    ))
    .set(b.since_unix_ms as f64 / 1e3);
    let name = f.gauge(
        "anycastd_bgp_speaker_in_sync",
        "1 when the speaker has applied the current announce state.",
    );
    for s in &b.speakers {
        gauge!(name, "speaker" => s.name).set(u8::from(s.in_sync));
    }
    let name = f.counter(
        "anycastd_bgp_speaker_errors_total",
        "Failed attempts to make the speaker announce or withdraw (retried at every check).",
    );
    for s in &b.speakers {
        counter!(name, "speaker" => s.name).absolute(s.errors);
    }
}

/// Renders the whole exposition (with the `anycastd_bgp_*` families when BGP is configured):
/// records `view` and `bgp` into a fresh recorder and renders it, families in the order below,
/// samples sorted by their label text.
pub fn render(view: &View, bgp: Option<&BgpStatus>) -> String {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let mut families = Families::default();
    metrics::with_local_recorder(&recorder, || record(&mut families, view, bgp));
    let text = handle.render();
    // The exporter writes each family as a block ended by a blank line, in hash order.
    let mut blocks: Vec<(usize, Vec<&str>)> = text
        .split("\n\n")
        .filter(|b| !b.is_empty())
        .map(|b| {
            let mut lines: Vec<&str> = b.lines().collect();
            let name = lines
                .iter()
                .find_map(|l| l.strip_prefix("# TYPE "))
                .and_then(|t| t.split(' ').next())
                .unwrap_or_default();
            let rank = families.0.iter().position(|f| *f == name);
            let samples = lines.iter().take_while(|l| l.starts_with('#')).count();
            lines[samples..].sort_unstable();
            (rank.unwrap_or(usize::MAX), lines)
        })
        .collect();
    blocks.sort_by_key(|(rank, _)| *rank);
    let mut out = String::with_capacity(text.len());
    for line in blocks.iter().flat_map(|(_, lines)| lines) {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Registers every value of `view` and `bgp` with the current (local) recorder.
fn record(f: &mut Families, view: &View, bgp: Option<&BgpStatus>) {
    gauge!(f.gauge(
        "anycastd_up",
        "1 while the dataplane runs with a fresh heartbeat, else 0."
    ))
    .set(u8::from(view.healthy));
    if let Some(b) = bgp {
        record_bgp(f, b);
    }
    let Some(v) = &view.values else {
        return;
    };
    let h = &v.header;
    gauge!(f.gauge(
        "anycastd_start_time_seconds",
        "When the dataplane started (Unix time)."
    ))
    .set(h.start_unix_ms as f64 / 1e3);
    gauge!(f.gauge(
        "anycastd_heartbeat_age_seconds",
        "Age of the control thread's last heartbeat."
    ))
    .set(view.heartbeat_age.unwrap_or(0.0));
    gauge!(f.gauge(
        "anycastd_config_generation",
        "Config generation serving (1 at start, +1 per reload)."
    ))
    .set(h.generation as f64);
    counter!(f.counter("anycastd_reloads_total", "Successful config reloads.")).absolute(h.reloads);
    counter!(f.counter(
        "anycastd_reload_failures_total",
        "Refused or failed config reloads."
    ))
    .absolute(h.reload_failures);
    gauge!(f.gauge("anycastd_workers", "Worker threads.")).set(h.workers as f64);
    gauge!(f.gauge(
        "anycastd_stats_unsettled_blocks",
        "Segment blocks read without a consistent snapshot (a dataplane killed mid-publication)."
    ))
    .set(v.unsettled_blocks as f64);

    let ids: Vec<String> = (0..v.workers.len()).map(|i| i.to_string()).collect();
    for (name, help, get) in WORKER_COUNTERS {
        let name = f.counter(name, help);
        for (w, id) in v.workers.iter().zip(&ids) {
            counter!(name, "worker" => id.clone()).absolute(get(w));
        }
    }
    let name = f.counter(
        "anycastd_dropped_packets_total",
        "Packets dropped, by reason.",
    );
    for (w, id) in v.workers.iter().zip(&ids) {
        for (reason, n) in DROP_REASONS.iter().zip(&w.drops) {
            counter!(name, "worker" => id.clone(), "reason" => *reason).absolute(*n);
        }
    }
    let name = f.counter("anycastd_dns_responses_total", "DNS responses, by RCODE.");
    for (w, id) in v.workers.iter().zip(&ids) {
        for (rcode, n) in RCODES.iter().zip(&w.rcodes) {
            if *n > 0 || *rcode == "NOERROR" {
                counter!(name, "worker" => id.clone(), "rcode" => *rcode).absolute(*n);
            }
        }
    }
    let name = f.gauge("anycastd_flows", "Flows in the worker's flow table.");
    for (w, id) in v.workers.iter().zip(&ids) {
        gauge!(name, "worker" => id.clone()).set(w.flows as f64);
    }
    let name = f.gauge(
        "anycastd_worker_heartbeat_lag_seconds",
        "How far the worker's last publication lags the control thread's heartbeat.",
    );
    for (w, id) in v.workers.iter().zip(&ids) {
        let lag = h.heartbeat_clock_ms.saturating_sub(w.heartbeat_ms) as f64 / 1e3;
        gauge!(name, "worker" => id.clone()).set(lag);
    }
    type PortField = (
        &'static str,
        &'static str,
        fn(&stats_layout::PortValues) -> u64,
    );
    let port_counters: [PortField; 8] = [
        (
            "anycastd_port_rx_packets_total",
            "Packets the port received (device counter).",
            |p| p.ipackets,
        ),
        (
            "anycastd_port_tx_packets_total",
            "Packets the port sent (device counter).",
            |p| p.opackets,
        ),
        (
            "anycastd_port_rx_bytes_total",
            "Bytes the port received (device counter).",
            |p| p.ibytes,
        ),
        (
            "anycastd_port_tx_bytes_total",
            "Bytes the port sent (device counter).",
            |p| p.obytes,
        ),
        (
            "anycastd_port_rx_missed_total",
            "Packets the device dropped because rx queues were full.",
            |p| p.imissed,
        ),
        (
            "anycastd_port_rx_errors_total",
            "Receive errors (device counter).",
            |p| p.ierrors,
        ),
        (
            "anycastd_port_tx_errors_total",
            "Transmit errors (device counter).",
            |p| p.oerrors,
        ),
        (
            "anycastd_port_rx_nombuf_total",
            "rx mbuf allocation failures.",
            |p| p.rx_nombuf,
        ),
    ];
    for (name, help, get) in port_counters {
        let name = f.counter(name, help);
        for p in &v.ports {
            counter!(name, "port" => label(&p.name)).absolute(get(p));
        }
    }
    record_services(f, v);
}

/// Per-service and per-backend families, summed over workers (a renamed service starts again
/// from zero under its new name; see `stats_layout::services`).
fn record_services(f: &mut Families, v: &stats_layout::SegmentValues) {
    let packets = f.counter(
        "anycastd_service_packets_total",
        "Packets that matched the service (VIP, protocol, port).",
    );
    let bytes = f.counter(
        "anycastd_service_bytes_total",
        "Bytes (whole frames) of the packets that matched the service.",
    );
    let backend = f.counter(
        "anycastd_backend_packets_total",
        "Packets of the service forwarded to the backend.",
    );
    for s in &v.services {
        let service = label(&s.name);
        counter!(packets, "service" => service.clone()).absolute(s.total_packets());
        counter!(bytes, "service" => service.clone()).absolute(s.total_bytes());
        for b in &s.backends {
            counter!(backend, "service" => service.clone(), "backend" => b.address.to_string())
                .absolute(b.total_packets());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stats_layout::Writer;

    #[test]
    fn no_segment_is_up_zero_only() {
        let text = render(
            &View {
                values: None,
                healthy: false,
                heartbeat_age: None,
            },
            None,
        );
        assert_eq!(
            text,
            "# HELP anycastd_up 1 while the dataplane runs with a fresh heartbeat, else 0.\n\
             # TYPE anycastd_up gauge\nanycastd_up 0\n"
        );
    }

    #[test]
    fn every_family_is_typed_once_and_counters_end_in_total() {
        let w = Writer::anonymous(&["edge\"0"], 2).unwrap();
        let mut wv = WorkerValues {
            rx_packets: 7,
            dns_cache_bypassed: 5,
            too_big_answered: 3,
            ..WorkerValues::default()
        };
        wv.drops[1] = 7;
        wv.rcodes[3] = 2;
        w.publish_worker(1, &wv);
        let backends = [
            "192.0.2.10".parse().unwrap(),
            "2001:db8::1".parse().unwrap(),
        ];
        let (slots, assigned) =
            stats_layout::SlotTable::default().assign(1, &[("dns", &[]), ("we\"b", &backends)]);
        w.publish_service_names(&slots);
        let mut sc = stats_layout::ServiceCounters::default();
        sc.rebase(&slots.since());
        sc.count_service(assigned.services[1], 100);
        sc.count_backend(assigned.backends[1][1]);
        w.publish_services(1, &sc);
        let cfg = stats_layout::config::parse(
            std::path::Path::new("/a.toml"),
            "[[vip]]\naddress = \"203.0.113.10\"\n[sidecar.bgp.bird]\n",
        )
        .unwrap()
        .1
        .bgp
        .unwrap();
        let mut bgp = BgpStatus::new(&cfg, &crate::bgp::speakers(&cfg));
        bgp.announced = true;
        bgp.announcements = 4;
        bgp.speakers[0].errors = 2;
        let text = render(
            &View {
                values: Some(w.read().unwrap()),
                healthy: true,
                heartbeat_age: Some(0.05),
            },
            Some(&bgp),
        );
        let mut typed = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(typed.insert(name.to_owned()), "{name} typed twice");
                assert_eq!(kind == "counter", name.ends_with("_total"), "{line}");
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(typed.contains(name), "{name} has no TYPE");
            }
        }
        assert!(text.contains("anycastd_up 1\n"));
        assert!(text.contains("\nanycastd_bgp_announced 1\n"), "{text}");
        assert!(text.contains("\nanycastd_bgp_drained 0\n"), "{text}");
        assert!(text.contains("\nanycastd_bgp_prefixes 1\n"), "{text}");
        assert!(
            text.contains("\nanycastd_bgp_announcements_total 4\n"),
            "{text}"
        );
        assert!(
            text.contains("\nanycastd_bgp_withdrawals_total 0\n"),
            "{text}"
        );
        assert!(text.contains("anycastd_bgp_speaker_errors_total{speaker=\"bird\"} 2\n"));
        assert!(text.contains("anycastd_bgp_speaker_in_sync{speaker=\"bird\"} 0\n"));
        assert!(text.contains("anycastd_rx_packets_total{worker=\"1\"} 7\n"));
        assert!(
            text.contains("anycastd_dropped_packets_total{worker=\"1\",reason=\"malformed\"} 7\n")
        );
        assert!(text.contains("anycastd_dns_responses_total{worker=\"1\",rcode=\"NXDOMAIN\"} 2\n"));
        assert!(text.contains("anycastd_dns_cache_bypassed_total{worker=\"1\"} 5\n"));
        assert!(text.contains("anycastd_too_big_answered_total{worker=\"1\"} 3\n"));
        assert!(text.contains("anycastd_port_rx_packets_total{port=\"edge\\\"0\"} 0\n"));
        assert!(text.contains("anycastd_service_packets_total{service=\"dns\"} 0\n"));
        assert!(text.contains("anycastd_service_packets_total{service=\"we\\\"b\"} 1\n"));
        assert!(text.contains("anycastd_service_bytes_total{service=\"we\\\"b\"} 100\n"));
        assert!(text.contains(
            "anycastd_backend_packets_total{service=\"we\\\"b\",backend=\"2001:db8::1\"} 1\n"
        ));
        assert!(text.contains(
            "anycastd_backend_packets_total{service=\"we\\\"b\",backend=\"192.0.2.10\"} 0\n"
        ));
    }

    fn view(w: &Writer) -> View {
        View {
            values: Some(w.read().unwrap()),
            healthy: true,
            heartbeat_age: Some(0.0),
        }
    }

    #[test]
    fn label_values_and_large_counters_are_exact() {
        let w = Writer::anonymous(&["p\\0", "p\\\\1", "p\\\"2\n"], 1).unwrap();
        w.publish_worker(
            0,
            &WorkerValues {
                rx_packets: u64::MAX,
                flows: 1 << 40,
                ..WorkerValues::default()
            },
        );
        let text = render(&view(&w), None);
        assert!(text.contains("anycastd_rx_packets_total{worker=\"0\"} 18446744073709551615\n"));
        assert!(text.contains("anycastd_flows{worker=\"0\"} 1099511627776\n"));
        assert!(text.contains("anycastd_port_rx_packets_total{port=\"p\\\\0\"} 0\n"));
        assert!(text.contains("{port=\"p\\\\\\\\1\"} 0\n"), "{text}");
        assert!(text.contains("{port=\"p\\\\\\\"2\\n\"} 0\n"), "{text}");
    }

    #[test]
    fn series_gone_from_the_segment_are_gone_from_the_next_scrape() {
        let two = Writer::anonymous(&[], 2).unwrap();
        let slots = stats_layout::SlotTable::default()
            .assign(1, &[("old", &[])])
            .0;
        two.publish_service_names(&slots);
        let text = render(&view(&two), None);
        assert!(text.contains("anycastd_rx_packets_total{worker=\"1\"} 0\n"));
        assert!(text.contains("anycastd_service_packets_total{service=\"old\"} 0\n"));
        let one = Writer::anonymous(&[], 1).unwrap();
        let slots = stats_layout::SlotTable::default()
            .assign(1, &[("new", &[])])
            .0;
        one.publish_service_names(&slots);
        let text = render(&view(&one), None);
        assert!(!text.contains("worker=\"1\""), "{text}");
        assert!(!text.contains("\"old\""), "{text}");
        assert!(text.contains("anycastd_service_packets_total{service=\"new\"} 0\n"));
        let first = text.lines().take(3).collect::<Vec<_>>().join("\n");
        assert!(
            first.ends_with("# TYPE anycastd_up gauge\nanycastd_up 1"),
            "{text}"
        );
    }
}
