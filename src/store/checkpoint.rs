//! SQLite checkpoints off the writer's path. In WAL mode every commit appends pages to the
//! write-ahead log, and a checkpoint copies them back into the database file. Left to
//! SQLite, the commit that crosses the log's size limit runs that checkpoint itself, holding
//! up its whole batch for tens of milliseconds (the p99 of every submission behind it). So
//! connections never checkpoint on their own (`wal_autocheckpoint = 0`) and this task does it
//! instead, on a pooled connection, while the writer goes on.
//!
//! A PASSIVE checkpoint never waits for the writer, so under a steady stream of commits the
//! log is never found fully copied when a commit starts, and it only grows (SQLite starts it
//! over only then). Past [`LOG_LIMIT_FRAMES`] this task raises a flag, and the writer itself
//! runs a RESTART checkpoint between two batches: the passive rounds have copied nearly
//! everything by then, no other writer exists to wait for, and the next commit starts the log
//! from its beginning again. (A RESTART from this task would instead make the writer wait on
//! SQLite's busy handler, which sleeps in steps of up to 100 ms.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::{AnyPool, Row};

use super::error::StoreError;

/// How often the log is checkpointed: often, so that each round has little to copy and
/// competes little with the writer's own fsyncs (measured: every 20 ms gave a p99 latency of
/// submissions a third of every 200 ms; docs/PERFORMANCE.md).
pub(crate) const INTERVAL: Duration = Duration::from_millis(20);

/// Frames (pages) in the log above which the writer restarts it: 4,096 pages of 4 KiB, 16 MiB.
/// Measured at 2,500 submissions/s: a log let grow to 1 GiB made every commit slower (p99 three
/// times worse), restarting at 4 MiB cost more pauses than it saved.
pub(crate) const LOG_LIMIT_FRAMES: i64 = 4_096;

/// What one checkpoint did, as SQLite reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checkpointed {
    /// Frames in the log.
    pub(crate) log: i64,
    /// Frames copied into the database file (all of them, or the log was empty).
    pub(crate) copied: i64,
}

/// Set when the log has outgrown [`LOG_LIMIT_FRAMES`]: the writer then runs
/// [`restart`] before its next batch.
#[derive(Debug, Default)]
pub(crate) struct RestartWanted(AtomicBool);

impl RestartWanted {
    /// Whether a restart was wanted; clears the wish.
    pub(crate) fn take(&self) -> bool {
        self.0.swap(false, Ordering::AcqRel)
    }

    fn raise(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Checkpoints the log of the pool's database every [`INTERVAL`] until the pool is closed.
pub(crate) fn spawn(pool: AnyPool, restart_wanted: Arc<RestartWanted>) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if pool.is_closed() {
                return;
            }
            match passive(&pool).await {
                Ok(done) if done.log > LOG_LIMIT_FRAMES => restart_wanted.raise(),
                Ok(_) => {}
                Err(_) if pool.is_closed() => return,
                Err(e) => {
                    tracing::warn!(error = %e, "SQLite checkpoint failed; the next one will retry");
                }
            }
        }
    });
}

/// Copies what it can of the log into the database file without waiting for anyone.
pub(crate) async fn passive(pool: &AnyPool) -> Result<Checkpointed, StoreError> {
    run(pool, "PASSIVE").await
}

/// Copies the whole log and has the next commit start it over. Run by the writer between
/// batches (it would wait for the writer otherwise).
pub(crate) async fn restart(pool: &AnyPool) -> Result<Checkpointed, StoreError> {
    run(pool, "RESTART").await
}

async fn run(pool: &AnyPool, mode: &str) -> Result<Checkpointed, StoreError> {
    let mut conn = pool.acquire().await?;
    let row = sqlx::query(&format!("PRAGMA wal_checkpoint({mode})"))
        .fetch_one(&mut *conn)
        .await?;
    // (busy, log, checkpointed); -1 for both counts when the database is not in WAL mode.
    Ok(Checkpointed {
        log: row.try_get::<i64, _>(1)?,
        copied: row.try_get::<i64, _>(2)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::any::AnyPoolOptions;
    use sqlx::Executor;

    async fn wal_pool(dir: &std::path::Path) -> AnyPool {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}/c.db?mode=rwc", dir.display());
        let pool = AnyPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .expect("pool");
        pool.execute(sqlx::raw_sql(
            "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (x TEXT)",
        ))
        .await
        .expect("setup");
        pool
    }

    #[tokio::test]
    async fn a_checkpoint_copies_the_whole_log_into_the_database() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pool = wal_pool(dir.path()).await;
        for i in 0..200 {
            sqlx::query("INSERT INTO t (x) VALUES ($1)")
                .bind("x".repeat(1000 + i))
                .execute(&pool)
                .await
                .expect("insert");
        }
        let done = passive(&pool).await.expect("checkpoint");
        assert!(done.log > 50, "the inserts are in the log: {done:?}");
        assert_eq!(done.copied, done.log);
        // A restart copies everything too, and the next commit starts the log over.
        let restarted = restart(&pool).await.expect("restart");
        assert_eq!(restarted.copied, restarted.log);
        sqlx::query("INSERT INTO t (x) VALUES ('after')")
            .execute(&pool)
            .await
            .expect("insert");
        let after = passive(&pool).await.expect("checkpoint");
        assert!(after.log < done.log, "{after:?} after {done:?}");
    }

    #[tokio::test]
    async fn store_connections_leave_checkpoints_to_this_task() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/s.db?mode=rwc", dir.path().display());
        let store = crate::store::Store::connect(&url).await.expect("store");
        let mut conn = store.acquire().await.expect("connection");
        let row = sqlx::query("PRAGMA wal_autocheckpoint")
            .fetch_one(&mut *conn)
            .await
            .expect("pragma");
        assert_eq!(row.try_get::<i64, _>(0).expect("value"), 0);
    }
}
