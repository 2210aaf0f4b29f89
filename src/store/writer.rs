//! The group-commit writer: one tokio task owns the write side of the database. Callers hand
//! it a unit of work; it takes whatever units are queued (up to a batch size), runs them one
//! after another inside ONE transaction, commits once, and only then answers every caller. An
//! answer therefore means "committed" (or "refused", and nothing of that unit was kept), and a
//! burst of concurrent submissions costs one fsync rather than one each.
//!
//! A unit that fails must leave nothing behind, without costing the others their answer. The
//! first attempt at a batch runs the units back to back (savepoints per unit halve SQLite's
//! throughput and, past 64 per transaction, slow every PostgreSQL session); when a unit fails,
//! that transaction is rolled back, the failing unit gets its own error, and the rest of the
//! batch runs again in a second transaction, this time each unit under a savepoint. So a unit
//! may run twice: its work must be repeatable (it reads its input by reference and keeps no
//! state between runs), and only the run that commits counts.
//!
//! On SQLite this task is the only writer of the process, so writers never wait on each
//! other's locks. Units must only talk to the database: whatever they await holds up the batch.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sqlx::{AnyConnection, AnyPool, Executor};
use tokio::sync::{mpsc, oneshot};

use super::error::StoreError;

/// A boxed, sendable future borrowing for `'a`: what a unit of work returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A unit of work queued for the writer, type-erased.
pub(crate) trait Unit: Send {
    /// Runs the work on the batch's connection and keeps its outcome; true when it succeeded.
    fn run<'c>(&'c mut self, conn: &'c mut AnyConnection) -> BoxFuture<'c, bool>;
    /// Answers with the kept outcome once the transaction is settled: the outcome when the
    /// commit succeeded (or the unit failed on its own), the commit's error otherwise.
    fn finish(self: Box<Self>, commit: Result<(), StoreError>);
    /// Answers with `error` (the batch could not run).
    fn fail(self: Box<Self>, error: StoreError);
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
    fn run<'c>(&'c mut self, conn: &'c mut AnyConnection) -> BoxFuture<'c, bool> {
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
            succeeded
        })
    }

    fn finish(self: Box<Self>, commit: Result<(), StoreError>) {
        let answer = match (commit, self.outcome) {
            (Ok(()), Some(outcome)) => outcome,
            // A unit that failed on its own reports its own reason, commit or not.
            (Err(_), Some(Err(own))) => Err(own),
            (Err(e), _) => Err(E::from(e)),
            (Ok(()), None) => Err(E::from(StoreError::Unavailable(
                "the writer settled a unit that never ran".to_owned(),
            ))),
        };
        // The caller may have gone away; nothing to do then.
        let _ = self.reply.send(answer);
    }

    fn fail(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(E::from(error)));
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

/// What the writer has done since the store was opened (for `/metrics` and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions committed.
    pub commits: u64,
    /// Units whose changes were committed.
    pub units_committed: u64,
    /// Units that failed (their own error, or a failed commit) and left nothing behind.
    pub units_failed: u64,
    /// Batches that had to run a second time because one of their units failed.
    pub retried_batches: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    commits: AtomicU64,
    units_committed: AtomicU64,
    units_failed: AtomicU64,
    retried_batches: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> WriterStats {
        WriterStats {
            commits: self.commits.load(Ordering::Relaxed),
            units_committed: self.units_committed.load(Ordering::Relaxed),
            units_failed: self.units_failed.load(Ordering::Relaxed),
            retried_batches: self.retried_batches.load(Ordering::Relaxed),
        }
    }

    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Starts the writer task on the current tokio runtime. It stops when every sender is dropped.
pub(crate) fn spawn(
    pool: AnyPool,
    options: WriterOptions,
    counters: Arc<Counters>,
) -> mpsc::Sender<Box<dyn Unit>> {
    let (sender, receiver) = mpsc::channel(options.queue.max(1));
    tokio::spawn(run(pool, receiver, options.max_batch.max(1), counters));
    sender
}

async fn run(
    pool: AnyPool,
    mut queue: mpsc::Receiver<Box<dyn Unit>>,
    max_batch: usize,
    counters: Arc<Counters>,
) {
    let mut batch: Vec<Box<dyn Unit>> = Vec::with_capacity(max_batch);
    loop {
        if queue.recv_many(&mut batch, max_batch).await == 0 {
            return;
        }
        let units = std::mem::replace(&mut batch, Vec::with_capacity(max_batch));
        let count = units.len() as u64;
        // The batch runs in a task of its own so that a panicking unit costs its batch (whose
        // callers then see the writer as unavailable), not the writer.
        let batch_counters = counters.clone();
        let outcome = tokio::spawn(settle(pool.clone(), units, batch_counters)).await;
        if outcome.is_err() {
            Counters::add(&counters.units_failed, count);
        }
    }
}

/// Runs a batch to its end: commits what can be committed and answers every unit.
async fn settle(pool: AnyPool, mut units: Vec<Box<dyn Unit>>, counters: Arc<Counters>) {
    let failed_at = match attempt(&pool, &mut units, Guard::None).await {
        Attempt::Settled { commit } => return conclude(units, commit, &counters),
        Attempt::Abandoned(error) => {
            Counters::add(&counters.units_failed, units.len() as u64);
            return units.into_iter().for_each(|u| u.fail(error.clone()));
        }
        Attempt::UnitFailed(index) => index,
    };
    // The first transaction was rolled back. The unit that failed keeps its own error; the
    // others run again, each under a savepoint so that a second failure stays local.
    Counters::add(&counters.retried_batches, 1);
    Counters::add(&counters.units_failed, 1);
    let failed = units.remove(failed_at);
    failed.finish(Ok(()));
    if units.is_empty() {
        return;
    }
    match attempt(&pool, &mut units, Guard::Savepoint).await {
        Attempt::Settled { commit } => conclude(units, commit, &counters),
        Attempt::Abandoned(error) => {
            Counters::add(&counters.units_failed, units.len() as u64);
            units.into_iter().for_each(|u| u.fail(error.clone()));
        }
        // Guarded units roll back alone; an attempt never stops on one.
        Attempt::UnitFailed(_) => {
            let error = StoreError::Unavailable("the writer lost track of a batch".to_owned());
            Counters::add(&counters.units_failed, units.len() as u64);
            units.into_iter().for_each(|u| u.fail(error.clone()));
        }
    }
}

/// Answers every unit after the commit (or its failure) and counts.
fn conclude(units: Vec<Box<dyn Unit>>, commit: Result<u64, StoreError>, counters: &Counters) {
    let total = units.len() as u64;
    match &commit {
        Ok(succeeded) => {
            Counters::add(&counters.commits, 1);
            Counters::add(&counters.units_committed, *succeeded);
            Counters::add(&counters.units_failed, total - succeeded);
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
    /// Units back to back: the first failure stops the attempt.
    None,
    /// Each unit under a savepoint: a failure is rolled back alone.
    Savepoint,
}

enum Attempt {
    /// The transaction ended: `Ok(units that succeeded)` when it committed.
    Settled { commit: Result<u64, StoreError> },
    /// Unguarded unit `index` failed; the transaction was rolled back.
    UnitFailed(usize),
    /// The transaction could not go on (begin, a savepoint or the connection failed).
    Abandoned(StoreError),
}

const SAVEPOINT: &str = "SAVEPOINT lienthong_unit";
const RELEASE: &str = "RELEASE SAVEPOINT lienthong_unit";
const ROLLBACK_TO: &str = "ROLLBACK TO SAVEPOINT lienthong_unit";

async fn attempt(pool: &AnyPool, units: &mut [Box<dyn Unit>], guard: Guard) -> Attempt {
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(e) => return Attempt::Abandoned(StoreError::from(e)),
    };
    let mut succeeded = 0u64;
    for (index, unit) in units.iter_mut().enumerate() {
        if guard == Guard::Savepoint {
            if let Err(e) = tx.execute(sqlx::raw_sql(SAVEPOINT)).await {
                return Attempt::Abandoned(StoreError::from(e));
            }
        }
        let ok = unit.run(&mut tx).await;
        let closed = match (guard, ok) {
            (Guard::None, true) => Ok(()),
            (Guard::None, false) => {
                // Dropping the transaction would roll back too, but later: do it now so the
                // retry does not wait on this one's locks.
                let _ = tx.rollback().await;
                return Attempt::UnitFailed(index);
            }
            (Guard::Savepoint, true) => tx.execute(sqlx::raw_sql(RELEASE)).await.map(|_| ()),
            (Guard::Savepoint, false) => match tx.execute(sqlx::raw_sql(ROLLBACK_TO)).await {
                Ok(_) => tx.execute(sqlx::raw_sql(RELEASE)).await.map(|_| ()),
                Err(e) => Err(e),
            },
        };
        if let Err(e) = closed {
            return Attempt::Abandoned(StoreError::from(e));
        }
        succeeded += u64::from(ok);
    }
    let commit = tx
        .commit()
        .await
        .map(|()| succeeded)
        .map_err(StoreError::from);
    Attempt::Settled { commit }
}
