//! Config reloads through the real binary, checked by traffic from a namespace over net_tap:
//! reloads under load lose nothing and take effect at once; bad reloads of every kind leave the
//! old config serving; `anycastd reload` and SIGHUP both reload (and turn minimal DNS
//! responses on).
mod common;

use common::{ChildGuard as Guard, Netns};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{sh, Dataplane};

/// What one generation of the test config holds.
#[derive(Clone)]
struct Gen {
    /// Written to `gen.example.test TXT "gen-N"` and the identity.
    n: u32,
    /// Whether VIP 203.0.113.11 is declared.
    vip11: bool,
    /// The forward service's backend (last octet in 198.51.100.0/24).
    backend: u8,
    /// The DNS service's `minimal_responses`.
    minimal: bool,
}

struct Setup {
    tag: String,
    dir: tempfile::TempDir,
    socket: PathBuf,
}

impl Setup {
    fn new(tag: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("ctl.sock");
        Setup {
            tag: tag.to_owned(),
            dir,
            socket,
        }
    }

    fn zone(&self, n: u32) -> PathBuf {
        let path = self.dir.path().join(format!("gen{n}.zone"));
        std::fs::write(
            &path,
            format!(
                "$ORIGIN example.test.\n$TTL 300\n\
                 @ IN SOA ns1 hostmaster {n} 7200 900 1209600 300\n\
                 @ IN NS ns1\nns1 IN A 203.0.113.53\ngen IN TXT \"gen-{n}\"\n"
            ),
        )
        .unwrap();
        path
    }

    fn config(&self, g: &Gen) -> String {
        let zone = self.zone(g.n);
        let tag = &self.tag;
        let vip11 = if g.vip11 {
            "[[vip]]\naddress = \"203.0.113.11\"\n"
        } else {
            ""
        };
        format!(
            r#"
[eal]
{eal}
[dataplane]
idle = "adaptive"
control_socket = "{socket}"
[[port]]
name = "edge0"
device = "net_tap_{tag},iface=anyc{tag}"
addresses = ["198.51.100.1/24"]
[[vip]]
address = "203.0.113.10"
[[vip]]
address = "203.0.113.53"
{vip11}
[[service]]
name = "dns"
vip = "203.0.113.53"
protocol = "udp"
port = 53
kind = "dns"
zones = ["{zone}"]
identity = "node-{n}"
minimal_responses = {minimal}
[[service]]
name = "web"
vip = "203.0.113.10"
protocol = "tcp"
port = 80
kind = "forward"
encap = "l2dsr"
[[service.backend]]
address = "198.51.100.{backend}"
"#,
            eal = common::eal_args(&format!("anyc-reload-{tag}")),
            socket = self.socket.display(),
            zone = zone.display(),
            n = g.n,
            backend = g.backend,
            minimal = g.minimal,
        )
    }

    /// Starts anycastd on generation `g` and moves its tap into a fresh namespace as
    /// 198.51.100.2/24 with routes to the VIPs.
    fn start(&self, g: &Gen) -> (Dataplane, Netns) {
        let dp = Dataplane::start(&self.config(g));
        let iface = format!("anyc{}", self.tag);
        let ns = Netns(format!(
            "anycastd-reload-{}-{}",
            self.tag,
            std::process::id()
        ));
        sh(&format!("ip netns add {}", ns.0));
        sh(&format!("ip link set {iface} netns {}", ns.0));
        sh(&format!(
            "ip -n {} addr add 198.51.100.2/24 dev {iface}",
            ns.0
        ));
        sh(&format!("ip -n {} link set {iface} up", ns.0));
        sh(&format!(
            "ip -n {} route add 203.0.113.0/24 dev {iface}",
            ns.0
        ));
        (dp, ns)
    }

    /// Rewrites the config file for `g`.
    fn write(&self, dp: &Dataplane, g: &Gen) {
        write_atomically(&dp.config, &self.config(g));
    }

    /// `anycastd reload --socket ...`: (exit success, stdout + stderr).
    fn reload(&self) -> (bool, String) {
        let out = Command::new(common::anycastd())
            .args(["reload", "--socket"])
            .arg(&self.socket)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    /// `anycastd status`: the value of `name=` on its first line.
    fn status(&self, name: &str) -> u64 {
        let out = Command::new(common::anycastd())
            .args(["status", "--socket"])
            .arg(&self.socket)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .next()
            .unwrap()
            .split(' ')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .parse()
            .unwrap()
    }
}

/// Replaces `path` by rename, so a reload never reads a half-written file.
fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// One `dig` (one try) for gen.example.test TXT from the namespace, with `options`: its output.
fn dig_gen_output(ns: &Netns, options: &[&str]) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.0, "dig"])
        .args(options)
        .args([
            "+time=1",
            "+tries=1",
            "@203.0.113.53",
            "gen.example.test",
            "TXT",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The TXT text of gen.example.test from the namespace, or "" on no answer.
fn dig_gen(ns: &Netns) -> String {
    dig_gen_output(ns, &["+short"])
        .trim()
        .trim_matches('"')
        .to_owned()
}

/// How many records the authority section of the answer to gen.example.test TXT holds (the
/// zone's NS RRset, unless the service serves minimal responses), from the namespace.
fn dig_gen_authority(ns: &Netns) -> usize {
    dig_gen_output(ns, &["+noall", "+authority"])
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with(';'))
        .count()
}

/// True when `addr` answers one ping within `wait` seconds.
fn pings(ns: &Netns, addr: &str, wait: &str) -> bool {
    Command::new("ip")
        .args([
            "netns", "exec", &ns.0, "ping", "-c", "1", "-W", wait, "-q", addr,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// A DNS sender for the namespace: one query at a time for gen.example.test TXT, no retries,
/// until `stop` exists. Prints `sent= answered= lost= bad= monotonic= gens=first..last changes=`.
const SENDER: &str = r#"
import os, socket, struct, sys, time
stop = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
s.connect(("203.0.113.53", 53))
icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
icmp.settimeout(1.0)
ident = os.getpid() & 0xffff
def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xffff)
    t += t >> 16
    return ~t & 0xffff
qname = b"\x03gen\x07example\x04test\x00"
sent = answered = lost = bad = 0
esent = ereplied = elost = 0
gens = []
def echo(seq):
    global esent, ereplied, elost
    body = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"anycastd-reload"
    body = body[:2] + struct.pack("!H", csum(body)) + body[4:]
    icmp.sendto(body, ("203.0.113.10", 0))
    esent += 1
    try:
        while True:
            r = icmp.recv(2048)
            ihl = (r[0] & 15) * 4
            t, _, _, rid, rseq = struct.unpack("!BBHHH", r[ihl:ihl + 8])
            if t == 0 and rid == ident and rseq == seq:
                ereplied += 1
                return
    except socket.timeout:
        elost += 1
while sent == 0 or not os.path.exists(stop):
    qid = sent & 0xffff
    echo(qid)
    s.send(struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0) + qname + struct.pack(">HH", 16, 1))
    sent += 1
    try:
        while True:
            r = s.recv(4096)
            if r[:2] == struct.pack(">H", qid):
                break
    except socket.timeout:
        lost += 1
        continue
    answered += 1
    flags = struct.unpack(">H", r[2:4])[0]
    i = r.find(b"gen-")
    if flags & 0x000f != 0 or flags & 0x0400 == 0 or i < 0:
        bad += 1
        continue
    gens.append(int(r[i + 4:i + r[i - 1]]))
    if len(gens) == 1:
        open(stop + ".started", "w").close()
    time.sleep(0.0003)
mono = all(a <= b for a, b in zip(gens, gens[1:]))
changes = sum(1 for a, b in zip(gens, gens[1:]) if a != b)
print(f"sent={sent} answered={answered} lost={lost} bad={bad} monotonic={mono} "
      f"first={gens[0] if gens else -1} last={gens[-1] if gens else -1} changes={changes} "
      f"echo_sent={esent} echo_replied={ereplied} echo_lost={elost}")
"#;

fn field(text: &str, name: &str) -> String {
    text.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name}= in {text}"))
        .to_owned()
}

/// Packets lost across reloads under load must be zero, and each reload takes effect at once.
#[test]
fn twenty_reloads_under_load_lose_nothing() {
    const RELOADS: u32 = 24;
    let setup = Setup::new("rl");
    let mut g = Gen {
        n: 0,
        vip11: true,
        backend: 20,
        minimal: false,
    };
    let (mut dp, ns) = setup.start(&g);
    assert_eq!(dig_gen(&ns), "gen-0");
    let script = setup.dir.path().join("sender.py");
    std::fs::write(&script, SENDER).unwrap();
    let stop = setup.dir.path().join("stop");
    let sender = Command::new("ip")
        .args(["netns", "exec", &ns.0, "/usr/bin/python3"])
        .arg(&script)
        .arg(&stop)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut sender = Guard(sender);
    let started = PathBuf::from(format!("{}.started", stop.display()));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !started.exists() {
        assert!(Instant::now() < deadline, "the sender got no first answer");
        assert!(sender.0.try_wait().unwrap().is_none(), "the sender died");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut elapsed_ms = Vec::new();
    for k in 1..=RELOADS {
        g = Gen {
            n: k,
            vip11: k % 2 == 0,
            backend: 20 + (k % 3) as u8,
            minimal: false,
        };
        setup.write(&dp, &g);
        let (ok, text) = setup.reload();
        assert!(ok, "reload {k} failed: {text}");
        assert_eq!(field(&text, "generation"), (k + 1).to_string(), "{text}");
        elapsed_ms.push(field(&text, "elapsed_ms").parse::<f64>().unwrap());
        // The new config is in force as soon as the reload returns.
        assert_eq!(dig_gen(&ns), format!("gen-{k}"), "after reload {k}");
        if g.vip11 {
            assert!(
                pings(&ns, "203.0.113.11", "2"),
                "VIP .11 added by reload {k}"
            );
        } else if k % 6 == 1 {
            assert!(
                !pings(&ns, "203.0.113.11", "0.5"),
                "VIP .11 removed by reload {k}"
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        sender.0.try_wait().unwrap().is_none(),
        "the sender stopped early"
    );
    std::fs::write(&stop, "").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while sender.0.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let sender_out = std::mem::replace(&mut sender.0, Command::new("true").spawn().unwrap());
    let sender_out = sender_out.wait_with_output().unwrap();
    let dns = String::from_utf8_lossy(&sender_out.stdout).into_owned();
    assert!(
        sender_out.status.success(),
        "{dns}{}",
        String::from_utf8_lossy(&sender_out.stderr)
    );
    let status_gen = setup.status("generation");
    let done = dp.stop();
    println!(
        "{RELOADS} reloads under load: {dns}; reload elapsed_ms min {:.3} max {:.3}",
        elapsed_ms.iter().cloned().fold(f64::INFINITY, f64::min),
        elapsed_ms.iter().cloned().fold(0.0, f64::max)
    );
    assert_eq!(
        field(&dns, "echo_lost"),
        "0",
        "ICMP loss across reloads: {dns}"
    );
    assert_eq!(
        field(&dns, "echo_sent"),
        field(&dns, "echo_replied"),
        "{dns}"
    );
    assert_eq!(field(&dns, "lost"), "0", "DNS loss across reloads: {dns}");
    assert_eq!(field(&dns, "bad"), "0", "{dns}");
    assert_eq!(
        field(&dns, "monotonic"),
        "True",
        "an older config answered: {dns}"
    );
    assert_eq!(field(&dns, "first"), "0", "{dns}");
    assert_eq!(field(&dns, "last"), RELOADS.to_string(), "{dns}");
    assert!(
        field(&dns, "changes").parse::<u32>().unwrap() >= RELOADS / 2,
        "the sender should see most generations: {dns}"
    );
    assert_eq!(status_gen, u64::from(RELOADS) + 1);
    assert!(done.status.success(), "{}", done.stderr);
    assert!(
        done.stdout
            .contains(&format!("generation={} ok={RELOADS} failed=0", RELOADS + 1)),
        "{}",
        done.stdout
    );
}

/// Every kind of bad reload is refused, counted, and leaves the old config serving, checked by
/// traffic: the old VIP still answers ping and DNS still answers the old TXT.
#[test]
fn bad_reloads_change_nothing() {
    let setup = Setup::new("rb");
    let good = Gen {
        n: 0,
        vip11: true,
        backend: 20,
        minimal: false,
    };
    let (mut dp, ns) = setup.start(&good);
    let good_text = setup.config(&good);
    // Each bad file would also remove VIP .11 and serve gen-7 if it were (half) applied.
    let next = setup.config(&Gen {
        n: 7,
        vip11: false,
        backend: 21,
        minimal: false,
    });
    let bad_zone = setup.dir.path().join("bad.zone");
    std::fs::write(
        &bad_zone,
        "$ORIGIN example.test.\n@ IN SOA ns1 hostmaster 1 2 3 4 5\nbroken IN A not-an-address\n",
    )
    .unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "bad TOML",
            next.replace("[[vip]]\naddress = \"203.0.113.53\"", "[[vip]\naddress = "),
            "anycastd.toml:",
        ),
        (
            "bad zone file",
            next.replace(
                &setup.dir.path().join("gen7.zone").display().to_string(),
                &bad_zone.display().to_string(),
            ),
            "bad.zone:3",
        ),
        (
            "missing zone file",
            next.replace("gen7.zone", "missing.zone"),
            "missing.zone",
        ),
        (
            "impossible value",
            next.replace("port = 80", "port = 70000"),
            "service[1].port: 70000 is out of range",
        ),
        (
            "unknown key",
            next.replace("idle = \"adaptive\"", "idle = \"adaptive\"\nwrokers = 2"),
            "unknown field `wrokers`",
        ),
        (
            "restart-only change (workers)",
            next.replace("idle = \"adaptive\"", "idle = \"adaptive\"\nworkers = 2"),
            "dataplane.workers changed: a restart is needed",
        ),
        (
            "restart-only change (EAL args)",
            next.replace("\"256\"", "\"512\""),
            "eal.args changed: a restart is needed",
        ),
        (
            "restart-only change (port device)",
            next.replace("iface=anycrb", "iface=anycrx"),
            "port[0].device changed: a restart is needed",
        ),
    ];
    let n = cases.len() as u64;
    for (what, text, needle) in cases {
        write_atomically(&dp.config, &text);
        let (ok, out) = setup.reload();
        assert!(!ok, "{what}: reload should fail: {out}");
        assert!(out.contains(needle), "{what}: want '{needle}' in: {out}");
        assert!(out.contains("nothing was changed") || !needle.contains("restart"));
        // Traffic says the old config still serves.
        assert_eq!(dig_gen(&ns), "gen-0", "{what}");
        assert!(pings(&ns, "203.0.113.11", "2"), "{what}: VIP .11 gone");
        assert!(pings(&ns, "203.0.113.10", "2"), "{what}: VIP .10 gone");
    }
    assert_eq!(setup.status("reload_failures"), n);
    assert_eq!(setup.status("generation"), 1);
    // A good file after all that applies.
    write_atomically(&dp.config, &next);
    let (ok, out) = setup.reload();
    assert!(ok, "{out}");
    assert_eq!(dig_gen(&ns), "gen-7");
    assert!(!pings(&ns, "203.0.113.11", "0.5"), "VIP .11 removed");
    let _ = good_text;
    let done = dp.stop();
    assert!(done.status.success(), "{}", done.stderr);
    assert!(
        done.stdout
            .contains(&format!("generation=2 ok=1 failed={n}")),
        "{}",
        done.stdout
    );
    // The failures were logged with file and line.
    assert!(
        done.stderr
            .contains("reload failed, the old config keeps serving"),
        "{}",
        done.stderr
    );
}

/// SIGHUP reloads like `anycastd reload` does; `reload` against a dead socket exits 1.
#[test]
fn sighup_and_the_cli_both_reload() {
    let setup = Setup::new("rh");
    let (mut dp, ns) = setup.start(&Gen {
        n: 0,
        vip11: false,
        backend: 20,
        minimal: false,
    });
    assert_eq!(dig_gen(&ns), "gen-0");
    setup.write(
        &dp,
        &Gen {
            n: 1,
            vip11: false,
            backend: 20,
            minimal: false,
        },
    );
    sh(&format!("kill -HUP {}", dp.pid()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while setup.status("generation") != 2 {
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(dig_gen(&ns), "gen-1");
    setup.write(
        &dp,
        &Gen {
            n: 2,
            vip11: true,
            backend: 20,
            minimal: true,
        },
    );
    assert_eq!(dig_gen_authority(&ns), 1, "the zone's NS before the reload");
    let (ok, out) = setup.reload();
    assert!(ok && out.starts_with("ok generation=3"), "{out}");
    assert_eq!(dig_gen(&ns), "gen-2");
    assert_eq!(dig_gen_authority(&ns), 0, "minimal responses after it");
    assert!(pings(&ns, "203.0.113.11", "2"));
    let done = dp.stop();
    assert!(done.status.success(), "{}", done.stderr);
    // Nobody listens any more.
    let (ok, out) = setup.reload();
    assert!(!ok && out.contains("cannot connect"), "{out}");
    assert!(!setup.socket.exists(), "socket file removed at exit");
}

/// Reload-time figures: the demo config, and 1M zone records with 100 services (1 DNS, 99
/// forward). `cargo test --release -p anycastd --test reload_hitless -- --ignored --nocapture`.
#[test]
#[ignore]
fn reload_time_figures() {
    use std::fmt::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("ctl.sock");
    let demo_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs");
    let demo = std::fs::read_to_string(demo_dir.join("demo.toml"))
        .unwrap()
        .replace(
            "zones/example.test.zone",
            &demo_dir
                .join("zones/example.test.zone")
                .display()
                .to_string(),
        )
        .replace("net_tap0,iface=anyc0", "net_tap_fig,iface=anycfig")
        .replace("anycastd-demo", "anyc-reload-fig")
        .replace(
            "idle = \"adaptive\"",
            &format!(
                "idle = \"adaptive\"\ncontrol_socket = \"{}\"",
                socket.display()
            ),
        );
    // 1M records: 1M A records in one zone, plus 99 forward services on their own VIPs.
    let zone = dir.path().join("big.zone");
    let mut z = String::with_capacity(40 << 20);
    z.push_str("$ORIGIN big.test.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 900 1209600 300\n@ IN NS ns1\nns1 IN A 203.0.113.53\n");
    for i in 0..1_000_000u32 {
        let _ = writeln!(z, "h{i} IN A 198.51.100.{}", i & 0xff);
    }
    std::fs::write(&zone, z).unwrap();
    let head = format!(
        "[eal]\n{}\n[dataplane]\nidle = \"adaptive\"\ncontrol_socket = \"{}\"\n\
         [[port]]\nname = \"edge0\"\ndevice = \"net_tap_fig,iface=anycfig\"\n\
         addresses = [\"198.51.100.1/24\"]\n[[vip]]\naddress = \"203.0.113.53\"\n\
         [[service]]\nname = \"dns\"\nvip = \"203.0.113.53\"\nprotocol = \"udp\"\nport = 53\n\
         kind = \"dns\"\nzones = [\"{}\"]\nidentity = \"fig\"\n",
        common::eal_args("anyc-reload-fig"),
        socket.display(),
        zone.display()
    );
    let mut services = String::new();
    for s in 0..99u32 {
        let _ = write!(
            services,
            "[[vip]]\naddress = \"203.0.113.{}\"\n[[service]]\nname = \"fwd{s}\"\n\
             vip = \"203.0.113.{}\"\nprotocol = \"tcp\"\nport = 80\nkind = \"forward\"\n\
             encap = \"l2dsr\"\n",
            100 + s,
            100 + s
        );
        for b in 0..4u32 {
            let _ = write!(
                services,
                "[[service.backend]]\naddress = \"198.51.100.{}\"\n",
                10 + (s * 4 + b) % 200
            );
        }
    }
    let time = |config: &str, what: &str| {
        let mut dp = Dataplane::start(config);
        let mut ms = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let out = Command::new(common::anycastd())
                .args(["reload", "--socket"])
                .arg(&socket)
                .output()
                .unwrap();
            let wall = t.elapsed();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(out.status.success(), "{text}{:?}", out);
            ms.push((field(&text, "elapsed_ms").parse::<f64>().unwrap(), wall));
        }
        let done = dp.stop();
        assert!(done.status.success());
        println!("reload time, {what}: {ms:?} (server elapsed_ms, client wall time)");
    };
    time(&demo, "demo config");
    let small_zone = demo_dir.join("zones/example.test.zone");
    time(
        &format!(
            "{}{services}",
            head.replace(
                &zone.display().to_string(),
                &small_zone.display().to_string()
            )
        ),
        "demo zone + 100 services (1 dns, 99 forward, Maglev 65537 each)",
    );
    time(&head, "1M zone records, 1 service");
    time(
        &format!("{head}{services}"),
        "1M zone records + 100 services",
    );
}

/// With `watch = true`, changing a zone file or the config file reloads by itself; a broken
/// file is refused like any bad reload.
#[test]
fn watched_files_reload_when_they_change() {
    let setup = Setup::new("rw");
    let watched = |g: &Gen| {
        setup
            .config(g)
            .replace("idle = \"adaptive\"", "idle = \"adaptive\"\nwatch = true")
    };
    let g0 = Gen {
        n: 0,
        vip11: false,
        backend: 20,
        minimal: false,
    };
    let mut dp = Dataplane::start(&watched(&g0));
    let iface = "anycrw";
    let ns = Netns(format!("anycastd-reload-rw-{}", std::process::id()));
    sh(&format!("ip netns add {}", ns.0));
    sh(&format!("ip link set {iface} netns {}", ns.0));
    sh(&format!(
        "ip -n {0} addr add 198.51.100.2/24 dev {iface} && ip -n {0} link set {iface} up && \
         ip -n {0} route add 203.0.113.0/24 dev {iface}",
        ns.0
    ));
    assert_eq!(dig_gen(&ns), "gen-0");
    let wait_for = |want: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = dig_gen(&ns);
            if got == want {
                return;
            }
            assert!(Instant::now() < deadline, "still {got}, want {want}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    // The zone file changes in place (same path, new TXT).
    let text = std::fs::read_to_string(setup.zone(5)).unwrap();
    write_atomically(&setup.dir.path().join("gen0.zone"), &text);
    wait_for("gen-5");
    assert_eq!(setup.status("reloads"), 1);
    // The config file changes (a new zone file).
    write_atomically(
        &dp.config,
        &watched(&Gen {
            n: 6,
            vip11: true,
            backend: 21,
            minimal: false,
        }),
    );
    wait_for("gen-6");
    assert!(pings(&ns, "203.0.113.11", "2"));
    // A broken config file is refused and the last good one keeps serving.
    write_atomically(&dp.config, "[dataplane\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    while setup.status("reload_failures") != 1 {
        assert!(Instant::now() < deadline, "the broken file was not noticed");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(dig_gen(&ns), "gen-6");
    assert_eq!(setup.status("reloads"), 2);
    let done = dp.stop();
    assert!(done.status.success(), "{}", done.stderr);
}
