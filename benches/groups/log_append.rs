//! `Partition::append` throughput: record size × batch size × fsync policy; and the
//! producer's per-record path (`Producer::send_bytes` and `Producer::send` of small records,
//! 1 MiB batches), where 100 B records are CPU-bound.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group};
use lambda_workbench::log::{
    FsyncPolicy, Log, LogConfig, Partition, Producer, ProducerConfig, Record, SystemClock,
};

use super::{clock, scratch_dir};

fn append(c: &mut Criterion) {
    let policies = [
        ("always", FsyncPolicy::Always),
        ("interval100ms", FsyncPolicy::Interval { ms: 100 }),
        ("never", FsyncPolicy::Never),
    ];
    for (policy_name, policy) in policies {
        let mut group = c.benchmark_group(format!("log_append/{policy_name}"));
        // fsync-bound cases take milliseconds per iteration; flat sampling keeps the iteration
        // count (and the run time) bounded instead of growing linearly per sample.
        group.sample_size(10).warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(3)).sampling_mode(SamplingMode::Flat);
        for record_bytes in [100usize, 1024] {
            for batch in [1usize, 100] {
                let records: Vec<Record> =
                    (0..batch).map(|i| Record::new(vec![b'x'; record_bytes], i as i64)).collect();
                let dir = scratch_dir();
                let config = LogConfig { fsync: policy, ..LogConfig::default() };
                let mut partition = Partition::open(dir.path().join("0"), config, clock())
                    .expect("open a fresh partition");
                group.throughput(Throughput::Bytes((record_bytes * batch) as u64));
                let id = BenchmarkId::new(format!("{record_bytes}B"), format!("batch{batch}"));
                group.bench_function(id, |b| {
                    b.iter(|| partition.append(&records).expect("append"));
                });
            }
        }
        group.finish();
    }
}

/// Records per iteration of the producer benches (~1 MiB of 100 B values).
const PRODUCER_RECORDS: usize = 10_000;

fn producer(c: &mut Criterion) {
    let mut group = c.benchmark_group("log_producer");
    group.sample_size(10).warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3)).sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Bytes((PRODUCER_RECORDS * 100) as u64));
    // `interval` as in `workbench bench`, on the wall clock the producer's linger reads.
    let config = LogConfig { fsync: FsyncPolicy::Interval { ms: 100 }, ..LogConfig::default() };
    for api in ["send_bytes", "send"] {
        let dir = scratch_dir();
        let mut log = Log::open(dir.path(), config.clone(), std::sync::Arc::new(SystemClock))
            .expect("open a fresh log");
        log.create_topic("t", 1).expect("create topic");
        let mut producer = Producer::new(ProducerConfig { linger_ms: 5, max_batch_bytes: 1 << 20 });
        let value = vec![b'x'; 100];
        group.bench_function(BenchmarkId::new(api, "100B"), |b| {
            b.iter(|| {
                for i in 0..PRODUCER_RECORDS {
                    if api == "send_bytes" {
                        producer.send_bytes(&log, "t", None, &value, i as i64).expect("send");
                    } else {
                        let record = Record::new(value.clone(), i as i64);
                        producer.send(&log, "t", record).expect("send");
                    }
                }
            });
        });
        producer.flush(&log).expect("flush");
    }
    group.finish();
}

criterion_group!(benches, append, producer);
