//! A virtual user's pause after iterations that fail fast, and how an iteration ended.
//!
//! Depends on `metrics` (the error classes) only.

use std::time::Duration;

use crate::metrics::ErrorClass;

/// The first pause of a user whose iterations keep failing without reaching the server.
const BACKOFF_FIRST: Duration = Duration::from_millis(10);

/// The longest such pause: a target that comes back is found again within a second.
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// A virtual user's pause after consecutive iterations that failed fast: a refused or
/// failed connection, a TLS failure, or a request that could not be built. Such failures
/// take no server time, so without a pause the user would go round its loop as fast as the
/// CPU allows (15,000 refused connects/s with 10 users), burn both cores and starve the stop
/// timer and the signal task. Every attempt is still sent and counted; the pause doubles from
/// `BACKOFF_FIRST` up to `BACKOFF_MAX` and resets at the first response.
///
/// A user whose flow's `init` failed (a login refused) pauses too, from `INIT_FIRST` and
/// doubling up to `INIT_MOST`, until an init succeeds: a dead login is asked about a few
/// times a second by the whole crowd at first, then once every few seconds by each user.
#[derive(Debug, Default)]
pub(super) struct Backoff {
    failures: u32,
    init_failures: u32,
}

/// The first pause after a failed init.
const INIT_FIRST: Duration = Duration::from_millis(200);

/// The longest pause after failed inits.
const INIT_MOST: Duration = Duration::from_secs(5);

impl Backoff {
    /// The pause before the next iteration, given how the last one ended.
    pub(super) fn after(&mut self, end: IterationEnd) -> Option<Duration> {
        if end == IterationEnd::InitFailed {
            let pause = INIT_FIRST
                .saturating_mul(1u32 << self.init_failures.min(16))
                .min(INIT_MOST);
            self.init_failures = self.init_failures.saturating_add(1);
            return Some(pause);
        }
        self.init_failures = 0;
        match end {
            IterationEnd::InitFailed => None,
            IterationEnd::FailedFast => {
                let pause = BACKOFF_FIRST
                    .saturating_mul(1u32 << self.failures.min(16))
                    .min(BACKOFF_MAX);
                self.failures = self.failures.saturating_add(1);
                Some(pause)
            }
            IterationEnd::Other => {
                self.failures = 0;
                None
            }
        }
    }
}

/// How an iteration ended, as far as pacing a user goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IterationEnd {
    /// No step got a response, and a step failed without the server's time: a connection
    /// that could not be made, or a request that could not be built.
    FailedFast,
    /// Anything else: a response arrived, a timeout, an interruption.
    Other,
    /// The flow's init failed (its steps are the user's to run again).
    InitFailed,
}

/// Whether a failure of this class comes back without having waited for the server (a
/// server refusing every new connection with an error GOAWAY answers at once, too).
pub(super) fn fails_fast(class: ErrorClass) -> bool {
    matches!(
        class,
        ErrorClass::ConnectRefused
            | ErrorClass::Connect
            | ErrorClass::Tls
            | ErrorClass::Render
            | ErrorClass::GoAway
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_resets_on_a_response() {
        let mut b = Backoff::default();
        let pauses: Vec<_> = (0..9)
            .filter_map(|_| b.after(IterationEnd::FailedFast))
            .collect();
        let ms: Vec<u128> = pauses.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        assert_eq!(b.after(IterationEnd::Other), None);
        assert_eq!(b.after(IterationEnd::FailedFast), Some(BACKOFF_FIRST));
        // Thousands of failures neither overflow nor pass the cap.
        for _ in 0..100_000 {
            b.after(IterationEnd::FailedFast);
        }
        assert_eq!(b.after(IterationEnd::FailedFast), Some(BACKOFF_MAX));
    }

    #[test]
    fn failed_inits_back_off_apart_from_fast_failures_until_one_succeeds() {
        let mut b = Backoff::default();
        let ms: Vec<u128> = (0..7)
            .filter_map(|_| b.after(IterationEnd::InitFailed))
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(ms, [200, 400, 800, 1600, 3200, 5000, 5000]);
        // An init that succeeds (any other ending) starts the count again.
        assert_eq!(b.after(IterationEnd::Other), None);
        assert_eq!(b.after(IterationEnd::InitFailed), Some(INIT_FIRST));
        assert_eq!(b.after(IterationEnd::FailedFast), Some(BACKOFF_FIRST));
        assert_eq!(b.after(IterationEnd::InitFailed), Some(INIT_FIRST));
    }
}
