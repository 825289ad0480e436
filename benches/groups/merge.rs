//! Merging views: what the serving layer does on every query (the batch view plus the speed
//! views after its cut-off) and what a stream job does per contribution (`merge_cell`).

use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use lambda_workbench::query::{Agg, Cell, View, merge_cell, merge_into};

/// 1000 keys × 12 windows: a YSB-sized view (one query, two minutes of 10 s windows).
fn view(keys: u32, windows: i64, value: i64) -> View {
    let mut v = View::new();
    for k in 0..keys {
        for w in 0..windows {
            let cell = Cell { query: 0, key: format!("ad-{k:06}"), window_start_ms: w * 10_000 };
            v.insert(cell, Agg::Sum(value));
        }
    }
    v
}

fn merge(c: &mut Criterion) {
    let mut group = c.benchmark_group("merge");
    group.sample_size(20).warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    let batch = view(1000, 12, 7);
    let speed = view(1000, 12, 1);
    group.throughput(Throughput::Elements(speed.len() as u64));
    group.bench_function("merge_into_12k_cells", |b| {
        b.iter_batched(
            || batch.clone(),
            |mut into| {
                merge_into(&mut into, &speed);
                into
            },
            BatchSize::LargeInput,
        )
    });
    let contributions: Vec<(Cell, Agg)> =
        speed.iter().map(|(c, a)| (c.clone(), a.clone())).collect();
    group.bench_function("merge_cell_12k_contributions", |b| {
        b.iter_batched(
            || (batch.clone(), contributions.clone()),
            |(mut into, contributions)| {
                for (cell, agg) in contributions {
                    merge_cell(&mut into, cell, agg);
                }
                into
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, merge);
