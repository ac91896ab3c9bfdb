//! One interval of one step (`StepInterval`): what a shard accumulates between two ticks,
//! and, added up, what the aggregator keeps for a step over the whole run; a tagged step's
//! figures per tag value (`Tagged`, numbered by the step's `tags::TagRegistry`).
//!
//! Depends on `histograms`, `outcome`, `phases`, `samples` and `tags`. Invariants: recording
//! cannot fail (values are clamped to the run's highest, histograms auto-resize); a
//! histogram is made only when its figure is first recorded, so a step costs what its
//! values need.

use std::sync::Arc;
use std::time::Duration;

use super::histograms::{Figure, Figures, Tally, add_into, micros};
use super::outcome::{ErrorClass, Outcome, ServerTime};
use super::phases::{self, ConnectionCounts, Phases};
use super::retries::RetryCounts;
use super::samples::SampleStore;
use super::snapshot::Percentiles;
use super::tags::{OTHER, TagRegistry};

mod state;
pub use state::{IntervalState, class_named};

/// The most values one request adds to the corrected view (a 30 s timeout corrected by a
/// 100 µs iteration would add 300,000).
const MOST_CORRECTED: u32 = 100_000;

const CLASSES: usize = ErrorClass::ALL.len();

/// One interval of one step: what a shard accumulates between two ticks.
///
/// Its figures are `Tally`s, sized to what they hold: a few values as they came, then a
/// histogram that starts at 1 µs ..= 2 ms (16 KiB) and grows as larger values arrive, up to
/// the run's highest value (longer values are recorded as that highest). The service time
/// and the send lag have tallies of their own only once they first differ from the latency
/// or are first recorded: in the closed model a step's service time *is* its latency, so it
/// costs nothing (`service()` then reads the latency).
#[derive(Debug, Clone)]
pub struct StepInterval {
    /// End-to-end latency in µs (from the planned start): responses and timeouts.
    pub latency: Tally,
    /// Service time in µs (from the actual send), once any differed from its latency;
    /// `None`: every service time so far equalled its latency.
    service: Option<Tally>,
    /// Count per status code, few distinct codes so a small vector beats a map.
    pub statuses: Vec<(u16, u64)>,
    /// Count per error class (indexed by `ErrorClass::index`).
    pub errors: [u64; CLASSES],
    /// One recent message per error class.
    pub samples: [Option<String>; CLASSES],
    /// Body bytes received.
    pub bytes: u64,
    /// Requests cut off by the hard stop.
    pub interrupted: u64,
    /// Failures that came after the status arrived (a body cut short): each is counted under
    /// its status and under its error class, and once as a request.
    pub failed_after_status: u64,
    /// Redirects followed (`follow_redirects`): each counted as a request under its 3xx,
    /// but not judged (checks see only the answer at the end of the chain).
    pub hops: u64,
    /// Failures per check of the step (index: the check's position in the step).
    pub checks: Vec<u64>,
    /// Responses whose server time was not a time, or more than the service time itself
    /// (a clock that cannot be right): counted here, recorded nowhere.
    pub server_time_invalid: u64,
    /// Its requests' connections: new, reused, and remade after the server closed one.
    pub connections: ConnectionCounts,
    /// How its exchanges' attempts came out (a step with `retry:`).
    pub retries: RetryCounts,
    /// The figures with histograms of their own, each made when first recorded (µs): the
    /// open model's send lag, the generator's own honesty figure (a late send is counted
    /// in the latency, and this says how late the generator itself was).
    figures: Figures,
    /// The highest value the histograms record, in µs.
    high_us: u64,
    /// The step's figures per tag value (`tag_by:`), once one was recorded.
    tagged: Option<Box<Tagged>>,
    /// Failure samples and the slowest successes (`samples`), once one was kept.
    pub(super) exchanges: Option<Box<SampleStore>>,
}

impl StepInterval {
    /// An empty interval whose histograms record 1 µs ..= `high_us` (larger values as
    /// `high_us`).
    pub fn new(high_us: u64) -> Self {
        Self {
            latency: Tally::default(),
            service: None,
            statuses: Vec::new(),
            errors: [0; CLASSES],
            samples: Default::default(),
            bytes: 0,
            interrupted: 0,
            failed_after_status: 0,
            hops: 0,
            checks: Vec::new(),
            server_time_invalid: 0,
            connections: ConnectionCounts::default(),
            retries: RetryCounts::default(),
            figures: Figures::default(),
            high_us: high_us.max(2),
            tagged: None,
            exchanges: None,
        }
    }

    /// Service times in µs (from the actual send): responses and timeouts.
    pub fn service(&self) -> &Tally {
        self.service.as_ref().unwrap_or(&self.latency)
    }

    /// Whether its service times have a histogram of their own (some differed from the
    /// latency).
    #[cfg(test)]
    pub(super) fn keeps_service_apart(&self) -> bool {
        self.service.is_some()
    }

    /// Open-model send lags in µs, if any was recorded.
    pub fn send_lag(&self) -> Option<&Tally> {
        self.figures.get(Figure::SendLag)
    }

    /// The server's own times in µs, if any response said one.
    pub fn server_time(&self) -> Option<&Tally> {
        self.figures.get(Figure::ServerTime)
    }

    /// Service time minus server time in µs, for the responses that said their server time.
    pub fn overhead(&self) -> Option<&Tally> {
        self.figures.get(Figure::Overhead)
    }

    /// A phase's times in µs (`phases::FIGURES`), if any was recorded.
    pub(super) fn figure(&self, figure: Figure) -> Option<&Tally> {
        self.figures.get(figure)
    }

    /// Requests that completed (a response or an error), interrupted ones excluded.
    pub fn completed(&self) -> u64 {
        let judged: u64 = ErrorClass::ALL
            .iter()
            .filter(|c| c.judges_response())
            .map(|c| self.errors[c.index()])
            .sum();
        self.statuses.iter().map(|(_, n)| n).sum::<u64>() + self.errors.iter().sum::<u64>()
            - judged
            - self.failed_after_status
    }

    /// Records one latency and its service time (µs, clamped to the highest value).
    fn record_times(&mut self, latency: Duration, service: Duration) {
        let (latency, service) = (self.clamp(latency), self.clamp(service));
        if self.service.is_none() && service != latency {
            // The first time they differ: until now the service times were the latencies.
            self.service = Some(self.latency.clone());
        }
        // Auto-resizing histograms and clamped values: recording cannot fail.
        self.latency.record(latency);
        if let Some(t) = &mut self.service {
            t.record(service);
        }
    }

    /// Records the server's time of a response whose service time was `service`, and the
    /// overhead around it. The service time (from the actual send), not the latency: in the
    /// open model the latency also holds the time the request waited to be sent, which is
    /// neither the server's nor the network's.
    fn record_server(&mut self, service: Duration, server: ServerTime) {
        match server {
            ServerTime::Unknown => {}
            ServerTime::Invalid => self.server_time_invalid += 1,
            ServerTime::Took(us) => {
                let service = u64::try_from(service.as_micros()).unwrap_or(u64::MAX);
                if us > service {
                    self.server_time_invalid += 1;
                    return;
                }
                let (server, overhead) = (us.clamp(1, self.high_us), service - us);
                self.figures.record(Figure::ServerTime, server);
                self.figures
                    .record(Figure::Overhead, overhead.clamp(1, self.high_us));
            }
        }
    }

    /// Records an exchange of `made` attempts that `succeeded` or `gave_up`, which took
    /// `exchange` from its first attempt's start to its last one's end (`None`: a stop cut
    /// it short, so it has no whole time).
    pub(super) fn record_tries(
        &mut self,
        (made, succeeded, gave_up): (u32, bool, bool),
        exchange: Option<Duration>,
    ) {
        self.retries.count(made, succeeded, gave_up);
        if let Some(exchange) = exchange {
            self.figures.record(Figure::Exchange, self.clamp(exchange));
        }
    }

    /// Its exchanges' times (a step with `retry:`), if any was recorded.
    pub fn exchange(&self) -> Option<&Tally> {
        self.figures.get(Figure::Exchange)
    }

    /// Closed model: what a corrected view adds to `latency`, as `HdrHistogram`'s
    /// `record_correct` does with the user's recent median time per iteration `expected`:
    /// when the latency is at least twice `expected`, the latencies of the requests the
    /// user would have sent every `expected` meanwhile (latency − expected, − 2 × expected,
    /// … down to `expected`), at most `MOST_CORRECTED` of them. Only these are kept (the
    /// corrected view is the latency's values and these: see `corrected`), so a run without
    /// stalls pays almost nothing for it. Without an `expected` yet (a user's first
    /// iterations), nothing is added.
    pub(super) fn record_corrected(&mut self, latency: Duration, expected: Option<Duration>) {
        self.figures.touch(Figure::Corrected);
        let us = self.clamp(latency);
        let Some(every) = expected.map(micros).filter(|e| *e > 0 && *e < us) else {
            return;
        };
        let mut missed = us - every;
        for _ in 0..MOST_CORRECTED {
            if missed < every {
                break;
            }
            self.figures.record(Figure::Corrected, missed);
            missed -= every;
        }
    }

    /// Closed model: the corrected view, the latency's values with what correction added
    /// (`latency`: the raw figures, already read); zeros in the open model, which needs no
    /// correction.
    pub fn corrected(&self, latency: &Percentiles) -> Percentiles {
        match self.figures.get(Figure::Corrected) {
            None => Percentiles::default(),
            Some(extra) if extra.is_empty() => *latency,
            Some(extra) => self.latency.view(|h| {
                let mut all = h.clone();
                extra.view(|e| add_into(&mut all, e));
                Percentiles::of(&all)
            }),
        }
    }

    /// Records how late an open-model iteration's first request was sent.
    pub(super) fn record_lag(&mut self, lag: Duration) {
        self.figures.record(Figure::SendLag, self.clamp(lag));
    }

    fn clamp(&self, d: Duration) -> u64 {
        micros(d).min(self.high_us)
    }

    /// The step's figures per tag value, if it is tagged and recorded one.
    pub fn tagged(&self) -> Option<&Tagged> {
        self.tagged.as_deref()
    }

    /// Records how one request of the step ended, in the step's figures and in those of its
    /// tag's `value` (numbered by `registry`).
    pub(super) fn record_tagged(
        &mut self,
        registry: &TagRegistry,
        value: &str,
        (latency, service): (Duration, Duration),
        outcome: Outcome<'_>,
    ) {
        let high_us = self.high_us;
        let tagged = self.tagged.get_or_insert_with(Box::default);
        let i = registry.index(&mut tagged.values, value);
        tagged
            .slot(i, high_us)
            .record(latency, service, outcome.clone());
        self.record(latency, service, outcome);
    }

    /// Records how one request of the step ended.
    pub(super) fn record(&mut self, latency: Duration, service: Duration, outcome: Outcome<'_>) {
        match outcome {
            Outcome::Response {
                status,
                bytes,
                unexpected,
                failure,
                failed_checks,
                server,
                phases,
            } => {
                self.record_answer((latency, service), server, &phases, (status, bytes));
                if let Some(expected) = unexpected {
                    let class = ErrorClass::StatusNotExpected;
                    self.errors[class.index()] += 1;
                    let slot = &mut self.samples[class.index()];
                    if slot.is_none() {
                        *slot = Some(format!("expected {expected}, got {status}"));
                    }
                } else if let Some((class, message)) = failure {
                    self.count_error(class, message);
                }
                self.count_checks(failed_checks);
            }
            Outcome::Hop {
                status,
                bytes,
                server,
                phases,
            } => {
                self.record_answer((latency, service), server, &phases, (status, bytes));
                self.hops += 1;
            }
            Outcome::Failed {
                class,
                message,
                status,
                bytes,
                connection,
            } => {
                let (counts, figures) = (&mut self.connections, &mut self.figures);
                phases::record_connection(counts, figures, connection, self.high_us);
                self.record_failure(latency, service, class, message, (status, bytes));
            }
            Outcome::Interrupted => self.interrupted += 1,
        }
    }

    /// A whole response (an answer or a followed redirect): its times, the server's time,
    /// its phases, its status and body bytes.
    fn record_answer(
        &mut self,
        (latency, service): (Duration, Duration),
        server: ServerTime,
        phases: &Phases,
        (status, bytes): (u16, u64),
    ) {
        self.record_times(latency, service);
        self.record_server(service, server);
        let (counts, figures) = (&mut self.connections, &mut self.figures);
        phases::record(counts, figures, phases, self.high_us);
        self.count_status(status);
        self.bytes += bytes;
    }

    /// A request that failed, with its status if one came and the body bytes read before.
    fn record_failure(
        &mut self,
        latency: Duration,
        service: Duration,
        class: ErrorClass,
        message: String,
        (status, bytes): (Option<u16>, u64),
    ) {
        // What arrived before the failure is counted, not lost.
        self.bytes += bytes;
        if let Some(status) = status {
            self.count_status(status);
            self.failed_after_status += 1;
        }
        // A timeout waited at least this long: leaving it out would make a stalled
        // target look fast. A redirect past `follow_redirects` is a whole response,
        // as each hop before it was. Fast failures (refused, reset) say nothing
        // about latency.
        if matches!(class, ErrorClass::Timeout | ErrorClass::TooManyRedirects) {
            self.record_times(latency, service);
        }
        self.count_error(class, message);
    }

    /// Counts an error of `class`; `message` becomes its sample.
    fn count_error(&mut self, class: ErrorClass, message: String) {
        self.errors[class.index()] += 1;
        self.samples[class.index()] = Some(message);
    }

    /// Counts a failure for each check whose bit is set (bit i: the step's check i).
    fn count_checks(&mut self, failed_checks: u64) {
        let mut bits = failed_checks;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            if self.checks.len() <= i {
                self.checks.resize(i + 1, 0);
            }
            self.checks[i] += 1;
            bits &= bits - 1;
        }
    }

    fn count_status(&mut self, status: u16) {
        match self.statuses.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += 1,
            None => self.statuses.push((status, 1)),
        }
    }

    /// Moves its phases' values into `step`'s and `run`'s (a step's and the run's whole-run
    /// figures) and empties its own: nothing reads a phase per tick, so the aggregator's tick
    /// never holds a third copy of them (a busy step's phase costs a histogram per copy).
    pub fn pass_phases(&mut self, step: &mut StepInterval, run: &mut StepInterval) {
        let into = [&mut step.figures, &mut run.figures];
        self.figures.pass(&phases::FIGURES, into);
    }

    /// Adds `other` into `self` and leaves `other` empty (histograms keep their allocation).
    pub fn drain_from(&mut self, other: &mut StepInterval) {
        let exchanges = other.exchanges.take();
        self.add(other);
        other.clear();
        SampleStore::merge_into(&mut self.exchanges, exchanges);
    }

    /// Adds `other` into `self`, its figures per tag value and its samples too.
    pub fn add(&mut self, other: &StepInterval) {
        self.add_figures(other);
        SampleStore::merge_into(&mut self.exchanges, other.exchanges.clone());
        if let Some(theirs) = &other.tagged {
            let high_us = self.high_us;
            self.tagged
                .get_or_insert_with(Box::default)
                .add(theirs, high_us);
        }
    }

    /// Adds `other`'s figures into `self`, not its tags nor samples: for a sum over several
    /// steps (the run's), whose tag values are numbered each by its own step.
    pub fn add_figures(&mut self, other: &StepInterval) {
        // The service histograms first, while `self.latency` still holds only its own.
        self.add_service(other);
        self.latency.add(&other.latency);
        self.figures.add(&other.figures);
        self.connections.add(&other.connections);
        self.retries.add(&other.retries);
        for &(status, n) in &other.statuses {
            match self.statuses.iter_mut().find(|(s, _)| *s == status) {
                Some((_, m)) => *m += n,
                None => self.statuses.push((status, n)),
            }
        }
        for i in 0..CLASSES {
            self.errors[i] += other.errors[i];
            if let Some(s) = &other.samples[i] {
                self.samples[i] = Some(s.clone());
            }
        }
        self.bytes += other.bytes;
        self.interrupted += other.interrupted;
        self.failed_after_status += other.failed_after_status;
        self.hops += other.hops;
        if self.checks.len() < other.checks.len() {
            self.checks.resize(other.checks.len(), 0);
        }
        for (mine, theirs) in self.checks.iter_mut().zip(&other.checks) {
            *mine += theirs;
        }
        self.server_time_invalid += other.server_time_invalid;
    }

    /// Adds `other`'s service times, before the latencies are added: a side without a
    /// service histogram has service times equal to its latencies.
    fn add_service(&mut self, other: &StepInterval) {
        match (&mut self.service, &other.service) {
            (Some(mine), theirs) => mine.add(theirs.as_ref().unwrap_or(&other.latency)),
            (None, Some(theirs)) => {
                let mut mine = self.latency.clone();
                mine.add(theirs);
                self.service = Some(mine);
            }
            (None, None) => {}
        }
    }

    /// Empties the interval, keeping the histograms' allocation.
    pub fn clear(&mut self) {
        self.latency.reset();
        // A service histogram is dropped, not kept: the next interval may well have its
        // service times equal to its latencies again (most steps of the open model).
        self.service = None;
        self.figures.reset();
        self.statuses.clear();
        self.errors = [0; CLASSES];
        self.samples = Default::default();
        self.bytes = 0;
        self.interrupted = 0;
        self.failed_after_status = 0;
        self.hops = 0;
        self.checks.clear();
        self.server_time_invalid = 0;
        self.connections = ConnectionCounts::default();
        self.retries = RetryCounts::default();
        if let Some(tagged) = &mut self.tagged {
            tagged.clear();
        }
        self.exchanges = None;
    }
}

/// One interval's figures per tag value, by number (`other` is number `max`).
#[derive(Debug, Clone, Default)]
pub struct Tagged {
    /// The values numbered so far (a copy of a prefix of the registry's).
    pub values: Vec<Arc<str>>,
    /// Figures per number, made when the number first records.
    pub intervals: Vec<Option<Box<StepInterval>>>,
}

impl Tagged {
    /// The interval of number `i`, made on its first use.
    pub fn slot(&mut self, i: usize, high_us: u64) -> &mut StepInterval {
        if self.intervals.len() <= i {
            self.intervals.resize_with(i + 1, || None);
        }
        self.intervals[i].get_or_insert_with(|| Box::new(StepInterval::new(high_us)))
    }

    /// The value number `i` stands for.
    pub fn name(&self, i: usize) -> &str {
        self.values.get(i).map_or(OTHER, |v| v)
    }

    /// Every value with figures, by number: (number, its figures).
    pub fn each(&self) -> impl Iterator<Item = (usize, &StepInterval)> {
        self.intervals
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_deref().map(|s| (i, s)))
    }

    /// Adds `other`'s figures, number by number (both count by the same registry).
    pub fn add(&mut self, other: &Tagged, high_us: u64) {
        if other.values.len() > self.values.len() {
            self.values = other.values.clone();
        }
        for (i, theirs) in other.each() {
            self.slot(i, high_us).add(theirs);
        }
    }

    /// Empties every value's figures, keeping the numbered values.
    pub fn clear(&mut self) {
        for s in self.intervals.iter_mut().flatten() {
            s.clear();
        }
    }
}

#[cfg(test)]
#[path = "interval_tests.rs"]
mod tests;
