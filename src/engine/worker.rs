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
use super::step::ReadyFlow;
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
    idle: Vec<Mutex<Vec<T::Session>>>,
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
    pub(super) fn take_session(&self, lane: usize) -> T::Session {
        lock(&self.idle[lane]).pop().unwrap_or_default()
    }

    /// Gives an arrival's session back for the next arrival on runtime `lane`.
    pub(super) fn give_back(&self, lane: usize, session: T::Session) {
        lock(&self.idle[lane]).push(session);
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
    let (transport, globals) = (&*shared.transport, &shared.work.globals);
    for (i, step) in flow.steps.iter().enumerate() {
        if i > 0 {
            control.wait_while_paused().await;
            if control.is_stopping() {
                break;
            }
        }
        let sent = send_step(transport, session, globals, step, user, &mut iteration);
        let (failed, end, think) = match sent.await {
            StepEnd::Stopped => break,
            StepEnd::Unsent(end) => (true, end, false),
            StepEnd::Sent { failed, end } => (failed, end, true),
        };
        if i + 1 == flow.steps.len() {
            // The iteration ran every step: its duration ends here, before any think time,
            // and a stop during that think time does not take it back.
            iteration.finished_at(end);
        }
        if failed && step.spec.on_error == OnError::AbortIteration {
            break;
        }
        if think && let Some(pause) = step.think(&mut user.rng) {
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = control.stop.cancelled() => break,
            }
        }
    }
    iteration.end()
}
