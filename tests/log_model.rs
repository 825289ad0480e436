//! Model-based test of a partition: random appends, rolls, reopens, torn tails and flushes,
//! checked after every step against a plain `Vec` of records.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use lambda_workbench::log::{Header, LogConfig, ManualClock, Partition, Record};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Append(Vec<Record>),
    Roll,
    Reopen,
    /// Cut the active segment at this fraction (per mille) of its size, then reopen.
    Truncate(u16),
    Flush,
}

fn record() -> impl Strategy<Value = Record> {
    (
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
        proptest::collection::vec(any::<u8>(), 0..40),
        -20i64..100,
        proptest::collection::vec(
            ("[a-z]{0,3}", proptest::collection::vec(any::<u8>(), 0..4)),
            0..2,
        ),
    )
        .prop_map(|(key, value, timestamp_ms, headers)| Record {
            key,
            value,
            timestamp_ms,
            headers: headers.into_iter().map(|(key, value)| Header { key, value }).collect(),
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => proptest::collection::vec(record(), 1..6).prop_map(Op::Append),
        1 => Just(Op::Roll),
        1 => Just(Op::Reopen),
        1 => (0u16..=1000).prop_map(Op::Truncate),
        1 => Just(Op::Flush),
    ]
}

/// The model: every record, and the batch ends of the active segment (byte end, records so far).
struct Model {
    records: Vec<Record>,
    active_base: u64,
    active_ends: Vec<(u64, usize)>,
}

fn open(dir: &Path, cfg: &LogConfig, clock: &Arc<ManualClock>) -> Partition {
    Partition::open(dir.to_path_buf(), cfg.clone(), clock.clone()).unwrap()
}

fn check(p: &Partition, m: &Model, times: &[i64]) {
    assert_eq!(p.log_end_offset(), m.records.len() as u64);
    assert_eq!(p.log_start_offset(), 0);
    let all: Vec<Record> = p.read(0, usize::MAX).unwrap().into_iter().map(|s| s.record).collect();
    assert_eq!(all, m.records);
    for from in 0..=m.records.len() {
        let got = p.read(from as u64, 3).unwrap();
        let want = &m.records[from..(from + 3).min(m.records.len())];
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(g.offset, (from + i) as u64);
            assert_eq!(&g.record, w);
        }
    }
    check_visitor(p, m);
    for &t in times {
        let want = m.records.iter().position(|r| r.timestamp_ms >= t).map(|i| i as u64);
        assert_eq!(p.offset_for_time(t).unwrap(), want, "offset_for_time({t})");
    }
}

/// The borrowing read path visits exactly the model's records (and what `read` returns), for
/// every start offset, with a record budget and with the visitor breaking early.
fn check_visitor(p: &Partition, m: &Model) {
    let n = m.records.len();
    for from in 0..=n {
        for (max, stop_after) in [(usize::MAX, usize::MAX), (2, usize::MAX), (usize::MAX, 3)] {
            let mut got = Vec::new();
            let next = p
                .for_each_record(from as u64, max, |r| {
                    // Borrowed fields and the owned copy agree.
                    let owned = r.to_stored();
                    assert_eq!(owned.record.key.as_deref(), r.key);
                    assert_eq!(owned.record.value, r.value);
                    assert_eq!(owned.record.headers.len(), r.header_count());
                    for (h, (k, v)) in owned.record.headers.iter().zip(r.headers()) {
                        assert_eq!((h.key.as_str(), h.value.as_slice()), (k, v));
                    }
                    got.push(owned);
                    if got.len() >= stop_after {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                })
                .unwrap();
            let want_len = (n - from).min(max).min(stop_after);
            assert_eq!(got.len(), want_len, "from {from} max {max} stop {stop_after}");
            assert_eq!(next, (from + want_len) as u64);
            for (i, g) in got.iter().enumerate() {
                assert_eq!(g.offset, (from + i) as u64);
                assert_eq!(g.record, m.records[from + i]);
            }
            if stop_after == usize::MAX {
                assert_eq!(got, p.read(from as u64, max).unwrap());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn partition_matches_model(
        segment_bytes in 300u64..2000,
        index_interval_bytes in 1u32..400,
        ops in proptest::collection::vec(op(), 1..40),
        times in proptest::collection::vec(-25i64..105, 4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(0));
        let cfg = LogConfig {
            segment_bytes,
            index_interval_bytes,
            fsync: lambda_workbench::log::FsyncPolicy::Never,
            ..LogConfig::default()
        };
        let mut p = Some(open(dir.path(), &cfg, &clock));
        let mut m = Model { records: Vec::new(), active_base: 0, active_ends: Vec::new() };
        for op in ops {
            clock.advance(3);
            let part = p.as_mut().unwrap();
            match op {
                Op::Append(batch) => {
                    let base = part.append(&batch).unwrap();
                    prop_assert_eq!(base, m.records.len() as u64);
                    m.records.extend(batch);
                    let active = part.segments().pop().unwrap();
                    prop_assert!(active.size_bytes <= segment_bytes || active.next_offset - active.base_offset == m.records.len() as u64 - base);
                    if active.base_offset != m.active_base {
                        m.active_base = active.base_offset;
                        m.active_ends.clear();
                    }
                    m.active_ends.push((active.size_bytes, m.records.len()));
                }
                Op::Roll => {
                    part.roll().unwrap();
                    let active = part.segments().pop().unwrap();
                    if active.base_offset != m.active_base {
                        m.active_base = active.base_offset;
                        m.active_ends.clear();
                    }
                }
                Op::Reopen => {
                    // Drop the old handle first: close, then reopen.
                    drop(p.take());
                    p = Some(open(dir.path(), &cfg, &clock));
                    prop_assert!(p.as_ref().unwrap().recovery_events().is_empty());
                }
                Op::Truncate(per_mille) => {
                    let active = part.segments().pop().unwrap();
                    let cut = active.size_bytes * u64::from(per_mille) / 1000;
                    drop(p.take());
                    let f = std::fs::OpenOptions::new().write(true).open(&active.path).unwrap();
                    f.set_len(cut).unwrap();
                    drop(f);
                    m.active_ends.retain(|&(end, _)| end <= cut);
                    let keep = m.active_ends.last().map_or(m.active_base as usize, |&(_, n)| n);
                    m.records.truncate(keep);
                    p = Some(open(dir.path(), &cfg, &clock));
                }
                Op::Flush => part.flush().unwrap(),
            }
            check(p.as_ref().unwrap(), &m, &times);
        }
    }
}
