//! Where argon2 runs: at most one evaluation per core at once, each on a blocking thread, each
//! with a working buffer of its own that is kept and reused.
//!
//! argon2id's cost is its memory (19 MiB per evaluation with the default parameters). Left to
//! the allocator, a flood of wrong secrets allocated and freed that much per attempt, and glibc
//! kept what it had freed: 8 connections looping wrong secrets took the server to 6.5 GB that
//! it never gave back. With a fixed pool of buffers, one per hashing slot, argon2 holds at most
//! `slots × 19 MiB` whatever the flood, and the same pages are used again.

use std::sync::{Arc, Mutex};

use argon2::Block;

use super::error::DirectoryError;
use crate::sync::lock;

/// The hashing slots and their working buffers. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Hashers {
    slots: Arc<tokio::sync::Semaphore>,
    /// Buffers not in use: never more than the number of slots.
    buffers: Arc<Mutex<Vec<Vec<Block>>>>,
}

impl Hashers {
    /// One slot (and, once used, one buffer) per core.
    pub(crate) fn new(slots: usize) -> Hashers {
        Hashers {
            slots: Arc::new(tokio::sync::Semaphore::new(slots.max(1))),
            buffers: Arc::new(Mutex::new(Vec::with_capacity(slots.max(1)))),
        }
    }

    /// Runs `work` on a blocking thread once a slot is free, lending it a working buffer
    /// (which `work` may grow: it is kept at its new size).
    pub(crate) async fn run<R, F>(&self, work: F) -> Result<R, DirectoryError>
    where
        F: FnOnce(&mut Vec<Block>) -> R + Send + 'static,
        R: Send + 'static,
    {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|e| DirectoryError::Hashing(e.to_string()))?;
        let buffers = self.buffers.clone();
        tokio::task::spawn_blocking(move || {
            let mut buffer = take(&buffers);
            let answer = work(&mut buffer);
            give_back(&buffers, buffer);
            answer
        })
        .await
        .map_err(|e| DirectoryError::Hashing(e.to_string()))
    }

    /// Buffers held now (for tests).
    #[cfg(test)]
    pub(crate) fn buffers(&self) -> Vec<usize> {
        lock(&self.buffers).iter().map(Vec::len).collect()
    }
}

fn take(buffers: &Mutex<Vec<Vec<Block>>>) -> Vec<Block> {
    lock(buffers).pop().unwrap_or_default()
}

fn give_back(buffers: &Mutex<Vec<Vec<Block>>>, buffer: Vec<Block>) {
    lock(buffers).push(buffer);
}

/// `memory` holding at least `blocks` blocks: grown once, then reused as is.
pub(crate) fn at_least(memory: &mut Vec<Block>, blocks: usize) -> &mut [Block] {
    if memory.len() < blocks {
        memory.resize(blocks, Block::new());
    }
    &mut memory[..blocks]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn buffers_are_reused_and_never_more_than_the_slots() {
        let hashers = Hashers::new(2);
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let hashers = hashers.clone();
            tasks.push(tokio::spawn(async move {
                hashers
                    .run(|memory| {
                        at_least(memory, 1024);
                        std::thread::sleep(std::time::Duration::from_millis(2));
                    })
                    .await
            }));
        }
        for task in tasks {
            task.await.expect("joined").expect("ran");
        }
        let held = hashers.buffers();
        assert!(
            (1..=2).contains(&held.len()),
            "at most one buffer per slot: {held:?}"
        );
        assert!(held.iter().all(|&n| n == 1024), "{held:?}");
    }
}
