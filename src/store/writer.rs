//! The group-commit writer: one tokio task owns the write side of the database. Callers hand
//! it a unit of work; it takes whatever units are queued (up to a batch size), runs them one
//! after another inside ONE transaction, commits once, and only then answers every caller. An
//! answer therefore means "committed" (or "refused", and nothing of that unit was kept), and a
//! burst of concurrent submissions costs one fsync rather than one each.
//!
//! Consecutive units of one [`Bulk`] kind run as a group: the kind's work decides every
//! unit's fate first and then writes all their rows with a few multi-row statements, so a
//! batch of 200 accepted packets costs a dozen statements rather than a thousand (on SQLite
//! each statement is a round trip to the connection's thread, which was the writer's limit).
//!
//! A unit that fails must leave nothing behind, without costing the others their answer. The
//! first attempt at a batch runs the units back to back (savepoints per unit halve SQLite's
//! throughput and, past 64 per transaction, slow every PostgreSQL session); when a unit fails,
//! that transaction is rolled back, the failing unit gets its own error, and the rest of the
//! batch runs again in a second transaction, this time each unit alone under a savepoint. A
//! bulk group that fails as a whole (a statement error) does not say which unit caused it, so
//! then the whole batch runs again that way. So a unit may run twice: its work must be
//! repeatable (it reads its input by reference and keeps no state between runs), and only the
//! run that commits counts.
//!
//! On SQLite this task is the only writer of the process, so writers never wait on each
//! other's locks. Units must only talk to the database: whatever they await holds up the batch.

use std::any::{Any, TypeId};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{AnyConnection, AnyPool, Executor};
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::RestartWanted;
use super::error::StoreError;

mod histogram;

pub use histogram::{Buckets, Histogram, HistogramSnapshot, UpperBound};

/// A boxed, sendable future borrowing for `'a`: what a unit of work returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What running a unit (or a bulk group) did to the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ran {
    /// Units whose work succeeded.
    pub(crate) succeeded: u64,
    /// The transaction holds partial work of a failed unit: it must be rolled back.
    pub(crate) dirty: bool,
}

/// A unit of work queued for the writer, type-erased.
pub(crate) trait Unit: Send + Any {
    /// Runs the work on the batch's connection and keeps its outcome.
    fn run<'c>(&'c mut self, conn: &'c mut AnyConnection) -> BoxFuture<'c, Ran>;
    /// Units that may run as one group with this one: the same [`Bulk`] kind (none for a
    /// unit that runs alone).
    fn kind(&self) -> Option<TypeId> {
        None
    }
    /// Runs this unit and `rest` (all of this unit's [`Unit::kind`]) as one group.
    fn run_group<'c>(
        &'c mut self,
        rest: &'c mut [Box<dyn Unit>],
        conn: &'c mut AnyConnection,
    ) -> BoxFuture<'c, Ran> {
        debug_assert!(rest.is_empty(), "a unit without a kind runs alone");
        self.run(conn)
    }
    /// Answers with the kept outcome once the transaction is settled: the outcome when the
    /// commit succeeded (or the unit failed on its own), the commit's error otherwise.
    fn finish(self: Box<Self>, commit: Result<(), StoreError>);
    /// Answers with `error` (the batch could not run).
    fn fail(self: Box<Self>, error: StoreError);
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// Answers a unit's caller: its outcome when the commit succeeded or when it failed on its
/// own, the commit's error otherwise.
fn answer<T, E: From<StoreError>>(
    commit: Result<(), StoreError>,
    outcome: Option<Result<T, E>>,
) -> Result<T, E> {
    match (commit, outcome) {
        (Ok(()), Some(outcome)) => outcome,
        // A unit that failed on its own reports its own reason, commit or not.
        (Err(_), Some(Err(own))) => Err(own),
        (Err(e), _) => Err(E::from(e)),
        (Ok(()), None) => Err(E::from(StoreError::Unavailable(
            "the writer settled a unit that never ran".to_owned(),
        ))),
    }
}

pub(crate) struct Job<I, F, T, E> {
    pub(crate) input: I,
    pub(crate) work: F,
    pub(crate) reply: oneshot::Sender<Result<T, E>>,
    pub(crate) outcome: Option<Result<T, E>>,
}

impl<I, F, T, E> Unit for Job<I, F, T, E>
where
    I: Send + Sync + 'static,
    F: for<'c> Fn(&'c mut AnyConnection, &'c I) -> BoxFuture<'c, Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    fn run<'c>(&'c mut self, conn: &'c mut AnyConnection) -> BoxFuture<'c, Ran> {
        let Job {
            input,
            work,
            outcome,
            ..
        } = self;
        let running = work(conn, input);
        Box::pin(async move {
            let result = running.await;
            let succeeded = result.is_ok();
            *outcome = Some(result);
            Ran {
                succeeded: u64::from(succeeded),
                dirty: !succeeded,
            }
        })
    }

    fn finish(self: Box<Self>, commit: Result<(), StoreError>) {
        // The caller may have gone away; nothing to do then.
        let _ = self.reply.send(answer(commit, self.outcome));
    }

    fn fail(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(E::from(error)));
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// What [`Bulk::run`] answers: one outcome per input, in order, or an error of the group
/// as a whole (the transaction may then hold partial work).
pub type BulkOutcomes<W> = Result<Vec<Result<<W as Bulk>::Output, <W as Bulk>::Error>>, StoreError>;

/// Work that many units of one kind share: it is given all their inputs at once.
pub trait Bulk: Send + Sync + 'static {
    type Input: Send + Sync + 'static;
    type Output: Send + 'static;
    type Error: From<StoreError> + Send + 'static;

    /// Does the work of `inputs` and returns one outcome per input, in order. An input whose
    /// outcome is `Err` must have written nothing; `Err(StoreError)` means the transaction
    /// may hold partial work (the writer then rolls it back and runs each input alone).
    /// Called with one input when a unit runs alone.
    fn run<'a>(
        &'a self,
        conn: &'a mut AnyConnection,
        inputs: &'a [&'a Self::Input],
    ) -> BoxFuture<'a, BulkOutcomes<Self>>;
}

/// One caller's input to a [`Bulk`] kind.
pub(crate) struct BulkJob<W: Bulk> {
    pub(crate) work: Arc<W>,
    pub(crate) input: W::Input,
    pub(crate) reply: oneshot::Sender<Result<W::Output, W::Error>>,
    pub(crate) outcome: Option<Result<W::Output, W::Error>>,
}

impl<W: Bulk> BulkJob<W> {
    /// The jobs of a group, this one first; none when a member is of another kind.
    fn members<'m>(&'m mut self, rest: &'m mut [Box<dyn Unit>]) -> Option<Vec<&'m mut Self>> {
        let mut members = Vec::with_capacity(rest.len() + 1);
        members.push(self);
        for unit in rest {
            members.push(unit.as_any_mut().downcast_mut::<BulkJob<W>>()?);
        }
        Some(members)
    }
}

impl<W: Bulk> Unit for BulkJob<W> {
    fn run<'c>(&'c mut self, conn: &'c mut AnyConnection) -> BoxFuture<'c, Ran> {
        self.run_group(&mut [], conn)
    }

    fn kind(&self) -> Option<TypeId> {
        Some(TypeId::of::<W>())
    }

    fn run_group<'c>(
        &'c mut self,
        rest: &'c mut [Box<dyn Unit>],
        conn: &'c mut AnyConnection,
    ) -> BoxFuture<'c, Ran> {
        let work = self.work.clone();
        Box::pin(async move {
            let Some(mut members) = self.members(rest) else {
                // The writer groups by kind, so this cannot happen; fail the group safely.
                return Ran {
                    succeeded: 0,
                    dirty: true,
                };
            };
            let result = {
                let inputs: Vec<&W::Input> = members.iter().map(|m| &m.input).collect();
                work.run(conn, &inputs).await
            };
            match result {
                Ok(outcomes) if outcomes.len() == members.len() => {
                    let succeeded = outcomes.iter().filter(|o| o.is_ok()).count() as u64;
                    for (member, outcome) in members.iter_mut().zip(outcomes) {
                        member.outcome = Some(outcome);
                    }
                    Ran {
                        succeeded,
                        dirty: false,
                    }
                }
                other => {
                    let error = match other {
                        Err(e) => e,
                        Ok(_) => StoreError::Unavailable(
                            "a bulk unit answered for a different number of inputs".to_owned(),
                        ),
                    };
                    for member in members.iter_mut() {
                        member.outcome = Some(Err(W::Error::from(error.clone())));
                    }
                    Ran {
                        succeeded: 0,
                        dirty: true,
                    }
                }
            }
        })
    }

    fn finish(self: Box<Self>, commit: Result<(), StoreError>) {
        let _ = self.reply.send(answer(commit, self.outcome));
    }

    fn fail(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(W::Error::from(error)));
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Tuning of the writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterOptions {
    /// Most units committed in one transaction.
    pub max_batch: usize,
    /// Units that may wait in the queue; submitters wait (back-pressure) beyond that.
    pub queue: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            max_batch: 512,
            queue: 8192,
        }
    }
}

/// Units committed per transaction: [`WriterOptions::max_batch`] is 512 by default.
const BATCH_UNITS: Buckets = Buckets::new(&[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024], 1);

/// Nanoseconds from `begin` to the end of `commit`, reported in seconds.
const COMMIT_NANOS: Buckets = Buckets::new(
    &[
        500_000,
        1_000_000,
        2_500_000,
        5_000_000,
        10_000_000,
        25_000_000,
        50_000_000,
        100_000_000,
        250_000_000,
        500_000_000,
        1_000_000_000,
        2_500_000_000,
    ],
    1_000_000_000,
);

/// What the writer has done since the store was opened (for `/metrics` and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions committed.
    pub commits: u64,
    /// Units whose changes were committed.
    pub units_committed: u64,
    /// Units that failed (their own error, or a failed commit) and left nothing behind.
    pub units_failed: u64,
    /// Batches that had to run a second time because one of their units failed.
    pub retried_batches: u64,
    /// Batches begun for background units (no foreground unit was waiting): each is a
    /// transaction, and a commit, of the workers' own.
    pub background_batches: u64,
    /// Units committed by each committed transaction (its sum is `units_committed`, its
    /// count `commits`).
    pub batch_units: HistogramSnapshot,
    /// Seconds from `begin` to the end of `commit`, for each committed transaction.
    pub commit_seconds: HistogramSnapshot,
}

#[derive(Debug)]
pub(crate) struct Counters {
    commits: AtomicU64,
    units_committed: AtomicU64,
    units_failed: AtomicU64,
    retried_batches: AtomicU64,
    background_batches: AtomicU64,
    batch_units: Histogram,
    commit_nanos: Histogram,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            commits: AtomicU64::new(0),
            units_committed: AtomicU64::new(0),
            units_failed: AtomicU64::new(0),
            retried_batches: AtomicU64::new(0),
            background_batches: AtomicU64::new(0),
            batch_units: Histogram::new(BATCH_UNITS),
            commit_nanos: Histogram::new(COMMIT_NANOS),
        }
    }
}

impl Counters {
    pub(crate) fn snapshot(&self) -> WriterStats {
        WriterStats {
            commits: self.commits.load(Ordering::Relaxed),
            units_committed: self.units_committed.load(Ordering::Relaxed),
            units_failed: self.units_failed.load(Ordering::Relaxed),
            retried_batches: self.retried_batches.load(Ordering::Relaxed),
            background_batches: self.background_batches.load(Ordering::Relaxed),
            batch_units: self.batch_units.snapshot(),
            commit_seconds: self.commit_nanos.snapshot(),
        }
    }

    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Where the writer writes: the pool, and how a transaction begins there.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) pool: AnyPool,
    /// `BEGIN IMMEDIATE` on SQLite: the write lock is taken at the start, where SQLite waits
    /// for it (busy timeout). A deferred transaction that reads first and then writes would
    /// get `database is locked` at once, without waiting, whenever another connection holds
    /// the lock for a moment (a checkpoint that restarts the log).
    pub(crate) begin: &'static str,
    /// SQLite: raised when the log should be checkpointed and started over before the next
    /// batch (see `store::checkpoint`).
    pub(crate) restart_wanted: Option<Arc<RestartWanted>>,
}

impl Target {
    /// Runs the checkpoint asked for, if any, while no batch is in progress.
    async fn between_batches(&self) {
        let Some(wanted) = &self.restart_wanted else {
            return;
        };
        if wanted.take() {
            if let Err(e) = super::checkpoint::restart(&self.pool).await {
                tracing::warn!(error = %e, "SQLite checkpoint (restart) failed; it will be retried");
            }
        }
    }
}

/// Which of the writer's queues a unit waits in.
///
/// Accepting a letter is what a sender waits for; pushing it on, mailing its clerks and
/// watching its deadlines can wait a moment. So the writer takes foreground work first: while
/// foreground units keep coming (a batch of them formed within the last [`QUIET_FOR`]),
/// background units only join their transactions, at most once per [`BACKGROUND_EVERY`] and at
/// most [`WriterOptions::max_batch`] / 8 units at a time; once the foreground has been quiet
/// for [`QUIET_FOR`], background units run in transactions of their own.
/// Under a flood of submissions the delivery workers still make progress, on a small, bounded
/// share of the writer's time and without commits of their own (on SQLite each commit is an
/// fsync the submissions would wait behind); once the flood is over they have all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// What a caller waits for: submissions, acknowledgements, statuses, operators' changes.
    Foreground,
    /// What the workers do after an acceptance: push and mail leases and outcomes, deadlines.
    Background,
}

/// While foreground work keeps the writer busy, how often background units may join a batch.
/// Each join costs the flood's transaction the workers' statements (a push lease, a group of
/// outcomes, a mail batch, the log's integration). At 50 ms the bench's flood with pushes and
/// mail on took ~1,000 background units into its transactions and accepted ~10 % fewer
/// letters; at 200 ms ~300, the units queued meanwhile joining together in fewer statements,
/// the pushes going on at ~30 a second until the flood is over (docs/PERFORMANCE.md).
pub const BACKGROUND_EVERY: Duration = Duration::from_millis(200);

/// How long no foreground batch must form before background units get transactions of their
/// own: longer than the pause between a busy client's requests, short enough that a worker
/// on an idle node waits no longer than a blink.
pub const QUIET_FOR: Duration = Duration::from_millis(50);

/// The two queues of the writer, as the store holds them.
#[derive(Debug)]
pub(crate) struct Queues {
    foreground: mpsc::Sender<Box<dyn Unit>>,
    background: mpsc::Sender<Box<dyn Unit>>,
}

impl Queues {
    pub(crate) fn of(&self, lane: Lane) -> &mpsc::Sender<Box<dyn Unit>> {
        match lane {
            Lane::Foreground => &self.foreground,
            Lane::Background => &self.background,
        }
    }
}

/// Starts the writer task on the current tokio runtime. It stops when the queues are dropped.
pub(crate) fn spawn(target: Target, options: WriterOptions, counters: Arc<Counters>) -> Queues {
    let (foreground, foreground_rx) = mpsc::channel(options.queue.max(1));
    let (background, background_rx) = mpsc::channel(options.queue.max(1));
    let receivers = Receivers {
        foreground: foreground_rx,
        background: background_rx,
        background_ran: None,
        foreground_ran: None,
    };
    tokio::spawn(run(target, receivers, options.max_batch.max(1), counters));
    Queues {
        foreground,
        background,
    }
}

struct Receivers {
    foreground: mpsc::Receiver<Box<dyn Unit>>,
    background: mpsc::Receiver<Box<dyn Unit>>,
    /// When background units last went into a batch.
    background_ran: Option<Instant>,
    /// When the last batch with foreground units formed: until [`QUIET_FOR`] after it,
    /// background units wait to join the next one.
    foreground_ran: Option<Instant>,
}

impl Receivers {
    /// The next batch (see [`Lane`]) and the lane that began it: foreground units, with at most
    /// `share` background units beside them once per [`BACKGROUND_EVERY`]; background units
    /// (and any foreground units that came meanwhile) when no foreground unit waits and none
    /// has for [`QUIET_FOR`]. Empty once the store is gone.
    async fn next_batch(&mut self, max_batch: usize, share: usize) -> (Vec<Box<dyn Unit>>, Lane) {
        let mut batch = Vec::with_capacity(max_batch);
        let mut background = Vec::new();
        let lane = loop {
            let busy_until = self
                .foreground_ran
                .map(|at| at + QUIET_FOR)
                .filter(|until| *until > Instant::now());
            let quiet = tokio::time::sleep_until(busy_until.unwrap_or_else(Instant::now).into());
            break tokio::select! {
                biased;
                n = self.foreground.recv_many(&mut batch, max_batch) => (n > 0).then_some(Lane::Foreground),
                n = self.background.recv_many(&mut background, share), if busy_until.is_none() => {
                    (n > 0).then_some(Lane::Background)
                }
                () = quiet, if busy_until.is_some() => continue,
            };
        };
        match lane {
            None => batch.clear(),
            Some(Lane::Foreground) => {
                self.foreground_ran = Some(Instant::now());
                let due = match self.background_ran {
                    Some(at) => at.elapsed() >= BACKGROUND_EVERY,
                    None => true,
                };
                if due {
                    let before = batch.len();
                    top_up(&mut self.background, &mut batch, before + share);
                    if batch.len() > before {
                        self.background_ran = Some(Instant::now());
                    }
                }
            }
            Some(Lane::Background) => {
                top_up(
                    &mut self.foreground,
                    &mut batch,
                    max_batch - background.len(),
                );
                if !batch.is_empty() {
                    self.foreground_ran = Some(Instant::now());
                }
                batch.append(&mut background);
                self.background_ran = Some(Instant::now());
            }
        }
        (batch, lane.unwrap_or(Lane::Foreground))
    }
}

/// Adds units already waiting in `queue` to `batch`, up to `limit` units in all.
fn top_up(queue: &mut mpsc::Receiver<Box<dyn Unit>>, batch: &mut Vec<Box<dyn Unit>>, limit: usize) {
    while batch.len() < limit {
        match queue.try_recv() {
            Ok(unit) => batch.push(unit),
            Err(_) => break,
        }
    }
}

async fn run(pool: Target, mut queues: Receivers, max_batch: usize, counters: Arc<Counters>) {
    let share = (max_batch / 8).max(1);
    loop {
        let (mut units, lane) = queues.next_batch(max_batch, share).await;
        if units.is_empty() {
            return;
        }
        if lane == Lane::Background {
            Counters::add(&counters.background_batches, 1);
        }
        gather_kinds(&mut units);
        let count = units.len() as u64;
        // The batch runs in a task of its own so that a panicking unit costs its batch (whose
        // callers then see the writer as unavailable), not the writer.
        let batch_counters = counters.clone();
        let outcome = tokio::spawn(settle(pool.clone(), units, batch_counters)).await;
        if outcome.is_err() {
            Counters::add(&counters.units_failed, count);
        }
        pool.between_batches().await;
    }
}

/// Moves the units of each bulk kind next to the first unit of their kind, keeping the order
/// otherwise, so that each kind runs as one group even when callers of several kinds
/// interleave (accepted letters and push outcomes, under load). Reordering is safe: the units
/// of a batch were all waiting for their answers at once, so none was submitted after another
/// had committed, and their order in the transaction was never promised.
fn gather_kinds(units: &mut Vec<Box<dyn Unit>>) {
    let mut first_of_kind: Vec<(TypeId, usize)> = Vec::new();
    let mut keyed: Vec<(usize, Box<dyn Unit>)> = Vec::with_capacity(units.len());
    for (index, unit) in units.drain(..).enumerate() {
        let key = match unit.kind() {
            None => index,
            Some(kind) => match first_of_kind.iter().find(|(k, _)| *k == kind) {
                Some((_, first)) => *first,
                None => {
                    first_of_kind.push((kind, index));
                    index
                }
            },
        };
        keyed.push((key, unit));
    }
    keyed.sort_by_key(|(key, _)| *key);
    units.extend(keyed.into_iter().map(|(_, unit)| unit));
}

/// Runs a batch to its end: commits what can be committed and answers every unit.
async fn settle(pool: Target, mut units: Vec<Box<dyn Unit>>, counters: Arc<Counters>) {
    let (index, len) = match attempt(&pool, &mut units, Guard::None).await {
        Attempt::Settled { commit, elapsed } => return conclude(units, commit, elapsed, &counters),
        Attempt::Abandoned(error) => {
            Counters::add(&counters.units_failed, units.len() as u64);
            return units.into_iter().for_each(|u| u.fail(error.clone()));
        }
        Attempt::GroupFailed { index, len } => (index, len),
    };
    // The first transaction was rolled back. A unit that failed alone keeps its own error;
    // the others run again, each alone under a savepoint so that a second failure stays local.
    Counters::add(&counters.retried_batches, 1);
    if len == 1 {
        Counters::add(&counters.units_failed, 1);
        let failed = units.remove(index);
        failed.finish(Ok(()));
        if units.is_empty() {
            return;
        }
    }
    match attempt(&pool, &mut units, Guard::Savepoint).await {
        Attempt::Settled { commit, elapsed } => conclude(units, commit, elapsed, &counters),
        Attempt::Abandoned(error) => {
            Counters::add(&counters.units_failed, units.len() as u64);
            units.into_iter().for_each(|u| u.fail(error.clone()));
        }
        // Guarded units roll back alone; an attempt never stops on one.
        Attempt::GroupFailed { .. } => {
            let error = StoreError::Unavailable("the writer lost track of a batch".to_owned());
            Counters::add(&counters.units_failed, units.len() as u64);
            units.into_iter().for_each(|u| u.fail(error.clone()));
        }
    }
}

/// Answers every unit after the commit (or its failure) and counts; a committed transaction
/// that took `elapsed` from begin to commit is also recorded in the histograms.
fn conclude(
    units: Vec<Box<dyn Unit>>,
    commit: Result<u64, StoreError>,
    elapsed: Duration,
    counters: &Counters,
) {
    let total = units.len() as u64;
    match &commit {
        Ok(succeeded) => {
            Counters::add(&counters.commits, 1);
            Counters::add(&counters.units_committed, *succeeded);
            Counters::add(&counters.units_failed, total - succeeded);
            counters.batch_units.observe(*succeeded);
            let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
            counters.commit_nanos.observe(nanos);
        }
        Err(_) => Counters::add(&counters.units_failed, total),
    }
    let commit = commit.map(|_| ());
    for unit in units {
        unit.finish(commit.clone());
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guard {
    /// Units back to back, consecutive units of one bulk kind as a group: the first failure
    /// stops the attempt.
    None,
    /// Each unit alone under a savepoint: a failure is rolled back alone.
    Savepoint,
}

enum Attempt {
    /// The transaction ended: `Ok(units that succeeded)` when it committed, `elapsed` from
    /// `begin` to the end of `commit`.
    Settled {
        commit: Result<u64, StoreError>,
        elapsed: Duration,
    },
    /// The unguarded group of `len` units from `index` failed; the transaction was rolled back.
    GroupFailed { index: usize, len: usize },
    /// The transaction could not go on (begin, a savepoint or the connection failed).
    Abandoned(StoreError),
}

const SAVEPOINT: &str = "SAVEPOINT lienthong_unit";
const RELEASE: &str = "RELEASE SAVEPOINT lienthong_unit";
const ROLLBACK_TO: &str = "ROLLBACK TO SAVEPOINT lienthong_unit";

/// How many units from `index` run as one group: a run of units of one bulk kind when
/// unguarded, else one.
fn group_len(units: &[Box<dyn Unit>], index: usize, guard: Guard) -> usize {
    let kind = match (guard, units.get(index).and_then(|u| u.kind())) {
        (Guard::None, Some(kind)) => kind,
        _ => return 1,
    };
    1 + units
        .iter()
        .skip(index + 1)
        .take_while(|u| u.kind() == Some(kind))
        .count()
}

async fn attempt(pool: &Target, units: &mut [Box<dyn Unit>], guard: Guard) -> Attempt {
    let started = Instant::now();
    let mut tx = match pool.pool.begin_with(pool.begin).await {
        Ok(tx) => tx,
        Err(e) => return Attempt::Abandoned(StoreError::from(e)),
    };
    let mut succeeded = 0u64;
    let mut index = 0;
    while index < units.len() {
        let len = group_len(units, index, guard);
        if guard == Guard::Savepoint {
            if let Err(e) = tx.execute(sqlx::raw_sql(SAVEPOINT)).await {
                return Attempt::Abandoned(StoreError::from(e));
            }
        }
        let ran = match units[index..index + len].split_first_mut() {
            Some((first, rest)) => first.run_group(rest, &mut tx).await,
            None => break,
        };
        let closed = match (guard, ran.dirty) {
            (Guard::None, false) => Ok(()),
            (Guard::None, true) => {
                // Dropping the transaction would roll back too, but later: do it now so the
                // retry does not wait on this one's locks.
                let _ = tx.rollback().await;
                return Attempt::GroupFailed { index, len };
            }
            (Guard::Savepoint, false) => tx.execute(sqlx::raw_sql(RELEASE)).await.map(|_| ()),
            (Guard::Savepoint, true) => match tx.execute(sqlx::raw_sql(ROLLBACK_TO)).await {
                Ok(_) => tx.execute(sqlx::raw_sql(RELEASE)).await.map(|_| ()),
                Err(e) => Err(e),
            },
        };
        if let Err(e) = closed {
            return Attempt::Abandoned(StoreError::from(e));
        }
        succeeded += ran.succeeded;
        index += len;
    }
    let commit = tx
        .commit()
        .await
        .map(|()| succeeded)
        .map_err(StoreError::from);
    Attempt::Settled {
        commit,
        elapsed: started.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// A unit that writes nothing: `fails` makes it fail on its own.
    async fn unit(store: &Store, fails: bool) -> Result<(), StoreError> {
        store
            .write(fails, |conn, &fails| {
                Box::pin(async move {
                    conn.execute(sqlx::raw_sql("SELECT 1")).await?;
                    if fails {
                        return Err(StoreError::Unavailable("this unit fails".to_owned()));
                    }
                    Ok(())
                })
            })
            .await
    }

    /// A unit that holds the writer for `ms` milliseconds, so that what is submitted meanwhile
    /// queues up and makes one batch.
    fn hold_writer(store: &Store, ms: u64) -> tokio::task::JoinHandle<Result<(), StoreError>> {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .write((), move |_, _| {
                    Box::pin(async move {
                        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                        Ok::<_, StoreError>(())
                    })
                })
                .await
        })
    }

    async fn run_sql(store: &Store, sql: &'static str) {
        store
            .write((), move |conn, _| {
                Box::pin(async move {
                    conn.execute(sqlx::raw_sql(sql)).await?;
                    Ok::<_, StoreError>(())
                })
            })
            .await
            .expect("setup");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_committed_transaction_is_recorded_in_both_histograms() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("w.db").display());
        let store = Store::connect(&url).await.expect("connect");
        let answers: Vec<_> = (0..64)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { unit(&store, i % 16 == 5).await })
            })
            .collect();
        let mut succeeded = 0;
        for answer in answers {
            succeeded += u64::from(matches!(answer.await, Ok(Ok(()))));
        }
        let stats = store.writer_stats();
        assert_eq!(succeeded, 60);
        assert_eq!(stats.units_committed, 60);
        assert!(stats.commits >= 1);
        assert_eq!(stats.batch_units.count(), stats.commits);
        assert_eq!(stats.batch_units.sum(), stats.units_committed as f64);
        assert_eq!(stats.commit_seconds.count(), stats.commits);
        assert!(stats.commit_seconds.sum() > 0.0, "{stats:?}");
    }

    /// Inserts its inputs with one multi-row statement: one value already present makes the
    /// whole statement fail, as a constraint the bulk work did not foresee would.
    struct InsertAll;

    impl Bulk for InsertAll {
        type Input = String;
        type Output = usize;
        type Error = StoreError;

        fn run<'a>(
            &'a self,
            conn: &'a mut AnyConnection,
            inputs: &'a [&'a String],
        ) -> BoxFuture<'a, BulkOutcomes<Self>> {
            Box::pin(async move {
                let style = crate::store::sql::Style::of(conn);
                let sql = format!(
                    "INSERT INTO t (x) VALUES {}",
                    style.values_list(inputs.len(), 1)
                );
                let mut query = sqlx::query(&sql);
                for input in inputs {
                    query = query.bind(input.as_str());
                }
                query.execute(&mut *conn).await?;
                Ok(inputs.iter().map(|_| Ok(inputs.len())).collect())
            })
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bulk_group_that_fails_runs_again_unit_by_unit_and_only_the_culprit_fails() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display());
        let store = Store::connect(&url).await.expect("connect");
        run_sql(
            &store,
            "CREATE TABLE t (x TEXT NOT NULL UNIQUE); INSERT INTO t (x) VALUES ('taken')",
        )
        .await;
        let blocker = hold_writer(&store, 300);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let work = Arc::new(InsertAll);
        let values: Vec<String> = (0..40)
            .map(|i| {
                if i == 17 {
                    "taken".to_owned()
                } else {
                    format!("v{i}")
                }
            })
            .collect();
        let answers: Vec<_> = values
            .iter()
            .cloned()
            .map(|value| {
                let (store, work) = (store.clone(), work.clone());
                tokio::spawn(async move { store.write_bulk(work, value).await })
            })
            .collect();
        let mut failed = Vec::new();
        for (value, answer) in values.iter().zip(answers) {
            if answer.await.expect("task").is_err() {
                failed.push(value.clone());
            }
        }
        assert_eq!(failed, vec!["taken".to_owned()]);
        let mut conn = store.acquire().await.expect("connection");
        let rows: i64 = sqlx::query("SELECT COUNT(*) AS n FROM t")
            .fetch_one(&mut *conn)
            .await
            .and_then(|row| sqlx::Row::try_get(&row, "n"))
            .expect("count");
        assert_eq!(rows, 40, "39 new values and the one taken before");
        blocker.await.expect("task").expect("blocker");
        let stats = store.writer_stats();
        assert_eq!(stats.units_committed, 41, "39, the setup and the blocker");
        // Setup, blocker, and the 40 in one batch: its group failed once and ran again.
        assert_eq!((stats.commits, stats.retried_batches), (3, 1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn units_of_one_bulk_kind_run_as_one_group_even_between_other_units() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("g.db").display());
        let store = Store::connect(&url).await.expect("connect");
        run_sql(&store, "CREATE TABLE t (x TEXT NOT NULL UNIQUE)").await;
        let blocker = hold_writer(&store, 400);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // Bulk and plain units queue in turn behind the blocker, so they make one batch.
        let work = Arc::new(InsertAll);
        let mut bulk = Vec::new();
        let mut plain = Vec::new();
        for i in 0..10 {
            let (s, w) = (store.clone(), work.clone());
            bulk.push(tokio::spawn(async move {
                s.write_bulk(w, format!("v{i}")).await
            }));
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            let s = store.clone();
            plain.push(tokio::spawn(async move { unit(&s, false).await }));
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        for answer in bulk {
            assert_eq!(
                answer.await.expect("task"),
                Ok(10),
                "each ran in a group of all ten"
            );
        }
        for answer in plain {
            answer.await.expect("task").expect("plain unit");
        }
        blocker.await.expect("task").expect("blocker");
        assert_eq!(store.writer_stats().commits, 3, "setup, blocker, one batch");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn foreground_units_go_before_background_ones_queued_earlier() {
        use std::sync::atomic::AtomicUsize;
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("l.db").display());
        let options = crate::store::StoreOptions {
            writer: WriterOptions {
                max_batch: 16,
                queue: 1024,
            },
            ..Default::default()
        };
        let store = Store::connect_with(&url, options).await.expect("connect");
        let blocker = hold_writer(&store, 300);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // The order in which units ran, by lane.
        let clock = Arc::new(AtomicUsize::new(0));
        let submit = |lane: Lane| {
            let (store, clock) = (store.clone(), clock.clone());
            tokio::spawn(async move {
                store
                    .write_in(lane, clock, |_, clock| {
                        Box::pin(async move {
                            Ok::<_, StoreError>(clock.fetch_add(1, Ordering::SeqCst))
                        })
                    })
                    .await
            })
        };
        let background: Vec<_> = (0..10).map(|_| submit(Lane::Background)).collect();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let foreground: Vec<_> = (0..40).map(|_| submit(Lane::Foreground)).collect();
        let ran = |answers: Vec<tokio::task::JoinHandle<Result<usize, StoreError>>>| async {
            let mut order = Vec::new();
            for answer in answers {
                order.push(answer.await.expect("task").expect("unit"));
            }
            order
        };
        let foreground = ran(foreground).await;
        let background = ran(background).await;
        blocker.await.expect("task").expect("blocker");
        // In the order of the queue all ten background units would run first. Foreground
        // goes first, background units join beside it only a few (`share`, 2 here) at a time.
        let last_foreground = foreground.iter().max().expect("some");
        let after = background.iter().filter(|&b| b > last_foreground).count();
        assert!(
            foreground.contains(&0) && after >= 5,
            "foreground {foreground:?}, background {background:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn background_units_join_the_transactions_of_a_flood_instead_of_committing_alone() {
        use std::sync::atomic::AtomicBool;
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("f.db").display());
        let store = Store::connect_with(&url, Default::default())
            .await
            .expect("connect");
        // Callers that submit a unit, wait a moment and submit the next: between two of their
        // batches the foreground queue is empty, as it is between an HTTP client's requests.
        let stop = Arc::new(AtomicBool::new(false));
        let flood: Vec<_> = (0..4)
            .map(|_| {
                let (store, stop) = (store.clone(), stop.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        store
                            .write((), |_, _| Box::pin(async { Ok::<_, StoreError>(()) }))
                            .await
                            .expect("foreground unit");
                        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                    }
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let background = |store: Store| async move {
            let unit = store.write_in(Lane::Background, (), |_, _| {
                Box::pin(async { Ok::<_, StoreError>(()) })
            });
            let answer = tokio::time::timeout(std::time::Duration::from_secs(10), unit).await;
            assert!(matches!(answer, Ok(Ok(()))), "starved: {answer:?}");
        };
        let before = store.writer_stats().background_batches;
        // A worker's units one after another, as a push worker leases and records.
        for _ in 0..12 {
            background(store.clone()).await;
        }
        let during = store.writer_stats().background_batches - before;
        stop.store(true, Ordering::SeqCst);
        for caller in flood {
            caller.await.expect("task");
        }
        assert!(
            during <= 1,
            "{during} transactions of background units alone during the flood"
        );
        // Once the flood is over, background units have transactions of their own again.
        tokio::time::sleep(QUIET_FOR * 2).await;
        let before = store.writer_stats().background_batches;
        background(store.clone()).await;
        assert_eq!(store.writer_stats().background_batches, before + 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn background_units_commit_while_foreground_units_keep_coming() {
        use std::sync::atomic::AtomicBool;
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("s.db").display());
        // Batches of 8 and 32 callers: the foreground queue is never empty, so background
        // units get in only beside foreground ones.
        let options = crate::store::StoreOptions {
            writer: WriterOptions {
                max_batch: 8,
                queue: 1024,
            },
            ..Default::default()
        };
        let store = Store::connect_with(&url, options).await.expect("connect");
        let busy = |store: Store| async move {
            store
                .write((), |_, _| {
                    Box::pin(async move {
                        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                        Ok::<_, StoreError>(())
                    })
                })
                .await
        };
        // Callers that submit foreground units back to back until told to stop.
        let stop = Arc::new(AtomicBool::new(false));
        let flood: Vec<_> = (0..32)
            .map(|_| {
                let (store, stop) = (store.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut done = 0u64;
                    while !stop.load(Ordering::SeqCst) {
                        busy(store.clone()).await.expect("foreground unit");
                        done += 1;
                    }
                    done
                })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        for _ in 0..5 {
            let unit = store.write_in(Lane::Background, (), |_, _| {
                Box::pin(async move { Ok::<_, StoreError>(()) })
            });
            let answer = tokio::time::timeout(std::time::Duration::from_secs(10), unit).await;
            assert!(matches!(answer, Ok(Ok(()))), "starved: {answer:?}");
        }
        stop.store(true, Ordering::SeqCst);
        let mut foreground = 0;
        for caller in flood {
            foreground += caller.await.expect("task");
        }
        assert!(foreground > 0);
    }
}
