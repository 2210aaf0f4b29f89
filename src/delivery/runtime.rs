//! Delivery's own threads. Pushes, mails and the overdue job run on a tokio runtime of their
//! own, whose threads (its worker and the blocking threads that make the HTTP and SMTP
//! exchanges) the kernel schedules after the server's others when the CPUs are busy.
//!
//! Why: everything delivery does follows an acceptance and can wait; accepting cannot. Run on
//! the server's main runtime, a push's signature or a mail's composition held up the group-commit
//! writer, which shares that thread, and on a saturated node the pushes took CPU from the
//! submissions they were about. On its own niced threads delivery takes what the accepting side
//! leaves: all of an idle node, and at least its fair share (CFS weights: about a tenth of a CPU
//! at nice +10 beside busy threads at 0) under a flood, so pushes still go out while it lasts.

use std::time::Duration;

use tokio::runtime::{Handle, Runtime};

/// How much lower than the rest of the server delivery's threads run (`nice` steps): CFS gives
/// a thread at +10 about a tenth of the CPU time of one at 0 when both want it.
pub const NICE_STEPS: i32 = 10;

/// The highest `nice` value Linux knows (the lowest priority).
const NICE_MAX: i32 = 19;

/// The name of delivery's threads, as `top -H` and /proc show it (15 characters at most).
pub const THREAD_NAME: &str = "lt-delivery";

/// The runtime delivery's workers are started on; it stops with the server.
pub struct DeliveryRuntime {
    runtime: Option<Runtime>,
}

impl DeliveryRuntime {
    /// Starts the runtime: one worker thread (delivery waits on the network and the database
    /// far more than it computes) and blocking threads for the synchronous HTTP and SMTP
    /// clients, every one of them [`NICE_STEPS`] below the process.
    pub fn start() -> std::io::Result<DeliveryRuntime> {
        let base = process_nice();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(THREAD_NAME)
            .thread_keep_alive(Duration::from_secs(60))
            .enable_all()
            .on_thread_start(move || lower_this_thread(base))
            .build()?;
        Ok(DeliveryRuntime {
            runtime: Some(runtime),
        })
    }

    /// Where delivery's tasks are spawned.
    pub fn handle(&self) -> &Handle {
        match &self.runtime {
            Some(runtime) => runtime.handle(),
            None => unreachable!("the runtime is only taken when dropped"),
        }
    }
}

impl Drop for DeliveryRuntime {
    /// Stops without waiting for the tasks: what they were doing is leased in the database and
    /// is taken again after the lease (dropping a runtime from async code would panic).
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The process's `nice` value (0 if it cannot be read).
fn process_nice() -> i32 {
    #[cfg(target_os = "linux")]
    {
        rustix::process::getpriority_process(None).unwrap_or(0)
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}

/// Lowers the calling thread to [`NICE_STEPS`] below `base`. On Linux a thread's id names that
/// thread alone to setpriority(2) (see its NOTES), and any thread may lower its own priority;
/// elsewhere, and if the call fails, the thread keeps the process's priority and says so.
fn lower_this_thread(base: i32) {
    let wanted = (base + NICE_STEPS).min(NICE_MAX);
    #[cfg(target_os = "linux")]
    let lowered = rustix::process::setpriority_process(Some(rustix::thread::gettid()), wanted)
        .map_err(|e| e.to_string());
    #[cfg(not(target_os = "linux"))]
    let lowered: Result<(), String> = Err("per-thread priorities need Linux".to_owned());
    if let Err(error) = lowered {
        tracing::warn!(%error, wanted, "delivery runs at the server's priority");
    }
}
