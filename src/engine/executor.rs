//! The one step executor: `send_step` sends a step — render, send, follow redirects, time,
//! judge (checks and status) and extract — and hands each point of the exchange to a
//! `StepPolicy`, which decides what becomes of it. Two policies: the run's (`Iteration`:
//! every request recorded, failures recorded as data and the flow goes on as the step's
//! `on_error` says) and setup's (`Setup`: nothing recorded, the first failure ends setup).
//!
//! Where the next features go: a retry is another attempt of `send_step`'s send (each one a
//! request the policy sees, with its own latency); phase timings and server time are read
//! from the `Reply` where a policy makes an `Ending` into an outcome (`Iteration::ended`),
//! as failure samples are (the request as sent, what the transport kept of the reply: see
//! `exchange`); a per-user `init` flow is `send_step` under a policy of its own.
//!
//! Depends on `step` (the prepared step), `user` (the state it renders from and extracts
//! into), `backoff` (which failures are fast), `clock`, `metrics` (the recorder and outcomes)
//! and the engine's `Transport` and `Control`. Invariants: the hot path allocates nothing,
//! boxes nothing and spawns nothing per step (the policy is a type parameter, not a trait
//! object); a failure sample is made only when the step's samples want it (a failure, a
//! success slower than its 5th slowest), through a closure the recorder calls; every
//! request the run starts is recorded once — as it ends, or as interrupted when a hard stop
//! drops the iteration (`Iteration`'s `Drop`).

use std::borrow::Cow;
use std::time::{Duration, Instant};

use super::backoff::{IterationEnd, fails_fast};
use super::clock::now;
use super::step::{Judgement, ReadyStep};
use super::user::{Globals, User};
use super::{Control, Failure, Prepared, Reply, Transport};
use crate::metrics::samples::BODY_PREVIEW;
use crate::metrics::{ErrorClass, Exchange, Kept, Outcome, Recorder, ServerTime, TAG_NONE};
use reqwest::header::HeaderMap;

/// When a request's latency counts from (`begin`), when it was sent, and when it ended.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timing {
    /// Latency counts from here: the send, or the open model's planned instant.
    pub begin: Instant,
    /// Service time counts from here.
    pub sent: Instant,
    /// The answer or failure came (for a request that was not sent: `sent`).
    pub end: Instant,
}

/// How a step's exchange ended: what its last request got.
#[derive(Debug)]
pub(super) enum Ending {
    /// Its request could not be built (error class `render`): nothing was sent.
    Unsent(String),
    /// The request failed before a complete response.
    Failed(Failure),
    /// Still a redirect after every hop `follow_redirects` allows.
    TooManyRedirects(Reply),
    /// The step's answer, judged (its checks run, its values extracted into the user).
    Answered(Reply, Judgement),
    /// The policy ended a redirect chain between two hops: nothing more is sent.
    Stopped,
}

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
}

/// Sends `step` as `user` on `session`: builds its request, sends it, follows up to
/// `follow_redirects` redirects (each hop a request of the step, handed to `policy.hop`, not
/// judged), then judges the last answer (`user` takes its cookies and extracted values) and
/// hands how it ended to `policy.ended`.
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
    let mut at = Timing {
        begin,
        sent,
        end: sent,
    };
    let mut request = match step.request(user, globals) {
        Ok(request) => request,
        Err(why) => return policy.ended(step, Ending::Unsent(why), at, None),
    };
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
        if !policy.hop(step, reply, at) {
            return policy.ended(step, Ending::Stopped, at, Some(&request));
        }
        at = Timing {
            begin: at.end,
            sent: at.end,
            end: at.end,
        };
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
    policy.ended(step, ending, at, Some(&request))
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
        }
    }

    /// The iteration ran every step, the last ending at `end`: its duration ends there.
    pub(super) fn finished_at(&mut self, end: Instant) {
        self.finished = Some(end);
    }

    /// Ends the iteration (records it) and says how it ended, for the user's pacing.
    pub(super) fn end(self) -> IterationEnd {
        if self.failed_fast && !self.responded {
            IterationEnd::FailedFast
        } else {
            IterationEnd::Other
        }
    }

    /// What a step's last request leaves to record (`None`: the chain was stopped, there is
    /// nothing more to record).
    fn outcome<'s>(&mut self, step: &'s ReadyStep, ending: Ending) -> Option<Recorded<'s>> {
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
                }
            }
            Ending::Unsent(message) => {
                self.failed_fast = true;
                Outcome::Failed {
                    class: ErrorClass::Render,
                    message,
                    status: None,
                    bytes: 0,
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

/// The wire's side of a step's exchange, for its sample: the request as sent (`None`: it
/// could not be built) and what the transport kept of the `reply`, which ended at `end`.
/// Called only when a sample is wanted (a failure, one of the slowest).
fn exchange(
    step: &ReadyStep,
    sent: Option<&Prepared>,
    reply: Option<Reply>,
    end: Instant,
) -> Exchange {
    let (method, url, request_headers) = match sent {
        Some(r) => (r.method.clone(), Some(r.url.to_string()), r.headers.clone()),
        None => (step.spec.method.clone(), None, HeaderMap::new()),
    };
    let server_time = reply
        .as_ref()
        .map_or(ServerTime::Unknown, |r| r.server_time);
    let response = reply.map(|r| {
        let keep = step.keep().for_status(r.status);
        Kept {
            headers: keep.headers.then_some(r.headers),
            body: keep
                .body
                .then(|| r.body.slice(..r.body.len().min(BODY_PREVIEW))),
            bytes: r.bytes,
        }
    });
    Exchange {
        method,
        url,
        request_headers,
        response,
        server_time,
        at: end,
        // Filled from the reply's phase timings once they are measured (issue 20 §3).
        phases: Vec::new(),
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
        let begin = match self.planned.take() {
            Some(planned) => {
                let lag = sent.saturating_duration_since(planned);
                self.recorder.record_lag(step.spec.id, lag);
                planned.min(sent)
            }
            None => sent,
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
        };
        let id = step.spec.id;
        // A tagged step's hop is not judged: its tag is `(none)` (no-op when untagged).
        let (latency, service) = (at.end - at.begin, at.end - at.sent);
        self.recorder
            .record_in(id, Some(TAG_NONE), latency, service, hop);
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
        }) = self.outcome(step, ending)
        else {
            return StepEnd::Stopped;
        };
        let id = step.spec.id;
        // For a tagged step: a request without an answer to read is `(none)` too, so that
        // its values' counts add up to the step's (the recorder ignores it otherwise).
        let tag = Some(tag.as_deref().unwrap_or(TAG_NONE));
        // Made only when the step's samples want it: never for an ordinary success.
        let sample = || exchange(step, sent, reply, at.end);
        if unsent {
            // Nothing was sent: no time to record.
            let zero = (Duration::ZERO, Duration::ZERO);
            self.recorder
                .record_exchange(id, tag, zero, outcome, sample);
            return StepEnd::Unsent(now());
        }
        let times = (at.end - at.begin, at.end - at.sent);
        self.recorder
            .record_exchange(id, tag, times, outcome, sample);
        StepEnd::Sent {
            failed,
            end: at.end,
        }
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
        }
        let whole = self
            .finished
            .map(|end| (self.flow, end.saturating_duration_since(self.began)));
        self.recorder.end_iteration(whole);
    }
}

/// Setup's policy: nothing is recorded (setup is not part of the run's figures), nothing
/// stops a redirect chain, and the first failure — a request that could not be built or
/// failed, too many redirects, an unexpected status, a failed extraction or hard check (a
/// soft one is no failure) — ends setup: `Err` names the step and says why.
pub(super) struct Setup;

impl StepPolicy for Setup {
    type Output = Result<(), String>;

    fn start(&mut self, _: &ReadyStep, sent: Instant) -> Instant {
        sent
    }

    fn hop(&mut self, _: &ReadyStep, _: &Reply, _: Timing) -> bool {
        true
    }

    fn ended(
        &mut self,
        step: &ReadyStep,
        ending: Ending,
        _: Timing,
        _: Option<&Prepared>,
    ) -> Result<(), String> {
        let why = match ending {
            Ending::Answered(reply, judged) if !judged.status_ok => format!(
                "expected status {}, got {}",
                step.spec.expect.status.label(),
                reply.status
            ),
            Ending::Answered(_, judged) => match judged.failure {
                Some((_, why)) => why,
                None => return Ok(()),
            },
            Ending::Unsent(why) => why,
            Ending::Failed(failure) => format!("{}: {}", failure.class, failure.message),
            Ending::TooManyRedirects(reply) => step.too_many_redirects(reply.status),
            Ending::Stopped => return Ok(()), // never: `hop` always goes on
        };
        Err(format!("setup step \"{}\" failed: {why}", step.spec.name))
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderMap, HeaderValue};

    use super::*;
    use crate::engine::step::ReadyFlow;

    /// A flow of one `GET /` with `expect`, ready for http://a.test.
    fn expecting(expect: &str) -> ReadyFlow {
        let text = format!(
            "target: http://a.test\nload: {{ vus: 1, iterations: 1 }}\n\
             flows: [ {{ steps: [ {{ get: /, expect: {expect} }} ] }} ]\n"
        );
        let overrides = crate::scenario::Overrides::default();
        let plan =
            crate::scenario::parse(&text, "t.yaml", "t", &|_| None, &overrides).expect("plan");
        ReadyFlow::new(&plan.flows[0], "http://a.test", false, &[]).expect("flow")
    }

    /// A 200 with an empty body whose `X-Process-Time` (20 ms) is slower than
    /// `^0\.00[0-4]` asks.
    fn answer() -> Reply {
        let mut headers = HeaderMap::new();
        headers.insert("x-process-time", HeaderValue::from_static("0.020113"));
        Reply {
            status: 200,
            headers,
            ..Reply::default()
        }
    }

    fn judged(step: &ReadyStep) -> Judgement {
        let mut user = User::new(0, 1, false);
        let latency = Duration::from_millis(20);
        step.judge(&answer(), latency, &mut user, &Globals::default(), true)
    }

    /// What setup makes of the answer.
    fn in_setup(step: &ReadyStep) -> Result<(), String> {
        let now = Instant::now();
        let at = Timing {
            begin: now,
            sent: now,
            end: now,
        };
        Setup.ended(step, Ending::Answered(answer(), judged(step)), at, None)
    }

    #[test]
    fn a_failed_soft_check_is_counted_but_is_no_error() {
        let flow =
            expecting(r"{ headers: { x-process-time: { regex: '^0\.00[0-4]', soft: true } } }");
        let judged = judged(&flow.steps[0]);
        assert_eq!(judged.failed_checks, 0b1, "its failure is counted");
        assert!(judged.failure.is_none(), "{:?}", judged.failure);
        assert!(!judged.step_failed());
        assert_eq!(in_setup(&flow.steps[0]), Ok(()), "setup goes on");
    }

    #[test]
    fn a_failed_hard_check_is_an_error_of_class_check() {
        let flow = expecting(r"{ headers: { x-process-time: { regex: '^0\.00[0-4]' } } }");
        let judged = judged(&flow.steps[0]);
        assert_eq!(judged.failed_checks, 0b1);
        let (class, why) = judged.failure.expect("a failure");
        assert_eq!(class, ErrorClass::Check);
        assert_eq!(
            why,
            r"check failed: header x-process-time matches /^0\.00[0-4]/"
        );
        let setup = in_setup(&flow.steps[0]).expect_err("setup stops");
        assert!(setup.contains("check failed"), "{setup}");
    }

    #[test]
    fn a_hard_check_after_failed_soft_ones_is_the_failure() {
        let flow = expecting(
            "{ body: [ { name: seen, contains: ok, soft: true }, { name: needed, contains: ok } ], \
             headers: { x-process-time: { exists: false, soft: true } } }",
        );
        let judged = judged(&flow.steps[0]);
        assert_eq!(judged.failed_checks, 0b111, "every failed check is counted");
        assert_eq!(
            judged.failure,
            Some((ErrorClass::Check, "check failed: needed".to_string()))
        );
    }
}
