use super::*;
use proptest::prelude::*;

fn key(i: u32) -> FlowKey {
    let mut src = [0u8; 16];
    src[..4].copy_from_slice(&i.to_be_bytes());
    FlowKey::new(src, [0; 16], (i % 50_000) as u16 + 1024, 80, 6)
}

#[test]
fn a_key_gives_back_its_parts_and_hashes_as_its_words() {
    let mut src = [0u8; 16];
    src[..4].copy_from_slice(&[10, 1, 2, 3]);
    let dst: [u8; 16] = std::array::from_fn(|i| i as u8 * 7);
    let k = FlowKey::new(src, dst, 1234, 80, 0x86);
    assert_eq!(
        (k.src(), k.dst(), k.sport(), k.dport(), k.proto()),
        (src, dst, 1234, 80, 0x86)
    );
    let w = |a: &[u8; 16], i: usize| u64::from_le_bytes(a[i..i + 8].try_into().unwrap());
    let (sw, dw) = ([w(&src, 0), w(&src, 8)], [w(&dst, 0), w(&dst, 8)]);
    assert_eq!(k, FlowKey::from_words(sw, dw, 1234, 80, 0x86));
    assert_eq!(k.hash(), FlowKey::hash_words(sw, dw, 1234, 80, 0x86));
    assert_ne!(k, FlowKey::new(src, dst, 1234, 81, 0x86));
}

fn table(capacity: usize) -> FlowTable {
    FlowTable::new(FlowTableConfig {
        capacity,
        new_flows_per_sec: u32::MAX,
        new_flow_burst: u32::MAX,
        ..FlowTableConfig::default()
    })
}

fn ins(t: &mut FlowTable, i: u32, flags: Option<u8>, now: u64) -> Result<(), Refused> {
    let k = key(i);
    t.insert(k.hash(), k, (i % 7) as u16, i, flags, now)
}

#[test]
fn entry_is_small() {
    assert!(std::mem::size_of::<FlowEntry>() <= 64);
    assert_eq!(std::mem::size_of::<FlowEntry>(), 48);
    // Tag, deadline and entry on one cache line of their own.
    assert_eq!(std::mem::size_of::<Slot>(), 64);
    assert_eq!(std::mem::align_of::<Slot>(), 64);
    assert_eq!(std::mem::size_of::<Meta>(), 8);
}

#[test]
fn capacity_bound_holds_and_never_grows() {
    let mut t = table(1000);
    let buckets = t.buckets();
    let bytes = t.allocation_size();
    let mut refused = 0;
    for i in 0..5000 {
        if ins(&mut t, i, Some(TCP_ACK), 0) == Err(Refused::Full) {
            refused += 1;
        }
    }
    assert_eq!(t.len(), 1000);
    assert_eq!(refused, 4000);
    assert_eq!(t.counters.full, 4000);
    assert_eq!(t.counters.inserts, 1000);
    assert_eq!(t.buckets(), buckets);
    assert_eq!(t.allocation_size(), bytes);
    // Flows already in keep their backend: the flood evicted nothing.
    for i in 0..1000 {
        let k = key(i);
        assert_eq!(
            t.get(k.hash(), &k, 1).map(|f| f.entry.backend),
            Some((i % 7) as u16)
        );
    }
}

#[test]
fn a_table_full_of_live_flows_sweeps_for_room_once_a_millisecond() {
    let mut t = table(1000);
    for i in 0..1000 {
        ins(&mut t, i, Some(TCP_ACK), 0).unwrap();
    }
    let start = t.cursor;
    assert_eq!(ins(&mut t, 1000, Some(TCP_SYN), 5), Err(Refused::Full));
    let swept = t.cursor;
    assert_ne!(swept, start, "the first refusal sweeps for room");
    // The rest of that millisecond's new flows are refused without a sweep.
    for i in 1001..1100 {
        assert_eq!(ins(&mut t, i, Some(TCP_SYN), 5), Err(Refused::Full));
    }
    assert_eq!(t.cursor, swept);
    assert_eq!(ins(&mut t, 1100, Some(TCP_SYN), 6), Err(Refused::Full));
    assert_ne!(t.cursor, swept, "a new millisecond sweeps again");
    assert_eq!((t.len(), t.counters.full), (1000, 101));
    // Once flows idle out, the first new flow of the millisecond gets a dead one's room.
    let later = 6 + u64::from(t.config().timeout(FlowState::Established)) + 1;
    assert_eq!(ins(&mut t, 1101, Some(TCP_SYN), later), Ok(()));
    let k = key(1101);
    assert!(t.get(k.hash(), &k, later).is_some());
}

#[test]
fn idle_timeouts_by_protocol_and_state() {
    let cfg = FlowTableConfig::default();
    let mut t = table(100);
    ins(&mut t, 1, None, 0).unwrap(); // UDP: 30 s
    ins(&mut t, 2, Some(TCP_SYN), 0).unwrap(); // SYN only: 10 s
    ins(&mut t, 3, Some(TCP_ACK), 0).unwrap(); // mid-stream: established, 300 s
    let live = |t: &mut FlowTable, i: u32, now: u64| {
        let k = key(i);
        t.get(k.hash(), &k, now).is_some()
    };
    assert!(live(&mut t, 2, u64::from(cfg.syn_timeout_ms) - 1));
    assert!(!live(&mut t, 2, u64::from(cfg.syn_timeout_ms)));
    assert!(live(&mut t, 1, 29_999));
    assert!(!live(&mut t, 1, 30_000));
    assert!(live(&mut t, 3, 299_999));
    assert!(!live(&mut t, 3, 300_000));
    assert_eq!(t.counters.expired, 3);
    assert!(t.is_empty());
}

#[test]
fn touching_refreshes_the_deadline() {
    let mut t = table(10);
    ins(&mut t, 1, None, 0).unwrap();
    let cfg = *t.config();
    let k = key(1);
    for now in (20_000..200_000).step_by(20_000) {
        let mut f = t.get(k.hash(), &k, now).expect("kept alive");
        f.touch(None, now);
        assert_eq!(f.deadline(), now as u32 + cfg.udp_timeout_ms);
    }
    assert!(t.get(k.hash(), &k, 180_000 + 29_999).is_some());
    assert!(t.get(k.hash(), &k, 180_000 + 30_000).is_none());
}

#[test]
fn tcp_state_transitions() {
    use FlowState::*;
    let syn = Some(TCP_SYN);
    let ack = Some(TCP_ACK);
    assert_eq!(FlowState::first(syn), SynSent);
    assert_eq!(FlowState::first(ack), Established);
    assert_eq!(FlowState::first(Some(TCP_RST)), Closing);
    assert_eq!(FlowState::first(None), Udp);
    assert_eq!(SynSent.next(syn), SynSent);
    assert_eq!(SynSent.next(ack), Established);
    assert_eq!(Established.next(Some(TCP_ACK | 0x08)), Established);
    assert_eq!(Established.next(Some(TCP_FIN | TCP_ACK)), Closing);
    assert_eq!(Established.next(Some(TCP_RST)), Closing);
    assert_eq!(SynSent.next(Some(TCP_RST)), Closing);
    assert_eq!(Closing.next(ack), Closing);
    assert_eq!(Closing.next(syn), SynSent);

    // Through the table: SYN (10 s) → ACK (300 s) → FIN (10 s).
    let mut t = table(10);
    let cfg = *t.config();
    let k = key(9);
    t.insert(k.hash(), k, 1, 1, syn, 0).unwrap();
    let mut f = t.get(k.hash(), &k, 5_000).unwrap();
    assert_eq!(f.entry.state, SynSent);
    f.touch(ack, 5_000);
    assert_eq!(f.entry.state, Established);
    assert_eq!(f.deadline(), 5_000 + cfg.established_timeout_ms);
    assert!(t.get(k.hash(), &k, 5_000 + 299_999).is_some());
    let mut f = t.get(k.hash(), &k, 6_000).unwrap();
    f.touch(Some(TCP_FIN | TCP_ACK), 6_000);
    assert_eq!(f.entry.state, Closing);
    assert!(t.get(k.hash(), &k, 6_000 + 9_999).is_some());
    assert!(t.get(k.hash(), &k, 6_000 + 10_000).is_none());
}

#[test]
fn sweep_is_bounded_and_eventually_complete() {
    let mut t = table(4096);
    for i in 0..4096 {
        ins(&mut t, i, None, 0).unwrap();
    }
    let n = t.buckets();
    // Before the deadline nothing goes.
    assert_eq!(t.expire(1000, n), 0);
    // After it, one call removes at most its budget and the rest of the run of occupied
    // buckets it stopped in ...
    let run = (16..)
        .take_while(|&b| t.slots[b & t.mask].meta.tag != 0)
        .count();
    let first = t.expire(30_000, 16);
    assert!(first <= 16 + run, "{first} > 16 + {run}");
    // ... and enough calls remove everything.
    let mut total = t.counters.expired as usize;
    for _ in 0..n / 16 + 1 {
        total += t.expire(30_000, 16);
    }
    assert_eq!(total, 4096);
    assert!(t.is_empty());
}

#[test]
fn time_based_sweep_covers_the_table_once_per_period() {
    let mut t = table(4000);
    for i in 0..4000 {
        ins(&mut t, i, None, 0).unwrap();
    }
    // UDP flows idle out after 30 s; nothing is swept before that, and a call at the same
    // millisecond does no work at all.
    assert_eq!(t.expire_due(1_000), 0);
    assert_eq!(t.expire_due(1_000), 0);
    let start = 31_000;
    let mut removed = t.expire_due(start);
    assert!(removed <= SWEEP_MAX_PER_CALL);
    // One millisecond's slice is about buckets / SWEEP_PERIOD_MS.
    let step = t.expire_due(start + 1);
    assert!(
        step <= t.buckets().div_ceil(SWEEP_PERIOD_MS as usize),
        "{step}"
    );
    removed += step;
    // Within one period of 1 ms steps every idle flow is gone.
    for ms in 2..=SWEEP_PERIOD_MS {
        removed += t.expire_due(start + ms);
    }
    assert_eq!(removed, 4000);
    assert!(t.is_empty());
    assert_eq!(t.counters.expired, 4000);
}

#[test]
fn a_flood_of_new_flows_is_rate_limited_without_evicting() {
    let mut t = FlowTable::new(FlowTableConfig {
        capacity: 100_000,
        new_flows_per_sec: 10_000,
        new_flow_burst: 1000,
        ..FlowTableConfig::default()
    });
    // Established flows first.
    for i in 0..500 {
        ins(&mut t, i, Some(TCP_ACK), 0).unwrap();
    }
    // A flood of 100k new SYNs within 10 ms: only the remaining burst (500) plus 10 ms of
    // refill (100) get in.
    let mut admitted = 0;
    for i in 0..100_000u32 {
        let now = u64::from(i / 10_000);
        if ins(&mut t, 1_000_000 + i, Some(TCP_SYN), now).is_ok() {
            admitted += 1;
        }
    }
    assert!((500..=600).contains(&admitted), "admitted {admitted}");
    assert_eq!(t.counters.rate_limited, 100_000 - admitted);
    for i in 0..500 {
        let k = key(i);
        assert!(t.get(k.hash(), &k, 20).is_some(), "flow {i} evicted");
    }
    // The SYN-only flood entries idle out quickly; the established ones stay.
    let n = t.buckets();
    t.expire(11_000, n);
    assert_eq!(t.len(), 500);
    // The bucket refills with time.
    assert!(ins(&mut t, 5_000_000, Some(TCP_SYN), 12_000).is_ok());
}

#[test]
fn clock_wraparound_is_handled() {
    let mut t = table(10);
    let start = u64::from(u32::MAX) - 1000;
    ins(&mut t, 1, None, start).unwrap();
    let k = key(1);
    assert!(t.get(k.hash(), &k, start + 20_000).is_some());
    assert!(t.get(k.hash(), &k, start + 30_000).is_none());
}

/// Deletions from the middle of long clusters (every hash homes in one of two slots, and the
/// clusters wrap around the end of the array) keep every other entry reachable.
#[test]
fn deletion_keeps_colliding_entries_reachable() {
    let mut t = table(20);
    let n = t.buckets() as u64;
    let hash = |i: u32| (u64::from(i) << 32) | if i.is_multiple_of(2) { n - 3 } else { 5 };
    // Deadlines 1..=20 s by key (UDP timeout 30 s, inserted at staggered times).
    for i in 0..20u32 {
        let now = u64::from(i) * 1000;
        t.insert(hash(i), key(i), 0, i, None, now).unwrap();
    }
    for step in 0..20u32 {
        // Flows inserted at or before `step` s are dead at 30 s + step s.
        let now = 30_000 + u64::from(step) * 1000;
        if step % 2 == 0 {
            t.expire(now, t.buckets());
        } else {
            // Lookups remove what they find dead.
            for i in 0..20u32 {
                let _ = t.get(hash(i), &key(i), now);
            }
        }
        for i in 0..20u32 {
            let live = i > step;
            let found = t.find(hash(i), &key(i)).is_ok();
            assert!(!live || found, "step {step}: key {i} lost");
        }
    }
    assert!(t.len() <= 1);
}

/// Sweeps in slices of any size, across the sweep's 64-bucket chunks and the table's end,
/// remove every dead flow of long mixed clusters and keep every live one reachable.
#[test]
fn sliced_sweeps_clear_dead_flows_across_chunks_and_the_table_end() {
    for slice in [1, 7, 63, 64, 65, 200] {
        let mut t = table(200);
        let n = t.buckets() as u64;
        // Clusters homed just before the table's end (they wrap) and just before a chunk's end.
        let homes = [n - 5, 60, 125, 126];
        let hash = |i: u32| (u64::from(i) << 32) | homes[i as usize % homes.len()];
        // Odd keys at 0 s (dead at 31 s: UDP idles out after 30 s), even keys at 20 s (live).
        for i in 0..120u32 {
            let now = if i % 2 == 1 { 0 } else { 20_000 };
            t.insert(hash(i), key(i), 0, i, None, now).unwrap();
        }
        let mut removed = 0;
        for _ in 0..t.buckets().div_ceil(slice) + 1 {
            removed += t.expire(31_000, slice);
        }
        assert_eq!((removed, t.len()), (60, 60), "slice {slice}");
        for i in (0..120u32).step_by(2) {
            assert!(
                t.find(hash(i), &key(i)).is_ok(),
                "slice {slice}: key {i} lost"
            );
        }
    }
}

#[test]
fn a_new_flow_takes_the_slot_of_a_dead_one_on_its_probe_sequence() {
    let short_udp = |capacity| {
        FlowTable::new(FlowTableConfig {
            capacity,
            udp_timeout_ms: 10,
            syn_timeout_ms: 1000,
            new_flows_per_sec: u32::MAX,
            new_flow_burst: u32::MAX,
            ..FlowTableConfig::default()
        })
    };
    let mut t = short_udp(20);
    let h = 7u64;
    let upsert = |t: &mut FlowTable, i: u32, hash: u64, flags: Option<u8>, now: u64| match t.lookup(
        hash,
        &key(i),
        now,
    ) {
        Ok(_) => panic!("key {i} is new"),
        Err(v) => v.insert(key(i), 0, i, flags, now).unwrap(),
    };
    // Slot h: a UDP flow (dies first); h + 1: a SYN (lives on).
    upsert(&mut t, 1, h, None, 0);
    upsert(&mut t, 2, h, Some(TCP_SYN), 0);
    let later = 10;
    // A flow of home h + 1 passes only the live SYN: it goes to the first empty slot.
    upsert(&mut t, 3, h + 1, None, later);
    assert_eq!((t.len(), t.counters.expired), (3, 0));
    assert_eq!(t.find(h + 1, &key(3)), Ok(h as usize + 2));
    // A flow of home h meets the dead UDP flow first and takes its slot: nothing moves.
    upsert(&mut t, 4, h, None, later);
    assert_eq!((t.len(), t.counters.expired), (3, 1));
    assert_eq!(t.find(h, &key(4)), Ok(h as usize));
    assert_eq!(t.find(h, &key(2)), Ok(h as usize + 1));
    assert!(t.find(h, &key(1)).is_err(), "the dead flow is gone");
    for (i, hash) in [(2, h), (3, h + 1), (4, h)] {
        assert!(t.get(hash, &key(i), later).is_some(), "key {i}");
    }
    // A full table still takes a new flow in a dead one's slot: the table does not grow.
    let mut t = short_udp(2);
    upsert(&mut t, 1, h, None, 0);
    upsert(&mut t, 2, h + 1, Some(TCP_SYN), 0);
    upsert(&mut t, 3, h, Some(TCP_SYN), later);
    assert_eq!((t.len(), t.counters.full, t.counters.expired), (2, 0, 1));
}

#[derive(Debug, Clone)]
enum Op {
    Insert(u32, Option<u8>),
    Get(u32),
    Touch(u32, Option<u8>),
    Advance(u32),
    Expire(u8),
    /// The worker's way: one lookup, then a touch or an insert where it said.
    Upsert(u32, Option<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u32..64, proptest::option::of(any::<u8>())).prop_map(|(k, f)| Op::Insert(k, f)),
        (0u32..64).prop_map(Op::Get),
        (0u32..64, proptest::option::of(any::<u8>())).prop_map(|(k, f)| Op::Touch(k, f)),
        (0u32..40_000).prop_map(Op::Advance),
        any::<u8>().prop_map(Op::Expire),
        (0u32..64, proptest::option::of(any::<u8>())).prop_map(|(k, f)| Op::Upsert(k, f)),
    ]
}

proptest! {
    /// Against a model: capacity is never exceeded; a live flow always returns the backend it
    /// was inserted with; nothing is returned after its deadline, which every packet moves by
    /// its TCP state's timeout; a sweep of every bucket leaves only live flows.
    #[test]
    fn behaves_like_a_model(ops in proptest::collection::vec(op(), 1..300)) {
        let cap = 16;
        let mut t = table(cap);
        let cfg = *t.config();
        let mut now = 0u64;
        // key → (backend, deadline)
        let mut model: std::collections::HashMap<u32, (u16, u64)> = Default::default();
        for op in ops {
            model.retain(|_, v| v.1 > now);
            match op {
                Op::Insert(i, flags) => {
                    let k = key(i);
                    if t.get(k.hash(), &k, now).is_none() {
                        let r = t.insert(k.hash(), k, (i % 7) as u16, i, flags, now);
                        if r.is_ok() {
                            let to = cfg.timeout(FlowState::first(flags));
                            model.insert(i, ((i % 7) as u16, now + u64::from(to)));
                        } else {
                            prop_assert!(model.len() >= cap || t.len() >= cap);
                        }
                    }
                }
                Op::Get(i) => {
                    let k = key(i);
                    let got = t.get(k.hash(), &k, now).map(|f| f.entry.backend);
                    prop_assert_eq!(got, model.get(&i).map(|v| v.0));
                }
                Op::Touch(i, flags) => {
                    let k = key(i);
                    let state = t.get(k.hash(), &k, now).map(|mut f| {
                        f.touch(flags, now);
                        f.entry.state
                    });
                    prop_assert_eq!(state.is_some(), model.contains_key(&i));
                    if let (Some(state), Some(v)) = (state, model.get_mut(&i)) {
                        v.1 = now + u64::from(cfg.timeout(state));
                    }
                }
                Op::Upsert(i, flags) => {
                    let k = key(i);
                    match t.lookup(k.hash(), &k, now) {
                        Ok(mut f) => {
                            prop_assert_eq!(Some(f.entry.backend), model.get(&i).map(|v| v.0));
                            f.touch(flags, now);
                            let to = cfg.timeout(f.entry.state);
                            if let Some(v) = model.get_mut(&i) {
                                v.1 = now + u64::from(to);
                            }
                        }
                        Err(vacant) => {
                            prop_assert!(!model.contains_key(&i));
                            if vacant.insert(k, (i % 7) as u16, i, flags, now).is_ok() {
                                let to = cfg.timeout(FlowState::first(flags));
                                model.insert(i, ((i % 7) as u16, now + u64::from(to)));
                            } else {
                                prop_assert!(model.len() >= cap || t.len() >= cap);
                            }
                        }
                    }
                }
                Op::Advance(ms) => now += u64::from(ms),
                Op::Expire(n) => {
                    t.expire(now, usize::from(n));
                    if usize::from(n) >= t.buckets() {
                        model.retain(|_, v| v.1 > now);
                        prop_assert_eq!(t.len(), model.len(), "a full sweep left dead flows");
                    }
                }
            }
            prop_assert!(t.len() <= cap);
            prop_assert_eq!(t.iter().count(), t.len());
            // Every live flow in the model is still in the table, and found by its probe.
            for (i, (b, _)) in &model {
                let k = key(*i);
                prop_assert!(t.iter().any(|e| e.key == k && e.backend == *b));
                prop_assert!(t.find(k.hash(), &k).is_ok());
            }
        }
    }
}

proptest! {
    /// The sweep's branch-free test is "occupied and dead".
    #[test]
    fn expired_bit_is_occupied_and_dead(
        hash in any::<u64>(),
        deadline in any::<u32>(),
        now in any::<u32>(),
        empty in any::<bool>(),
    ) {
        let tag = if empty { 0 } else { tag_of(hash) };
        let m = Meta { tag, deadline };
        let expect = tag != 0 && dead(deadline, now);
        prop_assert_eq!(sweep::expired_bit(&m, now) != 0, expect);
    }

    /// The tag keeps the home slot: moving entries after a removal needs no key hashed again.
    #[test]
    fn the_tag_holds_the_home_slot(hash in any::<u64>(), bits in 0u32..31) {
        let mask = (1usize << bits) - 1;
        let tag = tag_of(hash);
        prop_assert_ne!(tag, 0);
        prop_assert_eq!(tag as usize & mask, hash as usize & mask);
    }
}

#[test]
fn timeouts_are_indexed_by_state() {
    let t = FlowTable::new(FlowTableConfig {
        syn_timeout_ms: 1,
        established_timeout_ms: 2,
        closing_timeout_ms: 3,
        udp_timeout_ms: 4,
        ..FlowTableConfig::default()
    });
    for s in [
        FlowState::Udp,
        FlowState::SynSent,
        FlowState::Established,
        FlowState::Closing,
    ] {
        assert_eq!(t.timeouts[s as usize], t.config().timeout(s));
    }
}

#[test]
fn the_state_table_follows_the_rules() {
    for s in [
        FlowState::Udp,
        FlowState::SynSent,
        FlowState::Established,
        FlowState::Closing,
    ] {
        assert_eq!(s.next(None), FlowState::Udp);
        for f in 0..=255u8 {
            assert_eq!(s.next(Some(f)), s.next_by_rule(f), "{s:?} {f:#x}");
        }
    }
}
