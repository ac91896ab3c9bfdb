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
#[derive(Debug, Default)]
pub(super) struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The pause before the next iteration, given how the last one ended.
    pub(super) fn after(&mut self, end: IterationEnd) -> Option<Duration> {
        match end {
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
}
