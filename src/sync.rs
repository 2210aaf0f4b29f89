//! Locks that outlive a panic. The shared state behind these mutexes (counters, budgets, small
//! tables) stays consistent at every step, so a thread that panicked while holding one leaves
//! nothing half-done: the next holder takes the lock as it is instead of panicking in turn.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, poisoned or not.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
