//! `lambda-unified`: each query written **once**, Summingbird-style, and run by two runners.
//!
//! Summingbird (Boykin et al., VLDB 2014) writes a job as a graph of pure steps —
//! `source.flatMap(f).sumByKey(store)` — whose values form a commutative monoid, and compiles
//! that one description to Hadoop (batch) and to Storm (online). The serving layer adds the
//! batch store and the online store with the same monoid. This module is that idea, small:
//!
//! - a query is a [`Definition`] ([`definitions`]): which events it keeps and which group each
//!   maps to (`group`, the `filter` + `flatMap` to a key), which value it contributes
//!   ([`Aggregate`]), and — for every query alike — the event-time windows the event falls in
//!   ([`QuerySpec::window_starts`]). The four queries are written there, once each, and nowhere
//!   else;
//! - the value is summed by a commutative [`Monoid`]: [`AggMonoid`] over [`Agg`] states (sum,
//!   exact user set, HyperLogLog);
//! - [`MonoidBatch`] ([`batch`]) runs the definitions over a log prefix with rayon: partial
//!   views folded from any split of the events, reduced by the monoid;
//! - [`MonoidStream`] ([`stream`]) runs the same definitions' map step on one event at a time:
//!   its contributions are what the stream job merges into its windows.
//!
//! Neither runner knows any query: they only call [`Definition::map`] and the monoid. A logic
//! change is one edit in [`definitions`], and batch and speed can never disagree about it.
//!
//! ## Exactness is the monoid's choice, everywhere
//!
//! `distinct_users` with `approximate = true` sums HyperLogLog sketches. In `lambda` only the
//! speed layer approximates and the batch layer (separate code) is exact, so old windows
//! become exact once a batch view covers them. Here the *same* definition runs in batch and
//! in stream, so the batch view is approximate too: one logic buys one semantics. That is
//! Summingbird's trade-off — the monoid, not the layer, decides how exact an answer is. A
//! query that needs exact history with cheap fresh answers needs two definitions again (or an
//! exact monoid everywhere, paying its memory).

use crate::hll::Hll;
use crate::query::{Agg, QueryKind, QuerySet, QuerySpec};
use crate::workload::{Campaigns, EventFields};

pub mod batch;
pub mod definitions;
pub mod stream;

pub use batch::MonoidBatch;
pub use definitions::DEFINITIONS;
pub use stream::MonoidStream;

/// A commutative monoid, as a value (as in Algebird, where `HyperLogLogMonoid(bits)` carries its
/// parameter): `zero` and `plus` over `Self::Value`.
///
/// Laws, for all `a`, `b`, `c` (checked by property tests in `tests/unified.rs`):
/// - identity: `zero + a == a == a + zero`;
/// - associativity: `(a + b) + c == a + (b + c)`;
/// - commutativity: `a + b == b + a`.
///
/// Associativity lets the batch runner fold any chunks of the log in parallel and reduce the
/// partial results in any tree; commutativity lets it (and the serving layer) combine them in
/// any order; identity is the empty chunk. Together they make the answer independent of how the
/// work was split — between threads, partitions, or batch and speed layers.
pub trait Monoid {
    /// The values summed.
    type Value;
    /// The identity.
    fn zero(&self) -> Self::Value;
    /// `into = into + other`.
    fn plus(&self, into: &mut Self::Value, other: &Self::Value);
}

/// What one event contributes to one group, before it is lifted into a monoid value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// An amount to add (1 for a count).
    Amount(i64),
    /// An id to count once.
    Id(u64),
}

/// The monoid summing a query's [`Agg`] states. Its `plus` is [`Agg::merge`] whatever the
/// instance; the instance decides the identity and how an [`Item`] is lifted into a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggMonoid {
    /// Integers under `+` (counts and sums); items are [`Item::Amount`].
    Sum,
    /// Exact sets of ids under union; items are [`Item::Id`].
    Users,
    /// HyperLogLog sketches of this precision under register-wise max; items are [`Item::Id`].
    Sketch {
        /// Registers = 2^precision.
        precision: u8,
    },
}

impl Monoid for AggMonoid {
    type Value = Agg;

    fn zero(&self) -> Agg {
        match *self {
            AggMonoid::Sum => Agg::Sum(0),
            AggMonoid::Users => Agg::Users(Default::default()),
            AggMonoid::Sketch { precision } => Agg::Sketch(Hll::new(precision)),
        }
    }

    fn plus(&self, into: &mut Agg, other: &Agg) {
        into.merge(other);
    }
}

impl AggMonoid {
    /// One item as a single-event state: like [`AggMonoid::lift`], but an id becomes the cheap
    /// [`Agg::User`] singleton (it merges into sets and sketches alike).
    pub fn lift_one(&self, item: Item) -> Agg {
        match (self, item) {
            (AggMonoid::Users, Item::Id(id)) => Agg::User { id, precision: None },
            (AggMonoid::Sketch { precision }, Item::Id(id)) => {
                Agg::User { id, precision: Some(*precision) }
            }
            _ => self.lift(item),
        }
    }

    /// The state of a single item (Algebird's `create`): `absorb(zero, item)`.
    pub fn lift(&self, item: Item) -> Agg {
        let mut state = self.zero();
        self.absorb(&mut state, item);
        state
    }

    /// `state = state + lift(item)`, in place and without building `lift(item)` (no 2^p-byte
    /// sketch per event in the batch fold).
    ///
    /// Items of the other family (an id for [`AggMonoid::Sum`], an amount for a set or sketch)
    /// cannot come from a [`Definition`]: [`Aggregate`] gives each query its item and its
    /// monoid together. They are ignored (in release builds) rather than guessed at.
    pub fn absorb(&self, state: &mut Agg, item: Item) {
        match (state, item) {
            (Agg::Sum(n), Item::Amount(a)) => *n += a,
            (Agg::Users(set), Item::Id(id)) => {
                set.insert(id);
            }
            (Agg::Sketch(hll), Item::Id(id)) => hll.insert(id),
            (state, item) => debug_assert!(false, "{item:?} does not fit {state:?} ({self:?})"),
        }
    }
}

/// The value a query sums per group and window.
#[derive(Debug, Clone, Copy)]
pub enum Aggregate {
    /// The sum of an amount per event (a count when the amount is always 1).
    Sum(fn(&EventFields) -> i64),
    /// The number of distinct ids: an exact set, or a HyperLogLog sketch when the query is
    /// `approximate` (in batch *and* stream: see the module docs).
    Distinct(fn(&EventFields) -> u64),
}

impl Aggregate {
    /// The monoid that sums this aggregate for `spec`.
    pub fn monoid(&self, spec: &QuerySpec) -> AggMonoid {
        match self {
            Aggregate::Sum(_) => AggMonoid::Sum,
            Aggregate::Distinct(_) if spec.approximate => {
                AggMonoid::Sketch { precision: spec.hll_precision }
            }
            Aggregate::Distinct(_) => AggMonoid::Users,
        }
    }

    /// What `event` contributes.
    pub fn item(&self, event: &EventFields) -> Item {
        match self {
            Aggregate::Sum(amount) => Item::Amount(amount(event)),
            Aggregate::Distinct(id) => Item::Id(id(event)),
        }
    }
}

/// Which group an event contributes to, or `None` when the query drops it (filter + map to a
/// key, with the static tables a query may join).
pub type GroupFn = for<'e> fn(&'e EventFields, &'e Campaigns) -> Option<&'e str>;

/// One query, written once: `events.filter_map(group).window(spec).sum_by_key(aggregate)`.
#[derive(Debug, Clone, Copy)]
pub struct Definition {
    /// The query this defines.
    pub kind: QueryKind,
    /// The group of an event, or `None` to drop it.
    pub group: GroupFn,
    /// What each kept event contributes, and the monoid summing it.
    pub aggregate: Aggregate,
}

impl Definition {
    /// The definition of `kind`.
    pub fn of(kind: QueryKind) -> Option<&'static Definition> {
        DEFINITIONS.iter().find(|d| d.kind == kind)
    }

    /// The map step, shared by both runners: calls `emit(group, window_start, item)` once per
    /// window of `spec` the event falls in, or never when the query drops the event.
    pub fn map<'e>(
        &self,
        spec: &QuerySpec,
        campaigns: &'e Campaigns,
        event: &'e EventFields,
        mut emit: impl FnMut(&'e str, i64, Item),
    ) {
        // The version filter is the spec's, like its windows: every query obeys it alike.
        if !spec.keeps_event(event) {
            return;
        }
        let Some(group) = (self.group)(event, campaigns) else { return };
        let item = self.aggregate.item(event);
        for start in spec.window_starts(event.event_time_ms) {
            emit(group, start, item);
        }
    }
}

/// A query of a run bound to its definition and monoid: what the runners execute.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The query.
    pub spec: QuerySpec,
    /// Its definition.
    pub definition: &'static Definition,
    /// The monoid summing its values.
    pub monoid: AggMonoid,
}

impl Plan {
    /// The plans of every query of `queries` (a kind without a definition would be skipped;
    /// every kind has one, which a test checks).
    pub fn all(queries: &QuerySet) -> Vec<Plan> {
        queries
            .specs
            .iter()
            .filter_map(|spec| {
                let definition = Definition::of(spec.kind)?;
                Some(Plan {
                    spec: spec.clone(),
                    definition,
                    monoid: definition.aggregate.monoid(spec),
                })
            })
            .collect()
    }

    /// [`Definition::map`] for this plan's query.
    pub fn map<'e>(
        &self,
        campaigns: &'e Campaigns,
        event: &'e EventFields,
        emit: impl FnMut(&'e str, i64, Item),
    ) {
        self.definition.map(&self.spec, campaigns, event, emit);
    }
}
