//! The one worker loop and the two ways of starting it.
//!
//! `run_iteration` executes one flow: every step is sent, timed and recorded the same way in
//! both load models. The closed model runs it back to back in each virtual user; the open
//! model's pacer starts it at each planned arrival instant, and the first step's latency is
//! measured from that instant (coordinated-omission safe), with the service time beside it.
//!
//! Hard-stop signalling avoids a shared lock per request: each virtual user owns a child token,
//! and open-model arrivals spread over a fixed set of child tokens.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::backoff::{Backoff, IterationEnd, fails_fast};
use super::workload::{ReadyFlow, User};
use super::{Control, Ramp, Transport, Workload};
use crate::metrics::{ErrorClass, Level, MIN_LIVE_RATE, Outcome, Recorder};
use crate::scenario::Model;
use crate::scenario::OnError;

/// Child abort tokens for open-model arrivals (spreads waker registration over many locks).
const ABORT_LANES: usize = 64;

/// How many users the closed model starts before it yields and checks whether to go on.
const SPAWN_BATCH: usize = 256;

/// tokio's timer fires on 1 ms ticks, rounding every deadline up: the pacer's timer wakes it
/// this long before an arrival, and a precise sleep of its thread (nothing else runs on it)
/// takes it to the instant itself.
const TIMER_SLACK: Duration = Duration::from_micros(2_000);

/// What every worker shares (read-only, apart from the iteration budget).
pub struct Shared<T: Transport> {
    pub work: Arc<Workload>,
    transport: Arc<T>,
    recorder: Recorder,
    control: Control,
    /// Iterations left to start when the plan limits them.
    budget: Option<AtomicU64>,
    /// Signalled when the budget runs out (so the closed-model driver stops waiting).
    spent: Notify,
    /// Open model: the sessions (connections) of finished arrivals, for the next ones. An
    /// arrival takes one and gives it back: one uncontended lock per iteration, so that
    /// arrivals reuse as many connections as are in flight instead of one each.
    idle: std::sync::Mutex<Vec<T::Session>>,
}

impl<T: Transport> Shared<T> {
    pub fn new(
        work: Arc<Workload>,
        transport: Arc<T>,
        recorder: Recorder,
        control: Control,
    ) -> Self {
        let budget = work.load.iterations.map(AtomicU64::new);
        Self {
            work,
            transport,
            recorder,
            control,
            budget,
            spent: Notify::new(),
            idle: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// A session for an open-model arrival: an idle one, or a new one.
    fn take_session(&self) -> T::Session {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.pop().unwrap_or_default()
    }

    /// Gives an arrival's session back for the next arrival.
    fn give_back(&self, session: T::Session) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.push(session);
    }

    /// Whether the iteration budget exists and is used up.
    fn spent_all(&self) -> bool {
        self.budget
            .as_ref()
            .is_some_and(|left| left.load(Ordering::Relaxed) == 0)
    }

    /// Takes one iteration from the budget; false when it is spent.
    fn claim(&self) -> bool {
        let Some(left) = &self.budget else {
            return true;
        };
        let claimed = left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if !claimed {
            self.spent.notify_one();
        }
        claimed
    }
}

/// Runs the load model until it ends, then waits for every started iteration.
pub async fn drive<T: Transport>(shared: Arc<Shared<T>>, started: Instant) {
    let tracker = TaskTracker::new();
    match shared.work.load.model {
        Model::Closed { .. } => crowd(&shared, &tracker).await,
        Model::Open { max_in_flight, .. } => {
            pace_apart(Arc::clone(&shared), tracker.clone(), started, max_in_flight).await;
        }
    }
    tracker.close();
    tracker.wait().await;
}

/// Runs the pacer on a thread of its own, with a runtime of its own, starting arrivals on
/// this runtime. Sharing the workers' runtime, an arrival waited behind every response that
/// was ready at its instant (up to milliseconds on one core); alone, the pacer's thread is
/// woken by the kernel at the instant itself.
async fn pace_apart<T: Transport>(
    shared: Arc<Shared<T>>,
    tracker: TaskTracker,
    started: Instant,
    max_in_flight: u64,
) {
    let workers = tokio::runtime::Handle::current();
    let (done, finished) = tokio::sync::oneshot::channel::<()>();
    let control = shared.control.clone();
    let spawned = std::thread::Builder::new()
        .name("stampede-pacer".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build();
            match runtime {
                Ok(rt) => rt.block_on(pace(&shared, &tracker, &workers, started, max_in_flight)),
                Err(e) => shared
                    .control
                    .stop_because(format!("the pacer could not start: {e}")),
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

/// The closed model: keeps as many virtual users running as the level asks for, adding or
/// retiring users when it changes, until the run stops or its iterations are spent.
async fn crowd<T: Transport>(shared: &Arc<Shared<T>>, tracker: &TaskTracker) {
    let mut level = shared.control.watch_level();
    // One retire flag per running user; the last ones retire first.
    let mut users: Vec<Arc<AtomicBool>> = Vec::new();
    loop {
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
            let abort = shared.control.abort.child_token();
            let vu = users.len() as u64;
            tracker.spawn(virtual_user(
                Arc::clone(shared),
                vu,
                abort,
                Arc::clone(&retire),
            ));
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

async fn virtual_user<T: Transport>(
    shared: Arc<Shared<T>>,
    vu: u64,
    abort: CancellationToken,
    retire: Arc<AtomicBool>,
) {
    let mut user = User::of(&shared.work, vu, fastrand::u64(..) ^ vu);
    let mut backoff = Backoff::default();
    let mut session = T::Session::default();
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
        let began = Instant::now();
        let end = run_iteration(&shared, flow, began, &abort, &mut user, &mut session).await;
        user.iteration += 1;
        // A paced user starts its iterations at most once per `pace`.
        let paced = flow.pace.map(|pace| began + pace);
        let backed_off = backoff.after(end).map(|pause| Instant::now() + pause);
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

/// The open model's schedule: arrival `n` is planned at `base + (n - base_n) / rate`, or,
/// with stages, where the ramp puts it (from `base`, shifted by pauses). A level change or a
/// resume starts a new segment, so earlier arrivals keep their instants.
struct Schedule {
    base: Instant,
    base_n: u64,
    rate: f64,
    ramp: Option<Arc<Ramp>>,
}

impl Schedule {
    fn planned(&self, n: u64) -> Option<Instant> {
        let secs = match &self.ramp {
            Some(ramp) => ramp.time_of(n)?,
            None => n.checked_sub(self.base_n)? as f64 / self.rate,
        };
        Some(self.base + Duration::try_from_secs_f64(secs).ok()?)
    }
}

/// The schedule at a new rate from arrival `next` on: one new gap after the last arrival of
/// the segment, but never in the past (a faster rate must not backdate arrivals, whose
/// latency would then count time before the change). A segment with no arrival yet keeps its
/// start.
fn replan(schedule: &Schedule, next: u64, rate: f64, now: Instant) -> Schedule {
    let last = next
        .checked_sub(1)
        .filter(|&p| p >= schedule.base_n)
        .and_then(|p| schedule.planned(p));
    let Some(last) = last else {
        let base = if schedule.ramp.is_some() {
            now
        } else {
            schedule.base
        };
        return Schedule {
            base,
            base_n: next,
            rate,
            ramp: None,
        };
    };
    let gap = Duration::try_from_secs_f64(1.0 / rate).unwrap_or(Duration::MAX);
    let base = last.checked_add(gap).unwrap_or(now).max(now);
    Schedule {
        base,
        base_n: next,
        rate,
        ramp: None,
    }
}

/// Starts arrivals at their planned instants, whether or not earlier ones have finished.
///
/// Every planned arrival is either started or counted as dropped: when `max_in_flight`
/// iterations are running, and when a stop signal comes while arrivals are already due.
/// The pacer ends the schedule itself at the run's duration, so a run of `d` seconds at
/// `r`/s plans exactly `ceil(d × r)` arrivals. While paused, nothing is planned.
async fn pace<T: Transport>(
    shared: &Arc<Shared<T>>,
    tracker: &TaskTracker,
    workers: &tokio::runtime::Handle,
    started: Instant,
    max_in_flight: u64,
) {
    let lanes: Vec<CancellationToken> = (0..ABORT_LANES)
        .map(|_| shared.control.abort.child_token())
        .collect();
    let deadline = shared.work.load.duration.map(|d| started + d);
    let mut level = shared.control.watch_level();
    let rate_of = |l: Level| match l {
        Level::Rate(r) => r.max(MIN_LIVE_RATE),
        Level::Vus(_) => MIN_LIVE_RATE,
    };
    let stages = &shared.work.load.stages;
    let mut schedule = Schedule {
        base: started,
        base_n: 0,
        rate: rate_of(*level.borrow_and_update()),
        ramp: (!stages.is_empty()).then(|| {
            let start = match shared.work.load.model {
                Model::Open { rate, .. } => rate,
                Model::Closed { .. } => 0.0,
            };
            Arc::new(Ramp::new(start, stages))
        }),
    };
    // Stages move the level too (for the dashboard); only a change by the user re-plans.
    let replans = |schedule: &Schedule| schedule.ramp.is_none() || shared.control.is_manual();
    let mut rng = fastrand::Rng::new();
    let mut admitted = 0u64;
    let mut n = 0u64;
    loop {
        if shared.control.is_paused() {
            let paused_at = Instant::now();
            shared.control.wait_while_paused().await;
            if shared.control.is_stopping() {
                return;
            }
            let rate = rate_of(*level.borrow_and_update());
            schedule = match schedule.ramp.take() {
                // The ramp resumes where it was: every later arrival moves by the pause.
                Some(ramp) => Schedule {
                    base: schedule.base + (Instant::now() - paused_at),
                    ramp: Some(ramp),
                    ..schedule
                },
                None => Schedule {
                    base: Instant::now(),
                    base_n: n,
                    rate,
                    ramp: None,
                },
            };
        }
        // A change seen while catching up (no sleep below) still applies at once.
        if level.has_changed().unwrap_or(false) && !replans(&schedule) {
            level.borrow_and_update();
        }
        if level.has_changed().unwrap_or(false) {
            schedule = replan(
                &schedule,
                n,
                rate_of(*level.borrow_and_update()),
                Instant::now(),
            );
        }
        let Some(planned) = schedule.planned(n) else {
            return;
        };
        if deadline.is_some_and(|d| planned >= d) {
            return;
        }
        let wake = planned.checked_sub(TIMER_SLACK).unwrap_or(planned);
        if wake > Instant::now() {
            tokio::select! {
                () = tokio::time::sleep_until(wake.into()) => {}
                () = shared.control.stop.cancelled() => {}
                changed = level.changed() => {
                    if changed.is_ok() {
                        let rate = rate_of(*level.borrow_and_update());
                        if replans(&schedule) {
                            schedule = replan(&schedule, n, rate, Instant::now());
                        }
                    }
                    continue;
                }
            }
            if shared.control.is_paused() && !shared.control.is_stopping() {
                continue; // re-planned after the pause
            }
        }
        // The last stretch: the kernel's sleep, to within tens of microseconds. It blocks only
        // the pacer's own thread, for at most TIMER_SLACK.
        let left = planned.saturating_duration_since(Instant::now());
        if !left.is_zero() && !shared.control.is_stopping() {
            std::thread::sleep(left);
        } else if n % 64 == 63 {
            // Catching up without sleeping: let the other tasks on this thread run.
            tokio::task::yield_now().await;
        }
        if !shared.claim() {
            return;
        }
        n += 1;
        if shared.control.is_stopping() {
            if planned > Instant::now() + TIMER_SLACK {
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
        let shared = Arc::clone(shared);
        let abort = lanes[(n % ABORT_LANES as u64) as usize].clone();
        let seed = rng.u64(..);
        tracker.spawn_on(
            async move {
                // Every arrival is a new user: vu() is its number, iteration() is 0.
                let mut user = User::of(&shared.work, n - 1, seed);
                let flow = shared.work.pick(&mut user.rng);
                if let Err(why) = shared.work.take_rows(flow, &mut user) {
                    shared.recorder.end_iteration();
                    shared.control.stop_because(why);
                    return;
                }
                let mut session = shared.take_session();
                run_iteration(&shared, flow, planned, &abort, &mut user, &mut session).await;
                shared.give_back(session);
            },
            workers,
        );
    }
}

/// The worker loop: sends each step of `flow` in order as `user`, judges and records how
/// it ended, and stops early when a step fails and its policy says so. The first step's
/// latency counts from `planned` (or from the send, if that came a little earlier); later
/// steps from their own send.
async fn run_iteration<T: Transport>(
    shared: &Shared<T>,
    flow: &ReadyFlow,
    planned: Instant,
    abort: &CancellationToken,
    user: &mut User,
    session: &mut T::Session,
) -> IterationEnd {
    let mut first_start = Some(planned);
    let open = matches!(shared.work.load.model, Model::Open { .. });
    let mut responded = false;
    let mut failed_fast = false;
    for (i, step) in flow.steps.iter().enumerate() {
        if i > 0 {
            shared.control.wait_while_paused().await;
            if shared.control.is_stopping() {
                break;
            }
        }
        shared.recorder.start();
        let sent = Instant::now();
        let begin = match first_start.take() {
            Some(planned) => {
                if open {
                    shared
                        .recorder
                        .record_lag(step.spec.id, sent.saturating_duration_since(planned));
                }
                planned.min(sent)
            }
            None => sent,
        };
        let request = match step.request(user, &shared.work) {
            Ok(r) => r,
            Err(message) => {
                failed_fast = true;
                let outcome = Outcome::Failed {
                    class: ErrorClass::Render,
                    message,
                    status: None,
                    bytes: 0,
                };
                shared
                    .recorder
                    .record(step.spec.id, Duration::ZERO, Duration::ZERO, outcome);
                if step.spec.on_error == OnError::AbortIteration {
                    break;
                }
                continue;
            }
        };
        let result = tokio::select! {
            biased;
            () = abort.cancelled() => None,
            r = shared.transport.send(session, &request) => Some(r),
        };
        drop(request);
        let end = Instant::now();
        let interrupted = result.is_none();
        let mut failed = true;
        let outcome = match result {
            None => Outcome::Interrupted,
            Some(Ok(reply)) => {
                responded = true;
                let judged = step.judge(&reply, end - begin, user);
                failed = judged.step_failed();
                Outcome::Response {
                    status: reply.status,
                    bytes: reply.bytes,
                    unexpected: (!judged.status_ok).then(|| step.spec.expect.status.label()),
                    failure: judged.failure,
                    failed_checks: judged.failed_checks,
                }
            }
            Some(Err(failure)) => {
                failed_fast |= fails_fast(failure.class);
                Outcome::Failed {
                    class: failure.class,
                    message: failure.message,
                    status: failure.status,
                    bytes: failure.bytes,
                }
            }
        };
        shared
            .recorder
            .record(step.spec.id, end - begin, end - sent, outcome);
        if interrupted || (failed && step.spec.on_error == OnError::AbortIteration) {
            break;
        }
        if let Some((lo, hi)) = step.spec.think {
            let pause = if lo == hi {
                lo
            } else {
                let span = (hi - lo).as_nanos() as u64;
                lo + Duration::from_nanos(user.rng.u64(0..=span))
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = shared.control.stop.cancelled() => break,
            }
        }
    }
    shared.recorder.end_iteration();
    if failed_fast && !responded {
        IterationEnd::FailedFast
    } else {
        IterationEnd::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_faster_rate_never_backdates_arrivals() {
        let t0 = Instant::now();
        let slow = Schedule {
            base: t0,
            base_n: 0,
            rate: 0.1,
            ramp: None,
        };
        // Arrival 0 went at t0; the change comes 9 s later, before arrival 1 (due at 10 s).
        let now = t0 + Duration::from_secs(9);
        let fast = replan(&slow, 1, 1.0, now);
        assert_eq!(fast.planned(1), Some(now));
        assert_eq!(fast.planned(2), Some(now + Duration::from_secs(1)));
        // A slower rate keeps one new gap after the last arrival.
        let fast = Schedule {
            base: t0,
            base_n: 0,
            rate: 10.0,
            ramp: None,
        };
        let slower = replan(&fast, 5, 1.0, t0 + Duration::from_millis(410));
        assert_eq!(slower.planned(5), Some(t0 + Duration::from_millis(1400)));
        // A segment with no arrival yet keeps its start.
        let fresh = Schedule {
            base: t0,
            base_n: 7,
            rate: 1.0,
            ramp: None,
        };
        assert_eq!(replan(&fresh, 7, 2.0, t0).planned(7), Some(t0));
    }
}
