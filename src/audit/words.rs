//! The word indexer: fills the word index of the folded subjects (`store::words`) that makes a
//! search for rare words fast, for the documents accepted since it last looked — and, after
//! migration 0014, for every older one. It writes in the writer's background lane, as the log's
//! integrator does: a flood of submissions delays it, it does not slow the accepts, and the
//! searches meanwhile read the documents not indexed yet as they did before the index.

use std::time::{Duration, Instant};

use crate::store::{words, Lane, Store, StoreError};

/// Documents indexed by one writer unit: few, as the log integrator's events are, so that a unit
/// joining a busy writer's transaction (`store::BACKGROUND_EVERY`) holds the accepts up little.
const BATCH: i64 = 16;
/// How often the indexer looks for new documents when the last look found none to spare.
const POLL: Duration = Duration::from_secs(1);
/// How often a long catch-up says how far it is.
const PROGRESS: Duration = Duration::from_secs(10);

/// Starts the indexer task.
pub fn start(store: Store) {
    tokio::spawn(async move {
        let mut catching_up: Option<(Instant, usize)> = None;
        let mut said = Instant::now();
        let mut full = false;
        loop {
            // An idle server sends the writer nothing (each unit there is a commit); after a
            // full batch more is waiting, and the question is not worth a read.
            let waiting = full || any_waiting(&store).await;
            full = false;
            if !waiting {
                tokio::time::sleep(POLL).await;
                continue;
            }
            match index_some(&store).await {
                Ok(n) if n as i64 == BATCH => {
                    full = true;
                    let (since, done) = catching_up.get_or_insert((Instant::now(), 0));
                    *done += n;
                    if said.elapsed() >= PROGRESS {
                        said = Instant::now();
                        tracing::info!(
                            indexed = *done,
                            seconds = since.elapsed().as_secs(),
                            "search: indexing the words of older subjects"
                        );
                    }
                    continue;
                }
                Ok(n) => {
                    if let Some((since, done)) = catching_up.take() {
                        tracing::info!(
                            indexed = done + n,
                            seconds = since.elapsed().as_secs(),
                            "search: the word index has caught up"
                        );
                    }
                }
                Err(error) => tracing::warn!(%error, "search: indexing words failed; trying again"),
            }
            tokio::time::sleep(POLL).await;
        }
    });
}

/// Whether any document waits for the indexer, read on a reader; when the read fails, the
/// indexer tries its unit and says what failed.
async fn any_waiting(store: &Store) -> bool {
    match store.acquire().await {
        Ok(mut conn) => words::any_unindexed(&mut conn).await.unwrap_or(true),
        Err(_) => true,
    }
}

/// Indexes one batch, in the background lane; answers how many documents.
pub async fn index_some(store: &Store) -> Result<usize, StoreError> {
    store
        .write_in(Lane::Background, (), |conn, ()| {
            Box::pin(words::index_some(conn, BATCH))
        })
        .await
}
