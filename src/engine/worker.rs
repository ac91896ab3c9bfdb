//! The one worker loop, and what every worker shares.
//!
//! `run_iteration` executes one flow: every step is sent, timed and recorded the same way in
//! both load models. The closed model (`crowd`) runs it back to back in each virtual user;
//! the open model's pacer (`arrivals`) starts it at each planned arrival instant, and the
//! first step's latency is measured from that instant (coordinated-omission safe), with the
//! service time beside it.
//!
//! A hard stop interrupts in-flight work through the tasks' abort handles (`Running`), not
//! through a cancellation token raced against every request: the request path takes no lock
//! for it. An iteration dropped mid-request counts that request as interrupted as it is
//! dropped (`executor::Iteration`). Users and arrivals are spread in turn over the load's
//! runtimes (one per core, or the shared one; see `threads`).
//!
//! Depends on `executor` (the one step executor and the run's policy), `step` and `user`
//! (the flow and who sends it), `backoff` (how an iteration ended), `metrics` (the recorder),
//! `scenario` (the load model, `on_error`) and the engine's `Control`, `Transport` and
//! `Workload`. Invariant: failures are recorded as data; no early return skips recording.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;
use tokio::task::AbortHandle;

use super::backoff::IterationEnd;
use super::executor::{Iteration, StepEnd, send_step};
use super::step::{ReadyFlow, ReadyStep};
use super::user::User;
use super::{Control, Transport, Workload};
use crate::metrics::Recorder;
use crate::scenario::Model;
use crate::scenario::OnError;

/// What every worker shares (read-only, apart from the iteration budget).
pub struct Shared<T: Transport> {
    /// The plan bound to the target.
    pub work: Arc<Workload>,
    transport: Arc<T>,
    /// Where every request's outcome goes.
    pub(super) recorder: Recorder,
    /// Stop, pause and level.
    pub(super) control: Control,
    /// Iterations left to start when the plan limits them.
    budget: Option<AtomicU64>,
    /// Signalled when the budget runs out (so the closed-model driver stops waiting).
    pub(super) spent: Notify,
    /// Open model: the sessions (connections) of finished arrivals, for the next ones, one
    /// list per runtime (a connection stays with the runtime whose driver it is registered
    /// with). An arrival takes one and gives it back: one uncontended lock per iteration,
    /// so that arrivals reuse as many connections as are in flight instead of one each.
    /// When a flow has an `init`, the arrival's user goes with its session (see `Idle`).
    idle: Vec<Mutex<Vec<Idle<T::Session>>>>,
}

/// A finished open-model arrival's session, and its user when the plan keeps users (a flow
/// has an `init`): the next arrival goes on as that user, logged in, its variables and
/// cookies kept, so an init runs once per user, not once per arrival.
pub(super) struct Idle<S> {
    /// Its connection(s).
    pub(super) session: S,
    /// Its user, if the plan keeps users.
    pub(super) user: Option<User>,
}

impl<T: Transport> Shared<T> {
    /// What workers share, with a list of idle sessions for each of `runtimes`.
    pub fn new(
        work: Arc<Workload>,
        transport: Arc<T>,
        recorder: Recorder,
        control: Control,
        runtimes: usize,
    ) -> Self {
        // A shard's budget is its share of the plan's: the arrivals it owns among the plan's first
        // `iterations` (open), or its part of them (closed).
        let budget = (work.load.iterations).map(|n| AtomicU64::new(work.shard.share(n)));
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

    /// A session (and, when the plan keeps users, a user) for an open-model arrival on
    /// runtime `lane`: an idle one, or a new one.
    pub(super) fn take_idle(&self, lane: usize) -> Idle<T::Session> {
        lock(&self.idle[lane]).pop().unwrap_or_else(|| Idle {
            session: T::Session::default(),
            user: None,
        })
    }

    /// Gives an arrival's session back for the next arrival on runtime `lane`, with its
    /// user if the plan keeps users.
    pub(super) fn give_back(&self, lane: usize, session: T::Session, user: User) {
        let user = self.work.keeps_users().then_some(user);
        lock(&self.idle[lane]).push(Idle { session, user });
    }

    /// Whether the iteration budget exists and is used up.
    pub(super) fn spent_all(&self) -> bool {
        self.budget
            .as_ref()
            .is_some_and(|left| left.load(Ordering::Relaxed) == 0)
    }

    /// Takes one iteration from the budget; false when it is spent.
    pub(super) fn claim(&self) -> bool {
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

    /// Gives back an iteration claimed for one that did not run (its user's init failed):
    /// init is never an iteration, so it spends none of the budget.
    pub(super) fn unclaim(&self) {
        if let Some(left) = &self.budget {
            left.fetch_add(1, Ordering::Relaxed);
        }
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
    /// Notes a task started (pruning finished ones as the list grows).
    pub(super) fn push(&mut self, task: AbortHandle) {
        if self.tasks.len() >= self.prune_at {
            self.tasks.retain(|t| !t.is_finished());
            self.prune_at = (self.tasks.len() * 2).max(1024);
        }
        self.tasks.push(task);
    }

    /// Interrupts every task still running (a hard stop).
    pub(super) fn abort_all(&self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A lock that a panic elsewhere did not make unusable (the data stays consistent: every
/// holder only pushes or pops).
pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The worker loop: sends each step of `flow` in order as `user` (through the one step
/// executor, under the run's policy: every request recorded as it ends), and stops early
/// when a step fails and its `on_error` says so, or the run stops. The first step's latency
/// counts from `planned` in the open model (or from the send, if that came a little
/// earlier); every other from its own send.
///
/// A user that has not run the flow's `init` runs it first, under the same policy (its
/// requests are the init steps' own, the first of them taking `planned`); the iteration
/// then begins when the init ends. A failed init is no iteration: the user runs it again
/// next time (closed model: after the pause `IterationEnd::InitFailed` asks for; open
/// model: when an arrival next goes on as this user, the rate being the bound).
pub(super) async fn run_iteration<T: Transport>(
    shared: &Shared<T>,
    flow: &ReadyFlow,
    planned: Instant,
    user: &mut User,
    session: &mut T::Session,
) -> IterationEnd {
    let open = matches!(shared.work.load.model, Model::Open { .. });
    let (recorder, control) = (&shared.recorder, &shared.control);
    let mut iteration = Iteration::begin(recorder, control, flow.index, planned, open);
    iteration.expecting(user.expected_interval());
    let mut first = true;
    if !flow.init.is_empty() && !user.has_init(flow.index) {
        let ran = run_steps(shared, &flow.init, user, session, (&mut iteration, true)).await;
        match ran.0 {
            Ran::Through => {
                user.init_done(flow.index);
                iteration.restart(super::clock::now());
                first = false;
            }
            Ran::Failed => return iteration.end_init_failed(),
            Ran::Stopped => return iteration.end(),
        }
    }
    if let (_, Some(end)) =
        run_steps(shared, &flow.steps, user, session, (&mut iteration, first)).await
    {
        // The iteration ran every step: its duration ends with the last, before any think
        // time, and a stop during that think time does not take it back.
        iteration.finished_at(end);
    }
    iteration.end()
}

/// How a list of steps ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ran {
    /// Every step ran (or failed with `on_error: continue`).
    Through,
    /// A step failed and its `on_error` ended the list.
    Failed,
    /// The run stopped (or paused into a stop) before the list's end.
    Stopped,
}

/// Sends `steps` in order as `user` under `iteration`'s policy, taking each step's think
/// time; `first`: the list opens the iteration (no pause or stop is checked before its
/// first step, which the caller just started). Returns how it ended, and when its last
/// step's request ended if the list got that far (failed or not).
async fn run_steps<T: Transport>(
    shared: &Shared<T>,
    steps: &[ReadyStep],
    user: &mut User,
    session: &mut T::Session,
    (iteration, first): (&mut Iteration<'_>, bool),
) -> (Ran, Option<Instant>) {
    let (transport, globals) = (&*shared.transport, &shared.work.globals);
    let control = &shared.control;
    let mut last = None;
    for (i, step) in steps.iter().enumerate() {
        if i > 0 || !first {
            control.wait_while_paused().await;
            if control.is_stopping() {
                return (Ran::Stopped, last);
            }
        }
        let sent = send_step(transport, session, globals, step, user, iteration);
        let (failed, end, think) = match sent.await {
            StepEnd::Stopped => return (Ran::Stopped, last),
            StepEnd::Unsent(end) => (true, end, false),
            StepEnd::Sent { failed, end } => (failed, end, true),
        };
        if i + 1 == steps.len() {
            last = Some(end);
        }
        if failed && step.spec.on_error == OnError::AbortIteration {
            return (Ran::Failed, last);
        }
        if think && let Some(pause) = step.think(&mut user.rng) {
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = control.stop.cancelled() => return (Ran::Stopped, last),
            }
        }
    }
    (Ran::Through, last)
}
