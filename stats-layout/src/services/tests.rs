use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn slots_follow_names_across_reloads() {
    let web = [ip("192.0.2.10"), ip("192.0.2.11")];
    let (t1, a1) = SlotTable::default().assign(1, &[("dns", &[]), ("web", &web)]);
    assert_eq!(a1.services, vec![0, 1]);
    assert_eq!(a1.backends, vec![vec![], vec![0, 1]]);
    // Reload: dns renamed dns2, a new service first in the file, web loses .10 and gains .12.
    let web2 = [ip("192.0.2.11"), ip("192.0.2.12")];
    let (t2, a2) = t1.assign(2, &[("new", &[]), ("web", &web2), ("dns2", &[])]);
    // web keeps slot 1 and .11 keeps backend slot 1; the freed slots go to the new names.
    assert_eq!(a2.services, vec![0, 1, 2]);
    assert_eq!(a2.backends, vec![vec![], vec![1, 0], vec![]]);
    let s = t2.since();
    assert_eq!(s.generation, 2);
    assert_eq!(&s.services[..4], &[2, 1, 2, 0]);
    assert_eq!(&s.backends[..3], &[2, 1, 0]);
    assert_eq!((s.services_used, s.backends_used), (3, 2));
}

#[test]
fn slots_run_out_into_the_sink() {
    let names: Vec<String> = (0..=MAX_SERVICES).map(|i| format!("s{i}")).collect();
    let many: Vec<IpAddr> = (0..=MAX_BACKENDS as u32)
        .map(|i| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)))
        .collect();
    let mut services: Vec<(&str, &[IpAddr])> =
        names.iter().map(|n| (n.as_str(), &[][..])).collect();
    services[0].1 = &many;
    let (t, a) = SlotTable::default().assign(1, &services);
    assert_eq!(a.services[MAX_SERVICES], NO_SERVICE_SLOT);
    assert_eq!(a.backends[0][MAX_BACKENDS], NO_BACKEND_SLOT);
    let mut c = ServiceCounters::default();
    c.count_service(NO_SERVICE_SLOT, 60);
    c.count_service(u16::MAX, 60);
    c.count_backend(u16::MAX);
    assert_eq!(c.packets[MAX_SERVICES], 2);
    let w = Writer::anonymous(&[], 1).unwrap();
    w.publish_service_names(&t);
    c.rebase(&t.since());
    w.publish_services(0, &c);
    let s = w.read().unwrap();
    assert_eq!(s.services.len(), MAX_SERVICES);
    assert!(s.services.iter().all(|s| s.total_packets() == 0));
    assert_eq!(s.services[0].backends.len(), MAX_BACKENDS);
}

#[test]
fn readers_label_counts_with_the_generation_they_were_counted_for() {
    let w = Writer::anonymous(&["p"], 2).unwrap();
    let web = [ip("192.0.2.10"), ip("2001:db8::10")];
    let (t1, a1) = SlotTable::default().assign(1, &[("dns", &[]), ("web", &web)]);
    w.publish_service_names(&t1);
    let mut c = [ServiceCounters::default(), ServiceCounters::default()];
    for (i, c) in c.iter_mut().enumerate() {
        c.rebase(&t1.since());
        for _ in 0..=i {
            c.count_service(a1.services[0], 100);
            c.count_service(a1.services[1], 60);
            c.count_backend(a1.backends[1][1]);
        }
        w.publish_services(i, c);
    }
    let s = w.read().unwrap();
    assert_eq!(s.services_generation, 1);
    assert_eq!(s.services[0].name, "dns");
    assert_eq!(s.services[0].packets, vec![1, 2]);
    assert_eq!(s.services[0].bytes, vec![100, 200]);
    assert_eq!(s.services[1].name, "web");
    assert_eq!(s.services[1].backends[1].address, ip("2001:db8::10"));
    assert_eq!(s.services[1].backends[1].total_packets(), 3);
    assert_eq!(s.services[1].backends[0].total_packets(), 0);

    // Reload: dns is renamed; the names go out first, while the workers still count for 1.
    let (t2, a2) = t1.assign(2, &[("dns-renamed", &[]), ("web", &web)]);
    assert_eq!(a2.services, vec![0, 1]);
    w.publish_service_names(&t2);
    let s = w.read().unwrap();
    assert_eq!(s.services[0].name, "dns-renamed");
    assert_eq!(
        s.services[0].packets,
        vec![0, 0],
        "old counts are not the new name's"
    );
    assert_eq!(s.services[1].packets, vec![1, 2], "web's counts persist");
    // Worker 1 picks up the new snapshot; worker 0 has not yet.
    c[1].rebase(&t2.since());
    c[1].count_service(a2.services[0], 10);
    c[0].count_service(a1.services[0], 10);
    w.publish_services(1, &c[1]);
    w.publish_services(0, &c[0]);
    let s = w.read().unwrap();
    assert_eq!(s.services[0].packets, vec![0, 1]);
    assert_eq!(s.services[0].bytes, vec![0, 10]);
    assert_eq!(s.services[1].packets, vec![1, 2]);
    assert_eq!(s.unsettled_blocks, 0);
}

#[test]
fn long_names_are_cut_and_stay_distinct() {
    let a = "a".repeat(60);
    let b = format!("{}b", "a".repeat(59));
    let (t, _) =
        SlotTable::default().assign(1, &[(a.as_str(), &[]), (b.as_str(), &[]), ("é", &[])]);
    let w = Writer::anonymous(&[], 1).unwrap();
    w.publish_service_names(&t);
    let s = w.read().unwrap();
    assert_eq!(s.services[0].name, format!("{}~0", "a".repeat(46)));
    assert_eq!(s.services[1].name, format!("{}~1", "a".repeat(46)));
    assert_eq!(s.services[2].name, "é");
    let multibyte = "é".repeat(30);
    assert!(stored_name(&multibyte, 12).len() <= SERVICE_NAME_BYTES);
    assert!(stored_name(&multibyte, 12).ends_with("~12"));
}

#[test]
fn service_regions_are_never_read_torn() {
    let w = std::sync::Arc::new(Writer::anonymous(&[], 1).unwrap());
    let backends = [ip("192.0.2.1")];
    let (t, _) = SlotTable::default().assign(1, &[("a", &backends), ("b", &[])]);
    w.publish_service_names(&t);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (w, stop, since) = (w.clone(), stop.clone(), t.since());
        std::thread::spawn(move || {
            let mut c = ServiceCounters::default();
            c.rebase(&since);
            while !stop.load(Ordering::Relaxed) {
                c.count_service(0, 1);
                c.count_service(1, 1);
                c.count_backend(0);
                w.publish_services(0, &c);
                // As in tests/torn_read.rs: a real worker publishes once per poll round, which
                // takes longer than this gap.
                for _ in 0..32 {
                    std::hint::spin_loop();
                }
            }
        })
    };
    let mut seen = 0;
    let mut unsettled = 0;
    for _ in 0..20_000 {
        let s = w.read().unwrap();
        if s.unsettled_blocks > 0 {
            // Not one consistent copy within READ_PATIENCE: said so, values as they are.
            unsettled += 1;
            continue;
        }
        let (a, b) = (s.services[0].total_packets(), s.services[1].total_packets());
        assert_eq!(a, b, "torn read");
        assert_eq!(s.services[0].backends[0].total_packets(), a, "torn read");
        seen = seen.max(a);
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(seen > 0, "the writer never published");
    // A writer thread preempted between its two sequence stores (on a loaded machine; workers
    // have cores of their own) leaves a block odd for longer than READ_PATIENCE: rare.
    assert!(
        unsettled < 200,
        "{unsettled} of 20000 reads did not settle while the writer ran"
    );
}
