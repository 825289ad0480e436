//! `kappa`: stream processing only, with reprocessing by replaying the log into a new table.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{ArchContext, ArchError, ArchStats, Architecture, Visibility};
use crate::kappa::Kappa;
use crate::log::{Log, StartPosition, TimestampMs};
use crate::query::{QuerySet, Table, TrackedTable};
use crate::scenario::Fault;
use crate::speed::StreamCompute;
use crate::speed::operators::HandWritten;

/// Builds `kappa`.
pub fn build(ctx: &ArchContext<'_>, log: &Log) -> Result<Box<dyn Architecture>, ArchError> {
    let compute: Arc<dyn StreamCompute> = Arc::new(HandWritten::new(ctx.queries.clone()));
    let mut reprocess_at: Vec<i64> = ctx.scenario.kappa.reprocess_at_ms.clone();
    reprocess_at.sort_unstable();
    let mut kappa =
        Kappa::new(log, ctx.topic, compute.clone(), ctx.queries.clone(), &ctx.scenario.speed, 0)?;
    kappa.set_timing(ctx.timing.clone());
    Ok(Box::new(KappaArch {
        kappa,
        compute,
        reprocess_at: reprocess_at.into(),
        reprocess_from: ctx.scenario.kappa.reprocess_from_time_ms,
        stats: ArchStats::default(),
        timeline: Vec::new(),
    }))
}

/// The kappa job, and when to reprocess.
#[derive(Debug)]
pub struct KappaArch {
    kappa: Kappa,
    compute: Arc<dyn StreamCompute>,
    reprocess_at: VecDeque<TimestampMs>,
    reprocess_from: Option<TimestampMs>,
    stats: ArchStats,
    timeline: Vec<(TimestampMs, &'static str)>,
}

impl Architecture for KappaArch {
    fn id(&self) -> &'static str {
        "kappa"
    }

    fn tick(&mut self, now: TimestampMs, log: &Log) -> Result<Visibility, ArchError> {
        while self.reprocess_at.front().is_some_and(|t| *t <= now) {
            self.reprocess_at.pop_front();
            let start =
                self.reprocess_from.map_or(StartPosition::Earliest, StartPosition::Timestamp);
            self.kappa.start_reprocessing(log, self.compute.clone(), start, now)?;
            self.timeline.push((now, "reprocessing starts"));
        }
        let tick = self.kappa.tick(now, log)?;
        if let Some(ms) = tick.switched_after_ms {
            self.timeline.push((now, "switch to the new table"));
            self.stats.reprocessings += 1;
            self.stats.reprocess_catch_up_ms.push(ms);
        }
        self.stats.peak_table_cells = self.stats.peak_table_cells.max(self.kappa.cells() as u64);
        Ok(Visibility { events: tick.shown, prefixes: Vec::new(), dropped: tick.dropped })
    }

    fn query(&mut self, _now: TimestampMs, _log: &Log) -> Result<Table, ArchError> {
        Ok(self.kappa.table())
    }

    fn query_into(
        &mut self,
        _now: TimestampMs,
        _log: &Log,
        served: &mut TrackedTable,
    ) -> Result<(), ArchError> {
        self.kappa.update_served(served);
        Ok(())
    }

    fn quiescent(&self, log: &Log) -> Result<bool, ArchError> {
        Ok(self.reprocess_at.is_empty() && self.kappa.caught_up(log)?)
    }

    fn fault(&mut self, fault: &Fault, now: TimestampMs, _log: &Log) -> Result<(), ArchError> {
        if let Fault::SpeedCrash { down_ms, restore_state, .. } = fault {
            self.timeline.push((now, "stream job crashes"));
            self.kappa.crash(now, *down_ms, *restore_state);
        }
        Ok(())
    }

    fn logic_change(
        &mut self,
        queries: Arc<QuerySet>,
        now: TimestampMs,
        log: &Log,
    ) -> Result<(), ArchError> {
        self.timeline.push((now, "reprocessing starts"));
        // Kappa's way: a new job version replays the retained log into a new table; the old
        // table is served until the new one catches up.
        self.compute = Arc::new(HandWritten::new(queries.clone()));
        self.kappa.set_queries(queries);
        let start = self.reprocess_from.map_or(StartPosition::Earliest, StartPosition::Timestamp);
        self.kappa.start_reprocessing(log, self.compute.clone(), start, now)
    }

    fn timeline(&self) -> Vec<(TimestampMs, &'static str)> {
        self.timeline.clone()
    }

    fn stats(&self) -> ArchStats {
        ArchStats {
            late_events: self.kappa.late_events(),
            side_output_events: self.kappa.side_output_events(),
            stream_events_read: self.kappa.events_read(),
            stream_busy_ms: self.kappa.busy_ms(),
            stream_crashes: self.kappa.crashes(),
            events_reprocessed_after_crash: self.kappa.events_reprocessed(),
            records_lost_to_retention: self.kappa.records_skipped(),
            ..self.stats.clone()
        }
    }
}
