//! The open model: the pace loop (`Pace`), which starts each arrival at its planned instant
//! on a thread of its own (or, in the engine's tests, on their paused clock), and the
//! arrival itself (a user running the worker loop once: a new one, or a finished arrival's
//! when a flow has an `init`).
//!
//! Depends on `worker` (the shared state and the one worker loop), `pacer` (the schedule's
//! arithmetic), `ramp`, `clock`, `metrics` (the level), `scenario` (the load model) and the
//! engine's `Transport`. Invariant: every planned arrival is started or counted as dropped.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::watch;
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
    /// Tracks every arrival started, so the driver waits for them.
    pub(super) tracker: TaskTracker,
    /// The load's runtimes, taken in turn.
    pub(super) runtimes: Vec<Handle>,
    /// The tasks a hard stop interrupts.
    pub(super) running: Arc<Mutex<Running>>,
}

/// Where the open model's pacer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PacerPlace {
    /// On a thread and a runtime of its own (`pace_apart`): every run.
    Apart,
    /// On the caller's runtime, woken by tokio's timer alone: the engine's tests, whose
    /// paused clock then brings each arrival exactly at its instant.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "only the engine's tests pace on their own clock")
    )]
    Here,
}

/// Runs the open model's pacer where `place` says, starting arrivals through `start`, until
/// its schedule ends (the run's duration or iterations) or the run stops.
pub(super) async fn pace<T: Transport>(
    shared: Arc<Shared<T>>,
    start: Start,
    started: Instant,
    max_in_flight: u64,
    place: PacerPlace,
) {
    match place {
        PacerPlace::Apart => pace_apart(shared, start, started, max_in_flight).await,
        PacerPlace::Here => {
            let pace = Pace::new(&shared, &start, started, max_in_flight, Duration::ZERO);
            pace.run().await;
        }
    }
}

/// Runs the pacer on a thread of its own, with a runtime of its own, starting arrivals on
/// the load's runtimes. Sharing a worker runtime, an arrival waited behind every response
/// that was ready at its instant (up to milliseconds on one core); alone, the pacer's thread
/// is woken by the kernel at the instant itself.
async fn pace_apart<T: Transport>(
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
                Ok(rt) => {
                    let pace = Pace::new(&shared, &start, started, max_in_flight, TIMER_SLACK);
                    rt.block_on(pace.run());
                }
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
/// level and pauses, and admits or drops each arrival. One method per event: a pause ends
/// (`resume`), the level changes (`level_changed`), an arrival comes due (`arrive`).
///
/// Every planned arrival is either started or counted as dropped: when `max_in_flight`
/// iterations are running, and when a stop signal comes while arrivals are already due.
/// The pacer ends the schedule itself at the run's duration, so a run of `d` seconds at
/// `r`/s plans exactly `ceil(d × r)` arrivals. While paused, nothing is planned. A shard
/// (`--shard k/N`) plans the same schedule and takes the arrivals numbered ≡ k (mod N).
struct Pace<'a, T: Transport> {
    shared: &'a Arc<Shared<T>>,
    start: &'a Start,
    pacer: Pacer,
    level: watch::Receiver<Level>,
    /// Seeds the arrivals' users.
    rng: fastrand::Rng,
    /// Arrivals started so far (those not yet ended are in flight).
    admitted: u64,
    max_in_flight: u64,
    /// How long before an arrival tokio's timer wakes the pacer (`TIMER_SLACK` on a thread
    /// of its own, which sleeps the rest; none on a shared runtime, which must not block).
    slack: Duration,
}

impl<'a, T: Transport> Pace<'a, T> {
    fn new(
        shared: &'a Arc<Shared<T>>,
        start: &'a Start,
        started: Instant,
        max_in_flight: u64,
        slack: Duration,
    ) -> Self {
        let mut level = shared.control.watch_level();
        let load = &shared.work.load;
        let ramp = (!load.stages.is_empty()).then(|| {
            let start = match load.model {
                Model::Open { rate, .. } => rate,
                Model::Closed { .. } => 0.0,
            };
            Arc::new(Ramp::new(start, &load.stages))
        });
        let deadline = load.duration.map(|d| started + d);
        let first = rate_of(*level.borrow_and_update());
        Self {
            shared,
            start,
            pacer: Pacer::new(started, first, ramp, deadline),
            level,
            rng: fastrand::Rng::new(),
            admitted: 0,
            max_in_flight,
            slack,
        }
    }

    async fn run(mut self) {
        loop {
            if self.shared.control.is_paused() && !self.resume().await {
                return;
            }
            // A change seen while catching up (no sleep below) still applies at once.
            if self.level.has_changed().unwrap_or(false) {
                self.level_changed();
            }
            let Some(planned) = self.pacer.next() else {
                return;
            };
            if !self.shared.work.shard.owns(self.pacer.planned()) {
                // Another shard's arrival: it keeps its number and instant there.
                self.pacer.advance();
                continue;
            }
            if !self.wait_for(planned).await {
                continue; // re-planned: the level changed or a pause began
            }
            if !self.shared.claim() {
                return;
            }
            let n = self.pacer.planned();
            self.pacer.advance();
            if !self.arrive(n, planned) {
                return;
            }
        }
    }

    /// The run was paused: waits for it to go on, then plans from then. `false`: it stops.
    async fn resume(&mut self) -> bool {
        let control = &self.shared.control;
        let paused_at = now();
        control.wait_while_paused().await;
        if control.is_stopping() {
            return false;
        }
        let rate = rate_of(*self.level.borrow_and_update());
        self.pacer.resume(paused_at, now(), rate);
        true
    }

    /// The level changed: the schedule takes the new rate from now.
    fn level_changed(&mut self) {
        let rate = rate_of(*self.level.borrow_and_update());
        let manual = self.shared.control.is_manual();
        self.pacer.change_rate(rate, manual, now());
    }

    /// Sleeps until `planned`, or until a stop. `false`: the level changed or a pause began
    /// first, and the next arrival must be planned again.
    async fn wait_for(&mut self, planned: Instant) -> bool {
        let shared = self.shared;
        let control = &shared.control;
        let wake = planned.checked_sub(self.slack).unwrap_or(planned);
        if wake > now() {
            tokio::select! {
                () = tokio::time::sleep_until(wake.into()) => {}
                () = control.stop.cancelled() => {}
                _ = self.level.changed() => {
                    self.level_changed();
                    return false;
                }
            }
            if control.is_paused() && !control.is_stopping() {
                return false;
            }
        }
        // The last stretch: the kernel's sleep, to within tens of microseconds. It blocks only
        // the pacer's own thread, for at most its slack.
        let left = planned.saturating_duration_since(now());
        if !left.is_zero() && !control.is_stopping() {
            std::thread::sleep(left);
        } else if self.pacer.planned() % 64 == 63 {
            // Catching up without sleeping: let the other tasks on this thread run.
            tokio::task::yield_now().await;
        }
        true
    }

    /// Arrival `n`, planned at `planned`, is due: it starts, or is counted as dropped.
    /// `false`: a stop came before it was due, and the schedule ends.
    fn arrive(&mut self, n: u64, planned: Instant) -> bool {
        let recorder = &self.shared.recorder;
        if self.shared.control.is_stopping() {
            // Not due yet, or the plan itself ended (as a duration would): the schedule
            // ends before it.
            if planned > now() + TIMER_SLACK || self.shared.control.finished_by_plan() {
                return false;
            }
            recorder.drop_arrival(); // due, but the run is stopping: counted, not lost
            return true;
        }
        // Arrivals never wait for a free slot: a late start would hide the server's slowness.
        if self.admitted - recorder.iterations_done() >= self.max_in_flight {
            recorder.drop_arrival();
            return true;
        }
        self.admitted += 1;
        let runtimes = &self.start.runtimes;
        let lane = (n % runtimes.len() as u64) as usize;
        let arrival = Arrival {
            shared: Arc::clone(self.shared),
            started: false,
        };
        let seed = self.rng.u64(..);
        let task = self
            .start
            .tracker
            .spawn_on(arrival.run(n, seed, lane, planned), &runtimes[lane]);
        lock(&self.start.running).push(task.abort_handle());
        true
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
        // Every arrival is a new user (vu() is its number, iteration() is 0), unless the plan
        // keeps users: then it goes on as a finished arrival's user, if one is idle.
        let idle = shared.take_idle(lane);
        let mut session = idle.session;
        let mut user = idle.user.unwrap_or_else(|| shared.work.user(n, seed));
        let flow = shared.work.pick(&mut user.rng);
        if let Err(why) = shared.work.take_rows(flow, &mut user) {
            shared.recorder.end_iteration(None);
            shared.control.stop_because(why);
            return;
        }
        run_iteration(shared, flow, planned, &mut user, &mut session).await;
        user.iteration += 1;
        shared.give_back(lane, session, user);
    }
}

impl<T: Transport> Drop for Arrival<T> {
    fn drop(&mut self) {
        if !self.started {
            self.shared.recorder.drop_arrival();
        }
    }
}
