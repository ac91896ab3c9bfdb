//! The open model: a pacer that starts each arrival at its planned instant, on a thread of
//! its own, and the arrival itself (a new user running the worker loop once).
//!
//! Depends on `worker` (the shared state and the one worker loop), `pacer` (the schedule's
//! arithmetic), `ramp`, `clock`, `metrics` (the level and the recorder) and the engine's
//! `Transport`. Invariant: every planned arrival is started or counted as dropped.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio_util::task::TaskTracker;

use super::clock::now;
use super::pacer::Pacer;
use super::worker::{Running, Shared, lock, run_iteration};
use super::{Ramp, Transport};
use crate::metrics::{Level, MIN_LIVE_RATE};
use crate::scenario::Model;

/// tokio's timer fires on 1 ms ticks, rounding every deadline up: the pacer's timer wakes it
/// this long before an arrival, and a precise sleep of its thread (nothing else runs on it)
/// takes it to the instant itself.
const TIMER_SLACK: Duration = Duration::from_micros(2_000);

/// Where the pacer starts arrivals: the task tracker, the load's runtimes, the list of
/// tasks a hard stop interrupts.
pub(super) struct Start {
    pub(super) tracker: TaskTracker,
    pub(super) runtimes: Vec<Handle>,
    pub(super) running: Arc<Mutex<Running>>,
}

/// Runs the pacer on a thread of its own, with a runtime of its own, starting arrivals on
/// the load's runtimes. Sharing a worker runtime, an arrival waited behind every response
/// that was ready at its instant (up to milliseconds on one core); alone, the pacer's thread
/// is woken by the kernel at the instant itself.
pub(super) async fn pace_apart<T: Transport>(
    shared: Arc<Shared<T>>,
    start: Start,
    started: Instant,
    max_in_flight: u64,
) {
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    let control = shared.control.clone();
    let spawned = std::thread::Builder::new()
        .name("stampede-pacer".into())
        .spawn(move || {
            tighten_timer_slack();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build();
            match runtime {
                Ok(rt) => rt.block_on(pace(&shared, &start, started, max_in_flight)),
                Err(e) => {
                    let why = format!("the pacer could not start: {e}");
                    shared.control.stop_because(why);
                }
            }
            let _ = done.send(());
        });
    match spawned {
        Ok(_) => {
            // A pacer that panicked drops `done` unsent: the run must not read as complete.
            if finished.await.is_err() {
                control.stop_because("the pacer stopped unexpectedly".into());
            }
        }
        Err(e) => control.stop_because(format!("the pacer thread could not start: {e}")),
    }
}

/// Asks Linux to wake this thread from its sleeps on time: by default a thread's timers may
/// fire up to 50 µs late (its "timer slack", which lets the kernel batch wake-ups), and
/// that was most of the pacer's send lag. A thread may set its own slack through
/// `/proc/<its id>/timerslack_ns`; elsewhere, or if that fails, sleeps keep the default.
fn tighten_timer_slack() {
    let Ok(me) = std::fs::read_link("/proc/thread-self") else {
        return;
    };
    if let Some(tid) = me.file_name() {
        let path = std::path::Path::new("/proc")
            .join(tid)
            .join("timerslack_ns");
        let _ = std::fs::write(path, "1");
    }
}

/// Starts arrivals at their planned instants, whether or not earlier ones have finished.
/// When they start is the `Pacer`'s arithmetic; this loop sleeps until then, follows the
/// level and pauses, and admits or drops each arrival.
///
/// Every planned arrival is either started or counted as dropped: when `max_in_flight`
/// iterations are running, and when a stop signal comes while arrivals are already due.
/// The pacer ends the schedule itself at the run's duration, so a run of `d` seconds at
/// `r`/s plans exactly `ceil(d × r)` arrivals. While paused, nothing is planned.
async fn pace<T: Transport>(
    shared: &Arc<Shared<T>>,
    start: &Start,
    started: Instant,
    max_in_flight: u64,
) {
    let control = &shared.control;
    let runtimes = &start.runtimes;
    let mut level = control.watch_level();
    let stages = &shared.work.load.stages;
    let ramp = (!stages.is_empty()).then(|| {
        let start = match shared.work.load.model {
            Model::Open { rate, .. } => rate,
            Model::Closed { .. } => 0.0,
        };
        Arc::new(Ramp::new(start, stages))
    });
    let deadline = shared.work.load.duration.map(|d| started + d);
    let first = rate_of(*level.borrow_and_update());
    let mut pacer = Pacer::new(started, first, ramp, deadline);
    let mut rng = fastrand::Rng::new();
    let mut admitted = 0u64;
    loop {
        if control.is_paused() {
            let paused_at = now();
            control.wait_while_paused().await;
            if control.is_stopping() {
                return;
            }
            let rate = rate_of(*level.borrow_and_update());
            pacer.resume(paused_at, now(), rate);
        }
        // A change seen while catching up (no sleep below) still applies at once.
        if level.has_changed().unwrap_or(false) {
            let rate = rate_of(*level.borrow_and_update());
            pacer.change_rate(rate, control.is_manual(), now());
        }
        let Some(planned) = pacer.next() else {
            return;
        };
        let wake = planned.checked_sub(TIMER_SLACK).unwrap_or(planned);
        if wake > now() {
            tokio::select! {
                () = tokio::time::sleep_until(wake.into()) => {}
                () = control.stop.cancelled() => {}
                _ = level.changed() => {
                    let rate = rate_of(*level.borrow_and_update());
                    pacer.change_rate(rate, control.is_manual(), now());
                    continue;
                }
            }
            if control.is_paused() && !control.is_stopping() {
                continue; // re-planned after the pause
            }
        }
        // The last stretch: the kernel's sleep, to within tens of microseconds. It blocks only
        // the pacer's own thread, for at most TIMER_SLACK.
        let left = planned.saturating_duration_since(now());
        let n = pacer.planned();
        if !left.is_zero() && !control.is_stopping() {
            std::thread::sleep(left);
        } else if n % 64 == 63 {
            // Catching up without sleeping: let the other tasks on this thread run.
            tokio::task::yield_now().await;
        }
        if !shared.claim() {
            return;
        }
        pacer.advance();
        if control.is_stopping() {
            if planned > now() + TIMER_SLACK {
                return; // not due yet: the stop ended the schedule before it
            }
            shared.recorder.drop_arrival(); // due, but the run is stopping: counted, not lost
            continue;
        }
        // Arrivals never wait for a free slot: a late start would hide the server's slowness.
        if admitted - shared.recorder.iterations_done() >= max_in_flight {
            shared.recorder.drop_arrival();
            continue;
        }
        admitted += 1;
        let lane = (n % runtimes.len() as u64) as usize;
        let arrival = Arrival {
            shared: Arc::clone(shared),
            started: false,
        };
        let seed = rng.u64(..);
        let task = start
            .tracker
            .spawn_on(arrival.run(n, seed, lane, planned), &runtimes[lane]);
        lock(&start.running).push(task.abort_handle());
    }
}

/// The level's arrival rate (a VU level, which an open model never has, counts as idle).
fn rate_of(level: Level) -> f64 {
    match level {
        Level::Rate(r) => r.max(MIN_LIVE_RATE),
        Level::Vus(_) => MIN_LIVE_RATE,
    }
}

/// One admitted open-model arrival. Dropped before it began (a hard stop while it waited
/// for its runtime), it is counted as dropped, so no planned arrival goes uncounted.
struct Arrival<T: Transport> {
    shared: Arc<Shared<T>>,
    started: bool,
}

impl<T: Transport> Arrival<T> {
    async fn run(mut self, n: u64, seed: u64, lane: usize, planned: Instant) {
        self.started = true;
        let shared = &self.shared;
        // Every arrival is a new user: vu() is its number, iteration() is 0.
        let mut user = shared.work.user(n, seed);
        let flow = shared.work.pick(&mut user.rng);
        if let Err(why) = shared.work.take_rows(flow, &mut user) {
            shared.recorder.end_iteration(None);
            shared.control.stop_because(why);
            return;
        }
        let mut session = shared.take_session(lane);
        run_iteration(shared, flow, planned, &mut user, &mut session).await;
        shared.give_back(lane, session);
    }
}

impl<T: Transport> Drop for Arrival<T> {
    fn drop(&mut self) {
        if !self.started {
            self.shared.recorder.drop_arrival();
        }
    }
}
