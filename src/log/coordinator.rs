//! Consumer groups with membership: Kafka's group coordinator, partition assignors, and a
//! group of members consuming a topic on the simulated clock.
//!
//! A **group coordinator** ([`GroupCoordinator`]) keeps the members of a group and which
//! partitions each owns. Every change of membership — a member joins, leaves, or is declared
//! dead when its session times out — starts a **rebalance**: the generation id goes up and an
//! **assignor** ([`Assignor`]) shares the partitions out again:
//!
//! - `range` (Kafka's `RangeAssignor`): members in id order take contiguous ranges, the first
//!   `partitions % members` one partition more;
//! - `round_robin`: partition `i` goes to the `i`-th member modulo the member count;
//! - `cooperative_sticky`: every member keeps what it owned as long as the shares stay
//!   balanced (within one); only the surplus moves.
//!
//! The first two run Kafka's *eager* protocol: every member gives up every partition, and no
//! partition is read until the rebalance ends. The sticky assignor runs the *cooperative*
//! protocol (KIP-429): only the partitions that change owner stop.
//!
//! A new owner resumes from the group's **committed offset** (`__consumer_offsets`), not from
//! where the old owner got to. A member that leaves gracefully commits first, so nothing is
//! read twice; a member that dies loses what it processed since its last commit, and its
//! successor processes those records again. [`GroupRun`] measures exactly that: every record
//! processed at an offset some member of the group had already processed is counted as
//! reprocessed, and the count is checked against the uncommitted window each dead member left
//! (`tests/scale_out.rs`). Commits carry the generation: a member fenced out by a rebalance
//! cannot overwrite its successor's offsets ([`GroupCoordinator::check_commit`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::Result;
use super::{Log, Offset, TimestampMs};

/// A member's id in its group (0-based, in joining order).
pub type MemberId = u32;

/// How a group shares partitions among its members.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Assignor {
    /// Contiguous ranges in member order (eager protocol).
    #[default]
    Range,
    /// Partition `i` to member `i mod n` (eager protocol).
    RoundRobin,
    /// Keep what each member owned while balanced; move only the surplus (cooperative
    /// protocol: only moved partitions pause).
    CooperativeSticky,
}

impl Assignor {
    /// Its name, as in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            Assignor::Range => "range",
            Assignor::RoundRobin => "round_robin",
            Assignor::CooperativeSticky => "cooperative_sticky",
        }
    }

    /// Whether a rebalance stops only the partitions that move (cooperative), not all (eager).
    pub fn cooperative(self) -> bool {
        self == Assignor::CooperativeSticky
    }

    /// Shares partitions `0..partitions` among `members` (ascending ids). `previous` is the
    /// last assignment (used by the sticky assignor). Every partition gets exactly one owner
    /// when there is at least one member; shares differ by at most one.
    pub fn assign(
        self,
        members: &[MemberId],
        partitions: u32,
        previous: &BTreeMap<MemberId, Vec<u32>>,
    ) -> BTreeMap<MemberId, Vec<u32>> {
        let mut out: BTreeMap<MemberId, Vec<u32>> =
            members.iter().map(|&m| (m, Vec::new())).collect();
        let n = members.len() as u32;
        if n == 0 {
            return BTreeMap::new();
        }
        match self {
            Assignor::Range => {
                let (base, extra) = (partitions / n, partitions % n);
                let mut next = 0;
                for (i, &m) in members.iter().enumerate() {
                    let take = base + u32::from((i as u32) < extra);
                    out.insert(m, (next..next + take).collect());
                    next += take;
                }
            }
            Assignor::RoundRobin => {
                for p in 0..partitions {
                    out.entry(members[(p % n) as usize]).or_default().push(p);
                }
            }
            Assignor::CooperativeSticky => {
                let (base, mut extra) = (partitions / n, partitions % n);
                let mut owned = vec![false; partitions as usize];
                // Keep up to `base` of what each member had, then one more for as many
                // members as the remainder allows.
                for &m in members {
                    let prev = previous.get(&m).map(Vec::as_slice).unwrap_or(&[]);
                    let kept: Vec<u32> = prev
                        .iter()
                        .copied()
                        .filter(|&p| p < partitions && !owned[p as usize])
                        .take(base as usize)
                        .collect();
                    for &p in &kept {
                        owned[p as usize] = true;
                    }
                    out.insert(m, kept);
                }
                for &m in members {
                    if extra == 0 {
                        break;
                    }
                    let prev = previous.get(&m).map(Vec::as_slice).unwrap_or(&[]);
                    if let Some(&p) = prev.iter().find(|&&p| p < partitions && !owned[p as usize]) {
                        owned[p as usize] = true;
                        out.entry(m).or_default().push(p);
                        extra -= 1;
                    }
                }
                // What is left goes to the members with the fewest, lowest id first.
                for p in (0..partitions).filter(|&p| !owned[p as usize]) {
                    let cap = |len: usize| len < (base + u32::from(extra > 0)) as usize;
                    let Some(&m) = members
                        .iter()
                        .filter(|m| cap(out[*m].len()))
                        .min_by_key(|&&m| (out[&m].len(), m))
                    else {
                        continue;
                    };
                    let share = out.entry(m).or_default();
                    share.push(p);
                    if share.len() as u32 > base {
                        extra -= 1;
                    }
                }
                for share in out.values_mut() {
                    share.sort_unstable();
                }
            }
        }
        out
    }
}

/// What one rebalance changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rebalance {
    /// The new generation id.
    pub generation: u32,
    /// Partitions whose owner changed: (partition, old owner, new owner).
    pub moved: Vec<(u32, Option<MemberId>, Option<MemberId>)>,
    /// Partitions that stop being read while the rebalance runs (all of them under the eager
    /// protocol, the moved ones under the cooperative one).
    pub paused: Vec<u32>,
}

/// A commit the coordinator refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    /// The member's generation is not the group's: a rebalance happened since it joined
    /// (Kafka's `ILLEGAL_GENERATION`), so its view of what it owns is stale.
    #[error("member {member}: generation {generation} is stale (group is at {current})")]
    Fenced {
        /// The member.
        member: MemberId,
        /// The generation it committed with.
        generation: u32,
        /// The group's generation.
        current: u32,
    },
    /// The member does not own the partition in this generation.
    #[error("member {member} does not own partition {partition}")]
    NotOwner {
        /// The member.
        member: MemberId,
        /// The partition.
        partition: u32,
    },
}

/// Membership, generation and assignment of one group over one topic.
#[derive(Debug, Clone)]
pub struct GroupCoordinator {
    assignor: Assignor,
    partitions: u32,
    members: Vec<MemberId>,
    generation: u32,
    assignment: BTreeMap<MemberId, Vec<u32>>,
}

impl GroupCoordinator {
    /// An empty group over a topic of `partitions` partitions (generation 0).
    pub fn new(partitions: u32, assignor: Assignor) -> Self {
        GroupCoordinator {
            assignor,
            partitions,
            members: Vec::new(),
            generation: 0,
            assignment: BTreeMap::new(),
        }
    }

    /// Current generation id (each rebalance adds one).
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Members, ascending.
    pub fn members(&self) -> &[MemberId] {
        &self.members
    }

    /// The assignor.
    pub fn assignor(&self) -> Assignor {
        self.assignor
    }

    /// Partitions `member` owns in this generation.
    pub fn owned(&self, member: MemberId) -> &[u32] {
        self.assignment.get(&member).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The owner of `partition`, if any.
    pub fn owner(&self, partition: u32) -> Option<MemberId> {
        self.assignment.iter().find(|(_, ps)| ps.contains(&partition)).map(|(&m, _)| m)
    }

    /// `member` joins (no-op rebalance if it already is a member).
    pub fn join(&mut self, member: MemberId) -> Rebalance {
        if let Err(i) = self.members.binary_search(&member) {
            self.members.insert(i, member);
        }
        self.rebalance()
    }

    /// `member` leaves (or is declared dead).
    pub fn leave(&mut self, member: MemberId) -> Rebalance {
        self.members.retain(|&m| m != member);
        self.rebalance()
    }

    /// Whether `member` may commit offsets of `partitions` with `generation`.
    pub fn check_commit(
        &self,
        member: MemberId,
        generation: u32,
        partitions: &[u32],
    ) -> std::result::Result<(), CommitError> {
        if generation != self.generation {
            return Err(CommitError::Fenced { member, generation, current: self.generation });
        }
        let owned = self.owned(member);
        match partitions.iter().find(|p| !owned.contains(p)) {
            Some(&partition) => Err(CommitError::NotOwner { member, partition }),
            None => Ok(()),
        }
    }

    fn rebalance(&mut self) -> Rebalance {
        let before: Vec<Option<MemberId>> = (0..self.partitions).map(|p| self.owner(p)).collect();
        self.assignment = self.assignor.assign(&self.members, self.partitions, &self.assignment);
        self.generation += 1;
        let moved: Vec<(u32, Option<MemberId>, Option<MemberId>)> = (0..self.partitions)
            .filter_map(|p| {
                let after = self.owner(p);
                (after != before[p as usize]).then_some((p, before[p as usize], after))
            })
            .collect();
        let paused = if self.assignor.cooperative() {
            moved.iter().map(|&(p, _, _)| p).collect()
        } else {
            (0..self.partitions).collect()
        };
        Rebalance { generation: self.generation, moved, paused }
    }
}

/// How a [`GroupRun`]'s members behave.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// Group name (its offsets file in `__consumer_offsets`).
    pub group: String,
    /// Topic it reads.
    pub topic: String,
    /// Assignor.
    pub assignor: Assignor,
    /// Members commit every this many ms.
    pub commit_interval_ms: i64,
    /// A dead member is noticed after this long, ms.
    pub session_timeout_ms: i64,
    /// A rebalance stops the paused partitions this long, ms.
    pub rebalance_ms: i64,
    /// Events per second a member processes at most (0: unlimited).
    pub member_events_per_sec: u64,
}

/// One rebalance as [`GroupRun`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RebalanceRecord {
    /// When, simulated ms.
    pub at_ms: TimestampMs,
    /// The generation it started.
    pub generation: u32,
    /// Why: `join`, `leave` or `session_timeout`, and the member.
    pub reason: String,
    /// Members after it.
    pub members: u32,
    /// Partitions that changed owner.
    pub moved_partitions: u32,
    /// Partitions that stopped for the rebalance.
    pub paused_partitions: u32,
    /// Records the new owners will process again (processed, not committed, by a dead member).
    pub uncommitted_records: u64,
}

/// What a consumer group did in a run (`summary.json` → `consumer_group`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GroupStats {
    /// The assignor's name.
    pub assignor: String,
    /// Members at the end.
    pub members_at_end: u32,
    /// Generation at the end (one per rebalance, the initial join included).
    pub generation: u32,
    /// Rebalances after the group first formed.
    pub rebalances: u32,
    /// Records processed, repeats included.
    pub records_processed: u64,
    /// Records processed at an offset the group had already processed (after a member died
    /// between commits).
    pub records_reprocessed: u64,
    /// The same figure predicted from the offsets: each dead member's position minus the
    /// committed offset, summed over the partitions it held. Equal to `records_reprocessed`.
    pub uncommitted_at_handover: u64,
    /// Offset commits written.
    pub commits: u64,
    /// Sum over partitions of the ms nobody read them (rebalances, dead owners).
    pub partition_pause_ms: i64,
    /// Largest lag seen at a sample (log end minus the owner's position, summed), records.
    pub max_lag_records: u64,
    /// Each rebalance after the group formed.
    pub rebalance_log: Vec<RebalanceRecord>,
    /// Lag at each sample: (time, records), for `timeseries.csv`.
    #[serde(skip)]
    pub lag: Vec<(TimestampMs, u64)>,
}

#[derive(Debug, Clone)]
struct MemberState {
    /// Alive (a dead member neither reads nor commits; the group has not noticed yet).
    alive: bool,
    /// The generation it last joined in.
    generation: u32,
    /// Next offset to read, per owned partition.
    positions: BTreeMap<u32, Offset>,
    last_commit: TimestampMs,
    /// Events it may still process now (rate limit).
    budget: f64,
}

/// A consumer group's members reading a topic of a [`Log`] on the simulated clock.
#[derive(Debug)]
pub struct GroupRun {
    config: GroupConfig,
    coordinator: GroupCoordinator,
    members: BTreeMap<MemberId, MemberState>,
    next_member: MemberId,
    /// Per partition: no one reads it before this time (rebalance in progress).
    paused_until: Vec<TimestampMs>,
    /// Per partition: the furthest offset the group has processed (exclusive).
    furthest: Vec<Offset>,
    /// Dead members the group notices at the given time.
    expiries: Vec<(TimestampMs, MemberId)>,
    last_tick: TimestampMs,
    stats: GroupStats,
    samples: Vec<(TimestampMs, u64)>,
    /// Every (partition, offset, member) processed, in order, when recording (tests).
    deliveries: Option<Vec<(u32, Offset, MemberId)>>,
}

impl GroupRun {
    /// A group of `members` members over `config.topic` of `log`, formed at `now` (one
    /// rebalance, generation 1). Members start from the group's committed offsets, or 0.
    pub fn new(log: &Log, config: GroupConfig, members: u32, now: TimestampMs) -> Result<Self> {
        let partitions = log.topic(&config.topic)?.partition_count();
        let mut run = GroupRun {
            coordinator: GroupCoordinator::new(partitions, config.assignor),
            stats: GroupStats { assignor: config.assignor.name().into(), ..GroupStats::default() },
            config,
            members: BTreeMap::new(),
            next_member: 0,
            paused_until: vec![now; partitions as usize],
            furthest: vec![0; partitions as usize],
            expiries: Vec::new(),
            last_tick: now,
            samples: Vec::new(),
            deliveries: None,
        };
        for _ in 0..members {
            let m = run.next_member;
            run.next_member += 1;
            run.members.insert(m, MemberState::new(now));
            run.coordinator.members.push(m);
        }
        run.coordinator.rebalance();
        run.assign_positions(log, &[])?;
        Ok(run)
    }

    /// Keeps every (partition, offset, member) processed, for [`GroupRun::deliveries`].
    pub fn record_deliveries(&mut self) {
        self.deliveries.get_or_insert_with(Vec::new);
    }

    /// What was processed, in order (when recording).
    pub fn deliveries(&self) -> &[(u32, Offset, MemberId)] {
        self.deliveries.as_deref().unwrap_or(&[])
    }

    /// The coordinator (membership, generation, assignment).
    pub fn coordinator(&self) -> &GroupCoordinator {
        &self.coordinator
    }

    /// Lag samples taken by [`GroupRun::sample`]: (time, records behind).
    pub fn samples(&self) -> &[(TimestampMs, u64)] {
        &self.samples
    }

    /// A new member joins at `now`; returns its id.
    pub fn join(&mut self, log: &Log, now: TimestampMs) -> Result<MemberId> {
        let m = self.next_member;
        self.next_member += 1;
        self.members.insert(m, MemberState::new(now));
        self.commit_all(log, now)?;
        let uncommitted = self.drop_dead(log)?;
        let r = self.coordinator.join(m);
        self.after_rebalance(log, r, format!("join {m}"), uncommitted, now)?;
        Ok(m)
    }

    /// Member `member` leaves at `now`: gracefully (commits, leaves at once) or by dying
    /// (noticed after the session timeout). Unknown or already gone members are ignored.
    pub fn leave(
        &mut self,
        log: &Log,
        member: MemberId,
        graceful: bool,
        now: TimestampMs,
    ) -> Result<()> {
        if !self.members.get(&member).is_some_and(|s| s.alive) {
            return Ok(());
        }
        if graceful {
            self.commit_member(log, member)?;
            self.members.remove(&member);
            self.commit_all(log, now)?;
            let uncommitted = self.drop_dead(log)?;
            let r = self.coordinator.leave(member);
            self.after_rebalance(log, r, format!("leave {member}"), uncommitted, now)?;
        } else if let Some(s) = self.members.get_mut(&member) {
            s.alive = false;
            self.expiries.push((now + self.config.session_timeout_ms, member));
        }
        Ok(())
    }

    /// Advances to `now`: notices dead members, lets every live member read and process what
    /// its partitions hold (within its rate), and commits on the interval.
    pub fn tick(&mut self, log: &Log, now: TimestampMs) -> Result<()> {
        let dt = (now - self.last_tick).max(0);
        // Partition-ms nobody read: paused, or owned by a dead member, or owned by no one.
        for p in 0..self.paused_until.len() as u32 {
            let owner = self.coordinator.owner(p);
            let dead = owner.is_none_or(|m| !self.members.get(&m).is_some_and(|s| s.alive));
            let paused = (self.paused_until[p as usize] - self.last_tick).clamp(0, dt);
            self.stats.partition_pause_ms += if dead { dt } else { paused };
        }
        self.last_tick = now;
        let due: Vec<MemberId> =
            self.expiries.iter().filter(|(at, _)| *at <= now).map(|&(_, m)| m).collect();
        self.expiries.retain(|(at, _)| *at > now);
        for m in due {
            let uncommitted = self.uncommitted(log, m)?;
            self.members.remove(&m);
            self.commit_all(log, now)?;
            let r = self.coordinator.leave(m);
            self.after_rebalance(log, r, format!("session_timeout {m}"), uncommitted, now)?;
        }
        let rate = self.config.member_events_per_sec as f64 / 1000.0;
        let topic = log.topic(&self.config.topic)?;
        let ids: Vec<MemberId> = self.members.keys().copied().collect();
        for m in ids {
            let Some(state) = self.members.get_mut(&m) else { continue };
            if !state.alive {
                continue;
            }
            if rate > 0.0 {
                // At most one second's worth banked.
                state.budget = (state.budget + rate * dt as f64).min(rate * 1000.0);
            }
            let owned: Vec<u32> = self.coordinator.owned(m).to_vec();
            for p in owned {
                if self.paused_until[p as usize] > now {
                    continue;
                }
                let Some(&pos) = state.positions.get(&p) else { continue };
                let end = topic.partition(p)?.log_end_offset();
                let mut take = end.saturating_sub(pos);
                if rate > 0.0 {
                    take = take.min(state.budget as u64);
                    state.budget -= take as f64;
                }
                if take == 0 {
                    continue;
                }
                let furthest = &mut self.furthest[p as usize];
                let repeats = (*furthest).clamp(pos, pos + take) - pos;
                self.stats.records_reprocessed += repeats;
                self.stats.records_processed += take;
                *furthest = (*furthest).max(pos + take);
                if let Some(d) = self.deliveries.as_mut() {
                    d.extend((pos..pos + take).map(|o| (p, o, m)));
                }
                state.positions.insert(p, pos + take);
            }
            if now - state.last_commit >= self.config.commit_interval_ms {
                self.commit_member(log, m)?;
                if let Some(s) = self.members.get_mut(&m) {
                    s.last_commit = now;
                }
            }
        }
        Ok(())
    }

    /// Records the group's lag at `now` (log end minus the owner's position, or the committed
    /// offset for an unowned partition), for the time series.
    pub fn sample(&mut self, log: &Log, now: TimestampMs) -> Result<u64> {
        let topic = log.topic(&self.config.topic)?;
        let mut lag = 0;
        for p in 0..self.paused_until.len() as u32 {
            let end = topic.partition(p)?.log_end_offset();
            let pos = match self.coordinator.owner(p).and_then(|m| self.members.get(&m)) {
                Some(s) => s.positions.get(&p).copied().unwrap_or(0),
                None => self.committed(log, p)?,
            };
            lag += end.saturating_sub(pos);
        }
        self.stats.max_lag_records = self.stats.max_lag_records.max(lag);
        self.samples.push((now, lag));
        Ok(lag)
    }

    /// Whether every live member has processed everything and nothing waits to be noticed.
    pub fn caught_up(&self, log: &Log) -> Result<bool> {
        let topic = log.topic(&self.config.topic)?;
        if !self.expiries.is_empty() {
            return Ok(false);
        }
        for p in 0..self.paused_until.len() as u32 {
            let end = topic.partition(p)?.log_end_offset();
            let Some(s) = self.coordinator.owner(p).and_then(|m| self.members.get(&m)) else {
                return Ok(end == 0);
            };
            if s.positions.get(&p).copied().unwrap_or(0) < end {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The figures so far.
    pub fn stats(&self) -> GroupStats {
        let mut s = self.stats.clone();
        s.members_at_end = self.coordinator.members().len() as u32;
        s.generation = self.coordinator.generation();
        s.lag = self.samples.clone();
        s
    }

    fn committed(&self, log: &Log, p: u32) -> Result<Offset> {
        Ok(log.committed_offset(&self.config.group, &self.config.topic, p)?.unwrap_or(0))
    }

    /// Records `member` processed past the committed offsets of its partitions.
    fn uncommitted(&self, log: &Log, member: MemberId) -> Result<u64> {
        let Some(s) = self.members.get(&member) else { return Ok(0) };
        let mut n = 0;
        for (&p, &pos) in &s.positions {
            n += pos.saturating_sub(self.committed(log, p)?);
        }
        Ok(n)
    }

    /// Takes dead members out of the group before a rebalance (a dead member cannot rejoin, so
    /// the coordinator drops it when the rebalance's join phase ends, even before its session
    /// times out); returns the records they processed but never committed.
    fn drop_dead(&mut self, log: &Log) -> Result<u64> {
        let dead: Vec<MemberId> =
            self.members.iter().filter(|(_, s)| !s.alive).map(|(&m, _)| m).collect();
        let mut uncommitted = 0;
        for m in dead {
            uncommitted += self.uncommitted(log, m)?;
            self.members.remove(&m);
            self.coordinator.members.retain(|&x| x != m);
            self.expiries.retain(|&(_, x)| x != m);
        }
        Ok(uncommitted)
    }

    /// `member` commits its positions (checked against the coordinator's generation).
    fn commit_member(&mut self, log: &Log, member: MemberId) -> Result<()> {
        let Some(s) = self.members.get(&member).filter(|s| s.alive) else { return Ok(()) };
        let offsets: Vec<(u32, Offset)> = s.positions.iter().map(|(&p, &o)| (p, o)).collect();
        if offsets.is_empty() {
            return Ok(());
        }
        let parts: Vec<u32> = offsets.iter().map(|&(p, _)| p).collect();
        if self.coordinator.check_commit(member, s.generation, &parts).is_err() {
            // Fenced: a rebalance it has not seen yet; its successor's offsets stand.
            return Ok(());
        }
        log.commit_offsets(&self.config.group, &self.config.topic, &offsets)?;
        self.stats.commits += 1;
        Ok(())
    }

    /// Before a rebalance every live member commits (Kafka commits in `onPartitionsRevoked`
    /// with auto-commit on); dead members cannot.
    fn commit_all(&mut self, log: &Log, _now: TimestampMs) -> Result<()> {
        let ids: Vec<MemberId> = self.members.keys().copied().collect();
        for m in ids {
            self.commit_member(log, m)?;
        }
        Ok(())
    }

    fn after_rebalance(
        &mut self,
        log: &Log,
        r: Rebalance,
        reason: String,
        uncommitted: u64,
        now: TimestampMs,
    ) -> Result<()> {
        for &p in &r.paused {
            self.paused_until[p as usize] = now + self.config.rebalance_ms;
        }
        self.stats.rebalances += 1;
        self.stats.uncommitted_at_handover += uncommitted;
        self.stats.rebalance_log.push(RebalanceRecord {
            at_ms: now,
            generation: r.generation,
            reason,
            members: self.coordinator.members().len() as u32,
            moved_partitions: r.moved.len() as u32,
            paused_partitions: r.paused.len() as u32,
            uncommitted_records: uncommitted,
        });
        let keep: Vec<u32> = if self.coordinator.assignor().cooperative() {
            (0..self.paused_until.len() as u32)
                .filter(|p| !r.moved.iter().any(|(q, _, _)| q == p))
                .collect()
        } else {
            Vec::new()
        };
        self.assign_positions(log, &keep)
    }

    /// Every live member takes its partitions of the new generation; a partition it did not
    /// keep (`keep`: unchanged under the cooperative protocol) starts at the committed offset.
    fn assign_positions(&mut self, log: &Log, keep: &[u32]) -> Result<()> {
        let generation = self.coordinator.generation();
        let ids: Vec<MemberId> = self.members.keys().copied().collect();
        for m in ids {
            let owned: Vec<u32> = self.coordinator.owned(m).to_vec();
            let mut positions = BTreeMap::new();
            for p in owned {
                let kept = keep
                    .contains(&p)
                    .then(|| self.members[&m].positions.get(&p).copied())
                    .flatten();
                let pos = match kept {
                    Some(o) => o,
                    None => self.committed(log, p)?,
                };
                positions.insert(p, pos);
            }
            if let Some(s) = self.members.get_mut(&m).filter(|s| s.alive) {
                s.positions = positions;
                s.generation = generation;
            }
        }
        Ok(())
    }
}

impl MemberState {
    fn new(now: TimestampMs) -> Self {
        MemberState {
            alive: true,
            generation: 0,
            positions: BTreeMap::new(),
            last_commit: now,
            budget: 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(a: &BTreeMap<MemberId, Vec<u32>>) -> Vec<usize> {
        a.values().map(Vec::len).collect()
    }

    #[test]
    fn range_gives_contiguous_ranges_first_members_one_more() {
        let a = Assignor::Range.assign(&[0, 1, 2], 7, &BTreeMap::new());
        assert_eq!(a[&0], vec![0, 1, 2]);
        assert_eq!(a[&1], vec![3, 4]);
        assert_eq!(a[&2], vec![5, 6]);
    }

    #[test]
    fn round_robin_deals_partitions_in_turn() {
        let a = Assignor::RoundRobin.assign(&[0, 1, 2], 7, &BTreeMap::new());
        assert_eq!(a[&0], vec![0, 3, 6]);
        assert_eq!(a[&1], vec![1, 4]);
        assert_eq!(a[&2], vec![2, 5]);
    }

    #[test]
    fn sticky_moves_only_the_surplus() {
        let before = Assignor::CooperativeSticky.assign(&[0, 1], 6, &BTreeMap::new());
        assert_eq!(shares(&before), vec![3, 3]);
        let after = Assignor::CooperativeSticky.assign(&[0, 1, 2], 6, &before);
        assert_eq!(shares(&after), vec![2, 2, 2]);
        // Members 0 and 1 keep two of their three each; only two partitions move.
        let kept: usize =
            [0, 1].iter().map(|m| after[m].iter().filter(|p| before[m].contains(p)).count()).sum();
        assert_eq!(kept, 4);
        // Range, by contrast, moves more when member 2 joins.
        let r2 = Assignor::Range.assign(&[0, 1], 6, &BTreeMap::new());
        let r3 = Assignor::Range.assign(&[0, 1, 2], 6, &r2);
        let kept_range: usize =
            [0, 1].iter().map(|m| r3[m].iter().filter(|p| r2[m].contains(p)).count()).sum();
        assert!(kept_range < kept, "range kept {kept_range}");
    }

    #[test]
    fn every_assignor_covers_every_partition_once_and_balances() {
        for assignor in [Assignor::Range, Assignor::RoundRobin, Assignor::CooperativeSticky] {
            let mut prev = BTreeMap::new();
            for members in [vec![0], vec![0, 3], vec![0, 3, 5], vec![3, 5], vec![1, 3, 5, 8]] {
                for partitions in [0, 1, 4, 7] {
                    let a = assignor.assign(&members, partitions, &prev);
                    let mut all: Vec<u32> = a.values().flatten().copied().collect();
                    all.sort_unstable();
                    assert_eq!(all, (0..partitions).collect::<Vec<_>>(), "{assignor:?}");
                    let (lo, hi) = (shares(&a).into_iter().min(), shares(&a).into_iter().max());
                    assert!(hi.unwrap_or(0) - lo.unwrap_or(0) <= 1, "{assignor:?} {a:?}");
                    prev = a;
                }
            }
        }
    }

    #[test]
    fn a_rebalance_bumps_the_generation_and_fences_stale_commits() {
        let mut c = GroupCoordinator::new(4, Assignor::Range);
        let r = c.join(0);
        assert_eq!(r.generation, 1);
        assert_eq!(c.owned(0), &[0, 1, 2, 3]);
        assert!(c.check_commit(0, 1, &[0, 3]).is_ok());
        let r = c.join(1);
        assert_eq!(r.generation, 2);
        assert_eq!(r.moved, vec![(2, Some(0), Some(1)), (3, Some(0), Some(1))]);
        assert_eq!(r.paused, vec![0, 1, 2, 3], "eager: everything pauses");
        assert_eq!(
            c.check_commit(0, 1, &[0]),
            Err(CommitError::Fenced { member: 0, generation: 1, current: 2 })
        );
        assert_eq!(
            c.check_commit(0, 2, &[3]),
            Err(CommitError::NotOwner { member: 0, partition: 3 })
        );
        let mut s = GroupCoordinator::new(4, Assignor::CooperativeSticky);
        s.join(0);
        let r = s.join(1);
        assert_eq!(r.paused.len(), r.moved.len(), "cooperative: only moved partitions pause");
        assert_eq!(r.moved.len(), 2);
    }
}
