//! The batch layer's hot paths over a 200k-event YSB log: decoding the log into polars
//! columns, and the recompute of `key_sum` and `campaign_window_count`, cold (every record
//! decoded from the log) and from the batch layer's column cache (a later batch cycle).

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group};
use lambda_workbench::batch::BatchCompute;
use lambda_workbench::batch::lambda_polars::{PolarsBatch, Projection, read_frame};
use lambda_workbench::bench::batch::{ADS_TOPIC, ads_log, query_set};
use lambda_workbench::query::QueryKind;

use super::scratch_dir;

const EVENTS: u64 = 200_000;

fn batch(c: &mut Criterion) {
    let dir = scratch_dir();
    let (log, campaigns) = ads_log(dir.path(), EVENTS).expect("write the YSB log");
    let topic = log.topic(ADS_TOPIC).expect("topic");
    let ranges: Vec<(u64, u64)> =
        topic.partitions().iter().map(|p| (p.log_start_offset(), p.log_end_offset())).collect();
    let cutoff: Vec<u64> = ranges.iter().map(|r| r.1).collect();

    let mut group = c.benchmark_group("batch");
    group.sample_size(10).warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(4)).throughput(Throughput::Elements(EVENTS));
    group.bench_function("decode_into_columns_200k", |b| {
        b.iter(|| {
            let df = read_frame(&log, ADS_TOPIC, &ranges, Projection::QueryInput, "bench")
                .expect("read");
            assert_eq!(df.height() as u64, EVENTS);
            df
        });
    });
    for kind in [QueryKind::KeySum, QueryKind::CampaignWindowCount] {
        let queries = query_set(&[kind], &campaigns);
        // Cold: every record decoded from the log (no column cache).
        group.bench_function(format!("recompute_cold_{}_200k", kind.name()), |b| {
            b.iter(|| {
                let (view, read) = PolarsBatch::without_column_cache()
                    .compute(&log, ADS_TOPIC, &cutoff, &queries)
                    .expect("recompute");
                assert_eq!(read, EVENTS);
                view
            });
        });
        // What every later batch cycle runs: the aggregation over the cached columns.
        let batch = PolarsBatch::new();
        batch.compute(&log, ADS_TOPIC, &cutoff, &queries).expect("build the column cache");
        group.bench_function(format!("recompute_cached_{}_200k", kind.name()), |b| {
            b.iter(|| {
                let (view, read) =
                    batch.compute(&log, ADS_TOPIC, &cutoff, &queries).expect("recompute");
                assert_eq!(read, EVENTS);
                view
            });
        });
    }
    group.finish();
}

criterion_group!(benches, batch);
