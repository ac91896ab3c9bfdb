//! Setup's policy for the one step executor (`Setup`): nothing is recorded (setup is not
//! part of the run's figures), and the first failure ends setup.
//!
//! Depends on `executor` (the `StepPolicy` contract), `attempt` (how an attempt ended) and
//! `step`. Invariant: setup's requests never reach the recorder.

use std::time::{Duration, Instant};

use super::Prepared;
use super::Reply;
use super::attempt::{Ending, Timing, Tries};
use super::executor::StepPolicy;
use super::step::ReadyStep;

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

    fn attempted(&mut self, _: &ReadyStep, _: Ending, _: Timing, _: Option<&Prepared>) {}

    async fn back_off(
        &mut self,
        _: &ReadyStep,
        wait: Duration,
        _: Tries,
    ) -> Option<Result<(), String>> {
        tokio::time::sleep(wait).await;
        None
    }

    fn tries(&mut self, _: &ReadyStep, _: Tries, _: Instant) {}

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
