//! The DNS service inside a snapshot: queries through `pipeline::process` over IPv4 and IPv6,
//! and broken zones failing the snapshot build (what `anycastd check` runs) with file and line.
use super::*;
use crate::config::Config;
use crate::pipeline::{process, WorkerState};
use crate::snapshot::Snapshot;

fn config(zone: &std::path::Path) -> String {
    format!(
        r#"
[[port]]
name = "edge0"
device = "net_null0"
addresses = ["198.51.100.1/24", "2001:db8:1::1/64"]
[[vip]]
address = "203.0.113.53"
[[vip]]
address = "2001:db8:53::53"
[[service]]
name = "dns"
vip = ["203.0.113.53", "2001:db8:53::53"]
protocol = "udp"
port = 53
kind = "dns"
zones = ["{}"]
identity = "ams1"
"#,
        zone.display()
    )
}

fn snapshot_for(zone: &std::path::Path) -> Result<Snapshot, String> {
    let config = Config::parse(std::path::Path::new("/tmp/test.toml"), &config(zone))
        .map_err(|e| e.to_string())?;
    Snapshot::build(&config, &[PORT_MAC], 1).map_err(|e| e.to_string())
}

#[test]
fn queries_through_the_pipeline_are_answered_on_both_vips() {
    let snap = snapshot_for(&zones_dir().join("example.test.zone")).expect("snapshot");
    let mut state = WorkerState::default();
    let q = query("www.example.test", 1, Q::default());
    let mut buf = TestBuffer::new(&testutil::udp4(CLIENT4, VIP4, 40000, 53, &q));
    assert_eq!(process(&mut buf, 0, &snap, &mut state), Verdict::Answer);
    assert_eq!(decode(&check_v4_reply(&buf)).answers(1).len(), 2);
    let q = query("www.example.test", 28, Q::default());
    let mut buf = TestBuffer::new(&udp6(CLIENT6, VIP6, 40001, 53, &q));
    assert_eq!(process(&mut buf, 0, &snap, &mut state), Verdict::Answer);
    let f = buf.data();
    assert_eq!(decode(&f[14 + 40 + 8..]).answers(28).len(), 1);
    assert_eq!((state.dns.queries, state.dns.responses), (2, 2));
    // Another port on the VIP is no service.
    let mut buf = TestBuffer::new(&testutil::udp4(CLIENT4, VIP4, 40000, 54, &q));
    assert_eq!(
        process(&mut buf, 0, &snap, &mut state),
        Verdict::Drop(crate::verdict::DropReason::NoService)
    );
}

#[test]
fn a_broken_zone_fails_the_snapshot_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let zone = dir.path().join("bad.zone");
    std::fs::write(
        &zone,
        "$ORIGIN bad.test.\n$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.300\n",
    )
    .unwrap();
    let e = match snapshot_for(&zone) {
        Ok(_) => panic!("a broken zone built"),
        Err(e) => e,
    };
    assert!(e.contains("service 'dns'"), "{e}");
    assert!(e.contains(&format!("{}:5:", zone.display())), "{e}");
    let e = match snapshot_for(&dir.path().join("missing.zone")) {
        Ok(_) => panic!("a missing zone built"),
        Err(e) => e,
    };
    assert!(e.contains("missing.zone: cannot read"), "{e}");
}
