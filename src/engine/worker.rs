//! The one worker loop, and what every worker shares.
//!
//! `run_iteration` executes one flow: every step is sent, timed and recorded the same way in
//! both load models. The closed model (`crowd`) runs it back to back in each virtual user;
//! the open model's pacer (`arrivals`) starts it at each planned arrival instant, and the
//! first step's latency is measured from that instant (coordinated-omission safe), with the
//! service time beside it.
//!
//! A hard stop interrupts in-flight work through the tasks' abort handles, not through a
//! cancellation token raced against every request: the request path takes no lock for it.
//! An iteration dropped mid-request counts that request as interrupted as it is dropped
//! (`Pending`). Users and arrivals are spread in turn over the load's runtimes (one per core,
//! or the shared one; see `threads`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::AbortHandle;

use super::backoff::{IterationEnd, fails_fast};
use super::clock::now;
use super::step::{ReadyFlow, ReadyStep};
use super::user::User;
use super::{Control, Transport, Workload};
use crate::metrics::{ErrorClass, Outcome, Recorder};
use crate::scenario::Model;
use crate::scenario::OnError;

/// What every worker shares (read-only, apart from the iteration budget).
pub struct Shared<T: Transport> {
    pub work: Arc<Workload>,
    transport: Arc<T>,
    pub(super) recorder: Recorder,
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
    pub(super) fn push(&mut self, task: AbortHandle) {
        if self.tasks.len() >= self.prune_at {
            self.tasks.retain(|t| !t.is_finished());
            self.prune_at = (self.tasks.len() * 2).max(1024);
        }
        self.tasks.push(task);
    }

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
pub(super) async fn run_iteration<T: Transport>(
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
