//! A step's retry policy (`retry:` in `defaults` or a step): how many attempts, the backoff
//! between them, and which endings are retried; its arithmetic (`Retry::delay`) is pure, so
//! the bounds are tested without a clock.
//!
//! Depends on `metrics::ErrorClass` (the endings a retry names) only.

use std::time::{Duration, SystemTime};

use crate::metrics::ErrorClass;

/// The attempts `retry:` allows when it names none, counting the first.
pub const DEFAULT_ATTEMPTS: u32 = 3;
/// The most attempts a step may make, counting the first.
pub const MAX_ATTEMPTS: u32 = 20;
/// The backoff when `retry:` names none: from 100 ms, doubling, at most 2 s.
pub const DEFAULT_BACKOFF: (Duration, Duration) =
    (Duration::from_millis(100), Duration::from_secs(2));

/// Which endings of an attempt are retried: failures by their class, answers by status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryOn {
    /// Error classes retried (`connect` names both connect classes).
    pub classes: Vec<ErrorClass>,
    /// Statuses retried.
    pub statuses: Vec<u16>,
}

impl Default for RetryOn {
    /// What the services' own clients retry: failures to connect, timeouts, resets, and the
    /// statuses of an overloaded or restarting service.
    fn default() -> Self {
        Self {
            classes: vec![
                ErrorClass::ConnectRefused,
                ErrorClass::Connect,
                ErrorClass::Timeout,
                ErrorClass::Reset,
            ],
            statuses: vec![500, 502, 503, 504],
        }
    }
}

/// The names `on:` takes beside statuses, and the classes each retries.
pub const RETRY_CLASSES: [(&str, &[ErrorClass]); 5] = [
    (
        "connect",
        &[ErrorClass::ConnectRefused, ErrorClass::Connect],
    ),
    ("timeout", &[ErrorClass::Timeout]),
    ("reset", &[ErrorClass::Reset]),
    ("goaway", &[ErrorClass::GoAway]),
    ("body", &[ErrorClass::Body]),
];

/// A step's retry policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// The most attempts of one exchange, the first included (at least 2).
    pub attempts: u32,
    /// The backoff's bounds: the first retry waits between `.0` and twice that, each later
    /// one up to twice as long again, never more than `.1`.
    pub backoff: (Duration, Duration),
    /// The endings retried.
    pub on: RetryOn,
}

impl Retry {
    /// Whether a failure of `class` is retried.
    pub fn retries_class(&self, class: ErrorClass) -> bool {
        self.on.classes.contains(&class)
    }

    /// Whether an answer with `status` is retried.
    pub fn retries_status(&self, status: u16) -> bool {
        self.on.statuses.contains(&status)
    }

    /// The wait before retry number `retry` (1 for the first), with `unit` uniform in
    /// `0.0..1.0`: exponential backoff with full jitter between the bounds, uniform in
    /// `low ..= min(low × 2^retry, high)`; a server's `Retry-After` is honoured up to `high`
    /// (the wait is at least that long).
    pub fn delay(&self, retry: u32, unit: f64, retry_after: Option<Duration>) -> Duration {
        let (low, high) = self.backoff;
        let doubled = low.saturating_mul(1u32 << retry.clamp(1, 20));
        let ceiling = doubled.min(high).max(low);
        let jittered = low + (ceiling - low).mul_f64(unit.clamp(0.0, 1.0));
        match retry_after {
            Some(asked) => jittered.max(asked.min(high)),
            None => jittered,
        }
    }
}

/// A `Retry-After` header's delay (RFC 9110 §10.2.3): a number of seconds, or an HTTP date,
/// the wait until it from `now` (none when it has passed); `None` for anything else.
pub fn retry_after(value: &[u8], now: SystemTime) -> Option<Duration> {
    let text = std::str::from_utf8(value).ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(text).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(low_ms: u64, high_ms: u64) -> Retry {
        Retry {
            attempts: 5,
            backoff: (
                Duration::from_millis(low_ms),
                Duration::from_millis(high_ms),
            ),
            on: RetryOn::default(),
        }
    }

    #[test]
    fn each_retry_waits_within_its_doubling_bounds_and_never_past_the_upper_one() {
        let p = policy(100, 2_000);
        let ms = Duration::from_millis;
        for (retry, most) in [
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1_600),
            (5, 2_000),
            (30, 2_000),
        ] {
            assert_eq!(p.delay(retry, 0.0, None), ms(100), "retry {retry}");
            assert_eq!(p.delay(retry, 1.0, None), ms(most), "retry {retry}");
            let mid = p.delay(retry, 0.5, None);
            assert!(mid >= ms(100) && mid <= ms(most), "retry {retry}: {mid:?}");
        }
        // Equal bounds: a fixed wait.
        assert_eq!(policy(250, 250).delay(3, 0.7, None), ms(250));
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_upper_bound() {
        let p = policy(10, 2_000);
        let s = Duration::from_secs;
        assert_eq!(p.delay(1, 0.0, Some(s(1))), s(1));
        assert_eq!(p.delay(1, 0.0, Some(s(30))), s(2));
        let now = std::time::UNIX_EPOCH + s(1_445_412_470); // Wed, 21 Oct 2015 07:27:50 GMT
        assert_eq!(retry_after(b" 1 ", now), Some(s(1)));
        assert_eq!(
            retry_after(b"Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(s(10))
        );
        // RFC 850's and asctime's forms, which HTTP still accepts.
        assert_eq!(
            retry_after(b"Wednesday, 21-Oct-15 07:28:00 GMT", now),
            Some(s(10))
        );
        assert_eq!(retry_after(b"Wed Oct 21 07:28:00 2015", now), Some(s(10)));
        // A date that has passed: no wait of its own (the backoff's applies).
        assert_eq!(
            retry_after(b"Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(s(0))
        );
        assert_eq!(retry_after(b"soon", now), None);
        assert_eq!(retry_after(b"-1", now), None);
    }

    #[test]
    fn the_default_retries_what_a_services_clients_retry() {
        let p = policy(1, 2);
        assert!(p.retries_class(ErrorClass::Timeout) && p.retries_class(ErrorClass::Connect));
        assert!(!p.retries_class(ErrorClass::Check) && !p.retries_class(ErrorClass::Tls));
        assert!(p.retries_status(503) && !p.retries_status(404) && !p.retries_status(200));
    }
}
