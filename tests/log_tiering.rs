//! Tiered storage and compaction in the log core: cold reads equal hot reads, the manifest
//! survives crashes, missing or corrupt remote objects are clear errors, retention spans both
//! tiers, and compaction keeps the newest value per key at its original offset.

use std::path::Path;
use std::sync::Arc;

use lambda_workbench::log::{
    CleanupPolicy, ColdReadCost, FsyncPolicy, LogConfig, LogError, ManualClock, Partition, Record,
    StoredRecord, Tier, TierConfig,
};
use proptest::prelude::*;

/// A tier in `root/remote`, caching in `root/cache`, with no local retention unless set.
fn tier(root: &Path, cache_bytes: u64, local_bytes: Option<u64>) -> Arc<Tier> {
    let mut cfg = TierConfig::local(root.join("remote"), root.join("cache"));
    cfg.cache_bytes = cache_bytes;
    cfg.local_retention_bytes = local_bytes;
    cfg.cost = ColdReadCost { request_latency_ms: 10.0, bandwidth_mib_per_s: 1.0 };
    Tier::open(cfg).unwrap()
}

fn config(segment_bytes: u64, tier: Option<Arc<Tier>>) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: 64,
        fsync: FsyncPolicy::Never,
        tier,
        ..LogConfig::default()
    }
}

/// The partition directory: `<root>/log/events/0` (the tier names objects `events/0/...`).
fn pdir(root: &Path) -> std::path::PathBuf {
    root.join("log").join("events").join("0")
}

fn open(root: &Path, cfg: LogConfig, clock: &Arc<ManualClock>) -> Partition {
    Partition::open(pdir(root), cfg, clock.clone()).unwrap()
}

fn rec(i: u64) -> Record {
    Record::new(format!("value-{i}-{}", "x".repeat((i % 13) as usize)), (i as i64 * 7) % 50)
        .with_key(format!("k{}", i % 5))
}

fn records(p: &Partition, from: u64) -> Vec<StoredRecord> {
    p.read(from, usize::MAX).unwrap()
}

/// Appends `n` records in batches of 3, advancing the clock, then rolls.
fn fill(p: &mut Partition, clock: &ManualClock, n: u64) -> Vec<Record> {
    let mut all = Vec::new();
    let start = p.log_end_offset();
    for chunk in (start..start + n).collect::<Vec<_>>().chunks(3) {
        let batch: Vec<Record> = chunk.iter().map(|&i| rec(i)).collect();
        p.append(&batch).unwrap();
        all.extend(batch);
        clock.advance(10);
    }
    all
}

#[derive(Debug, Clone)]
enum Op {
    Append(u8),
    Roll,
    Tier,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (1u8..6).prop_map(Op::Append),
        1 => Just(Op::Roll),
        2 => Just(Op::Tier),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random appends, rolls, tiering passes (uploads and local deletions) and reopens: every
    /// offset reads the same record whether its segment is hot, cold and cached, or cold and
    /// fetched; `offset_for_time` agrees with the model across tiers.
    #[test]
    fn cold_reads_equal_hot_reads(
        segment_bytes in 200u64..900,
        local_bytes in 0u64..1500,
        cache_bytes in 0u64..3000,
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        let root = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(0));
        let t = tier(root.path(), cache_bytes, Some(local_bytes));
        let mut p = open(root.path(), config(segment_bytes, Some(t.clone())), &clock);
        let mut model: Vec<Record> = Vec::new();
        for op in ops {
            match op {
                Op::Append(n) => {
                    let start = model.len() as u64;
                    let batch: Vec<Record> = (start..start + u64::from(n)).map(rec).collect();
                    prop_assert_eq!(p.append(&batch).unwrap(), start);
                    model.extend(batch);
                    clock.advance(5);
                }
                Op::Roll => p.roll().unwrap(),
                Op::Tier => {
                    p.enforce_retention().unwrap();
                }
                Op::Reopen => {
                    drop(p);
                    p = open(root.path(), config(segment_bytes, Some(t.clone())), &clock);
                }
            }
        }
        // Nothing is deleted for good: total retention is infinite.
        prop_assert_eq!(p.log_start_offset(), 0);
        prop_assert_eq!(p.log_end_offset(), model.len() as u64);
        for from in 0..=model.len() {
            let got = p.read(from as u64, 2).unwrap();
            let want = &model[from..(from + 2).min(model.len())];
            prop_assert_eq!(got.len(), want.len());
            for (i, (g, w)) in got.iter().zip(want).enumerate() {
                prop_assert_eq!(g.offset, (from + i) as u64);
                prop_assert_eq!(&g.record, w);
            }
        }
        let all: Vec<Record> = records(&p, 0).into_iter().map(|s| s.record).collect();
        prop_assert_eq!(&all, &model);
        for ts in [-1i64, 0, 13, 27, 49, 50] {
            let want = model.iter().position(|r| r.timestamp_ms >= ts).map(|i| i as u64);
            prop_assert_eq!(p.offset_for_time(ts).unwrap(), want, "T={}", ts);
        }
        // The remote segments are contiguous and end where local data (still) is.
        let remote = p.remote_segments();
        for w in remote.windows(2) {
            prop_assert_eq!(w[0].next_offset(), w[1].base_offset);
        }
        let segs = p.segments();
        for w in segs.windows(2) {
            prop_assert_eq!(w[0].next_offset, w[1].base_offset);
        }
    }
}

#[test]
fn uploaded_segments_leave_the_disk_but_stay_readable_and_cost_what_the_model_says() {
    let root = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let t = tier(root.path(), 1 << 20, Some(0));
    let mut p = open(root.path(), config(400, Some(t.clone())), &clock);
    let model = fill(&mut p, &clock, 60);
    let segments = p.segments().len();
    assert!(segments > 3);
    let r = p.enforce_retention().unwrap();
    assert_eq!(r.uploaded_segments, segments - 1, "every closed segment is uploaded");
    assert_eq!(r.offloaded_segments.len(), segments - 1, "local retention 0 offloads them all");
    assert!(r.offloaded_segments.iter().all(|f| !f.exists()));
    assert!(r.deleted_segments.is_empty(), "total retention deleted nothing");
    assert_eq!(p.log_start_offset(), 0);
    let infos = p.segments();
    assert!(infos[..segments - 1].iter().all(|s| s.remote_only));
    assert!(p.remote_size_bytes() > 0);
    // One read of everything: each cold segment fetched once, charged 3 requests + transfer.
    let got: Vec<Record> = records(&p, 0).into_iter().map(|s| s.record).collect();
    assert_eq!(got, model);
    let s = t.stats();
    assert_eq!(s.uploads, (segments - 1) as u64);
    assert_eq!(s.cold_fetches, (segments - 1) as u64);
    let bytes: u64 = p.remote_segments().iter().map(|r| r.total_bytes()).sum();
    assert_eq!(s.cold_fetched_bytes, bytes);
    let want_ms = 30.0 * (segments - 1) as f64 + bytes as f64 / (1024.0 * 1024.0) * 1000.0;
    assert!(
        (s.cold_fetch_model_ms - want_ms).abs() < 0.01,
        "{} vs {want_ms}",
        s.cold_fetch_model_ms
    );
    // Read again: from the cache, no new fetch.
    assert_eq!(records(&p, 0).len(), 60);
    assert_eq!(t.stats().cold_fetches, s.cold_fetches);
    assert!(t.stats().cache_hits > 0);
}

#[test]
fn a_small_cache_evicts_and_refetches() {
    let root = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let t = tier(root.path(), 1, Some(0));
    let mut p = open(root.path(), config(400, Some(t.clone())), &clock);
    let model = fill(&mut p, &clock, 60);
    p.enforce_retention().unwrap();
    let cold = p.remote_segments().len() as u64;
    for _ in 0..2 {
        let got: Vec<Record> = records(&p, 0).into_iter().map(|s| s.record).collect();
        assert_eq!(got, model);
    }
    let s = t.stats();
    assert_eq!(s.cold_fetches, 2 * cold, "a one-byte cache keeps only the segment being read");
    assert!(s.cache_evictions >= 2 * cold - 1);
    assert!(
        t.cache_used_bytes() <= p.remote_segments().iter().map(|r| r.total_bytes()).max().unwrap()
    );
}

/// A crash while a manifest was being written leaves a torn newest generation: the previous
/// one stands, the torn one and orphaned objects are removed, the segment is uploaded again.
#[test]
fn a_half_written_manifest_is_ignored_and_the_upload_redone() {
    let root = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let t = tier(root.path(), 1 << 20, None);
    let mut p = open(root.path(), config(400, Some(t.clone())), &clock);
    let mut model = fill(&mut p, &clock, 30);
    p.enforce_retention().unwrap();
    let registered = p.remote_segments();
    assert!(!registered.is_empty());
    model.extend(fill(&mut p, &clock, 30));
    drop(p);
    // The crash: the next generation is half there, an uploaded segment object is orphaned.
    let remote_dir = root.path().join("remote").join("events").join("0");
    let names = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let manifests: Vec<String> =
        names(&remote_dir).into_iter().filter(|n| n.starts_with("manifest-")).collect();
    assert_eq!(manifests, vec!["manifest-00000000000000000001.json".to_string()]);
    let good = std::fs::read(remote_dir.join(&manifests[0])).unwrap();
    let torn = remote_dir.join("manifest-00000000000000000002.json");
    std::fs::write(&torn, &good[..good.len() / 2]).unwrap();
    let orphan = remote_dir.join("00000000000000099999.log");
    std::fs::write(&orphan, b"half an upload").unwrap();

    let t = tier(root.path(), 1 << 20, Some(0));
    let mut p = open(root.path(), config(400, Some(t.clone())), &clock);
    assert!(!torn.exists(), "the torn manifest is removed");
    assert!(!orphan.exists(), "objects no manifest names are removed");
    assert_eq!(p.remote_segments(), registered, "the previous generation stands");
    let r = p.enforce_retention().unwrap();
    assert!(r.uploaded_segments > 0);
    assert_eq!(
        names(&remote_dir).into_iter().filter(|n| n.starts_with("manifest-")).count(),
        1,
        "old generations are deleted once the new one is written"
    );
    let got: Vec<Record> = records(&p, 0).into_iter().map(|s| s.record).collect();
    assert_eq!(got, model);
    assert!(t.stats().cold_fetches > 0);
}

#[test]
fn a_missing_or_corrupt_remote_object_is_an_error_naming_it() {
    let root = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let t = tier(root.path(), 0, Some(0));
    let mut p = open(root.path(), config(400, Some(t)), &clock);
    fill(&mut p, &clock, 60);
    p.enforce_retention().unwrap();
    let remote = p.remote_segments();
    let remote_dir = root.path().join("remote").join("events").join("0");
    // Corrupt the second segment: one flipped byte.
    let second = remote_dir.join(format!("{:020}.log", remote[1].base_offset));
    let mut bytes = std::fs::read(&second).unwrap();
    bytes[20] ^= 0x40;
    std::fs::write(&second, &bytes).unwrap();
    let err = p.read(remote[1].base_offset, 1).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, LogError::Remote { .. }), "{text}");
    assert!(text.contains(&format!("events/0/{:020}.log", remote[1].base_offset)), "{text}");
    assert!(text.contains("CRC"), "{text}");
    // Delete the first: missing, named, and never a silent gap.
    let first = remote_dir.join(format!("{:020}.log", remote[0].base_offset));
    std::fs::remove_file(&first).unwrap();
    let err = p.read(0, usize::MAX).unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&format!("events/0/{:020}.log", remote[0].base_offset)), "{text}");
    assert!(text.contains("missing"), "{text}");
    // Reads above the damage still work.
    let last = remote.last().unwrap().next_offset();
    assert_eq!(p.read(last, 1).unwrap()[0].offset, last);
}

#[test]
fn total_retention_spans_both_tiers_and_local_retention_only_the_disk() {
    let root = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let mut tcfg = TierConfig::local(root.path().join("remote"), root.path().join("cache"));
    tcfg.local_retention_ms = Some(100);
    let t = Tier::open(tcfg).unwrap();
    let cfg = LogConfig { retention_ms: Some(400), ..config(300, Some(t)) };
    let mut p = open(root.path(), cfg, &clock);
    let model = fill(&mut p, &clock, 90); // 30 batches, 10 ms apart: t = 0..300
    clock.set(350);
    let r = p.enforce_retention().unwrap();
    // Local copies older than 100 ms go, nothing is past the total 400 ms.
    assert!(!r.offloaded_segments.is_empty());
    assert!(r.deleted_segments.is_empty() && r.remote_deleted_segments == 0);
    assert_eq!(p.log_start_offset(), 0);
    assert!(p.segments().iter().any(|s| s.remote_only));
    let local_start = p.segments().iter().find(|s| !s.remote_only).unwrap().base_offset;
    assert!(local_start > 0);
    // Later, the oldest segments pass total retention: gone from the tier, the start rises.
    clock.set(550);
    let r = p.enforce_retention().unwrap();
    assert!(r.remote_deleted_segments > 0);
    let start = p.log_start_offset();
    assert!(start > 0);
    assert!(matches!(p.read(start - 1, 1), Err(LogError::OffsetOutOfRange { .. })));
    let got: Vec<Record> = records(&p, start).into_iter().map(|s| s.record).collect();
    assert_eq!(got, model[start as usize..].to_vec());
    let remote_dir = root.path().join("remote").join("events").join("0");
    assert!(!remote_dir.join(format!("{:020}.log", 0)).exists(), "deleted from the tier too");
    // Far in the future: everything closed is past total retention, in both tiers.
    clock.set(100_000);
    p.enforce_retention().unwrap();
    assert_eq!(p.segments().len(), 1);
    assert!(p.remote_segments().is_empty());
    assert_eq!(p.log_start_offset(), p.segments()[0].base_offset);
}

// ----- compaction -----

fn compact_config(segment_bytes: u64) -> LogConfig {
    LogConfig { cleanup_policy: CleanupPolicy::Compact, ..config(segment_bytes, None) }
}

/// Keyed changelog records: `key = k{i % keys}`, value the version `i`.
fn change(i: u64, keys: u64) -> Record {
    Record::new(format!("v{i}"), i as i64).with_key(format!("k{}", i % keys))
}

#[test]
fn compaction_keeps_the_newest_value_per_key_at_its_offset() {
    let root = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let mut p = open(root.path(), compact_config(300), &clock);
    let all: Vec<Record> = (0..100).map(|i| change(i, 7)).collect();
    for chunk in all.chunks(4) {
        p.append(chunk).unwrap();
        clock.advance(1);
    }
    let active_base = p.segments().last().unwrap().base_offset;
    let r = p.enforce_retention().unwrap();
    assert!(r.compacted_records > 0);
    let got = records(&p, 0);
    // Below the active segment: exactly the newest record of each key among [0, active base).
    let mut want: Vec<u64> =
        (0..7u64).filter_map(|k| (0..active_base).filter(|i| i % 7 == k).max()).collect();
    want.extend(active_base..100);
    want.sort();
    let offsets: Vec<u64> = got.iter().map(|s| s.offset).collect();
    assert_eq!(offsets, want, "offsets preserved, gaps only where records were removed");
    for s in &got {
        assert_eq!(s.record, all[s.offset as usize], "each record kept as appended");
    }
    assert_eq!(p.log_start_offset(), 0, "compaction never moves the log start");
    // Reading from inside a gap starts at the next record that exists.
    let gap = (0..active_base).find(|o| !offsets.contains(o)).unwrap();
    assert_eq!(p.read(gap, 1).unwrap()[0].offset, *offsets.iter().find(|&&o| o > gap).unwrap());
    // The latest value per key, as a changelog reader rebuilds it, is what the full history says.
    let latest = |recs: &[(u64, Record)]| {
        let mut m = std::collections::BTreeMap::new();
        for (_, r) in recs {
            m.insert(r.key.clone(), r.value.clone());
        }
        m
    };
    let full: Vec<(u64, Record)> =
        all.iter().cloned().enumerate().map(|(i, r)| (i as u64, r)).collect();
    let compacted: Vec<(u64, Record)> = got.iter().map(|s| (s.offset, s.record.clone())).collect();
    assert_eq!(latest(&compacted), latest(&full));
    // Time lookups see the gaps too: the first surviving record at or after T.
    for t in [0i64, 3, 50, 99] {
        let want = got.iter().find(|s| s.record.timestamp_ms >= t).map(|s| s.offset);
        assert_eq!(p.offset_for_time(t).unwrap(), want, "T={t}");
    }
    // Appends continue; a second pass compacts the previous result with the new segments.
    for i in 100..200 {
        p.append(&[change(i, 7)]).unwrap();
    }
    p.enforce_retention().unwrap();
    drop(p);
    let p = open(root.path(), compact_config(300), &clock);
    let got = records(&p, 0);
    assert_eq!(p.log_end_offset(), 200);
    let active_base = p.segments().last().unwrap().base_offset;
    let cleaned: Vec<&StoredRecord> = got.iter().filter(|s| s.offset < active_base).collect();
    assert!(cleaned.len() <= 7, "one per key in the cleaned range: {}", cleaned.len());
}

/// A crash at each point of a pass: before the swap (a `.tmp` left), after the swap but before
/// the clean-up (old segments and the old cleaned file left). Every state reopens to the same
/// records.
#[test]
fn recovery_after_a_crash_mid_compaction() {
    let root = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let mut p = open(root.path(), compact_config(300), &clock);
    for i in 0..60 {
        p.append(&[change(i, 5)]).unwrap();
    }
    let before = records(&p, 0);
    drop(p);
    let dir = pdir(root.path());
    let snapshot = tempfile::tempdir().unwrap();
    let copy = |from: &Path, to: &Path| {
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    };
    copy(&dir, snapshot.path());

    // Crash before the swap: a half-written cleaned file aside. Nothing happened.
    std::fs::write(dir.join("00000000000000000000-00000000000000000050.cleaned.tmp"), b"torn")
        .unwrap();
    let p = open(root.path(), compact_config(300), &clock);
    assert_eq!(records(&p, 0), before);
    assert!(!dir.join("00000000000000000000-00000000000000000050.cleaned.tmp").exists());

    // The pass completes.
    let mut p = p;
    p.enforce_retention().unwrap();
    let after = records(&p, 0);
    assert!(after.len() < before.len());
    drop(p);
    // Crash after the swap, before the old segments were deleted: put them back.
    for e in std::fs::read_dir(snapshot.path()).unwrap() {
        let e = e.unwrap();
        let target = dir.join(e.file_name());
        if !target.exists() {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
    let p = open(root.path(), compact_config(300), &clock);
    assert_eq!(records(&p, 0), after, "covered segments are deleted on open, not read twice");
    drop(p);
    let leftovers: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".log"))
        .collect();
    assert_eq!(leftovers.len(), 1, "only the active segment's file is left: {leftovers:?}");
}

/// The lesson: compaction suits changelogs (latest value per key, exact) and breaks event-count
/// replays. A count per key replayed over the compacted log is short by exactly the records the
/// cleaner removed, while the oracle — counted from the full history, read before the cleaner
/// ran — stays exact.
#[test]
fn compaction_breaks_event_count_replays() {
    let root = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let mut p = open(root.path(), compact_config(400), &clock);
    let n = 300u64;
    for i in 0..n {
        p.append(&[change(i, 10)]).unwrap();
    }
    let count = |recs: &[StoredRecord]| {
        let mut m = std::collections::BTreeMap::<Vec<u8>, u64>::new();
        for r in recs {
            *m.entry(r.record.key.clone().unwrap()).or_default() += 1;
        }
        m
    };
    // The oracle reads the full history before compaction.
    let oracle = count(&records(&p, 0));
    assert_eq!(oracle.values().sum::<u64>(), n);
    let removed = p.enforce_retention().unwrap().compacted_records;
    let replay = count(&records(&p, 0));
    let replayed: u64 = replay.values().sum();
    assert_eq!(replayed + removed, n, "the replay misses exactly what the cleaner removed");
    assert!(removed > n / 2, "most events are gone: {removed} of {n}");
    // The relative error of the replayed counts against the oracle.
    let rel: f64 = oracle
        .iter()
        .map(|(k, &want)| (want as f64 - *replay.get(k).unwrap_or(&0) as f64).abs() / want as f64)
        .sum::<f64>()
        / oracle.len() as f64;
    assert!(rel > 0.5, "mean relative error of a count replay: {rel}");
}

#[test]
fn tiering_refuses_compacted_topics() {
    let root = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let t = tier(root.path(), 0, None);
    let cfg = LogConfig { cleanup_policy: CleanupPolicy::Compact, ..config(300, Some(t)) };
    let err = Partition::open(pdir(root.path()), cfg, clock).unwrap_err();
    assert!(err.to_string().contains("compacted"), "{err}");
}

// ----- the bundled scenario -----

/// `tiered-lake` as bundled, and the same run with the `[log.tier]` table removed.
fn tiered_lake_runs() -> (lambda_workbench::driver::RunResult, lambda_workbench::driver::RunResult)
{
    use lambda_workbench::scenario::Scenario;
    let text = lambda_workbench::scenario::bundled("tiered-lake").unwrap();
    let tiered = Scenario::parse(text, Path::new("tiered-lake.toml")).unwrap();
    let mut hot = tiered.clone();
    hot.log.tier = None;
    let run = |s: &Scenario| {
        let dir = tempfile::tempdir().unwrap();
        lambda_workbench::driver::simulate(s, dir.path()).unwrap()
    };
    (run(&tiered), run(&hot))
}

#[test]
fn tiered_lake_figures_are_plausible() {
    let (tiered, hot) = tiered_lake_runs();
    let storage = tiered.log_storage.as_ref().expect("[log.tier] reports its figures");
    let tier = storage.tier.as_ref().unwrap();
    assert!(storage.cold_bytes_end > 0 && storage.cold_bytes_max >= storage.cold_bytes_end);
    assert!(storage.hot_bytes_max < storage.cold_bytes_end, "most of the log ends up cold");
    assert!(tier.counters.uploads > 0 && tier.counters.local_segments_offloaded > 0);
    assert!(tier.counters.cold_fetches > 0, "Kappa's replay from offset 0 reads cold segments");
    assert!(tier.counters.cold_records_read > 0 && tier.cold_fetch_ms > 0.0);
    assert_eq!(tier.cold_fetch_timing, "model");
    // The series behind the chart: cold bytes grow while the workload runs.
    let cold: Vec<u64> = storage.bytes.iter().map(|b| b.2).collect();
    assert!(cold.windows(2).all(|w| w[0] <= w[1]), "nothing is deleted from the tier");
    assert!(hot.log_storage.is_none());
    let kappa = |r: &lambda_workbench::driver::RunResult| {
        r.architectures.iter().find(|a| a.id == "kappa").unwrap().clone()
    };
    let (cold_replay, hot_replay) = (kappa(&tiered), kappa(&hot));
    let catch_up = |a: &lambda_workbench::driver::ArchRun| a.stats.reprocess_catch_up_ms[0];
    // The fetch time is charged to the replaying job: the catch-up is longer by at least the
    // modelled fetches.
    assert!(
        catch_up(&cold_replay) as f64 >= catch_up(&hot_replay) as f64 + tier.cold_fetch_ms * 0.9,
        "cold {} ms vs hot {} ms (fetches {} ms)",
        catch_up(&cold_replay),
        catch_up(&hot_replay),
        tier.cold_fetch_ms
    );
    // Tiering changes what a replay costs, never what it reads.
    for r in [&tiered, &hot] {
        for a in &r.architectures {
            assert_eq!(a.final_view, r.oracle_final, "{} ends exact", a.id);
        }
    }
    assert_eq!(cold_replay.final_view, hot_replay.final_view);
}

/// A short wall-clock run with a tier: uploads and local deletions happen at the sampling
/// cadence, Kappa's replay at 2 s reads segments offloaded by then, and the fetch time is
/// measured rather than modelled. Nothing here depends on how fast the machine is beyond the
/// replay starting after a sample that offloaded something (750 ms of margin).
#[test]
fn a_realtime_run_tiers_and_measures_cold_reads() {
    use lambda_workbench::scenario::Scenario;
    const TEXT: &str = r#"
name = "realtime-tiered"
seed = 5
clock = "realtime"
architectures = ["kappa", "streaming-lake"]
duration_ms = 2_500
sample_every_ms = 250

[workload]
rate_per_sec = 200
keys = 10
partitions = 2

[[queries]]
name = "key_window_count"
window_ms = 500

[speed]
poll_interval_ms = 50

[kappa]
reprocess_at_ms = [2_000]

[lake]
segment_ms = 250

[log.tier]
local_retention_ms = 0
"#;
    let scenario = Scenario::parse(TEXT, Path::new("realtime-tiered.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = lambda_workbench::realtime::run_realtime(
        &scenario,
        dir.path(),
        &lambda_workbench::arch::build,
        &mut || {},
        &mut |_, _| {},
    )
    .unwrap();
    assert!(run.converged);
    for a in &run.architectures {
        assert_eq!(a.final_view, run.oracle_final, "{} ends exact", a.id);
    }
    let storage = run.log_storage.expect("[log.tier] reports its figures");
    let tier = storage.tier.unwrap();
    assert_eq!(tier.cold_fetch_timing, "measured");
    assert!(tier.counters.uploads > 0 && tier.counters.local_segments_offloaded > 0, "{tier:?}");
    assert!(storage.cold_bytes_end > 0);
    assert!(
        tier.counters.cold_fetches > 0 && tier.counters.cold_records_read > 0,
        "the replay read cold: {tier:?}"
    );
}
