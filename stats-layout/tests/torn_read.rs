//! A writer thread publishes at full speed while readers (through a second, read-only mapping of
//! the same file, as the sidecar has) check that every read is one consistent publication.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stats_layout::{Reader, WorkerValues, Writer};

/// Values of publication `n`: every invariant a reader checks holds within one publication and
/// breaks when fields of two different publications are mixed.
fn publication(n: u64) -> WorkerValues {
    let mut v = WorkerValues {
        heartbeat_ms: n,
        rx_packets: 3 * n,
        rx_bytes: 3 * n * 64,
        tx_packets: 2 * n,
        tx_bytes: 2 * n * 64,
        answered: n,
        forwarded: n - n / 2,
        punted: n / 2,
        flows: n % 1000,
        flow_inserts: n,
        stateless: n,
        dns_queries: n,
        dns_cache_hits: n / 2,
        dns_cache_bypassed: n / 3,
        ..WorkerValues::default()
    };
    // rx = answered + forwarded + punted + dropped.
    v.drops[0] = n / 3;
    v.drops[10] = n - n / 3;
    v.rcodes[0] = n;
    v
}

#[test]
fn readers_never_see_a_torn_block() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stats");
    let writer = Arc::new(Writer::create(&path, &["p0"], 2).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let run_for = Duration::from_millis(1500);

    let w = Arc::clone(&writer);
    let s = Arc::clone(&stop);
    let hammer = std::thread::spawn(move || {
        let mut n = 1u64;
        while !s.load(Ordering::Relaxed) {
            w.publish_worker(1, &publication(n));
            n += 1;
            // A real worker publishes once per poll round (rx burst, processing, tx burst: at
            // least hundreds of ns with traffic); this gap is shorter than any such round.
            for _ in 0..32 {
                std::hint::spin_loop();
            }
        }
        n - 1
    });
    let readers: Vec<_> = (0..1)
        .map(|_| {
            let reader = Reader::open(&path).unwrap();
            let s = Arc::clone(&stop);
            std::thread::spawn(move || {
                let (mut reads, mut last, mut changes) = (0u64, 0u64, 0u64);
                while !s.load(Ordering::Relaxed) {
                    let seg = reader.read().expect("read");
                    assert_eq!(seg.unsettled_blocks, 0, "a block did not settle");
                    let v = &seg.workers[1];
                    let n = v.heartbeat_ms;
                    assert_eq!(*v, publication(n.max(1)).clone_if(n), "torn read at {n}");
                    assert_eq!(
                        v.rx_packets,
                        v.answered + v.forwarded + v.punted + v.dropped(),
                        "rx != verdicts: {v:?}"
                    );
                    assert!(n >= last, "went backwards: {n} after {last}");
                    changes += u64::from(n != last);
                    last = n;
                    reads += 1;
                    assert_eq!(seg.workers[0], WorkerValues::default());
                }
                (reads, changes)
            })
        })
        .collect();
    let started = Instant::now();
    while started.elapsed() < run_for {
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    let published = hammer.join().unwrap();
    for r in readers {
        let (reads, changes) = r.join().expect("a reader saw a torn block");
        // The readers really raced the writer: many reads saw many different publications.
        assert!(reads > 1000, "only {reads} reads");
        eprintln!("reads={reads} distinct={changes} published={published}");
        assert!(changes > 50, "only {changes} distinct publications seen");
    }
    assert!(
        published > 10_000,
        "writer published only {published} times"
    );
    assert_eq!(writer.read_worker(1).unwrap(), publication(published));
}

trait CloneIf {
    fn clone_if(self, n: u64) -> WorkerValues;
}

impl CloneIf for WorkerValues {
    /// Publication 0 is the all-zero block the segment starts with.
    fn clone_if(self, n: u64) -> WorkerValues {
        if n == 0 {
            WorkerValues::default()
        } else {
            self
        }
    }
}
