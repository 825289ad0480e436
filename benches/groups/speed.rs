//! The speed layer's per-event path (watermark, hand-written operator, lateness check, merge
//! into the view) over 200k keyed events in memory, next to a plain `HashMap` aggregation of
//! the same events (the no-framework limit `workbench bench` compares against).

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group};
use lambda_workbench::bench::speed::{SpeedInput, hashmap_baseline, speed_path};

const EVENTS: u64 = 200_000;

fn speed(c: &mut Criterion) {
    let input = SpeedInput::new(EVENTS).expect("generate events");
    let mut group = c.benchmark_group("speed");
    group.sample_size(10).warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3)).throughput(Throughput::Elements(EVENTS));
    group.bench_function("windowed_count_watermarks_200k", |b| b.iter(|| speed_path(&input)));
    let window = input.window_ms();
    group.bench_function("hashmap_baseline_200k", |b| {
        b.iter(|| hashmap_baseline(&input.events, window))
    });
    group.finish();
}

criterion_group!(benches, speed);
