//! Flows survive a reload: L2 DSR to backends in namespaces on one bridge with the dataplane's
//! tap. Long-lived TCP connections opened before a reload that drains one backend and adds
//! another keep talking to the backend they had; new connections avoid the drained one.
mod common;

use common::{lan::Lan, ChildGuard as Guard};

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, ChildStdout, Command, Stdio};

use common::{sh, Dataplane};

/// A backend: answers every line on every connection with its name.
const BACKEND: &str = r#"
import socket, sys, threading
name = sys.argv[1].encode() + b"\n"
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("203.0.113.10", 80))
srv.listen(256)
print("listening", flush=True)
def serve(c):
    for _ in c.makefile("rb"):
        c.sendall(name)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

/// The client: `open N` opens N more connections and asks each once; `ask` asks every open
/// connection again. Each command prints the backend names, in connection order, on one line.
const CLIENT: &str = r#"
import socket, sys
conns = []
def ask(c):
    c.sendall(b"x\n")
    return c.makefile("rb").readline().decode().strip() or "closed"
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "open":
        new = []
        for _ in range(int(cmd[1])):
            c = socket.create_connection(("203.0.113.10", 80), timeout=5)
            conns.append(c)
            new.append(c)
        print(" ".join(ask(c) for c in new), flush=True)
    else:
        print(" ".join(ask(c) for c in conns), flush=True)
"#;

fn config(tag: &str, workers: usize, socket: &std::path::Path, backends: &str) -> String {
    format!(
        r#"
[eal]
{}
[dataplane]
workers = {workers}
descriptors = 512
idle = "adaptive"
control_socket = "{}"
[[port]]
name = "edge0"
device = "net_tap_{tag},iface=anyc{tag}"
addresses = ["198.51.100.1/24"]
[[vip]]
address = "203.0.113.10"
[[service]]
name = "web"
vip = "203.0.113.10"
protocol = "tcp"
port = 80
kind = "forward"
encap = "l2dsr"
{backends}
"#,
        common::eal_args(&format!("anyc-rflow-{tag}")),
        socket.display()
    )
}

struct Client {
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    _child: Guard,
}

impl Client {
    fn cmd(&mut self, c: &str) -> Vec<String> {
        writeln!(self.stdin, "{c}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "client died on '{c}'");
        line.split_whitespace().map(str::to_owned).collect()
    }
}

/// Waits (bounded) until backend namespace `ns` has answered an ARP request from the dataplane
/// (198.51.100.1 shows up in its neighbour table), then gives the reply a moment to arrive.
fn wait_until_asked_by_dataplane(ns: &str) {
    for _ in 0..200 {
        if sh(&format!("ip -n {ns} neigh show 198.51.100.1")).contains("lladdr") {
            std::thread::sleep(std::time::Duration::from_millis(100));
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("the dataplane never sent an ARP request to the backend in {ns}");
}

fn histogram(names: &[String]) -> BTreeMap<String, usize> {
    let mut h = BTreeMap::new();
    for n in names {
        *h.entry(n.clone()).or_insert(0) += 1;
    }
    h
}

#[test]
fn connections_keep_their_backend_across_a_reload_that_drains_one_and_adds_another() {
    flows_across_a_reload("rf", 1);
}

/// The same with two workers: each has its own flow table and neighbour cache.
#[test]
fn two_workers_keep_flows_across_a_reload() {
    flows_across_a_reload("rf2", 2);
}

fn flows_across_a_reload(tag: &str, workers: usize) {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("ctl.sock");
    let backend = |last: u8, state: &str| {
        format!("[[service.backend]]\naddress = \"198.51.100.{last}\"\nstate = \"{state}\"\n")
    };
    let before = format!("{}{}", backend(21, "active"), backend(22, "active"));
    let mut dp = Dataplane::start(&config(tag, workers, &socket, &before));
    // Client and three backends on one bridge with the dataplane's tap (b3 joins the service
    // only at the reload).
    let lan = Lan::new(
        tag,
        &format!("anyc{tag}"),
        "203.0.113.10",
        &["198.51.100.21", "198.51.100.22", "198.51.100.23"],
    );
    let client = lan.client.clone();
    let b = |i: u8| lan.backends[usize::from(i) - 1].clone();
    let mut servers = Vec::new();
    for i in 1..=3u8 {
        let ns = b(i);
        let script = dir.path().join("backend.py");
        std::fs::write(&script, BACKEND).unwrap();
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns, "/usr/bin/python3"])
            .arg(&script)
            .arg(format!("b{i}"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "listening");
        servers.push(Guard(child));
    }
    // Let the dataplane resolve the backends: its ARP requests (retried every second until
    // answered) must have reached b1 and b2 before the first connection.
    wait_until_asked_by_dataplane(&b(1));
    wait_until_asked_by_dataplane(&b(2));
    let out = sh(&format!(
        "ip netns exec {client} ping -c 3 -i 0.2 -W 2 -q 203.0.113.10"
    ));
    assert!(out.contains("3 received"), "{out}");

    let script = dir.path().join("client.py");
    std::fs::write(&script, CLIENT).unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", &client, "/usr/bin/python3"])
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut c = Client {
        stdin: child.stdin.take().unwrap(),
        stdout: BufReader::new(child.stdout.take().unwrap()),
        _child: Guard(child),
    };
    let first = c.cmd("open 32");
    assert_eq!(first.len(), 32);
    let h = histogram(&first);
    assert!(
        h.get("b1").is_some_and(|&n| n > 0) && h.get("b2").is_some_and(|&n| n > 0),
        "both backends take connections: {h:?}"
    );
    assert_eq!(c.cmd("ask"), first);

    // Reload: drain b1, add b3, and renumber the list (flow entries must follow addresses).
    let after = format!(
        "{}{}{}",
        backend(23, "active"),
        backend(22, "active"),
        backend(21, "draining")
    );
    std::fs::write(&dp.config, config(tag, workers, &socket, &after)).unwrap();
    let out = Command::new(common::anycastd())
        .args(["reload", "--socket"])
        .arg(&socket)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // The reload's new snapshot makes the workers ask for b3 at once.
    wait_until_asked_by_dataplane(&b(3));
    // Every open connection still reaches its backend, the drained one included.
    assert_eq!(c.cmd("ask"), first, "connections moved across the reload");
    let new = c.cmd("open 32");
    let h = histogram(&new);
    assert!(
        !h.contains_key("b1"),
        "new connections to the draining b1: {h:?}"
    );
    assert!(
        h.contains_key("b3"),
        "the added b3 takes new connections: {h:?}"
    );
    let mut all = first.clone();
    all.extend(new);
    assert_eq!(c.cmd("ask"), all);
    let done = dp.stop();
    assert!(done.status.success(), "{}", done.stderr);
    println!("{}", done.stdout);
    // Backends were resolved ahead of their first packet (also the one the reload added), on
    // every worker: no packet waited for ARP.
    assert_eq!(
        common::counter(&done.stdout, "total:", "next_hop_unresolved"),
        0,
        "{}",
        done.stdout
    );
    for w in 0..workers {
        assert!(
            common::counter(&done.stdout, &format!("worker {w}:"), "forwarded") > 0,
            "worker {w} forwarded nothing: {}",
            done.stdout
        );
    }
}
