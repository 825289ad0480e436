//! `Partition::append` throughput: record size × batch size × fsync policy.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group};
use lambda_workbench::log::{FsyncPolicy, LogConfig, Partition, Record};

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

criterion_group!(benches, append);
