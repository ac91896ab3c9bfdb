//! One attempt of a step, as the executor sends it: when its latency counts from
//! (`Timing`), how it ended (`Ending`), whether the step's `retry:` sends it again
//! (`retried`, with the wait the server asked for in `Retry-After`), and what an exchange's
//! attempts came to (`Tries`), which the executor hands to its policy before the step's end;
//! and an attempt's exchange as a sample shows it (`exchange`: the request as sent and what
//! the transport kept of the reply).
//!
//! Depends on `step` (a judgement, the step's keep), the transport's `Reply`, `Failure` and
//! `Prepared`, `metrics` (a sample's types) and the scenario's `Retry`. Invariant: only a
//! failure of a class the policy names, or an answer with a status it names that the step
//! does not accept, is retried; never a request that could not be built.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::step::{Judgement, ReadyStep};
use super::{Failure, Prepared, Reply};
use crate::metrics::samples::{BODY_PREVIEW, phase_list};
use crate::metrics::{Exchange, Kept, Phases, ServerTime};
use crate::scenario::{Retry, retry_after};

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

impl Timing {
    /// A request whose latency counts from `begin`, sent at `sent`, not ended yet.
    pub(super) fn from(begin: Instant, sent: Instant) -> Self {
        Self {
            begin,
            sent,
            end: sent,
        }
    }
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

/// What one exchange's attempts came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Tries {
    /// Attempts made, the first included.
    pub made: u32,
    /// When the first attempt's latency counts from: the exchange's begin.
    pub began: Instant,
    /// The last attempt ended as the policy retries, with no attempt left.
    pub gave_up: bool,
}

/// Whether `retry` retries an attempt that ended as `ending`: `Some` with the wait the
/// server asked for (`Retry-After`), `None` when it is not retried.
pub(super) fn retried(retry: &Retry, ending: &Ending) -> Option<Option<Duration>> {
    match ending {
        // A status the step accepts is its answer, whatever `on` lists.
        Ending::Answered(reply, judged)
            if !judged.status_ok && retry.retries_status(reply.status) =>
        {
            Some(
                reply
                    .headers
                    .get(RETRY_AFTER)
                    .and_then(|v| retry_after(v.as_bytes(), std::time::SystemTime::now())),
            )
        }
        Ending::Failed(failure) if retry.retries_class(failure.class) => Some(None),
        _ => None,
    }
}

/// The wire's side of a step's exchange, for its sample: the request as sent (`None`: it
/// could not be built) and what the transport kept of the `reply`, which ended at `end`.
/// Called only when a sample is wanted (a failure, one of the slowest).
pub(super) fn exchange(
    step: &ReadyStep,
    sent: Option<&Prepared>,
    reply: Option<Reply>,
    (end, seen): (Instant, Phases),
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
        phases: phase_list(&seen),
    }
}
