//! Failure samples: whole exchanges kept as examples, so that a user sees what a server
//! answered (its status, headers and the first bytes of its body) instead of guessing from
//! a count. Per step, the latest `KEPT` failing exchanges of each group (an error class; for
//! `status_not_expected`, each unexpected status apart, up to `MAX_STATUSES` of them, the
//! rest sharing the class's group) and the `KEPT` slowest successful ones by latency.
//!
//! A worker thread's `StepInterval` holds a `SampleStore` between two ticks (`Caught`: the
//! exchange as the wire gave it, secrets and all); the aggregator merges those into the
//! step's run-wide store and makes the snapshot's `Samples`, redacted (`SampleStore::shown`).
//!
//! What a sample holds of the response is what the transport kept: for a status the step
//! does not accept, the transport keeps the headers and the first `BODY_PREVIEW` bytes of
//! the body for that response alone; otherwise only what the step keeps anyway (a step with
//! checks or extractions on its body or headers). A check or extraction failure, or a slow
//! success, of a step that keeps neither has no response headers or body (`None`, not empty).
//!
//! Depends on `outcome`; `shown` on `redact` too (nothing leaves unredacted). Invariants:
//! a store holds at most `KEPT` × (classes + `MAX_STATUSES`) + `KEPT` exchanges, each body
//! at most `BODY_PREVIEW` bytes; a sample is made (allocated) only for a failure, or for a
//! success slower than the store's 5th slowest (`wants_slow`), never for an ordinary one.

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::HeaderMap;

use super::outcome::{ErrorClass, Outcome, ServerTime};

mod shown;

pub use shown::{BodyPreview, Sample, Samples};

/// Exchanges kept per group of failures, and slowest successes kept, per step.
pub const KEPT: usize = 5;

/// The most body bytes a sample shows (and a transport keeps for a failing status).
pub const BODY_PREVIEW: usize = 2048;

/// Unexpected statuses kept apart per step; later ones share `status_not_expected`'s group.
pub const MAX_STATUSES: usize = 16;

/// Per-request phase timings (DNS, connect, TLS, write, time to first byte, download), in
/// the order they happened: those its transport saw (see `phases::Phases`).
pub type Phases = Vec<(&'static str, Duration)>;

/// The phases a transport saw of one exchange, as a sample lists them.
pub fn phase_list(seen: &super::phases::Phases) -> Phases {
    let mut list = Vec::new();
    if let super::phases::ConnectionUse::New { dial, .. } = seen.connection {
        list.extend(dial.dns.map(|d| ("dns", d)));
        list.push(("connect", dial.connect));
        list.extend(dial.tls.map(|d| ("tls", d)));
    }
    list.extend(seen.write.map(|d| ("write", d)));
    list.extend(seen.ttfb.map(|d| ("ttfb", d)));
    list.extend(seen.download.map(|d| ("download", d)));
    list
}

/// The wire's side of one exchange, as the engine hands it over when a sample is wanted:
/// the wire's own types, so that making one clones reference-counted parts.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The request's method.
    pub method: Method,
    /// The URL as sent; `None` when the request could not be built (class `render`).
    pub url: Option<String>,
    /// The request's headers, as the step sent them (unredacted until `shown`).
    pub request_headers: HeaderMap,
    /// What arrived of the response (`None`: no response).
    pub response: Option<Kept>,
    /// The time the server said it spent.
    pub server_time: ServerTime,
    /// When the exchange ended.
    pub at: Instant,
    /// Phase timings, as its transport saw them (see `Phases`).
    pub phases: Phases,
}

/// What the transport kept of a response.
#[derive(Debug, Clone, Default)]
pub struct Kept {
    /// The headers, if kept.
    pub headers: Option<HeaderMap>,
    /// The first bytes of the body (at most `BODY_PREVIEW`), if kept.
    pub body: Option<Bytes>,
    /// Body bytes received in all.
    pub bytes: u64,
}

/// One exchange caught as a sample: how it ended, and the exchange.
#[derive(Debug, Clone)]
pub struct Caught {
    /// The error class; `None` for a success (one of the slowest).
    pub class: Option<ErrorClass>,
    /// The status, when one arrived.
    pub status: Option<u16>,
    /// Why it failed (empty for a success).
    pub message: String,
    /// Its latency.
    pub latency: Duration,
    /// The exchange itself.
    pub exchange: Exchange,
}

/// What an outcome makes a candidate for: a failure's sample, or one of the slowest.
#[derive(Debug)]
pub enum Candidate {
    /// A failure: always sampled (it is the latest of its group).
    Failure {
        /// Its class.
        class: ErrorClass,
        /// Its status, if one arrived.
        status: Option<u16>,
        /// Why (copied from the outcome, which the recording takes).
        message: String,
    },
    /// A success: sampled when slower than the 5th slowest so far.
    Success {
        /// Its status.
        status: u16,
    },
    /// Neither (a followed redirect, an interrupted request).
    Neither,
}

impl Candidate {
    /// What `outcome` is a candidate for.
    pub fn of(outcome: &Outcome<'_>) -> Self {
        match outcome {
            Outcome::Response {
                status,
                unexpected: Some(expected),
                ..
            } => Candidate::Failure {
                class: ErrorClass::StatusNotExpected,
                status: Some(*status),
                message: format!("expected {expected}, got {status}"),
            },
            Outcome::Response {
                status,
                failure: Some((class, message)),
                ..
            } => Candidate::Failure {
                class: *class,
                status: Some(*status),
                message: message.clone(),
            },
            Outcome::Response { status, .. } => Candidate::Success { status: *status },
            Outcome::Failed {
                class,
                message,
                status,
                ..
            } => Candidate::Failure {
                class: *class,
                status: *status,
                message: message.clone(),
            },
            Outcome::Hop { .. } | Outcome::Interrupted => Candidate::Neither,
        }
    }

    /// Whether `store` wants this candidate, of `latency`.
    pub fn wanted(&self, store: Option<&SampleStore>, latency: Duration) -> bool {
        match self {
            Candidate::Failure { .. } => true,
            Candidate::Success { .. } => store.is_none_or(|s| s.wants_slow(latency)),
            Candidate::Neither => false,
        }
    }

    /// The sample of this candidate.
    pub fn caught(self, latency: Duration, exchange: Exchange) -> Caught {
        let (class, status, message) = match self {
            Candidate::Failure {
                class,
                status,
                message,
            } => (Some(class), status, message),
            Candidate::Success { status } => (None, Some(status), String::new()),
            Candidate::Neither => (None, None, String::new()),
        };
        Caught {
            class,
            status,
            message,
            latency,
            exchange,
        }
    }
}

/// Which failures share a sample group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    /// A class (for `status_not_expected`: the statuses past `MAX_STATUSES`).
    Class(ErrorClass),
    /// An unexpected status of its own.
    Status(u16),
}

/// One step's samples: per group of failures the latest `KEPT`, and the `KEPT` slowest
/// successes.
#[derive(Debug, Clone, Default)]
pub struct SampleStore {
    /// Each group's latest failures, oldest first.
    groups: Vec<(Group, Vec<Caught>)>,
    /// The slowest successes, slowest first.
    slowest: Vec<Caught>,
    /// Counts the samples kept so far: a reader tells a change by it.
    version: u64,
}

impl SampleStore {
    /// Whether a success of `latency` is among the `KEPT` slowest so far.
    pub fn wants_slow(&self, latency: Duration) -> bool {
        self.slowest.len() < KEPT || self.slowest.last().is_some_and(|c| latency > c.latency)
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty() && self.slowest.is_empty()
    }

    /// Keeps `caught` if it is among the latest of its group, or the slowest successes.
    pub fn keep(&mut self, caught: Caught) {
        let Some(class) = caught.class else {
            let at = self
                .slowest
                .partition_point(|c| c.latency >= caught.latency);
            if at < KEPT {
                self.slowest.insert(at, caught);
                self.slowest.truncate(KEPT);
                self.version += 1;
            }
            return;
        };
        let group = self.group_of(class, caught.status);
        let latest = match self.groups.iter_mut().position(|(g, _)| *g == group) {
            Some(i) => &mut self.groups[i].1,
            None => {
                self.groups.push((group, Vec::with_capacity(1)));
                let last = self.groups.len() - 1;
                &mut self.groups[last].1
            }
        };
        let at = latest.partition_point(|c| c.exchange.at <= caught.exchange.at);
        if at == 0 && latest.len() >= KEPT {
            return; // older than every one kept
        }
        latest.insert(at, caught);
        if latest.len() > KEPT {
            latest.remove(0);
        }
        self.version += 1;
    }

    /// Changes whenever a sample is kept (a snapshot's samples are made anew only then).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The group of a failure of `class` with `status`: its own for an unexpected status,
    /// while fewer than `MAX_STATUSES` statuses have one.
    fn group_of(&self, class: ErrorClass, status: Option<u16>) -> Group {
        let Some(status) = status.filter(|_| class == ErrorClass::StatusNotExpected) else {
            return Group::Class(class);
        };
        let own = Group::Status(status);
        let statuses = self
            .groups
            .iter()
            .filter(|(g, _)| matches!(g, Group::Status(_)))
            .count();
        if statuses < MAX_STATUSES || self.groups.iter().any(|(g, _)| *g == own) {
            own
        } else {
            Group::Class(class)
        }
    }

    /// Takes in every sample of `other` (moved).
    pub fn merge(&mut self, other: SampleStore) {
        for (_, caught) in other.groups {
            caught.into_iter().for_each(|c| self.keep(c));
        }
        other.slowest.into_iter().for_each(|c| self.keep(c));
    }

    /// Moves every sample of `from` into `into`'s store, made when it first takes one.
    pub fn merge_into(into: &mut Option<Box<SampleStore>>, from: Option<Box<SampleStore>>) {
        if let Some(from) = from {
            into.get_or_insert_with(Box::default).merge(*from);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::Redactor;
    use reqwest::header::HeaderValue;

    /// A GET with a secret in its URL and its authorization header, and no response: the
    /// exchange these tests and `shown`'s catch.
    pub(super) fn exchange(at: Instant) -> Exchange {
        let mut request_headers = HeaderMap::new();
        request_headers.insert("authorization", HeaderValue::from_static("Bearer s3cret"));
        request_headers.insert("accept", HeaderValue::from_static("application/json"));
        Exchange {
            method: Method::GET,
            url: Some("http://u:pw@h/x?token=abc&n=1".into()),
            request_headers,
            response: None,
            server_time: ServerTime::Unknown,
            at,
            phases: Vec::new(),
        }
    }

    fn failure(class: ErrorClass, status: Option<u16>, at: Instant, n: u64) -> Caught {
        Caught {
            class: Some(class),
            status,
            message: format!("failure {n}"),
            latency: Duration::from_millis(n),
            exchange: exchange(at),
        }
    }

    fn success(ms: u64, at: Instant) -> Caught {
        Caught {
            class: None,
            status: Some(200),
            message: String::new(),
            latency: Duration::from_millis(ms),
            exchange: exchange(at),
        }
    }

    #[test]
    fn each_group_keeps_its_latest_five() {
        let t0 = Instant::now();
        let mut store = SampleStore::default();
        for n in 0..12 {
            let at = t0 + Duration::from_millis(n);
            store.keep(failure(ErrorClass::Timeout, None, at, n));
            store.keep(failure(ErrorClass::StatusNotExpected, Some(503), at, n));
            store.keep(failure(ErrorClass::StatusNotExpected, Some(500), at, n));
        }
        let shown = store.shown(&Redactor::default(), t0);
        assert_eq!(shown.failures.len(), 15);
        let of = |status: Option<u16>, class| -> Vec<u128> {
            let f = shown.failures.iter();
            f.filter(|s| s.class == Some(class) && s.status == status)
                .map(|s| s.at.as_millis())
                .collect()
        };
        assert_eq!(of(None, ErrorClass::Timeout), vec![11, 10, 9, 8, 7]);
        assert_eq!(
            of(Some(500), ErrorClass::StatusNotExpected),
            vec![11, 10, 9, 8, 7]
        );
        assert_eq!(
            of(Some(503), ErrorClass::StatusNotExpected),
            vec![11, 10, 9, 8, 7]
        );
        // Groups in class order, then statuses ascending.
        assert_eq!(shown.failures[0].class, Some(ErrorClass::Timeout));
        assert_eq!(shown.failures[5].status, Some(500));
        let latest = shown.latest(ErrorClass::StatusNotExpected).expect("one");
        assert_eq!(latest.at, Duration::from_millis(11));
    }

    #[test]
    fn statuses_past_the_cap_share_their_class_group() {
        let t0 = Instant::now();
        let mut store = SampleStore::default();
        for status in 400..500 {
            for n in 0..3 {
                let at = t0 + Duration::from_millis(u64::from(status) * 10 + n);
                let c = failure(ErrorClass::StatusNotExpected, Some(status), at, n);
                store.keep(c);
            }
        }
        assert_eq!(store.groups.len(), MAX_STATUSES + 1);
        let kept: usize = store.groups.iter().map(|(_, c)| c.len()).sum();
        assert_eq!(kept, MAX_STATUSES * 3 + KEPT, "bounded whatever comes");
    }

    #[test]
    fn the_slowest_five_are_the_truly_slowest_whatever_the_order() {
        let t0 = Instant::now();
        let order = [7, 3, 19, 1, 12, 15, 2, 30, 8, 11, 25, 4];
        let (mut a, mut b) = (SampleStore::default(), SampleStore::default());
        for (i, ms) in order.into_iter().enumerate() {
            let store = if i % 2 == 0 { &mut a } else { &mut b };
            if store.wants_slow(Duration::from_millis(ms)) {
                store.keep(success(ms, t0));
            }
        }
        assert!(!a.wants_slow(Duration::from_millis(1)));
        let mut run = SampleStore::default();
        run.merge(a.clone());
        run.merge(b);
        let got: Vec<u128> = run.slowest.iter().map(|c| c.latency.as_millis()).collect();
        assert_eq!(got, vec![30, 25, 19, 15, 12]);
        assert!(!run.wants_slow(Duration::from_millis(12)));
        assert!(run.wants_slow(Duration::from_millis(13)));
        let version = run.version();
        run.keep(success(2, t0));
        assert_eq!(run.version(), version, "not kept: no change");
    }

    #[test]
    fn merging_keeps_the_latest_across_threads() {
        let t0 = Instant::now();
        let (mut a, mut b) = (SampleStore::default(), SampleStore::default());
        for n in 0..8 {
            let at = t0 + Duration::from_millis(n);
            let store = if n % 3 == 0 { &mut a } else { &mut b };
            store.keep(failure(ErrorClass::Reset, None, at, n));
        }
        a.merge(b);
        let shown = a.shown(&Redactor::default(), t0);
        let ats: Vec<u128> = shown.failures.iter().map(|s| s.at.as_millis()).collect();
        assert_eq!(ats, vec![7, 6, 5, 4, 3]);
        // One older than every kept one changes nothing.
        let version = a.version();
        a.keep(failure(ErrorClass::Reset, None, t0, 0));
        assert_eq!(a.version(), version);
        a.keep(failure(
            ErrorClass::Reset,
            None,
            t0 + Duration::from_millis(9),
            9,
        ));
        assert_eq!(a.version(), version + 1);
    }
}
