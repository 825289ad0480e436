//! The realtime driver: the same architectures on wall-clock time.
//!
//! Where the simulated driver ([`crate::driver`]) runs everything on one virtual clock and lets
//! the cost model say when results become visible, this driver runs the components for real:
//!
//! - **Time** is wall-clock milliseconds since the run started ([`ElapsedClock`]), so event
//!   times, append times and a scenario's `at_ms` share one origin, as in simulated mode.
//! - **A paced producer** (a tokio task) appends every generated event at its `arrival_ms`,
//!   as one batch per partition of whatever is due when it wakes (linger 0: nothing waits for
//!   a batch to fill). A producer stall holds events until it ends. With `[log] backend =
//!   "kafka"` the events go to a thread that produces them to the real brokers and fetches
//!   them back into the local log at the brokers' offsets, so freshness includes the round
//!   trip through Kafka.
//! - **Each architecture runs on a thread of its own**, ticking every `tick_ms` with the wall
//!   clock's `now`; its layers use [`Timing::Measured`]: a stream poll's results are visible
//!   when it has been processed, batch jobs (lambda's, lambda-unified's, the batch lake's) run
//!   in the background on the rayon pool and publish when they finish, kappa's replay runs
//!   alongside its live job, and the lake's query cost is the last query's measured time.
//! - **The coordinator** (the thread that called [`run_realtime`], inside the tokio runtime)
//!   fires faults and logic changes at their wall-clock times, and every `sample_every_ms`
//!   asks each architecture for its answers, then brings the oracle up to date and compares
//!   (querying first means no architecture can hold an event the oracle has not read, exactly
//!   as in simulated mode). Freshness is the real moment an event became visible minus its
//!   event time.
//! - After the workload it drains until every architecture is quiescent or a horizon passes;
//!   **Ctrl-C** (SIGINT) stops the producer and the architectures at once, and the run's result
//!   is marked `partial`.
//!
//! Nothing here is reproducible byte for byte: thread scheduling, the machine's speed and the
//! OS decide the timings. The *answers* still converge to the oracle's, and that is what the
//! tests check.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::arch::{ArchContext, ArchError, Architecture, Timing, Visibility};
use crate::driver::{ArchRecord, BuildFn, EVENTS_TOPIC, RunResult, kafka_config, kafka_err};
use crate::kafka::{KafkaFeed, KafkaStats};
use crate::log::{
    Clock, ElapsedClock, FsyncPolicy, Log, LogConfig, Producer, ProducerConfig, Record, TimestampMs,
};
use crate::oracle::Oracle;
use crate::query::{QuerySet, Table};
use crate::scenario::{Fault, RunClock, Scenario};
use crate::workload;

/// Why a realtime run failed.
#[derive(Debug, thiserror::Error)]
pub enum RealtimeError {
    /// An architecture, the oracle, the producer or the log under them failed.
    #[error(transparent)]
    Arch(#[from] ArchError),
    /// The async runtime or the signal handler could not be set up.
    #[error("realtime runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// A thread running an architecture or the producer panicked.
    #[error("realtime: {0} panicked")]
    Panicked(String),
}

/// What the coordinator can ask of an architecture's thread.
enum Command {
    /// A fault happens now.
    Fault(Fault),
    /// The logic changed: redeploy with these queries.
    LogicChange(Arc<QuerySet>),
    /// Answer the queries now.
    Query(tokio::sync::oneshot::Sender<Answer>),
    /// Say whether you are quiescent now.
    Quiescent(tokio::sync::oneshot::Sender<bool>),
}

/// An architecture's answers at one moment.
struct Answer {
    table: Table,
    cold_bytes: u64,
    /// What became visible since the last answer; the coordinator's freshness tracker records
    /// it (the tracker needs the oracle's records, which the coordinator reads).
    visibility: Visibility,
    /// The architecture's clock when it answered: every later report says this time or later.
    now: TimestampMs,
}

/// What an architecture's thread hands back when it stops.
struct Finished {
    arch: Box<dyn Architecture>,
    /// What became visible since the last answer.
    visibility: Visibility,
    wall: Duration,
}

/// An architecture's thread: ticks every `tick`, serves the coordinator's commands in between,
/// stops when the coordinator drops its end of the channel.
fn run_architecture(
    mut arch: Box<dyn Architecture>,
    log: &Log,
    clock: ElapsedClock,
    tick: Duration,
    commands: &mpsc::Receiver<Command>,
) -> Result<Finished, ArchError> {
    let mut visibility = Visibility::default();
    let mut wall = Duration::ZERO;
    let mut next_tick = Instant::now();
    loop {
        let wait = next_tick.saturating_duration_since(Instant::now());
        let command = match commands.recv_timeout(wait) {
            Ok(command) => command,
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                let started = Instant::now();
                visibility.extend(arch.tick(clock.now_ms(), log)?);
                wall += started.elapsed();
                // A tick that overran does not cause a burst of catch-up ticks.
                next_tick = (next_tick + tick).max(Instant::now());
                continue;
            }
        };
        let started = Instant::now();
        let now = clock.now_ms();
        match command {
            Command::Fault(fault) => arch.fault(&fault, now, log)?,
            Command::LogicChange(queries) => arch.logic_change(queries, now, log)?,
            Command::Query(reply) => {
                let table = arch.query(now, log)?;
                // The coordinator may have given up; then nobody needs the answer, but the
                // reports it carried stay for the end of the run.
                if let Err(unsent) = reply.send(Answer {
                    table,
                    cold_bytes: arch.cold_bytes(),
                    visibility: std::mem::take(&mut visibility),
                    now,
                }) {
                    visibility = unsent.visibility;
                }
            }
            Command::Quiescent(reply) => {
                let _ = reply.send(arch.quiescent(log)?);
            }
        }
        wall += started.elapsed();
    }
    Ok(Finished { arch, visibility, wall })
}

/// When an event arriving at `arrival_ms` reaches the log: at once, or when the producer stall
/// it falls into ends.
fn release_ms(arrival_ms: TimestampMs, stalls: &[(TimestampMs, TimestampMs)]) -> TimestampMs {
    stalls
        .iter()
        .find(|(start, end)| (*start..*end).contains(&arrival_ms))
        .map_or(arrival_ms, |(_, end)| *end)
}

/// Where the paced producer's records go.
enum Sink {
    /// Straight into the local log, batched per partition by the workbench's producer.
    Local(Producer),
    /// To the Kafka feed's thread, which produces them to the brokers and fetches them back
    /// into the local log at the brokers' offsets (`[log] backend = "kafka"`).
    Kafka(mpsc::Sender<Record>),
}

/// The paced producer: sends each event when it is released, in arrival order, until every
/// event is sent or `stop` turns true. With the local log it counts what it appended in
/// `produced`; with Kafka the feed's thread counts what came back from the brokers.
async fn produce(
    log: Arc<Log>,
    clock: ElapsedClock,
    events: workload::Events,
    stalls: Vec<(TimestampMs, TimestampMs)>,
    produced: Arc<AtomicU64>,
    mut sink: Sink,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), ArchError> {
    let mut events = events.peekable();
    let mut next = 0;
    while let Some(first) = events.peek() {
        let due = clock.instant_at(release_ms(first.arrival_ms, &stalls));
        tokio::select! {
            _ = tokio::time::sleep_until(due.into()) => {}
            _ = stop.changed() => break,
        }
        let now = clock.now_ms();
        while let Some(e) = events.next_if(|e| release_ms(e.arrival_ms, &stalls) <= now) {
            let record = Record::new(e.value(), e.event_time_ms).with_key(e.key.as_bytes());
            match &mut sink {
                Sink::Local(producer) => {
                    producer.send(&log, EVENTS_TOPIC, record)?;
                }
                // The feed's thread only stops after this side hangs up, unless it failed;
                // its error comes out when it is joined.
                Sink::Kafka(tx) => {
                    if tx.send(record).is_err() {
                        return Ok(());
                    }
                }
            }
            next += 1;
        }
        if let Sink::Local(producer) = &mut sink {
            producer.flush(&log)?;
            produced.store(next as u64, Ordering::Release);
        }
    }
    Ok(())
}

/// The Kafka feed's thread: produces what the paced producer sends to the brokers and fetches
/// every partition back into `log` at the brokers' offsets, every few milliseconds, until the
/// producer has hung up and everything it sent is back. Counts the records fetched in
/// `fetched` (the coordinator's "in the log"). Runs on a thread of its own because the feed
/// blocks on its own runtime, which cannot run inside the driver's.
fn run_kafka_feed(
    mut feed: KafkaFeed,
    log: &Log,
    clock: ElapsedClock,
    records: &mpsc::Receiver<Record>,
    fetched: &AtomicU64,
) -> Result<KafkaStats, ArchError> {
    // Short enough to add little to freshness, long enough not to flood the brokers with
    // empty fetches.
    let poll = Duration::from_millis(10);
    let mut open = true;
    loop {
        if open {
            match records.recv_timeout(poll) {
                Ok(r) => feed.send(r),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => open = false,
            }
            while let Ok(r) = records.try_recv() {
                feed.send(r);
            }
        }
        feed.tick(clock.now_ms(), log, EVENTS_TOPIC).map_err(kafka_err)?;
        let stats = feed.stats();
        fetched.store(stats.fetched, Ordering::Release);
        if !open && feed.drained() && stats.fetched >= stats.produced {
            return Ok(stats.clone());
        }
        if !open {
            // Waiting for the brokers only: do not spin on an empty channel.
            std::thread::sleep(poll);
        }
    }
}

/// What the coordinator measured, per architecture, and how the run ended.
struct Coordinated {
    records: Vec<ArchRecord>,
    log_bytes: Vec<(TimestampMs, u64)>,
    end_ms: TimestampMs,
    converged: bool,
    partial: bool,
    queries: Arc<QuerySet>,
    log_storage: Option<crate::driver::LogStorageRun>,
}

/// The channels to the architectures' threads.
struct Workers {
    commands: Vec<mpsc::Sender<Command>>,
}

impl Workers {
    /// Sends `make()` to every architecture; `false` if one of them has stopped.
    fn broadcast(&self, make: impl Fn() -> Command) -> bool {
        self.commands.iter().all(|c| c.send(make()).is_ok())
    }

    /// Asks every architecture at once, then waits for every answer; `None` if one has stopped
    /// (its error comes out when its thread is joined).
    async fn ask<T>(
        &self,
        make: impl Fn(tokio::sync::oneshot::Sender<T>) -> Command,
    ) -> Option<Vec<T>> {
        let mut replies = Vec::with_capacity(self.commands.len());
        for c in &self.commands {
            let (tx, rx) = tokio::sync::oneshot::channel();
            c.send(make(tx)).ok()?;
            replies.push(rx);
        }
        let mut out = Vec::with_capacity(replies.len());
        for rx in replies {
            out.push(rx.await.ok()?);
        }
        Some(out)
    }
}

/// The settings the coordinator runs by.
struct Plan<'s> {
    scenario: &'s Scenario,
    clock: ElapsedClock,
    tick_ms: i64,
    horizon_ms: TimestampMs,
    events: usize,
}

/// Signals that stop a run early: SIGINT (Ctrl-C) on Unix, Ctrl-C elsewhere. Installed when
/// created, so a signal arriving before the coordinator waits on it is not lost.
struct Interrupt {
    #[cfg(unix)]
    sigint: tokio::signal::unix::Signal,
}

impl Interrupt {
    fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Interrupt { sigint: signal(SignalKind::interrupt())? })
        }
        #[cfg(not(unix))]
        {
            Ok(Interrupt {})
        }
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        {
            self.sigint.recv().await;
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Fires faults, samples, checks quiescence, until the run settles, passes its horizon, or is
/// interrupted. Returns `Ok(None)` when an architecture stopped on an error.
#[allow(clippy::too_many_arguments)]
async fn coordinate(
    plan: &Plan<'_>,
    log: &Log,
    workers: &Workers,
    oracle: &mut Oracle,
    mut queries: Arc<QuerySet>,
    produced: &AtomicU64,
    failed: &AtomicBool,
    interrupt: &mut Interrupt,
    progress: &mut dyn FnMut(TimestampMs, TimestampMs),
) -> Result<Option<Coordinated>, ArchError> {
    let s = plan.scenario;
    let n = workers.commands.len();
    let mut records: Vec<ArchRecord> =
        (0..n).map(|_| ArchRecord::new(s.workload.partitions as usize)).collect();
    let mut log_bytes = Vec::new();
    let mut log_storage = s.log.maintained().then(crate::driver::LogStorageRun::default);
    let mut faults: Vec<&Fault> = s.faults.iter().collect();
    faults.sort_by_key(|f| f.at_ms());
    let mut next_fault = 0;
    let mut next_sample: TimestampMs = 0;
    let mut partial = false;
    let (end_ms, converged) = loop {
        let produced_all = produced.load(Ordering::Acquire) as usize == plan.events;
        // Wake for the next fault or sample; after the workload, every tick to see whether the
        // architectures have settled.
        let mut wake = next_sample;
        if let Some(f) = faults.get(next_fault) {
            wake = wake.min(f.at_ms());
        }
        if produced_all {
            wake = wake.min(plan.clock.now_ms() + plan.tick_ms);
        }
        tokio::select! {
            biased;
            _ = interrupt.recv() => {
                partial = true;
            }
            _ = tokio::time::sleep_until(plan.clock.instant_at(wake).into()) => {}
        }
        // The producer or the Kafka feed stopped on an error: stop now (its error is what the
        // run reports) instead of waiting for events that will never come.
        if failed.load(Ordering::Acquire) {
            partial = true;
        }
        let t = plan.clock.now_ms();
        while let Some(fault) = faults.get(next_fault).filter(|f| f.at_ms() <= t && !partial) {
            if let Fault::LogicChange { query, exclude_bots, .. } = fault {
                let mut next = (*queries).clone();
                for (spec, q) in next.specs.iter_mut().zip(&s.queries) {
                    if &q.name == query {
                        spec.exclude_bots = *exclude_bots;
                    }
                }
                queries = Arc::new(next);
                oracle.set_queries(&queries);
                if !workers.broadcast(|| Command::LogicChange(queries.clone())) {
                    return Ok(None);
                }
            }
            if !workers.broadcast(|| Command::Fault((*fault).clone())) {
                return Ok(None);
            }
            next_fault += 1;
        }
        let produced_all = produced.load(Ordering::Acquire) as usize == plan.events;
        let mut all_quiet = produced_all && t >= s.duration_ms;
        if all_quiet && !partial {
            let Some(quiet) = workers.ask(Command::Quiescent).await else { return Ok(None) };
            for (record, q) in records.iter_mut().zip(quiet) {
                if q {
                    record.quiescent_at.get_or_insert(t);
                } else {
                    all_quiet = false;
                }
            }
        }
        let stop = partial || all_quiet || t >= plan.horizon_ms;
        if t >= next_sample || stop {
            // Answers first, then the oracle: it has read at least everything they could hold.
            let Some(answers) = workers.ask(Command::Query).await else { return Ok(None) };
            oracle.catch_up(log)?;
            crate::driver::feed_trackers(oracle, &mut records);
            oracle.expire(t);
            let exact = oracle.answers();
            for (record, answer) in records.iter_mut().zip(answers) {
                record.tracker.record(&answer.visibility);
                record.served.replace(answer.table);
                record.sample(t, exact, answer.cold_bytes, &queries);
                // Later reports say `answer.now` or later: samples before it are final.
                record.tracker.advance(answer.now - 1);
            }
            let topic = log.topic(EVENTS_TOPIC)?;
            log_bytes.push((t, topic.partitions().iter().map(|p| p.size_bytes()).sum()));
            // Retention, tiering and compaction run at the sampling cadence; the oracle has
            // just read everything, so compaction never hides an event from it.
            if let Some(storage) = log_storage.as_mut() {
                storage.absorb(&log.enforce_retention()?);
                storage.sample(t, log);
            }
            while next_sample <= t {
                next_sample += s.sample_every_ms;
            }
        }
        progress(t, plan.horizon_ms);
        if stop {
            break (t, all_quiet);
        }
    };
    if let Some(storage) = log_storage.as_mut() {
        storage.finish(&s.log, log, true);
    }
    Ok(Some(Coordinated { records, log_bytes, end_ms, converged, partial, queries, log_storage }))
}

/// Runs `scenario` on the wall clock, with its log in `work_dir/log` and the architectures'
/// own files under `work_dir`. `on_started` is called once the run is under way and Ctrl-C is
/// handled (a caller can say so); `progress(t, horizon)` as time passes.
pub fn run_realtime(
    scenario: &Scenario,
    work_dir: &std::path::Path,
    build: &BuildFn<'_>,
    on_started: &mut dyn FnMut(),
    progress: &mut dyn FnMut(TimestampMs, TimestampMs),
) -> Result<RunResult, RealtimeError> {
    let started = Instant::now();
    // Segments roll by time so the streaming lake has closed segments to tier. No fsync per
    // append, like Kafka's default (durability comes from replication there): a realtime run
    // measures the architectures, not the disk.
    let mut config = LogConfig {
        fsync: FsyncPolicy::Never,
        segment_bytes: 64 * 1024 * 1024,
        segment_ms: Some(scenario.lake.segment_ms),
        ..LogConfig::default()
    };
    // Counted here, generated again as the producer sends them: a long run never holds its
    // whole workload in memory (32 minutes at 300 events/s would be ~170 MB of events).
    let (event_count, out_of_order_events) =
        workload::tally(&scenario.workload, scenario.seed, scenario.duration_ms);
    crate::driver::apply_log_spec(&mut config, &scenario.log, work_dir)?;
    let tick_ms =
        [scenario.speed.poll_interval_ms, scenario.sample_every_ms, scenario.batch.interval_ms]
            .into_iter()
            .fold(100, crate::driver::gcd)
            .max(10);
    // Three batch cycles after the workload for everything to settle (a job that starts after
    // the last event, and a retry after a failure), and at least ten seconds: real jobs take
    // real time, longer on a busy machine. The drain ends as soon as everything is quiescent.
    let horizon_ms = scenario.duration_ms
        + (3 * (scenario.batch.interval_ms + scenario.speed.poll_interval_ms)).max(10_000);

    // Connect first: a broker that is not there is an error before anything starts. This
    // (re)creates the topic, so offsets start at 0.
    let kafka = match scenario.log.backend.as_str() {
        "kafka" => Some(KafkaFeed::connect(kafka_config(scenario)).map_err(kafka_err)?),
        _ => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("workbench-rt")
        .enable_all()
        .build()
        .map_err(RealtimeError::Runtime)?;

    // The clock starts when the log opens: append times and event times share its origin.
    let clock = ElapsedClock::start();
    let mut log =
        Log::open(work_dir.join("log"), config, Arc::new(clock)).map_err(ArchError::from)?;
    log.create_topic(EVENTS_TOPIC, scenario.workload.partitions).map_err(ArchError::from)?;
    let log = Arc::new(log);

    let queries = Arc::new(QuerySet::from_scenario(scenario));
    let ctx = ArchContext {
        scenario,
        queries: queries.clone(),
        topic: EVENTS_TOPIC,
        work_dir,
        timing: Timing::Measured(log.clone()),
        column_cache: Default::default(),
    };
    let mut archs = Vec::new();
    for id in &scenario.architectures {
        if let Some(a) = build(id, &ctx, &log) {
            archs.push(a?);
        }
    }
    let mut oracle = Oracle::new(&log, EVENTS_TOPIC, &queries)?;
    if scenario.log.maintained() {
        // Retention, compaction or a remote tier: the log may not hold (or cheaply serve) the
        // whole history when a logic change needs it again.
        oracle.keep_history();
    }
    let stalls: Vec<(TimestampMs, TimestampMs)> = scenario
        .faults
        .iter()
        .filter_map(|f| match f {
            Fault::ProducerStall { at_ms, duration_ms } => Some((*at_ms, at_ms + duration_ms)),
            _ => None,
        })
        .collect();

    let mut interrupt =
        runtime.block_on(async { Interrupt::install() }).map_err(RealtimeError::Runtime)?;
    let mut commands = Vec::new();
    let mut threads = Vec::new();
    for arch in archs {
        let (tx, rx) = mpsc::channel();
        let log = log.clone();
        let name = format!("arch-{}", arch.id());
        let tick = Duration::from_millis(tick_ms as u64);
        let thread = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || run_architecture(arch, &log, clock, tick, &rx))
            .map_err(RealtimeError::Runtime)?;
        commands.push(tx);
        threads.push((name, thread));
    }
    let workers = Workers { commands };
    let produced = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicBool::new(false));
    let (sink, kafka_thread) = match kafka {
        Some(feed) => {
            let (tx, rx) = mpsc::channel();
            let (log, fetched, failed) = (log.clone(), produced.clone(), failed.clone());
            let thread = std::thread::Builder::new()
                .name("kafka-feed".into())
                .spawn(move || {
                    let result = run_kafka_feed(feed, &log, clock, &rx, &fetched);
                    if result.is_err() {
                        failed.store(true, Ordering::Release);
                    }
                    result
                })
                .map_err(RealtimeError::Runtime)?;
            (Sink::Kafka(tx), Some(thread))
        }
        // Linger 0: the producer wakes when the next event is due and sends what is due then.
        None => (
            Sink::Local(Producer::new(ProducerConfig { linger_ms: 0, max_batch_bytes: 64 * 1024 })),
            None,
        ),
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let plan = Plan { scenario, clock, tick_ms, horizon_ms, events: event_count as usize };

    on_started();
    let coordinated = runtime.block_on(async {
        let events = workload::events(&scenario.workload, scenario.seed, scenario.duration_ms);
        let producing =
            produce(log.clone(), clock, events, stalls, produced.clone(), sink, stop_rx);
        let producer_failed = failed.clone();
        let producer = tokio::spawn(async move {
            let result = producing.await;
            if result.is_err() {
                producer_failed.store(true, Ordering::Release);
            }
            result
        });
        let outcome = coordinate(
            &plan,
            &log,
            &workers,
            &mut oracle,
            queries,
            &produced,
            &failed,
            &mut interrupt,
            progress,
        )
        .await;
        // Stop producing (a no-op when it is done), then see how it ended.
        let _ = stop_tx.send(true);
        let produced = match producer.await {
            Ok(result) => result.map_err(RealtimeError::from),
            Err(e) => Err(RealtimeError::Panicked(format!("producer ({e})"))),
        };
        (outcome, produced)
    });
    // Dropping the senders stops every architecture's thread; join them all before deciding
    // which error to report, so none is left running.
    drop(workers);
    let mut finished = Vec::new();
    let mut first_error: Option<RealtimeError> = None;
    for (name, thread) in threads {
        match thread.join() {
            Ok(Ok(f)) => finished.push(f),
            Ok(Err(e)) => {
                first_error.get_or_insert(e.into());
            }
            Err(_) => {
                first_error.get_or_insert(RealtimeError::Panicked(name));
            }
        }
    }
    // The producer has hung up, so the feed drains what it was sent and stops; join it before
    // any error is returned, so it is not left running.
    let kafka: Result<Option<KafkaStats>, RealtimeError> = match kafka_thread {
        Some(thread) => match thread.join() {
            Ok(result) => result.map(Some).map_err(RealtimeError::from),
            Err(_) => Err(RealtimeError::Panicked("the Kafka feed".into())),
        },
        None => Ok(None),
    };
    let (outcome, produced_result) = coordinated;
    if let Some(e) = first_error {
        return Err(e);
    }
    produced_result?;
    let kafka = kafka?;
    let Some(c) = outcome? else {
        return Err(RealtimeError::Panicked("an architecture thread".into()));
    };

    oracle.catch_up(&log)?;
    let mut records = c.records;
    crate::driver::feed_trackers(&mut oracle, &mut records);
    oracle.expire(c.end_ms);
    let exact = oracle.table();
    let mut architectures = Vec::new();
    for (mut record, mut f) in records.into_iter().zip(finished) {
        record.tracker.record(&f.visibility);
        record.wall += f.wall;
        let final_view =
            crate::driver::live_answers(f.arch.query(c.end_ms, &log)?, &c.queries, c.end_ms);
        architectures.push(record.finish(f.arch.as_ref(), final_view, &exact, &c.queries));
    }
    Ok(RunResult {
        events: oracle.events(),
        records: oracle.len(),
        out_of_order_events,
        end_ms: c.end_ms,
        tick_ms,
        converged: c.converged,
        oracle_final: exact,
        queries: c.queries,
        log_bytes: c.log_bytes,
        wall_ms: started.elapsed().as_secs_f64() * 1000.0,
        architectures,
        clock: RunClock::Realtime,
        partial: c.partial,
        // Refused for realtime runs (scenario validation).
        cluster: None,
        kafka,
        disk_full: None,
        consumer_group: None,
        log_storage: c.log_storage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stalled_events_are_released_when_the_stall_ends() {
        let stalls = [(1_000, 1_500), (4_000, 4_001)];
        assert_eq!(release_ms(999, &stalls), 999);
        assert_eq!(release_ms(1_000, &stalls), 1_500);
        assert_eq!(release_ms(1_499, &stalls), 1_500);
        assert_eq!(release_ms(1_500, &stalls), 1_500);
        assert_eq!(release_ms(4_000, &stalls), 4_001);
        assert_eq!(release_ms(4_001, &stalls), 4_001);
    }
}
