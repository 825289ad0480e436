//! Sequential replay of a 100k-record partition (owned `read` and borrowing
//! `for_each_record`), and `offset_for_time` lookups.

use std::ops::ControlFlow;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group};
use lambda_workbench::log::{FsyncPolicy, LogConfig, Partition, Record};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{clock, scratch_dir};

const RECORDS: usize = 100_000;
const RECORD_BYTES: usize = 100;
/// Records per `Partition::read` call, as a consumer would poll.
const READ_CHUNK: usize = 1000;
/// Records per `for_each_record` call (one read-lock hold in a shared log).
const VISIT_CHUNK: usize = 10_000;
const LOOKUPS: usize = 1000;
/// Records per appended batch: ~10 KiB, like the producer's 16 KiB batches. A time lookup scans
/// the one batch the sparse time index points into, so its cost grows with the batch size
/// (1000-record batches made it ~0.35 ms per lookup).
const SETUP_BATCH: usize = 100;

fn read(c: &mut Criterion) {
    let dir = scratch_dir();
    // Setting up is not measured: write the partition once, in batches, without per-batch fsync.
    let config = LogConfig { fsync: FsyncPolicy::Never, ..LogConfig::default() };
    let mut partition =
        Partition::open(dir.path().join("0"), config, clock()).expect("open partition");
    for start in (0..RECORDS).step_by(SETUP_BATCH) {
        // Timestamps are the record number in ms: lookups below know what to expect.
        let batch: Vec<Record> = (start..start + SETUP_BATCH)
            .map(|i| Record::new(vec![b'r'; RECORD_BYTES], i as i64))
            .collect();
        partition.append(&batch).expect("append setup batch");
    }
    partition.flush().expect("flush setup data");

    let mut group = c.benchmark_group("log_read");
    group.sample_size(10).warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(4));

    group.throughput(Throughput::Bytes((RECORDS * RECORD_BYTES) as u64));
    group.bench_function("replay_100k_x_100B", |b| {
        b.iter(|| {
            let mut next = partition.log_start_offset();
            let mut bytes = 0usize;
            while next < partition.log_end_offset() {
                let records = partition.read(next, READ_CHUNK).expect("read");
                let Some(last) = records.last() else { break };
                next = last.offset + 1;
                bytes += records.iter().map(|r| r.record.value.len()).sum::<usize>();
            }
            assert_eq!(bytes, RECORDS * RECORD_BYTES);
            bytes
        });
    });

    // The borrowing path: what the batch layer and `workbench bench` replay use.
    group.bench_function("visit_100k_x_100B", |b| {
        b.iter(|| {
            let mut next = partition.log_start_offset();
            let mut bytes = 0usize;
            while next < partition.log_end_offset() {
                next = partition
                    .for_each_record(next, VISIT_CHUNK, |r| {
                        bytes += r.value.len();
                        ControlFlow::Continue(())
                    })
                    .expect("visit");
            }
            assert_eq!(bytes, RECORDS * RECORD_BYTES);
            bytes
        });
    });

    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let targets: Vec<i64> = (0..LOOKUPS).map(|_| rng.gen_range(0..RECORDS as i64)).collect();
    group.throughput(Throughput::Elements(LOOKUPS as u64));
    group.bench_function("offset_for_time_x1000", |b| {
        b.iter(|| {
            for &t in &targets {
                let found = partition.offset_for_time(t).expect("lookup");
                debug_assert_eq!(found, Some(t as u64));
            }
        });
    });
    group.finish();
}

criterion_group!(benches, read);
