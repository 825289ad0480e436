//! A batching producer: records wait up to `linger_ms` or until `max_batch_bytes`, then go to
//! the log as one batch per partition.

use super::batch::{self, EncodedBatch};
use super::error::Result;
use super::topic::TopicId;
use super::{Header, Log, Offset, Record, TimestampMs, Topic};

/// Producer settings (Kafka's `linger.ms` and `batch.size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerConfig {
    /// How long a record may wait for its batch to fill (default 5 ms).
    pub linger_ms: i64,
    /// A batch is sent when it reaches this many bytes (default 16 KiB).
    pub max_batch_bytes: usize,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig { linger_ms: 5, max_batch_bytes: 16 * 1024 }
    }
}

/// A batch acknowledged by the log: durable as the log's fsync policy promises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// Offset of the batch's first record.
    pub base_offset: Offset,
    /// Records in the batch.
    pub record_count: u32,
}

/// Records waiting for one partition, already encoded as the batch they will make.
#[derive(Debug)]
struct Pending {
    batch: EncodedBatch,
    /// Clock reading when the oldest record was buffered.
    since_ms: TimestampMs,
}

/// A batch appended whose fsync has not been seen to succeed yet (see
/// [`Producer::in_flight`]).
#[derive(Debug)]
struct InFlight {
    topic: usize,
    partition: u32,
    batch: EncodedBatch,
    base_offset: Offset,
}

/// The pending batches of one topic, by partition.
#[derive(Debug)]
struct TopicSlots {
    name: String,
    /// The topic in the log last sent to: found again by index, not by name (a map search per
    /// send was ~15% of a 100-byte send's instructions). Resolved again by name when the
    /// producer is used with another log (one reopened, say, where the topic may be gone or
    /// recreated), as the id names the log it came from.
    id: TopicId,
    slots: Vec<Option<Pending>>,
}

impl TopicSlots {
    /// The topic in `log`: by the id resolved before when it is `log`'s, else by name.
    #[inline]
    fn topic<'l>(&mut self, log: &'l Log) -> Result<&'l Topic> {
        if let Some(topic) = log.topic_by_id(self.id) {
            return Ok(topic);
        }
        let (id, topic) = log.resolve_topic(&self.name)?;
        self.id = id;
        Ok(topic)
    }
}

/// Buffers records per partition and appends them in batches.
///
/// The per-record path allocates nothing of its own: records are encoded into their batch's
/// buffer as they are sent (the batch is written from that buffer), buffers of sent batches are
/// reused, a send finds its topic's pending batches with one comparison of the topic name (one
/// binary search when it changes) and the topic in the log by an index resolved once, and
/// lingering batches are looked for only once the earliest
/// linger deadline has passed. [`Producer::send_bytes`] takes the record's bytes borrowed, so a
/// client need not allocate a [`Record`] per send either.
#[derive(Debug)]
pub struct Producer {
    config: ProducerConfig,
    /// Per topic, sorted by name (so batches go out in a deterministic order), per partition.
    pending: Vec<TopicSlots>,
    /// The index in `pending` of the topic of the last send (records usually come in runs).
    last_topic: usize,
    /// When the oldest pending batch has lingered long enough (`None`: nothing pending).
    next_due_ms: Option<TimestampMs>,
    /// Buffers of sent batches, for the next ones.
    spare: Vec<EncodedBatch>,
    /// Whether a batch may be in flight (see [`Producer::in_flight`]).
    behind: bool,
    /// Batches appended whose fsync has not been seen to succeed, in append order (several
    /// per partition, up to [`MAX_IN_FLIGHT_BYTES`]).
    in_flight: Vec<InFlight>,
    /// Sends since the linger check last read the clock precisely (see
    /// [`Producer::linger_passed`]).
    sends_since_precise: u32,
}

/// A send's linger check reads the clock precisely once in this many sends (in between, the
/// clock's coarse reading): a fast sender's lingering batch is found due within this many
/// sends, not a whole timer tick late.
const PRECISE_EVERY: u32 = 64;

/// Buffers kept for reuse: one per partition being filled is plenty.
const SPARE_BATCHES: usize = 8;

/// Bytes of batches a partition may have in flight (written, waiting for an fsync) before a
/// send waits for them: the producer keeps them to send again if their fsync fails, so this
/// bounds its memory, as Kafka's `buffer.memory` does.
const MAX_IN_FLIGHT_BYTES: usize = 16 << 20;

impl Producer {
    /// A producer with `config`.
    pub fn new(config: ProducerConfig) -> Self {
        Producer {
            config,
            pending: Vec::new(),
            last_topic: 0,
            next_due_ms: None,
            spare: Vec::new(),
            behind: false,
            in_flight: Vec::new(),
            sends_since_precise: 0,
        }
    }

    /// The same producer with group commit under `FsyncPolicy::Always`: a full (or lingered)
    /// batch is written at once and the producer goes on, while fsyncs run on the partition's
    /// sync thread — each covering every batch written before it started, so under a steady
    /// stream one fsync covers the batches written while the previous one ran (see
    /// `Partition::append_encoded_behind`). The disk and the CPU work at the same time instead
    /// of in turn, and there are fewer fsyncs than batches. The durability contract is
    /// unchanged — **an acknowledged batch was fsynced** — but acks come later: batches in
    /// flight are acknowledged, in order, by a later send to their partition or by
    /// [`Producer::poll`] once an fsync covering them has succeeded, and by
    /// [`Producer::flush`], which waits for all of them. Until then readers do not see them
    /// (the partition's log end stops at the last synced offset), so no one reads a record
    /// whose fsync may still fail. If an fsync fails, no batch it should have covered is
    /// acknowledged: the records of every batch in flight on that partition go back, in order,
    /// in front of its buffered records, and the error is returned (the segment is poisoned
    /// until the log is reopened, as with a synchronous fsync). A partition holds at most
    /// 16 MiB of batches in flight; beyond that a send waits for their fsyncs. Under the other
    /// fsync policies this changes nothing.
    pub fn in_flight(mut self) -> Self {
        self.behind = true;
        self
    }

    /// Buffers `record` for `topic` (partition chosen by the topic's partitioner); sends any batch
    /// that is full or has lingered long enough. Returns the acks of batches sent by this call
    /// and the partition the record went to.
    pub fn send(&mut self, log: &Log, topic: &str, record: Record) -> Result<(u32, Vec<Ack>)> {
        self.send_parts(
            log,
            topic,
            record.key.as_deref(),
            &record.value,
            record.timestamp_ms,
            &record.headers,
        )
    }

    /// [`Producer::send`] of a record without headers given by its borrowed bytes: they are
    /// copied once, into the batch buffer, and nothing is allocated per record (the path for
    /// small records, where a `Record`'s two allocations cost as much as the copy).
    pub fn send_bytes(
        &mut self,
        log: &Log,
        topic: &str,
        key: Option<&[u8]>,
        value: &[u8],
        timestamp_ms: TimestampMs,
    ) -> Result<(u32, Vec<Ack>)> {
        self.send_parts(log, topic, key, value, timestamp_ms, &[])
    }

    fn send_parts(
        &mut self,
        log: &Log,
        topic: &str,
        key: Option<&[u8]>,
        value: &[u8],
        timestamp_ms: TimestampMs,
        headers: &[Header],
    ) -> Result<(u32, Vec<Ack>)> {
        let t = self.topic_index(log, topic)?;
        let partition = self.pending[t].topic(log)?.partition_for(key);
        let size = batch::parts_encoded_len(key, value, headers);
        let max = self.config.max_batch_bytes;
        let mut acks = Vec::new();
        let i = partition as usize;
        match self.pending[t].slots.get_mut(i) {
            // The common case, one lookup: a batch with room for the record, still short of
            // full after it (so nothing is sent).
            Some(Some(p)) if p.batch.len_bytes() + size < max => {
                p.batch.push_parts_sized(size, key, value, timestamp_ms, headers)?;
            }
            _ => self.buffer_slow(
                log,
                t,
                partition,
                size,
                key,
                value,
                timestamp_ms,
                headers,
                &mut acks,
            )?,
        }
        if let Some(due) = self.next_due_ms
            && self.linger_passed(log, due)
        {
            acks.extend(self.poll(log)?);
        }
        Ok((partition, acks))
    }

    /// [`Producer::send_parts`] when the partition has no batch yet, or the record fills or
    /// overflows it: sends what must go first, starts a batch, buffers the record, sends the
    /// batch if full.
    #[allow(clippy::too_many_arguments)]
    fn buffer_slow(
        &mut self,
        log: &Log,
        t: usize,
        partition: u32,
        size: usize,
        key: Option<&[u8]>,
        value: &[u8],
        timestamp_ms: TimestampMs,
        headers: &[Header],
        acks: &mut Vec<Ack>,
    ) -> Result<()> {
        let max = self.config.max_batch_bytes;
        let i = partition as usize;
        if self.pending[t].slots.len() <= i {
            self.pending[t].slots.resize_with(i + 1, || None);
        }
        // Send what is buffered first if this record would overflow the batch.
        if self.pending[t].slots[i].as_ref().is_some_and(|p| p.batch.len_bytes() + size > max) {
            self.send_one(log, t, partition, acks)?;
        }
        if self.pending[t].slots[i].is_none() {
            // A precise reading once per batch: its linger is counted from here.
            let now = log.clock().now_ms();
            let batch = self.fresh_batch(size);
            self.pending[t].slots[i] = Some(Pending { batch, since_ms: now });
            let due = now.saturating_add(self.config.linger_ms);
            self.next_due_ms = Some(self.next_due_ms.map_or(due, |d| d.min(due)));
        }
        let full = match &mut self.pending[t].slots[i] {
            Some(p) => {
                p.batch.push_parts_sized(size, key, value, timestamp_ms, headers)?;
                p.batch.len_bytes() >= max
            }
            None => false,
        };
        if full {
            self.send_one(log, t, partition, acks)?;
        }
        Ok(())
    }

    /// Whether the clock has reached `due`, by the clock's coarse reading (never ahead of the
    /// precise one, see [`Clock::coarse_now_ms`]) and a precise one every
    /// [`PRECISE_EVERY`] sends. A send needs to know only whether the earliest linger deadline
    /// has passed, and a precise reading per send was a fifth of a 100-byte send's CPU. So a
    /// lingering batch goes out at most one timer tick late for a slow sender and within
    /// [`PRECISE_EVERY`] sends for a fast one; never early. A clock without a cheaper reading
    /// (manual, simulated) answers exactly at every send, as before.
    ///
    /// [`Clock::coarse_now_ms`]: super::Clock::coarse_now_ms
    #[inline]
    fn linger_passed(&mut self, log: &Log, due: TimestampMs) -> bool {
        let clock = log.clock();
        if clock.coarse_now_ms() >= due {
            return true;
        }
        self.sends_since_precise += 1;
        if self.sends_since_precise < PRECISE_EVERY {
            return false;
        }
        self.sends_since_precise = 0;
        clock.now_ms() >= due
    }

    /// The index of `topic` in `pending`, added (in name order) if missing — only if `log`
    /// has it, so a send to an unknown topic leaves nothing behind.
    #[inline]
    fn topic_index(&mut self, log: &Log, topic: &str) -> Result<usize> {
        if self.pending.get(self.last_topic).is_some_and(|t| t.name == topic) {
            return Ok(self.last_topic);
        }
        let i = match self.pending.binary_search_by(|t| t.name.as_str().cmp(topic)) {
            Ok(i) => i,
            Err(i) => {
                let (id, _) = log.resolve_topic(topic)?;
                let slots = TopicSlots { name: topic.to_owned(), id, slots: Vec::new() };
                self.pending.insert(i, slots);
                i
            }
        };
        self.last_topic = i;
        Ok(i)
    }

    /// An empty batch, reusing the buffer of a sent one when there is one.
    fn fresh_batch(&mut self, first_record: usize) -> EncodedBatch {
        match self.spare.pop() {
            Some(mut b) => {
                b.clear();
                b
            }
            // Room for a full batch up front (capped: a huge `max_batch_bytes` grows as needed).
            None => EncodedBatch::with_capacity(
                self.config.max_batch_bytes.min(1 << 20).max(batch::BATCH_OVERHEAD + first_record),
            ),
        }
    }

    /// Sends batches that have lingered `linger_ms` by the log's clock. With batches in flight
    /// (see [`Producer::in_flight`]) it never waits for a disk: batches whose fsync has finished
    /// are acknowledged, and a lingering batch of a partition whose previous batch is still
    /// syncing keeps filling until that one is done (as Kafka's producer does when a
    /// connection has its maximum of requests in flight), rather than going out as a tiny
    /// batch that costs a whole fsync.
    pub fn poll(&mut self, log: &Log) -> Result<Vec<Ack>> {
        let now = log.clock().now_ms();
        let linger = self.config.linger_ms;
        let mut acks = Vec::new();
        self.collect_all(log, false, &mut acks)?;
        let busy: Vec<(usize, u32)> =
            self.in_flight.iter().map(|f| (f.topic, f.partition)).collect();
        let more = self.send_where(log, |t, partition, p| {
            now.saturating_sub(p.since_ms) >= linger && !busy.contains(&(t, partition))
        })?;
        acks.extend(more);
        if !busy.is_empty() && self.next_due_ms.is_some_and(|due| due <= now) {
            // A due batch waits for its partition's fsync: look again a millisecond later,
            // not at every send.
            self.next_due_ms = Some(now.saturating_add(1));
        }
        Ok(acks)
    }

    /// Sends every buffered record now, and waits for every batch in flight: when it returns
    /// `Ok`, everything sent is acknowledged.
    pub fn flush(&mut self, log: &Log) -> Result<Vec<Ack>> {
        let mut acks = self.send_where(log, |_, _, _| true)?;
        self.collect_all(log, true, &mut acks)?;
        Ok(acks)
    }

    /// [`Producer::collect`] for every partition with batches in flight, in (topic,
    /// partition) order.
    fn collect_all(&mut self, log: &Log, wait: bool, acks: &mut Vec<Ack>) -> Result<()> {
        let mut parts: Vec<(usize, u32)> =
            self.in_flight.iter().map(|f| (f.topic, f.partition)).collect();
        parts.sort_unstable();
        parts.dedup();
        for (t, partition) in parts {
            self.collect(log, t, partition, wait, acks)?;
        }
        Ok(())
    }

    /// Acknowledges the batches of topic `t`, `partition` in flight that an fsync has made
    /// durable — all of them, waiting as needed, when `wait`. If an fsync failed (here, or
    /// as seen by another appending call), none of them is acknowledged: their records go
    /// back, in order, in front of that partition's buffered records, and the error is
    /// returned.
    fn collect(
        &mut self,
        log: &Log,
        t: usize,
        partition: u32,
        wait: bool,
        acks: &mut Vec<Ack>,
    ) -> Result<()> {
        if !self.in_flight.iter().any(|f| f.topic == t && f.partition == partition) {
            return Ok(());
        }
        let durable = self.pending[t].topic(log).and_then(|tp| tp.partition(partition));
        let topic = self.pending[t].name.as_str();
        let durable = durable.and_then(|p| {
            if wait { p.settle().map(|()| Offset::MAX) } else { p.progress_for_ack() }
        });
        match durable {
            Ok(durable) => {
                // In flight in append order: the durable ones are a prefix per partition.
                let mut i = 0;
                while i < self.in_flight.len() {
                    let f = &self.in_flight[i];
                    let end = f.base_offset + u64::from(f.batch.record_count());
                    if f.topic != t || f.partition != partition || end > durable {
                        i += 1;
                        continue;
                    }
                    let f = self.in_flight.remove(i);
                    acks.push(Ack {
                        topic: topic.to_owned(),
                        partition,
                        base_offset: f.base_offset,
                        record_count: f.batch.record_count(),
                    });
                    if self.spare.len() < SPARE_BATCHES {
                        self.spare.push(f.batch);
                    }
                }
                Ok(())
            }
            Err(e) => {
                let (failed, kept): (Vec<InFlight>, Vec<InFlight>) =
                    std::mem::take(&mut self.in_flight)
                        .into_iter()
                        .partition(|f| f.topic == t && f.partition == partition);
                self.in_flight = kept;
                // Newest first, each in front of what is already there: the oldest ends first.
                let slot = &mut self.pending[t].slots[partition as usize];
                for f in failed.into_iter().rev() {
                    match slot {
                        Some(p) => p.batch.prepend(&f.batch),
                        None => {
                            // `since_ms` of the failed batch is lost; it is due at once.
                            *slot = Some(Pending { batch: f.batch, since_ms: i64::MIN });
                            self.next_due_ms = Some(i64::MIN);
                        }
                    }
                }
                Err(e)
            }
        }
    }

    /// Bytes of the batches of topic `t`, `partition` in flight.
    fn in_flight_bytes(&self, t: usize, partition: u32) -> usize {
        self.in_flight
            .iter()
            .filter(|f| f.topic == t && f.partition == partition)
            .map(|f| f.batch.len_bytes())
            .sum()
    }

    /// Records buffered and not yet acknowledged.
    pub fn pending_records(&self) -> usize {
        let buffered: usize = self
            .pending
            .iter()
            .flat_map(|t| t.slots.iter().flatten())
            .map(|p| p.batch.record_count() as usize)
            .sum();
        buffered + self.in_flight.iter().map(|f| f.batch.record_count() as usize).sum::<usize>()
    }

    /// Sends, in (topic, partition) order, every pending batch `due` picks. On an error the
    /// batches not yet sent stay buffered.
    fn send_where(
        &mut self,
        log: &Log,
        due: impl Fn(usize, u32, &Pending) -> bool,
    ) -> Result<Vec<Ack>> {
        let due = &due;
        let picked: Vec<(usize, u32)> = self
            .pending
            .iter()
            .enumerate()
            .flat_map(|(t, slots)| {
                slots.slots.iter().enumerate().filter_map(move |(i, p)| {
                    p.as_ref().filter(|p| due(t, i as u32, p)).map(|_| (t, i as u32))
                })
            })
            .collect();
        let mut acks = Vec::new();
        for (t, partition) in picked {
            self.send_one(log, t, partition, &mut acks)?;
        }
        Ok(acks)
    }

    /// Appends the buffered records of topic `t` (index in `pending`), `partition` as a batch;
    /// its ack (and that of the partition's batch in flight, settled first) go to `acks`. On
    /// failure the records stay buffered, so nothing unacknowledged is silently dropped.
    fn send_one(&mut self, log: &Log, t: usize, partition: u32, acks: &mut Vec<Ack>) -> Result<()> {
        // Acknowledge what earlier fsyncs made durable — waiting for them when this partition
        // has too much in flight (bounded memory). Before the append, so a batch is never
        // acknowledged by the call that writes it (its fsync cannot have run yet).
        let wait = self.in_flight_bytes(t, partition) >= MAX_IN_FLIGHT_BYTES;
        self.collect(log, t, partition, wait, acks)?;
        let slot = &mut self.pending[t].slots[partition as usize];
        let Some(mut p) = slot.take() else { return Ok(()) };
        if p.batch.is_empty() {
            // Left by a record refused as too large: nothing to send or acknowledge.
            self.spare.push(p.batch);
            return Ok(());
        }
        let behind = self.behind;
        let result = self.pending[t].topic(log).and_then(|tp| tp.partition(partition));
        let topic = self.pending[t].name.as_str();
        let result = result.and_then(|part| {
            if behind {
                part.append_encoded_behind(&mut p.batch)
            } else {
                part.append_encoded(&mut p.batch).map(|base| (base, false))
            }
        });
        let out = match result {
            Ok((base_offset, true)) => {
                self.in_flight.push(InFlight { topic: t, partition, batch: p.batch, base_offset });
                Ok(())
            }
            Ok((base_offset, false)) => {
                acks.push(Ack {
                    topic: topic.to_owned(),
                    partition,
                    base_offset,
                    record_count: p.batch.record_count(),
                });
                if self.spare.len() < SPARE_BATCHES {
                    self.spare.push(p.batch);
                }
                Ok(())
            }
            Err(e) => {
                self.pending[t].slots[partition as usize] = Some(p);
                // The failure may be an earlier batch's fsync, found by this append (then the
                // segment is poisoned and those batches were cut away): settle the batches in
                // flight now — acknowledged if durable, else back in front of this one — so
                // none is left to be taken as durable later.
                let _ = self.collect(log, t, partition, true, acks);
                Err(e)
            }
        };
        self.next_due_ms = self
            .pending
            .iter()
            .flat_map(|t| t.slots.iter().flatten())
            .map(|p| p.since_ms.saturating_add(self.config.linger_ms))
            .min();
        out
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::log::{LogConfig, ManualClock};

    #[test]
    fn linger_and_max_bytes_with_manual_clock() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(0));
        let mut log = Log::open(dir.path(), LogConfig::default(), clock.clone()).unwrap();
        log.create_topic("t", 1).unwrap();
        let mut prod = Producer::new(ProducerConfig { linger_ms: 10, max_batch_bytes: 300 });
        let (p, acks) = prod.send(&log, "t", Record::new(vec![0; 50], 1)).unwrap();
        assert_eq!(p, 0);
        assert!(acks.is_empty());
        clock.advance(9);
        assert!(prod.poll(&log).unwrap().is_empty());
        assert_eq!(prod.pending_records(), 1);
        clock.advance(1);
        let acks = prod.poll(&log).unwrap();
        assert_eq!(acks.len(), 1);
        assert_eq!((acks[0].base_offset, acks[0].record_count), (0, 1));
        assert_eq!(prod.pending_records(), 0);

        // ~70 bytes per record: the fourth would overflow 300 bytes and sends the first three.
        let mut acks = Vec::new();
        for i in 0..4 {
            acks.extend(prod.send(&log, "t", Record::new(vec![0; 50], i)).unwrap().1);
        }
        assert_eq!(acks.len(), 1);
        assert_eq!((acks[0].base_offset, acks[0].record_count), (1, 3));
        assert_eq!(prod.pending_records(), 1);
        let acks = prod.flush(&log).unwrap();
        assert_eq!((acks[0].base_offset, acks[0].record_count), (4, 1));
        let p = log.topic("t").unwrap().partition(0).unwrap();
        assert_eq!(p.log_end_offset(), 5);
        assert!(matches!(
            prod.send(&log, "nope", Record::new("x", 0)),
            Err(crate::log::LogError::UnknownTopic(_))
        ));
    }

    #[test]
    fn a_topic_resolved_in_one_log_is_resolved_again_in_another() {
        let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let clock = Arc::new(ManualClock::new(0));
        let mut a = Log::open(d1.path(), LogConfig::default(), clock.clone()).unwrap();
        a.create_topic("t", 1).unwrap();
        // In `b`, "t" is the second topic and has 4 partitions; the first, "s", has one. An id
        // resolved in `a` (first topic) taken for `b`'s would send to "s", partition 0.
        let mut b = Log::open(d2.path(), LogConfig::default(), clock).unwrap();
        b.create_topic("s", 1).unwrap();
        b.create_topic("t", 4).unwrap();
        let key = (0u8..).map(|k| [k]).find(|k| crate::log::partition_for_key(k, 4) != 0).unwrap();
        let mut prod = Producer::new(ProducerConfig { linger_ms: 10, max_batch_bytes: 1 << 20 });
        assert_eq!(prod.send_bytes(&a, "t", Some(&key), b"v", 0).unwrap().0, 0);
        prod.flush(&a).unwrap();
        let (p, _) = prod.send_bytes(&b, "t", Some(&key), b"v", 1).unwrap();
        assert_eq!(p, crate::log::partition_for_key(&key, 4));
        prod.flush(&b).unwrap();
        assert_eq!(b.topic("t").unwrap().partition(p).unwrap().log_end_offset(), 1);
        assert_eq!(b.topic("s").unwrap().partition(0).unwrap().log_end_offset(), 0);
        assert_eq!(a.topic("t").unwrap().partition(0).unwrap().log_end_offset(), 1);
        // And back to `a`, whose "t" has one partition.
        assert_eq!(prod.send_bytes(&a, "t", Some(&key), b"v", 2).unwrap().0, 0);
        prod.flush(&a).unwrap();
        assert_eq!(a.topic("t").unwrap().partition(0).unwrap().log_end_offset(), 2);
        // A topic `b` does not have: the same error as before, and nothing kept for it.
        assert!(matches!(
            prod.send_bytes(&b, "nope", None, b"v", 3),
            Err(crate::log::LogError::UnknownTopic(_))
        ));
        assert_eq!(prod.pending.len(), 1);
        assert_eq!(prod.pending_records(), 0);
    }

    /// A clock whose coarse reading is set apart from its precise one, as a real coarse clock
    /// lags by up to a tick.
    #[derive(Debug, Default)]
    struct LaggingClock {
        precise: std::sync::atomic::AtomicI64,
        coarse: std::sync::atomic::AtomicI64,
    }

    impl LaggingClock {
        fn set(&self, precise: TimestampMs, coarse: TimestampMs) {
            self.precise.store(precise, std::sync::atomic::Ordering::SeqCst);
            self.coarse.store(coarse, std::sync::atomic::Ordering::SeqCst);
        }
    }

    impl crate::log::Clock for LaggingClock {
        fn now_ms(&self) -> TimestampMs {
            self.precise.load(std::sync::atomic::Ordering::SeqCst)
        }
        fn coarse_now_ms(&self) -> TimestampMs {
            self.coarse.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    #[test]
    fn linger_is_found_by_the_coarse_clock_or_by_a_precise_reading_every_few_sends() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(LaggingClock::default());
        let mut log = Log::open(dir.path(), LogConfig::default(), clock.clone()).unwrap();
        log.create_topic("t", 1).unwrap();
        let mut prod = Producer::new(ProducerConfig { linger_ms: 10, max_batch_bytes: 1 << 20 });
        let send = |prod: &mut Producer, i: i64| prod.send_bytes(&log, "t", None, b"v", i);
        // The batch starts at 0 (a precise reading): due at 10.
        assert!(send(&mut prod, 0).unwrap().1.is_empty());
        // The precise clock passes the deadline, the coarse one lags: sends do not see it...
        clock.set(10, 5);
        for i in 1..PRECISE_EVERY - 1 {
            assert!(send(&mut prod, i64::from(i)).unwrap().1.is_empty(), "send {i}");
        }
        // ...until the precise reading every PRECISE_EVERY sends (the first send counted too).
        let acks = send(&mut prod, i64::from(PRECISE_EVERY)).unwrap().1;
        assert_eq!(acks.len(), 1);
        assert_eq!((acks[0].base_offset, acks[0].record_count), (0, PRECISE_EVERY));

        // A new batch at precise 10 (due at 20); a coarse reading at the deadline is enough.
        assert!(send(&mut prod, 0).unwrap().1.is_empty());
        clock.set(19, 19);
        assert!(send(&mut prod, 1).unwrap().1.is_empty());
        clock.set(21, 20);
        let acks = send(&mut prod, 2).unwrap().1;
        assert_eq!((acks[0].base_offset, acks[0].record_count), (u64::from(PRECISE_EVERY), 3));
        assert_eq!(prod.pending_records(), 0);
    }

    fn always_log(dir: &std::path::Path, storage: Option<&crate::log::FaultyStorage>) -> Log {
        let mut config =
            LogConfig { fsync: crate::log::FsyncPolicy::Always, ..LogConfig::default() };
        if let Some(s) = storage {
            config.storage = Arc::new(s.clone());
        }
        let mut log = Log::open(dir, config, Arc::new(ManualClock::new(0))).unwrap();
        log.create_topic("t", 1).unwrap();
        log
    }

    #[test]
    fn a_batch_in_flight_is_invisible_until_its_fsync_is_settled() {
        let dir = tempfile::tempdir().unwrap();
        let log = always_log(dir.path(), None);
        let mut prod =
            Producer::new(ProducerConfig { linger_ms: 10, max_batch_bytes: 300 }).in_flight();
        let mut acks = Vec::new();
        for i in 0..4 {
            acks.extend(prod.send(&log, "t", Record::new(vec![0; 50], i)).unwrap().1);
        }
        // The first three went out as a batch whose fsync runs behind: not acknowledged, not
        // visible (the log end, reads and time lookups all stop before it).
        assert!(acks.is_empty());
        assert_eq!(prod.pending_records(), 4);
        let p = log.topic("t").unwrap().partition(0).unwrap();
        assert_eq!(p.log_end_offset(), 0);
        assert!(p.read(0, 10).unwrap().is_empty());
        assert_eq!(p.offset_for_time(0).unwrap(), None);
        // Flush settles it, then sends and settles the fourth record.
        let acks = prod.flush(&log).unwrap();
        let got: Vec<_> = acks.iter().map(|a| (a.base_offset, a.record_count)).collect();
        assert_eq!(got, vec![(0, 3), (3, 1)]);
        assert_eq!(prod.pending_records(), 0);
        assert_eq!(p.log_end_offset(), 4);
        let read = p.read(0, 10).unwrap();
        assert_eq!(read.iter().map(|r| r.record.timestamp_ms).collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert_eq!(p.offset_for_time(2).unwrap(), Some(2));
    }

    #[test]
    fn a_failed_fsync_in_flight_is_never_acknowledged_nor_served_and_keeps_its_records() {
        use crate::log::{FaultConfig, FaultyStorage};
        let dir = tempfile::tempdir().unwrap();
        let storage = FaultyStorage::new(FaultConfig::none(7));
        let log = always_log(dir.path(), Some(&storage));
        storage.set_config(FaultConfig { fsync_eio: 1.0, ..FaultConfig::none(7) });
        let mut prod =
            Producer::new(ProducerConfig { linger_ms: 10, max_batch_bytes: 300 }).in_flight();
        for i in 0..4 {
            assert!(prod.send(&log, "t", Record::new(vec![0; 50], i)).unwrap().1.is_empty());
        }
        let err = prod.flush(&log).unwrap_err();
        assert!(err.to_string().contains("fsync"), "{err}");
        // Nothing was acknowledged or became visible; the records are buffered again, the
        // failed batch in front of the record sent after it.
        assert_eq!(prod.pending_records(), 4);
        let p = log.topic("t").unwrap().partition(0).unwrap();
        assert_eq!(p.log_end_offset(), 0);
        assert!(p.read(0, 10).unwrap().is_empty());
        // The segment is poisoned (as after a synchronous failed fsync): no false success.
        storage.set_config(FaultConfig::none(7));
        assert!(prod.flush(&log).is_err());
        assert_eq!(prod.pending_records(), 4);
    }

    #[test]
    fn a_batch_in_flight_whose_fsync_another_call_found_failed_is_not_acknowledged() {
        use crate::log::{FaultConfig, FaultyStorage};
        let dir = tempfile::tempdir().unwrap();
        let storage = FaultyStorage::new(FaultConfig::none(9));
        let log = always_log(dir.path(), Some(&storage));
        storage.set_config(FaultConfig { fsync_eio: 1.0, ..FaultConfig::none(9) });
        let mut prod =
            Producer::new(ProducerConfig { linger_ms: 10, max_batch_bytes: 300 }).in_flight();
        for i in 0..4 {
            assert!(prod.send(&log, "t", Record::new(vec![0; 50], i)).unwrap().1.is_empty());
        }
        // Someone else's flush settles the batch in flight first and sees its fsync fail.
        let p = log.topic("t").unwrap().partition(0).unwrap();
        assert!(p.flush().is_err());
        storage.set_config(FaultConfig::none(9));
        // The producer must not take "nothing left to wait for" as success.
        assert!(prod.flush(&log).is_err());
        assert_eq!(prod.pending_records(), 4);
        assert_eq!(p.log_end_offset(), 0);
    }

    #[test]
    fn one_fsync_covers_every_batch_written_while_the_previous_one_ran() {
        use crate::log::{FaultConfig, FaultyStorage};
        let dir = tempfile::tempdir().unwrap();
        let storage = FaultyStorage::new(FaultConfig::none(3));
        let log = always_log(dir.path(), Some(&storage));
        let before = storage.successful_syncs();
        // The disk is "slow": the first batch's fsync cannot finish until released.
        storage.hold_syncs(true);
        let mut prod =
            Producer::new(ProducerConfig { linger_ms: 10, max_batch_bytes: 300 }).in_flight();
        let mut acks = Vec::new();
        // ~70 bytes per record, 3 records per batch: 13 sends write 4 batches.
        for i in 0..13 {
            acks.extend(prod.send(&log, "t", Record::new(vec![0; 50], i)).unwrap().1);
        }
        // Written without waiting for the held fsync, none acknowledged or visible.
        assert!(acks.is_empty());
        assert_eq!(prod.pending_records(), 13);
        let p = log.topic("t").unwrap().partition(0).unwrap();
        assert_eq!(p.log_end_offset(), 0);
        assert!(p.read(0, 100).unwrap().is_empty());
        storage.hold_syncs(false);
        let acks = prod.flush(&log).unwrap();
        let got: Vec<_> = acks.iter().map(|a| (a.base_offset, a.record_count)).collect();
        assert_eq!(got, vec![(0, 3), (3, 3), (6, 3), (9, 3), (12, 1)]);
        assert_eq!(p.log_end_offset(), 13);
        let read = p.read(0, 100).unwrap();
        assert_eq!(
            read.iter().map(|r| r.record.timestamp_ms).collect::<Vec<_>>(),
            (0..13).collect::<Vec<_>>()
        );
        // Five batches, but only two fsyncs: the held one (which, run late, may cover more)
        // and one for everything written after it started.
        let syncs = storage.successful_syncs() - before;
        assert!((1..=2).contains(&syncs), "{syncs} fsyncs for 5 batches");
    }

    #[test]
    fn a_failed_group_fsync_sends_back_every_batch_in_flight_in_order() {
        use crate::log::{FaultConfig, FaultyStorage};
        let dir = tempfile::tempdir().unwrap();
        let storage = FaultyStorage::new(FaultConfig::none(5));
        {
            let log = always_log(dir.path(), Some(&storage));
            storage.set_config(FaultConfig { fsync_eio: 1.0, ..FaultConfig::none(5) });
            storage.hold_syncs(true);
            let mut prod =
                Producer::new(ProducerConfig { linger_ms: 10, max_batch_bytes: 300 }).in_flight();
            for i in 0..10 {
                assert!(prod.send(&log, "t", Record::new(vec![0; 50], i)).unwrap().1.is_empty());
            }
            storage.hold_syncs(false);
            let err = prod.flush(&log).unwrap_err();
            assert!(err.to_string().contains("fsync"), "{err}");
            // Nothing acknowledged or served; all ten records buffered again.
            assert_eq!(prod.pending_records(), 10);
            let p = log.topic("t").unwrap().partition(0).unwrap();
            assert_eq!(p.log_end_offset(), 0);
            assert!(p.read(0, 100).unwrap().is_empty());
            // Reopened on a healthy disk, the same producer sends them again in order.
            drop(log);
            let log = always_log(dir.path(), None);
            let acks = prod.flush(&log).unwrap();
            assert_eq!(acks.iter().map(|a| a.record_count).sum::<u32>(), 10);
            let p = log.topic("t").unwrap().partition(0).unwrap();
            let read = p.read(0, 100).unwrap();
            let ts: Vec<_> = read.iter().map(|r| r.record.timestamp_ms).collect();
            assert_eq!(ts, (0..10).collect::<Vec<_>>());
        }
    }
}
