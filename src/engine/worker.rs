//! The one worker loop and the two ways of starting it.
//!
//! `run_iteration` executes one flow: every step is sent, timed and recorded the same way in
//! both load models. The closed model runs it back to back in each virtual user; the open
//! model's pacer starts it at each planned arrival instant, and the first step's latency is
//! measured from that instant (coordinated-omission safe), with the service time beside it.
//!
//! A hard stop interrupts in-flight work through the tasks' abort handles, not through a
//! cancellation token raced against every request: the request path takes no lock for it.
//! An iteration dropped mid-request counts that request as interrupted as it is dropped
//! (`Pending`). Users and arrivals are spread in turn over the load's runtimes (one per core,
//! or the shared one; see `threads`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio_util::task::TaskTracker;

use super::backoff::{Backoff, IterationEnd, fails_fast};
use super::clock::now;
use super::pacer::Pacer;
use super::step::{ReadyFlow, ReadyStep};
use super::user::User;
use super::{Control, Ramp, Transport, Workload};
use crate::metrics::{ErrorClass, Level, MIN_LIVE_RATE, Outcome, Recorder};
use crate::scenario::Model;
use crate::scenario::OnError;

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
    /// Open model: the sessions (connections) of finished arrivals, for the next ones, one
    /// list per runtime (a connection stays with the runtime whose driver it is registered
    /// with). An arrival takes one and gives it back: one uncontended lock per iteration,
    /// so that arrivals reuse as many connections as are in flight instead of one each.
    idle: Vec<Mutex<Vec<T::Session>>>,
}

impl<T: Transport> Shared<T> {
    pub fn new(
        work: Arc<Workload>,
        transport: Arc<T>,
        recorder: Recorder,
        control: Control,
        runtimes: usize,
    ) -> Self {
        let budget = work.load.iterations.map(AtomicU64::new);
        Self {
            work,
            transport,
            recorder,
            control,
            budget,
            spent: Notify::new(),
            idle: (0..runtimes.max(1))
                .map(|_| Mutex::new(Vec::new()))
                .collect(),
        }
    }

    /// A session for an open-model arrival on runtime `lane`: an idle one, or a new one.
    fn take_session(&self, lane: usize) -> T::Session {
        lock(&self.idle[lane]).pop().unwrap_or_default()
    }

    /// Gives an arrival's session back for the next arrival on runtime `lane`.
    fn give_back(&self, lane: usize, session: T::Session) {
        lock(&self.idle[lane]).push(session);
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

/// The tasks a hard stop must interrupt. Finished ones are pruned as the list grows, so a
/// long open-model run holds about as many handles as it has iterations in flight. Shared
/// by the driver and whoever starts tasks (behind an uncontended lock, taken once per task
/// started), so that a hard stop reaches them even if the pacer's thread died.
#[derive(Default)]
pub struct Running {
    tasks: Vec<AbortHandle>,
    prune_at: usize,
}

impl Running {
    fn push(&mut self, task: AbortHandle) {
        if self.tasks.len() >= self.prune_at {
            self.tasks.retain(|t| !t.is_finished());
            self.prune_at = (self.tasks.len() * 2).max(1024);
        }
        self.tasks.push(task);
    }

    fn abort_all(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Runs the load model until it ends, then waits for every started iteration; a hard stop
/// interrupts those still running.
pub async fn drive<T: Transport>(shared: Arc<Shared<T>>, started: Instant, runtimes: &[Handle]) {
    let tracker = TaskTracker::new();
    let running = Arc::new(Mutex::new(Running::default()));
    match shared.work.load.model {
        Model::Closed { .. } => crowd(&shared, &tracker, runtimes, &running).await,
        Model::Open { max_in_flight, .. } => {
            let start = Start {
                tracker: tracker.clone(),
                runtimes: runtimes.to_vec(),
                running: Arc::clone(&running),
            };
            pace_apart(Arc::clone(&shared), start, started, max_in_flight).await;
        }
    }
    tracker.close();
    tokio::select! {
        () = tracker.wait() => {}
        () = shared.control.abort.cancelled() => {
            lock(&running).abort_all();
            tracker.wait().await;
        }
    }
}

/// A lock that a panic elsewhere did not make unusable (the data stays consistent: every
/// holder only pushes or pops).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where the pacer starts arrivals: the task tracker, the load's runtimes, the list of
/// tasks a hard stop interrupts.
struct Start {
    tracker: TaskTracker,
    runtimes: Vec<Handle>,
    running: Arc<Mutex<Running>>,
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

/// The closed model: keeps as many virtual users running as the level asks for, adding or
/// retiring users when it changes, until the run stops or its iterations are spent.
async fn crowd<T: Transport>(
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
    let mut user = shared.work.user(vu, fastrand::u64(..) ^ vu);
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
        let began = now();
        let end = run_iteration(&shared, flow, began, &mut user, &mut session).await;
        user.iteration += 1;
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

/// An iteration's bookkeeping, kept right however it ends: at its end, or dropped by a
/// hard stop, when the request then in flight is counted as interrupted.
struct Pending<'a> {
    recorder: &'a Recorder,
    /// The step in flight: its id, when its latency counts from, when it was sent.
    step: Option<(usize, Instant, Instant)>,
    /// The flow and when the iteration began (planned), for its duration.
    flow: usize,
    began: Instant,
    /// When its last step ended, once it has: it ran every step, failed or not (a stop or
    /// an `abort_iteration` before the last step leaves it `None`).
    finished: Option<Instant>,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let Some((id, begin, sent)) = self.step.take() {
            let end = now();
            let outcome = Outcome::Interrupted;
            self.recorder.record(id, end - begin, end - sent, outcome);
        }
        let whole = self
            .finished
            .map(|end| (self.flow, end.saturating_duration_since(self.began)));
        self.recorder.end_iteration(whole);
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
    user: &mut User,
    session: &mut T::Session,
) -> IterationEnd {
    let mut first_start = Some(planned);
    let open = matches!(shared.work.load.model, Model::Open { .. });
    let mut responded = false;
    let mut failed_fast = false;
    let mut pending = Pending {
        recorder: &shared.recorder,
        step: None,
        flow: flow.index,
        began: planned,
        finished: None,
    };
    for (i, step) in flow.steps.iter().enumerate() {
        let last = i + 1 == flow.steps.len();
        if i > 0 {
            shared.control.wait_while_paused().await;
            if shared.control.is_stopping() {
                break;
            }
        }
        shared.recorder.start();
        let mut sent = now();
        // Open model: the first step's latency counts from its planned arrival. Closed
        // model: every step's from its send, so latency and service time are one figure
        // (and the recorder keeps one histogram for both).
        let begin = match first_start.take() {
            Some(planned) if open => {
                shared
                    .recorder
                    .record_lag(step.spec.id, sent.saturating_duration_since(planned));
                planned.min(sent)
            }
            _ => sent,
        };
        let request = match step.request(user, &shared.work.globals) {
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
                if last {
                    pending.finished = Some(now());
                }
                if step.spec.on_error == OnError::AbortIteration {
                    break;
                }
                continue;
            }
        };
        pending.step = Some((step.spec.id, begin, sent));
        let mut result = shared.transport.send(session, &request).await;
        let (mut begin, mut request) = (begin, request);
        // `follow_redirects`: each hop is a request of this step, recorded as it ends (not
        // judged); the last answer is the one judged. A stop ends the chain at a hop: no new
        // request starts after it, and the iteration ends there.
        let (mut stopped_in_chain, mut hops) = (false, 0);
        for _ in 0..step.spec.follow_redirects {
            let Ok(reply) = &result else { break };
            let Some(next) = step.redirect(&request, reply, user) else {
                break;
            };
            let end = now();
            responded = true;
            let hop = Outcome::Hop {
                status: reply.status,
                bytes: reply.bytes,
            };
            shared
                .recorder
                .record(step.spec.id, end - begin, end - sent, hop);
            if shared.control.is_stopping() {
                stopped_in_chain = true;
                break;
            }
            shared.recorder.start();
            (begin, sent) = (end, end);
            pending.step = Some((step.spec.id, begin, sent));
            request = std::borrow::Cow::Owned(next);
            result = shared.transport.send(session, &request).await;
            hops += 1;
        }
        pending.step = None;
        if stopped_in_chain {
            break;
        }
        // Still a redirect after every hop allowed: an error, as curl says (with 0, a 3xx
        // is the answer). An answer fetched from another origin gives the jar nothing.
        let exhausted = hops > 0
            && hops == step.spec.follow_redirects
            && matches!(&result, Ok(r) if ReadyStep::next_url(&request, r).is_some());
        let own = hops == 0 || step.at_target(&request.url);
        drop(request);
        let end = now();
        let mut failed = true;
        let outcome = match result {
            Ok(reply) if exhausted => {
                responded = true;
                Outcome::Failed {
                    class: ErrorClass::TooManyRedirects,
                    message: step.too_many_redirects(reply.status),
                    status: Some(reply.status),
                    bytes: reply.bytes,
                }
            }
            Ok(reply) => {
                responded = true;
                let judged = step.judge(&reply, end - begin, user, &shared.work.globals, own);
                failed = judged.step_failed();
                Outcome::Response {
                    status: reply.status,
                    bytes: reply.bytes,
                    unexpected: (!judged.status_ok).then(|| step.spec.expect.status.label()),
                    failure: judged.failure,
                    failed_checks: judged.failed_checks,
                }
            }
            Err(failure) => {
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
        if last {
            // The iteration ran every step: its duration ends here, before any think time,
            // and a stop during that think time does not take it back.
            pending.finished = Some(end);
        }
        if failed && step.spec.on_error == OnError::AbortIteration {
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
    drop(pending); // ends the iteration
    if failed_fast && !responded {
        IterationEnd::FailedFast
    } else {
        IterationEnd::Other
    }
}
