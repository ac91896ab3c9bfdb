//! The closed model: a crowd of virtual users, each running the worker loop back to back
//! on its own session, added and retired as the level moves.
//!
//! Depends on `worker` (the shared state and the one worker loop), `backoff` (a user's pause
//! after fast failures), `clock`, `metrics` (the level) and the engine's `Transport`.
//! Invariant: a user that awaits nothing pending (every request failed at once) still
//! yields or sleeps before its next iteration.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::runtime::Handle;
use tokio_util::task::TaskTracker;

use super::Transport;
use super::backoff::{Backoff, IterationEnd};
use super::clock::now;
use super::worker::{Running, Shared, lock, run_iteration};
use crate::metrics::Level;

/// How many users the closed model starts before it yields and checks whether to go on.
const SPAWN_BATCH: usize = 256;

/// The closed model: keeps as many virtual users running as the level asks for, adding or
/// retiring users when it changes, until the run stops or its iterations are spent.
pub(super) async fn crowd<T: Transport>(
    shared: &Arc<Shared<T>>,
    tracker: &TaskTracker,
    runtimes: &[Handle],
    running: &Mutex<Running>,
) {
    let mut level = shared.control.watch_level();
    // One retire flag per running user; the last ones retire first.
    let mut users: Vec<Arc<AtomicBool>> = Vec::new();
    let mut spawned = 0usize;
    loop {
        if shared.spent_all() {
            return; // a shard whose share of the iterations is none
        }
        let wanted = match *level.borrow_and_update() {
            Level::Vus(n) => usize::try_from(n).unwrap_or(usize::MAX),
            Level::Rate(_) => users.len(),
        };
        while users.len() < wanted {
            // Users start in batches, letting the first ones send while the rest are made: a
            // run that ends early (its iterations spent, or stopped) does not wait for a
            // million spawns.
            if users.len() % SPAWN_BATCH == SPAWN_BATCH - 1 {
                tokio::task::yield_now().await;
                if shared.control.is_stopping() || shared.spent_all() {
                    return;
                }
            }
            let retire = Arc::new(AtomicBool::new(false));
            let vu = users.len() as u64;
            let user = virtual_user(Arc::clone(shared), vu, Arc::clone(&retire));
            let task = tracker.spawn_on(user, &runtimes[spawned % runtimes.len()]);
            spawned += 1;
            lock(running).push(task.abort_handle());
            users.push(retire);
        }
        while users.len() > wanted {
            if let Some(retire) = users.pop() {
                retire.store(true, Ordering::Relaxed);
            }
        }
        tokio::select! {
            () = shared.control.stop.cancelled() => return,
            () = shared.spent.notified() => return,
            changed = level.changed() => if changed.is_err() { return },
        }
    }
}

async fn virtual_user<T: Transport>(shared: Arc<Shared<T>>, vu: u64, retire: Arc<AtomicBool>) {
    // Numbered over the whole plan: shard k's users are k, k + N, k + 2N, …
    let vu = shared.work.shard.global(vu);
    let mut user = shared.work.user(vu, fastrand::u64(..) ^ vu);
    let mut backoff = Backoff::default();
    let mut session = T::Session::default();
    // When the user's last iteration began: its cadence (think time, pace and pauses
    // included) is the interval the corrected view expects between its requests.
    let mut last_began: Option<std::time::Instant> = None;
    loop {
        shared.control.wait_while_paused().await;
        if shared.control.is_stopping() || retire.load(Ordering::Relaxed) || !shared.claim() {
            return;
        }
        let flow = shared.work.pick(&mut user.rng);
        if let Err(why) = shared.work.take_rows(flow, &mut user) {
            shared.control.stop_because(why);
            return;
        }
        let began = now();
        if let Some(last) = last_began.replace(began) {
            user.note_iteration(began.saturating_duration_since(last));
        }
        let end = run_iteration(&shared, flow, began, &mut user, &mut session).await;
        if end == IterationEnd::InitFailed {
            shared.unclaim();
        } else {
            user.iteration += 1;
        }
        // A paced user starts its iterations at most once per `pace`.
        let paced = flow.pace.map(|pace| began + pace);
        let backed_off = backoff.after(end).map(|pause| now() + pause);
        match paced.max(backed_off) {
            Some(until) => tokio::select! {
                () = tokio::time::sleep_until(until.into()) => {}
                () = shared.control.stop.cancelled() => return,
            },
            // A loop that awaited nothing that was pending (every request failed at once)
            // must still let the timer, the signal task and other users run.
            None if end == IterationEnd::FailedFast => tokio::task::yield_now().await,
            None => {}
        }
    }
}
