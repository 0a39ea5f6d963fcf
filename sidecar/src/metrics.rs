//! The Prometheus text exposition format (0.0.4) of a [`View`]: `anycastd_*` families, each with
//! HELP and TYPE once, counters ending in `_total`, labels `worker`, `port`, `reason`, `rcode`,
//! `service`, `backend`.
use std::fmt::Write;

use stats_layout::{WorkerValues, DROP_REASONS};

use crate::bgp::BgpStatus;
use crate::View;

/// One metric family being written.
struct Family<'a> {
    out: &'a mut String,
    name: &'static str,
}

impl Family<'_> {
    fn sample(&mut self, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

fn family<'a>(out: &'a mut String, name: &'static str, kind: &str, help: &str) -> Family<'a> {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    Family { out, name }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

use stats_layout::health::RCODE_NAMES as RCODES;

/// Per-worker counter families: (name, help, field).
type WorkerField = (&'static str, &'static str, fn(&WorkerValues) -> u64);

const WORKER_COUNTERS: [WorkerField; 13] = [
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
        "anycastd_dns_queries_total",
        "DNS queries handed to a DNS service.",
        |w| w.dns_queries,
    ),
];

/// The `anycastd_bgp_*` families.
fn render_bgp(out: &mut String, b: &BgpStatus) {
    let gauges: [(&'static str, &str, bool); 3] = [
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
        family(out, name, "gauge", help).sample(&[], u8::from(v));
    }
    family(
        out,
        "anycastd_bgp_prefixes",
        "gauge",
        "Prefixes announced while healthy.",
    )
    .sample(&[], b.prefixes.len());
    family(
        out,
        "anycastd_bgp_announcements_total",
        "counter",
        "Transitions from withdrawn to announced.",
    )
    .sample(&[], b.announcements);
    family(
        out,
        "anycastd_bgp_withdrawals_total",
        "counter",
        "Transitions from announced to withdrawn.",
    )
    .sample(&[], b.withdrawals);
    family(
        out,
        "anycastd_bgp_state_change_time_seconds",
        "gauge",
        "When the announce state last changed (Unix time; the sidecar's start at first).",
    )
    .sample(&[], b.since_unix_ms as f64 / 1e3);
    let mut f = family(
        out,
        "anycastd_bgp_speaker_in_sync",
        "gauge",
        "1 when the speaker has applied the current announce state.",
    );
    for s in &b.speakers {
        f.sample(&[("speaker", s.name)], u8::from(s.in_sync));
    }
    let mut f = family(
        out,
        "anycastd_bgp_speaker_errors_total",
        "counter",
        "Failed attempts to make the speaker announce or withdraw (retried at every check).",
    );
    for s in &b.speakers {
        f.sample(&[("speaker", s.name)], s.errors);
    }
}

/// Renders the whole exposition (with the `anycastd_bgp_*` families when BGP is configured).
pub fn render(view: &View, bgp: Option<&BgpStatus>) -> String {
    let mut out = String::with_capacity(16 * 1024);
    family(
        &mut out,
        "anycastd_up",
        "gauge",
        "1 while the dataplane runs with a fresh heartbeat, else 0.",
    )
    .sample(&[], u8::from(view.healthy));
    if let Some(b) = bgp {
        render_bgp(&mut out, b);
    }
    let Some(v) = &view.values else {
        return out;
    };
    let h = &v.header;
    family(
        &mut out,
        "anycastd_start_time_seconds",
        "gauge",
        "When the dataplane started (Unix time).",
    )
    .sample(&[], h.start_unix_ms as f64 / 1e3);
    family(
        &mut out,
        "anycastd_heartbeat_age_seconds",
        "gauge",
        "Age of the control thread's last heartbeat.",
    )
    .sample(&[], view.heartbeat_age.unwrap_or(0.0));
    family(
        &mut out,
        "anycastd_config_generation",
        "gauge",
        "Config generation serving (1 at start, +1 per reload).",
    )
    .sample(&[], h.generation);
    family(
        &mut out,
        "anycastd_reloads_total",
        "counter",
        "Successful config reloads.",
    )
    .sample(&[], h.reloads);
    family(
        &mut out,
        "anycastd_reload_failures_total",
        "counter",
        "Refused or failed config reloads.",
    )
    .sample(&[], h.reload_failures);
    family(&mut out, "anycastd_workers", "gauge", "Worker threads.").sample(&[], h.workers);
    family(
        &mut out,
        "anycastd_stats_unsettled_blocks",
        "gauge",
        "Segment blocks read without a consistent snapshot (a dataplane killed mid-publication).",
    )
    .sample(&[], v.unsettled_blocks);

    let ids: Vec<String> = (0..v.workers.len()).map(|i| i.to_string()).collect();
    for (name, help, get) in WORKER_COUNTERS {
        let mut f = family(&mut out, name, "counter", help);
        for (w, id) in v.workers.iter().zip(&ids) {
            f.sample(&[("worker", id)], get(w));
        }
    }
    let mut f = family(
        &mut out,
        "anycastd_dropped_packets_total",
        "counter",
        "Packets dropped, by reason.",
    );
    for (w, id) in v.workers.iter().zip(&ids) {
        for (reason, n) in DROP_REASONS.iter().zip(&w.drops) {
            f.sample(&[("worker", id), ("reason", reason)], n);
        }
    }
    let mut f = family(
        &mut out,
        "anycastd_dns_responses_total",
        "counter",
        "DNS responses, by RCODE.",
    );
    for (w, id) in v.workers.iter().zip(&ids) {
        for (rcode, n) in RCODES.iter().zip(&w.rcodes) {
            if *n > 0 || *rcode == "NOERROR" {
                f.sample(&[("worker", id), ("rcode", rcode)], n);
            }
        }
    }
    let mut f = family(
        &mut out,
        "anycastd_flows",
        "gauge",
        "Flows in the worker's flow table.",
    );
    for (w, id) in v.workers.iter().zip(&ids) {
        f.sample(&[("worker", id)], w.flows);
    }
    let mut f = family(
        &mut out,
        "anycastd_worker_heartbeat_lag_seconds",
        "gauge",
        "How far the worker's last publication lags the control thread's heartbeat.",
    );
    for (w, id) in v.workers.iter().zip(&ids) {
        f.sample(
            &[("worker", id)],
            h.heartbeat_clock_ms.saturating_sub(w.heartbeat_ms) as f64 / 1e3,
        );
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
        let mut f = family(&mut out, name, "counter", help);
        for p in &v.ports {
            f.sample(&[("port", &p.name)], get(p));
        }
    }
    services(&mut out, v);
    out
}

/// Per-service and per-backend families, summed over workers (a renamed service starts again
/// from zero under its new name; see `stats_layout::services`).
fn services(out: &mut String, v: &stats_layout::SegmentValues) {
    let mut f = family(
        out,
        "anycastd_service_packets_total",
        "counter",
        "Packets that matched the service (VIP, protocol, port).",
    );
    for s in &v.services {
        f.sample(&[("service", &s.name)], s.total_packets());
    }
    let mut f = family(
        out,
        "anycastd_service_bytes_total",
        "counter",
        "Bytes (whole frames) of the packets that matched the service.",
    );
    for s in &v.services {
        f.sample(&[("service", &s.name)], s.total_bytes());
    }
    let mut f = family(
        out,
        "anycastd_backend_packets_total",
        "counter",
        "Packets of the service forwarded to the backend.",
    );
    for s in &v.services {
        for b in &s.backends {
            let addr = b.address.to_string();
            f.sample(
                &[("service", &s.name), ("backend", &addr)],
                b.total_packets(),
            );
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
}
