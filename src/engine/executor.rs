//! The one step executor: `send_step` sends a step — render, send, follow redirects, time,
//! judge (checks and status) and extract — and hands each point of the exchange to a
//! `StepPolicy`, which decides what becomes of it. Two policies: the run's (`Iteration`:
//! every request recorded, failures recorded as data and the flow goes on as the step's
//! `on_error` says) and setup's (`setup_policy::Setup`: nothing recorded, the first failure
//! ends setup).
//!
//! A step with `retry:` sends the same request again while an attempt ends as its policy
//! retries (`attempt::retried`) and attempts are left: each attempt is a request the policy
//! sees (`attempted`), the wait is the policy's (`back_off`: the run's ends at a stop), and
//! the exchange's `attempt::Tries` reach the policy before the step's end. Phase timings,
//! server time and failure samples are read from the `Reply` where a policy makes an
//! `Ending` into an outcome
//! (`Iteration::ended`; the phases from the reply's `Marks` and the request's own send and
//! end, so no clock is read for them here; a sample from the request as sent and what the
//! transport kept of the reply: see `attempt::exchange`). A flow's `init` steps are sent under
//! the run's policy like any step (`Iteration::restart` then begins the iteration proper).
//!
//! Depends on `attempt` (an attempt's timing and ending, and its retry), `step` (the
//! prepared step), `user` (the state it renders from and extracts into), `backoff` (which
//! failures are fast), `clock`, `metrics` (the recorder and outcomes)
//! and the engine's `Transport` and `Control`. Invariants: the hot path allocates nothing,
//! boxes nothing and spawns nothing per step (the policy is a type parameter, not a trait
//! object); a failure sample is made only when the step's samples want it (a failure, a
//! success slower than its 5th slowest), through a closure the recorder calls; every
//! request the run starts is recorded once — as it ends, or as interrupted when a hard stop
//! drops the iteration (`Iteration`'s `Drop`).

use std::borrow::Cow;
use std::time::{Duration, Instant};

use super::attempt::{Ending, Timing, Tries, exchange, retried};
use super::backoff::{IterationEnd, fails_fast};
use super::clock::now;
use super::step::ReadyStep;
use super::user::{Globals, User};
use super::{Control, Prepared, Reply, Transport};
use crate::metrics::{ConnectionUse, ErrorClass, Outcome, Phases, Recorder, TAG_NONE};

/// What a caller of `send_step` does at each point of a step's exchange.
pub(super) trait StepPolicy {
    /// What the step's end gives the caller.
    type Output;

    /// The step begins: its request is built and sent from `sent`. Returns when its latency
    /// counts from.
    fn start(&mut self, step: &ReadyStep, sent: Instant) -> Instant;

    /// A redirect answered (`at.end`) and is about to be followed. `false` ends the chain
    /// here (`Ending::Stopped`); `true` sends the next hop, whose latency counts from `at.end`.
    fn hop(&mut self, step: &ReadyStep, reply: &Reply, at: Timing) -> bool;

    /// The step ended as `ending`, its last request (`sent`, if it could be built) timed by
    /// `at`.
    fn ended(
        &mut self,
        step: &ReadyStep,
        ending: Ending,
        at: Timing,
        sent: Option<&Prepared>,
    ) -> Self::Output;

    /// An attempt of a step with `retry:` ended as `ending` and will be retried: it was a
    /// request all the same. Then `start` begins the next attempt.
    fn attempted(&mut self, step: &ReadyStep, ending: Ending, at: Timing, sent: Option<&Prepared>);

    /// Waits `wait` before a retry of an exchange whose attempts so far are `tries`; `Some`
    /// ends the step there instead (a stop came), with what the caller gets.
    fn back_off(
        &mut self,
        step: &ReadyStep,
        wait: Duration,
        tries: Tries,
    ) -> impl Future<Output = Option<Self::Output>>;

    /// A step with `retry:` is about to end (`ended` comes next, at `end`): what its
    /// exchange's attempts came to.
    fn tries(&mut self, step: &ReadyStep, tries: Tries, end: Instant);
}

/// Sends `step` as `user` on `session`: builds its request, sends it, follows up to
/// `follow_redirects` redirects (each hop a request of the step, handed to `policy.hop`, not
/// judged), then judges the last answer (`user` takes its cookies and extracted values) and
/// hands how it ended to `policy.ended`. A step with `retry:` sends the same request again
/// while an attempt ends as its policy retries and attempts are left: each attempt is a
/// request the policy sees (`attempted`), the wait between them is the policy's
/// (`back_off`, which a stop ends), and the exchange's `Tries` go to `policy.tries`.
pub(super) async fn send_step<T: Transport, P: StepPolicy>(
    transport: &T,
    session: &mut T::Session,
    globals: &Globals,
    step: &ReadyStep,
    user: &mut User,
    policy: &mut P,
) -> P::Output {
    let sent = now();
    let begin = policy.start(step, sent);
    let mut at = Timing::from(begin, sent);
    let original = match step.request(user, globals) {
        Ok(request) => request,
        Err(why) => return policy.ended(step, Ending::Unsent(why), at, None),
    };
    let mut tries = Tries {
        made: 1,
        began: begin,
        gave_up: false,
    };
    loop {
        let sending = (&*original, &mut at);
        let (ending, request) =
            attempt(transport, session, globals, step, user, policy, sending).await;
        if let Some(retry) = &step.spec.retry {
            // A chain stopped at a hop is not retried, but its attempts still count.
            let again = match &ending {
                Ending::Stopped => None,
                ending => retried(retry, ending),
            };
            match again {
                Some(asked) if tries.made < retry.attempts => {
                    let wait = retry.delay(tries.made, user.rng.f64(), asked);
                    policy.attempted(step, ending, at, Some(&request));
                    if let Some(stopped) = policy.back_off(step, wait, tries).await {
                        return stopped;
                    }
                    tries.made += 1;
                    let sent = now();
                    at = Timing::from(policy.start(step, sent), sent);
                    continue;
                }
                Some(_) => tries.gave_up = true,
                None => {}
            }
            policy.tries(step, tries, at.end);
        }
        return policy.ended(step, ending, at, Some(&request));
    }
}

/// One attempt of a step: sends `original` (from `at`), follows its redirects, and judges
/// the last answer; returns how it ended (`at.end` set) and the last request sent.
async fn attempt<'r, T: Transport, P: StepPolicy>(
    transport: &T,
    session: &mut T::Session,
    globals: &Globals,
    step: &ReadyStep,
    user: &mut User,
    policy: &mut P,
    (original, at): (&'r Prepared, &mut Timing),
) -> (Ending, Cow<'r, Prepared>) {
    let mut request = Cow::Borrowed(original);
    let mut hops = 0;
    let result = loop {
        let result = transport.send(session, &request).await;
        if hops == step.spec.follow_redirects {
            break result;
        }
        let Ok(reply) = &result else { break result };
        let Some(next) = step.redirect(&request, reply, user) else {
            break result;
        };
        at.end = now();
        if !policy.hop(step, reply, *at) {
            return (Ending::Stopped, request);
        }
        *at = Timing::from(at.end, at.end);
        request = Cow::Owned(next);
        hops += 1;
    };
    // Still a redirect after every hop allowed: an error, as curl says (with 0, a 3xx is the
    // answer). An answer fetched from another origin gives the jar nothing.
    let exhausted = hops > 0
        && hops == step.spec.follow_redirects
        && matches!(&result, Ok(r) if ReadyStep::next_url(&request, r).is_some());
    let own = hops == 0 || step.at_target(&request.url);
    at.end = now();
    let ending = match result {
        Ok(reply) if exhausted => Ending::TooManyRedirects(reply),
        Ok(reply) => {
            let judged = step.judge(&reply, at.end - at.begin, user, globals, own);
            Ending::Answered(reply, judged)
        }
        Err(failure) => Ending::Failed(failure),
    };
    (ending, request)
}

/// How a step of the run ended, for the flow loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StepEnd {
    /// A stop came between two hops of a redirect chain: the iteration ends here.
    Stopped,
    /// Its request could not be built (a failure, after which no think time is taken);
    /// recorded at the instant given.
    Unsent(Instant),
    /// Its last request ended at `end`; `failed`: the request failed, or the answer's status
    /// was not accepted, or an extraction failed (a failed check does not fail a step).
    Sent { failed: bool, end: Instant },
}

/// The run's policy, and an iteration's bookkeeping, kept right however it ends: every
/// request is recorded as it ends; a stop ends a redirect chain at a hop; dropped by a hard
/// stop, the iteration counts the request then in flight as interrupted. Its end is
/// recorded when it is dropped (`end`).
pub(super) struct Iteration<'a> {
    recorder: &'a Recorder,
    control: &'a Control,
    /// Open model: the planned instant, until the first step takes it (its latency counts
    /// from there, or from the send if that came a little earlier).
    planned: Option<Instant>,
    /// The request in flight: its step's id, when its latency counts from, when it was sent.
    in_flight: Option<(usize, Instant, Instant)>,
    /// The flow and when the iteration began (planned), for its duration.
    flow: usize,
    began: Instant,
    /// When its last step ended, once it has: it ran every step, failed or not (a stop or
    /// an `abort_iteration` before the last step leaves it `None`).
    finished: Option<Instant>,
    /// A response (or a followed redirect) arrived.
    responded: bool,
    /// A step failed without the server's time (see `backoff::fails_fast`).
    failed_fast: bool,
    /// Open model: when the step being sent counts from, if it took the planned instant
    /// (its retries count from there too).
    step_planned: Option<Instant>,
    /// The begin the next attempt takes (a retry of the step that took the planned instant).
    retry_begin: Option<Instant>,
    /// What the ending step's attempts came to, and when it ended (a step with `retry:`).
    tries: Option<(Tries, Instant)>,
    /// Closed model: each request's end goes to the stalls and its latency to the corrected
    /// view, expecting the user's recent median time per iteration (`Some` once known).
    closed: Option<Option<Duration>>,
}

impl<'a> Iteration<'a> {
    /// An iteration of flow `flow` that began at `planned`; `open`: the open model, whose
    /// first step's latency counts from `planned`.
    pub(super) fn begin(
        recorder: &'a Recorder,
        control: &'a Control,
        flow: usize,
        planned: Instant,
        open: bool,
    ) -> Self {
        Self {
            recorder,
            control,
            planned: open.then_some(planned),
            in_flight: None,
            flow,
            began: planned,
            finished: None,
            responded: false,
            failed_fast: false,
            step_planned: None,
            retry_begin: None,
            tries: None,
            closed: (!open).then_some(None),
        }
    }

    /// Closed model: the user's recent median time per iteration, if known (see
    /// `Recorder::closed_end`).
    pub(super) fn expecting(&mut self, every: Option<Duration>) {
        if let Some(expected) = &mut self.closed {
            *expected = every;
        }
    }

    /// Closed model: a request of step `id` that took `latency` ended at `end`.
    #[inline]
    fn closed_end(&self, id: usize, end: Instant, latency: Duration) {
        if let Some(expected) = self.closed {
            self.recorder.closed_end(id, end, latency, expected);
        }
    }

    /// The iteration ran every step, the last ending at `end`: its duration ends there.
    pub(super) fn finished_at(&mut self, end: Instant) {
        self.finished = Some(end);
    }

    /// The flow's init ended: the iteration proper begins at `began` (its duration counts
    /// from there).
    pub(super) fn restart(&mut self, began: Instant) {
        self.began = began;
    }

    /// Ends an iteration whose init failed: no iteration is timed, and the user pauses.
    pub(super) fn end_init_failed(self) -> IterationEnd {
        IterationEnd::InitFailed
    }

    /// Ends the iteration (records it) and says how it ended, for the user's pacing.
    pub(super) fn end(self) -> IterationEnd {
        if self.failed_fast && !self.responded {
            IterationEnd::FailedFast
        } else {
            IterationEnd::Other
        }
    }

    /// What a step's last request, timed by `at`, leaves to record (`None`: the chain was
    /// stopped, there is nothing more to record).
    fn outcome<'s>(
        &mut self,
        step: &'s ReadyStep,
        ending: Ending,
        at: Timing,
    ) -> Option<Recorded<'s>> {
        let outcome = match ending {
            Ending::Answered(reply, judged) => {
                self.responded = true;
                let failed = judged.step_failed();
                let outcome = Outcome::Response {
                    status: reply.status,
                    bytes: reply.bytes,
                    unexpected: (!judged.status_ok).then(|| step.spec.expect.status.label()),
                    failure: judged.failure,
                    failed_checks: judged.failed_checks,
                    server: reply.server_time,
                    phases: reply.marks.phases(at.sent, at.end),
                };
                return Some(Recorded::of(outcome, failed, judged.tag, Some(reply)));
            }
            Ending::TooManyRedirects(reply) => {
                self.responded = true;
                let outcome = Outcome::Failed {
                    class: ErrorClass::TooManyRedirects,
                    message: step.too_many_redirects(reply.status),
                    status: Some(reply.status),
                    bytes: reply.bytes,
                    connection: reply.marks.connection,
                };
                return Some(Recorded::of(outcome, true, None, Some(reply)));
            }
            Ending::Failed(failure) => {
                self.failed_fast |= fails_fast(failure.class);
                Outcome::Failed {
                    class: failure.class,
                    message: failure.message,
                    status: failure.status,
                    bytes: failure.bytes,
                    connection: failure.connection,
                }
            }
            Ending::Unsent(message) => {
                self.failed_fast = true;
                Outcome::Failed {
                    class: ErrorClass::Render,
                    message,
                    status: None,
                    bytes: 0,
                    connection: ConnectionUse::Unknown,
                }
            }
            Ending::Stopped => return None,
        };
        Some(Recorded::of(outcome, true, None, None))
    }
}

/// What the end of a step's last request leaves to record.
struct Recorded<'s> {
    outcome: Outcome<'s>,
    /// It failed the step.
    failed: bool,
    /// A tagged step's answer's tag value (`None` otherwise).
    tag: Option<String>,
    /// The reply, for the exchange's sample.
    reply: Option<Reply>,
}

impl<'s> Recorded<'s> {
    fn of(outcome: Outcome<'s>, failed: bool, tag: Option<String>, reply: Option<Reply>) -> Self {
        Self {
            outcome,
            failed,
            tag,
            reply,
        }
    }
}

impl StepPolicy for Iteration<'_> {
    type Output = StepEnd;

    #[inline]
    fn start(&mut self, step: &ReadyStep, sent: Instant) -> Instant {
        self.recorder.start();
        // Open model: the first step's latency counts from its planned arrival. Closed
        // model: every step's from its send, so latency and service time are one figure
        // (and the recorder keeps one histogram for both).
        // A retry of the open model's first step still counts from its arrival (and is
        // no new send lag).
        let begin = match (self.retry_begin.take(), self.planned.take()) {
            (Some(begin), _) => begin,
            (None, Some(planned)) => {
                let lag = sent.saturating_duration_since(planned);
                self.recorder.record_lag(step.spec.id, lag);
                self.step_planned = Some(planned.min(sent));
                planned.min(sent)
            }
            (None, None) => {
                self.step_planned = None;
                sent
            }
        };
        self.in_flight = Some((step.spec.id, begin, sent));
        begin
    }

    #[inline]
    fn hop(&mut self, step: &ReadyStep, reply: &Reply, at: Timing) -> bool {
        self.responded = true;
        let hop = Outcome::Hop {
            status: reply.status,
            bytes: reply.bytes,
            server: reply.server_time,
            phases: reply.marks.phases(at.sent, at.end),
        };
        let id = step.spec.id;
        // A tagged step's hop is not judged: its tag is `(none)` (no-op when untagged).
        let (latency, service) = (at.end - at.begin, at.end - at.sent);
        self.recorder
            .record_in(id, Some(TAG_NONE), latency, service, hop);
        self.closed_end(id, at.end, latency);
        // A stop ends the chain at a hop: no new request starts after it.
        if self.control.is_stopping() {
            return false;
        }
        self.recorder.start();
        self.in_flight = Some((id, at.end, at.end));
        true
    }

    #[inline]
    fn ended(
        &mut self,
        step: &ReadyStep,
        ending: Ending,
        at: Timing,
        sent: Option<&Prepared>,
    ) -> StepEnd {
        self.in_flight = None;
        let unsent = matches!(ending, Ending::Unsent(_));
        let Some(Recorded {
            outcome,
            failed,
            tag,
            reply,
        }) = self.outcome(step, ending, at)
        else {
            // A stop ended the exchange at a hop: its attempts count, as neither outcome.
            if let Some((tries, _)) = self.tries.take() {
                let id = step.spec.id;
                self.recorder
                    .record_tries(id, (tries.made, false, false), None);
            }
            return StepEnd::Stopped;
        };
        let id = step.spec.id;
        // For a tagged step: a request without an answer to read is `(none)` too, so that
        // its values' counts add up to the step's (the recorder ignores it otherwise).
        let tag = Some(tag.as_deref().unwrap_or(TAG_NONE));
        // Made only when the step's samples want it: never for an ordinary success.
        // What the transport saw of the phases, copied out (no allocation) for the sample.
        let seen = match &outcome {
            Outcome::Response { phases, .. } | Outcome::Hop { phases, .. } => *phases,
            Outcome::Failed { connection, .. } => Phases {
                connection: *connection,
                ..Phases::default()
            },
            Outcome::Interrupted => Phases::default(),
        };
        let sample = || exchange(step, sent, reply, (at.end, seen));
        if unsent {
            // Nothing was sent: no time to record.
            let zero = (Duration::ZERO, Duration::ZERO);
            self.recorder
                .record_exchange(id, tag, zero, outcome, sample);
            let end = now();
            self.closed_end(id, end, Duration::ZERO);
            return StepEnd::Unsent(end);
        }
        let times = (at.end - at.begin, at.end - at.sent);
        self.recorder
            .record_exchange(id, tag, times, outcome, sample);
        self.closed_end(id, at.end, times.0);
        if let Some((tries, end)) = self.tries.take() {
            let exchange = end.saturating_duration_since(tries.began);
            self.recorder.record_tries(
                id,
                (tries.made, !failed && !tries.gave_up, tries.gave_up),
                Some(exchange),
            );
        }
        StepEnd::Sent {
            failed,
            end: at.end,
        }
    }

    fn attempted(&mut self, step: &ReadyStep, ending: Ending, at: Timing, sent: Option<&Prepared>) {
        let _ = self.ended(step, ending, at, sent);
        self.retry_begin = self.step_planned;
    }

    async fn back_off(
        &mut self,
        step: &ReadyStep,
        wait: Duration,
        tries: Tries,
    ) -> Option<StepEnd> {
        // A retry is never sent once the stop began, nor while the run is paused; an
        // exchange a stop cuts short still counts its attempts (as neither outcome).
        if !self.control.is_stopping() {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.control.stop.cancelled() => {}
            }
            self.control.wait_while_paused().await;
        }
        if !self.control.is_stopping() {
            return None;
        }
        let id = step.spec.id;
        self.recorder
            .record_tries(id, (tries.made, false, false), None);
        Some(StepEnd::Stopped)
    }

    fn tries(&mut self, _: &ReadyStep, tries: Tries, end: Instant) {
        self.tries = Some((tries, end));
    }
}

impl Drop for Iteration<'_> {
    fn drop(&mut self) {
        if let Some((id, begin, sent)) = self.in_flight.take() {
            let end = now();
            let outcome = Outcome::Interrupted;
            let tag = Some(TAG_NONE);
            self.recorder
                .record_in(id, tag, end - begin, end - sent, outcome);
            self.closed_end(id, end, end - begin);
        }
        let whole = self
            .finished
            .map(|end| (self.flow, end.saturating_duration_since(self.began)));
        self.recorder.end_iteration(whole);
    }
}

#[cfg(test)]
#[path = "executor_tests.rs"]
mod tests;
