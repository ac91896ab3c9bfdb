//! Where the load runs. Two shapes:
//!
//! - **shared** (the default): every user on the process's multi-thread (work-stealing)
//!   runtime, where the dashboard, the metrics tick and the signal watcher also run.
//! - **per core** (like wrk's `-t`): N threads, each with a single-threaded tokio runtime of
//!   its own that drives its share of the users and their connections. A user's task,
//!   timers and sockets stay on one thread: no work stealing, no cross-thread wake-ups.
//!
//! The engine sees only a list of runtime handles and spreads users over them in turn.
//! Measured side by side (`bench/runtime_shapes.sh`; README, Performance), the two are equal
//! within the noise of a 2-core machine (per core at 0.89 to 1.12 × shared, median 0.98),
//! so the simpler shared runtime is the default; per core stays for machines where it
//! measures faster. Depends on nothing else in the crate.

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The cores this process may run on: its CPU affinity (and cgroup quota), not the
/// machine's count, so that `taskset -c 0 stampede ...` gets one worker.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The runtimes the load runs on. Dropping it lets the per-core threads end (each shuts its
/// runtime down on its own thread, dropping whatever tasks remain).
pub struct Workers {
    handles: Vec<Handle>,
    stops: Vec<oneshot::Sender<()>>,
}

impl Workers {
    /// The current (multi-thread) runtime alone.
    pub fn shared() -> Self {
        Self {
            handles: vec![Handle::current()],
            stops: Vec::new(),
        }
    }

    /// `threads` single-threaded runtimes, each on a thread of its own.
    pub async fn per_core(threads: usize) -> Result<Self, String> {
        let mut workers = Self {
            handles: Vec::with_capacity(threads),
            stops: Vec::with_capacity(threads),
        };
        for i in 0..threads.max(1) {
            let (give_handle, handle) = oneshot::channel();
            let (stop, stopped) = oneshot::channel::<()>();
            std::thread::Builder::new()
                .name(format!("stampede-load-{i}"))
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    match runtime {
                        Ok(rt) => {
                            let _ = give_handle.send(Ok(rt.handle().clone()));
                            rt.block_on(async {
                                let _ = stopped.await;
                            });
                        }
                        Err(e) => {
                            let _ = give_handle.send(Err(e.to_string()));
                        }
                    }
                })
                .map_err(|e| format!("cannot start load thread {i}: {e}"))?;
            workers.stops.push(stop);
            let started = handle
                .await
                .map_err(|_| format!("load thread {i} ended at start"))?;
            workers.handles.push(
                started.map_err(|e| format!("cannot start the runtime of load thread {i}: {e}"))?,
            );
        }
        Ok(workers)
    }

    /// The runtimes, in the order users are spread over them.
    pub fn handles(&self) -> &[Handle] {
        &self.handles
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
    }
}
