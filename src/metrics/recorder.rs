//! Per-thread recording: the hot path of every request, through `Recorder`.
//!
//! Each runtime thread records into its own `Shard` (found through a thread-local), so no two
//! workers ever contend on a lock or a counter. A shard holds only the current interval; the
//! aggregator takes and resets it on each tick (one uncontended lock per shard per tick).
//! Memory is therefore bounded by threads × steps in use, whatever the run's length: a step's
//! interval is made on a thread when the step first records there (a declared step that never
//! runs costs a pointer per thread), and its histograms grow only as far as its values reach.
//! Depends on `shard`, `histograms`, `outcome`, `samples` and `tap` (a failure's sample
//! goes to the tap, for `-v`).

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::histograms::{latency_histogram, micros};
use super::outcome::Outcome;
use super::samples::{Candidate, Exchange};
use super::shard::{Shard, slot};
use super::tags::TagRegistry;
use super::tap::Tap;

thread_local! {
    // (recorder id, shard) for every recorder this thread has recorded into.
    static LOCAL: RefCell<Vec<(u64, Arc<Shard>)>> = const { RefCell::new(Vec::new()) };
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The handle workers record through. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    id: u64,
    /// The instant closed-model request ends are counted from (see `done_at`).
    epoch: Instant,
    steps: usize,
    flows: usize,
    high_us: u64,
    shards: Mutex<Vec<Arc<Shard>>>,
    dropped: AtomicU64,
    alive: Arc<()>,
    /// Each step's tag (`tag_by:`), if it has one.
    tags: Vec<Option<TagRegistry>>,
    /// `-v`: where failure samples go as they happen.
    tap: Option<Tap>,
}

impl Recorder {
    /// A recorder for `steps` steps whose histograms reach `highest` (longer values saturate).
    pub fn new(steps: usize, highest: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                epoch: Instant::now(),
                steps,
                flows: 0,
                high_us: micros(highest),
                shards: Mutex::new(Vec::new()),
                dropped: AtomicU64::new(0),
                alive: Arc::new(()),
                tags: Vec::new(),
                tap: None,
            }),
        }
    }

    /// Also records the duration of each completed iteration of `flows` flows. Call before
    /// the recorder is cloned.
    pub fn with_flows(mut self, flows: usize) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.flows = flows;
        }
        self
    }

    /// Splits the figures of the steps that have a tag: (its key, its most values of their
    /// own), in plan order. Call before the recorder is cloned.
    pub fn with_tags(mut self, tags: Vec<Option<(String, usize)>>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.tags = tags
                .into_iter()
                .map(|t| t.map(|(key, max)| TagRegistry::new(key, max)))
                .collect();
        }
        self
    }

    /// Hands each failure's sample to `tap` as well (`-v`). Call before the recorder is
    /// cloned.
    pub fn with_tap(mut self, tap: Tap) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.tap = Some(tap);
        }
        self
    }

    /// The key of step `step`'s tag, if it has one.
    pub fn tag_key(&self, step: usize) -> Option<&str> {
        self.inner.tags.get(step)?.as_ref().map(TagRegistry::key)
    }

    /// Number of steps recorded.
    pub fn steps(&self) -> usize {
        self.inner.steps
    }

    /// Number of flows whose iterations are timed.
    pub fn flows(&self) -> usize {
        self.inner.flows
    }

    /// Upper bound of the histograms in µs.
    pub fn high_us(&self) -> u64 {
        self.inner.high_us
    }

    /// Notes that a request is being sent (for the in-flight gauge).
    pub fn start(&self) {
        self.with_shard(Shard::count_start);
    }

    /// Records how a request of step `step` ended.
    pub fn record(&self, step: usize, latency: Duration, service: Duration, outcome: Outcome<'_>) {
        self.with_shard(|s| {
            if let Some(interval) = slot(&mut s.lock(), step, s.high_us()) {
                interval.record(latency, service, outcome);
            }
        });
    }

    /// Records how a request of step `step` ended, whose response said `tag` for the step's
    /// `tag_by` (`None`: the step has none).
    pub fn record_in(
        &self,
        step: usize,
        tag: Option<&str>,
        latency: Duration,
        service: Duration,
        outcome: Outcome<'_>,
    ) {
        let registry = tag.and_then(|_| self.inner.tags.get(step)?.as_ref());
        let (Some(value), Some(registry)) = (tag, registry) else {
            return self.record(step, latency, service, outcome);
        };
        self.with_shard(|s| {
            if let Some(interval) = slot(&mut s.lock(), step, s.high_us()) {
                interval.record_tagged(registry, value, (latency, service), outcome);
            }
        });
    }

    /// `record_in`, and a sample of the exchange when the step's samples want it (a
    /// failure; a success slower than its 5th slowest): only then is `exchange` called, so
    /// an ordinary success allocates nothing. A failure's sample is offered to the tap.
    pub fn record_exchange(
        &self,
        step: usize,
        tag: Option<&str>,
        (latency, service): (Duration, Duration),
        outcome: Outcome<'_>,
        exchange: impl FnOnce() -> Exchange,
    ) {
        let candidate = Candidate::of(&outcome);
        let registry = tag.and_then(|_| self.inner.tags.get(step)?.as_ref());
        self.with_shard(|s| {
            let mut slots = s.lock();
            let Some(interval) = slot(&mut slots, step, s.high_us()) else {
                return;
            };
            let wanted = candidate.wanted(interval.exchanges.as_deref(), latency);
            match (tag, registry) {
                (Some(value), Some(registry)) => {
                    interval.record_tagged(registry, value, (latency, service), outcome);
                }
                _ => interval.record(latency, service, outcome),
            }
            if wanted {
                let caught = candidate.caught(latency, exchange());
                if let Some(tap) = &self.inner.tap {
                    tap.offer(step, &caught);
                }
                let store = interval.exchanges.get_or_insert_with(Box::default);
                store.keep(caught);
            }
        });
    }

    /// Records an exchange of step `step` (with `retry:`): its attempts `made`, whether it
    /// `succeeded` or `gave_up`, and its time from the first attempt's start to the last's
    /// end (`None` for one a stop cut short).
    pub fn record_tries(&self, step: usize, tries: (u32, bool, bool), exchange: Option<Duration>) {
        self.with_shard(|s| {
            if let Some(interval) = slot(&mut s.lock(), step, s.high_us()) {
                interval.record_tries(tries, exchange);
            }
        });
    }

    /// Closed model, after `record…` of a request of step `step` that ended at `end`:
    /// - for the stalls, notes the end (gaps of `stalls::FLOOR_US` or more in which requests
    ///   were in flight on this thread and none ended are kept for the tick);
    /// - records its `latency` in the corrected view too (`HdrHistogram`'s `record_correct`,
    ///   the user's recent median time per iteration being `expected`: see
    ///   `StepInterval::record_corrected`).
    ///
    /// One more shard lookup per request; no lock is contended (a gap's is taken rarely).
    pub fn closed_end(
        &self,
        step: usize,
        end: Instant,
        latency: Duration,
        expected: Option<Duration>,
    ) {
        let at = micros(end.saturating_duration_since(self.inner.epoch));
        self.with_shard(|s| {
            s.note_done(at, super::stalls::FLOOR_US);
            if let Some(interval) = slot(&mut s.lock(), step, s.high_us()) {
                interval.record_corrected(latency, expected);
            }
        });
    }

    /// The instant `closed_end` counts request ends from.
    pub fn epoch(&self) -> Instant {
        self.inner.epoch
    }

    /// Records how late the first request of an open-model iteration of step `step` was sent.
    pub fn record_lag(&self, step: usize, lag: Duration) {
        self.with_shard(|s| {
            if let Some(interval) = slot(&mut s.lock(), step, s.high_us()) {
                interval.record_lag(lag);
            }
        });
    }

    /// Notes that a flow iteration has ended (open model: frees a `max_in_flight` slot);
    /// `whole`: it ran every step, so its flow and duration are recorded (one shard lookup
    /// for both, once per iteration).
    pub fn end_iteration(&self, whole: Option<(usize, Duration)>) {
        self.with_shard(|s| {
            if let Some((flow, took)) = whole
                && let Some(h) = s.lock_flows().get_mut(flow)
            {
                // Auto-resizing: fails only past u64 indexes, which no duration reaches.
                let _ = h.get_or_insert_with(latency_histogram).record(micros(took));
            }
            s.count_iteration();
        });
    }

    /// Flow iterations ended so far, over all threads. Takes the registry lock, which only
    /// the pacer and the tick use (workers never do after their first record).
    pub fn iterations_done(&self) -> u64 {
        let shards = self.inner.shards.lock().unwrap_or_else(|p| p.into_inner());
        shards.iter().map(|s| s.iterations()).sum()
    }

    /// Counts an open-model arrival that did not start: `max_in_flight` was reached, the run
    /// was stopping when it came due, or a hard stop ended it before its task first ran.
    /// Called by the pacer and, for the last case, by the load threads (an atomic add).
    pub fn drop_arrival(&self) {
        self.inner.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Arrivals dropped so far.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Every shard created so far (for the aggregator).
    pub fn shards(&self) -> Vec<Arc<Shard>> {
        self.inner
            .shards
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn with_shard<R>(&self, f: impl FnOnce(&Shard) -> R) -> R {
        LOCAL.with(|cell| {
            let mut local = cell.borrow_mut();
            if let Some((_, shard)) = local.iter().find(|(id, _)| *id == self.inner.id) {
                return f(shard);
            }
            // First record on this thread: forget shards of finished runs, register a new one.
            local.retain(|(_, s)| s.recorder_alive());
            let shard = Arc::new(Shard::new(
                self.inner.steps,
                self.inner.flows,
                self.inner.high_us,
                Arc::downgrade(&self.inner.alive),
            ));
            self.inner
                .shards
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Arc::clone(&shard));
            local.push((self.inner.id, Arc::clone(&shard)));
            f(&shard)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{ServerTime, StepInterval};

    #[test]
    fn records_from_many_threads_into_separate_shards() {
        let rec = Recorder::new(1, Duration::from_secs(10));
        std::thread::scope(|s| {
            for _ in 0..4 {
                let rec = rec.clone();
                s.spawn(move || {
                    for _ in 0..1000 {
                        rec.start();
                        let ok = Outcome::Response {
                            status: 200,
                            bytes: 5,
                            unexpected: None,
                            failure: None,
                            failed_checks: 0,
                            server: ServerTime::Unknown,
                            phases: Default::default(),
                        };
                        rec.record(0, Duration::from_millis(2), Duration::from_millis(1), ok);
                    }
                });
            }
        });
        let shards = rec.shards();
        assert_eq!(shards.len(), 4);
        let mut total = StepInterval::new(rec.high_us());
        for shard in &shards {
            if let Some(Some(interval)) = shard.lock().get_mut(0) {
                total.drain_from(interval);
            }
        }
        assert_eq!(total.completed(), 4000);
        assert_eq!(total.latency.len(), 4000);
        assert_eq!(total.bytes, 20_000);
        assert_eq!(shards.iter().map(|s| s.started()).sum::<u64>(), 4000);
    }

    /// A sample is made for every failure and for a success slower than the 5th slowest so
    /// far, never for an ordinary one; the aggregator shows them redacted.
    #[test]
    fn samples_are_made_for_failures_and_the_slowest_only() {
        use crate::metrics::{Aggregator, ErrorClass, Exchange, Phase};
        let rec = Recorder::new(1, Duration::from_secs(60));
        let t0 = std::time::Instant::now();
        let made = std::cell::Cell::new(0);
        let exchange = || {
            made.set(made.get() + 1);
            Exchange {
                method: reqwest::Method::POST,
                url: Some("http://h/pay?token=T0K3N".into()),
                request_headers: Default::default(),
                response: None,
                server_time: ServerTime::Unknown,
                at: t0 + Duration::from_secs(1),
                phases: Vec::new(),
            }
        };
        let ms = Duration::from_millis;
        for latency in [5, 6, 7, 8, 9, 1, 2, 3, 4, 10] {
            rec.record_exchange(0, None, (ms(latency), ms(latency)), Outcome::ok(), exchange);
        }
        assert_eq!(
            made.get(),
            6,
            "five to fill the slowest, then only the 10 ms one"
        );
        let failed = Outcome::Failed {
            class: ErrorClass::Timeout,
            message: "timed out".into(),
            status: None,
            bytes: 0,
            connection: Default::default(),
        };
        rec.record_exchange(0, None, (ms(1), ms(1)), failed, exchange);
        assert_eq!(made.get(), 7);
        let mut agg = Aggregator::new(rec.clone(), vec![("f".into(), "pay".into())], t0);
        let snap = agg.tick(t0 + ms(2000), ms(2000), Phase::Running);
        let samples = &snap.steps[0].samples;
        let slowest: Vec<u128> = samples
            .slowest
            .iter()
            .map(|s| s.latency.as_millis())
            .collect();
        assert_eq!(slowest, vec![10, 9, 8, 7, 6]);
        let failure = &samples.failures[0];
        assert_eq!(failure.class, Some(ErrorClass::Timeout));
        assert_eq!(failure.message, "timed out");
        assert_eq!(failure.url.as_deref(), Some("http://h/pay?token=***"));
        assert_eq!(
            (failure.method.as_str(), failure.at),
            ("POST", Duration::from_secs(1))
        );
        assert!(
            snap.total.samples.failures.is_empty(),
            "samples are per step"
        );
    }

    /// A step that never records costs its slot (a pointer) on each thread; one that does
    /// costs its few values, then a histogram sized to its values, not to the run's highest.
    #[test]
    fn a_declared_step_costs_a_slot_until_it_records() {
        let rec = Recorder::new(10_000, Duration::from_secs(60));
        let few = [1, 2, 3];
        let many = (0..1000).map(|i| 1 + i % 3);
        for ms in few.into_iter().chain(many) {
            rec.record(
                7,
                Duration::from_millis(ms),
                Duration::from_millis(ms),
                Outcome::ok(),
            );
        }
        let shards = rec.shards();
        let slots = shards[0].lock();
        assert_eq!(slots.len(), 10_000);
        assert_eq!(slots.iter().filter(|s| s.is_some()).count(), 1);
        let step = slots[7].as_deref().expect("recorded");
        // 3 ms needs 1 µs ..= 4,095 µs: 3 × 1,024 counts, not the 17,408 of 60 s.
        let crate::metrics::histograms::Tally::Many(latency) = &step.latency else {
            panic!("1,003 values are more than a few");
        };
        assert!(
            latency.distinct_values() <= 3 * 1024,
            "{}",
            latency.distinct_values()
        );
        assert!(!step.keeps_service_apart() && step.send_lag().is_none());
    }
}
