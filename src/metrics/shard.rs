//! One thread's recording area (`Shard`): a slot per step, made when the step first records
//! there, and the thread's counters.
//!
//! Depends on `interval`. Invariant: only the thread that owns a shard records into it; the
//! aggregator takes its intervals once per tick, so each lock is uncontended.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, Weak};

use hdrhistogram::Histogram;

use super::interval::StepInterval;

/// One thread's recording area.
#[derive(Debug)]
pub struct Shard {
    started: AtomicU64,
    iterations: AtomicU64,
    /// Closed model: when the first and the last request ended on this thread (µs from the
    /// recorder's epoch, 0: none yet).
    first_done: AtomicU64,
    last_done: AtomicU64,
    /// Closed model: stretches of at least `stalls::FLOOR_US` in which no request ended on
    /// this thread, (from, to) in µs from the epoch, until the tick takes them. Pushed
    /// rarely (a stretch that long is rare), so its lock is uncontended.
    gaps: Mutex<Vec<(u64, u64)>>,
    /// One slot per step of the plan, filled when the step first records on this thread.
    steps: Mutex<Slots>,
    /// Completed iterations' durations per flow (µs), since the last tick, each made when
    /// its flow first completes an iteration here. Its own lock, taken once per iteration and
    /// never by another worker.
    flows: Mutex<Vec<Option<Histogram<u64>>>>,
    high_us: u64,
    owner: Weak<()>,
}

/// Per-step intervals, in plan order: `None` for a step that has recorded nothing yet, so a
/// declared step costs a pointer until it is used.
pub type Slots = Vec<Option<Box<StepInterval>>>;

/// The interval of `step` in `slots`, made on its first use (`None` past the plan's steps).
pub fn slot(slots: &mut Slots, step: usize, high_us: u64) -> Option<&mut StepInterval> {
    let slot = slots.get_mut(step)?;
    Some(slot.get_or_insert_with(|| Box::new(StepInterval::new(high_us))))
}

impl Shard {
    /// An empty area for `steps` steps and `flows` flows, owned by the recorder `owner`
    /// keeps alive.
    pub fn new(steps: usize, flows: usize, high_us: u64, owner: Weak<()>) -> Self {
        Self {
            started: AtomicU64::new(0),
            iterations: AtomicU64::new(0),
            first_done: AtomicU64::new(0),
            last_done: AtomicU64::new(0),
            gaps: Mutex::new(Vec::new()),
            steps: Mutex::new((0..steps).map(|_| None).collect()),
            flows: Mutex::new((0..flows).map(|_| None).collect()),
            high_us,
            owner,
        }
    }

    /// Whether the recorder this shard belongs to still exists (else the run is over).
    pub fn recorder_alive(&self) -> bool {
        self.owner.strong_count() > 0
    }

    /// The highest value its histograms record, in µs.
    pub fn high_us(&self) -> u64 {
        self.high_us
    }

    /// Notes that a request is being sent.
    pub fn count_start(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    /// Notes that a flow iteration has ended.
    pub fn count_iteration(&self) {
        self.iterations.fetch_add(1, Ordering::Relaxed);
    }

    /// Flow iterations ended on this thread since the run began.
    pub fn iterations(&self) -> u64 {
        self.iterations.load(Ordering::Relaxed)
    }

    /// Locks the shard's intervals (poisoning is ignored: counters stay usable).
    pub fn lock(&self) -> MutexGuard<'_, Slots> {
        self.steps.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Locks the shard's iteration durations, one histogram per flow (once it has one).
    pub fn lock_flows(&self) -> MutexGuard<'_, Vec<Option<Histogram<u64>>>> {
        self.flows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Closed model: a request ended `at` µs from the recorder's epoch; a stretch of at
    /// least `floor_us` since the last one that ended here is a gap. Only the owning thread
    /// calls this: a plain load and store, no read-modify-write. (Whether requests were in
    /// flight is the tick's to say: a task's requests may start on one thread of a
    /// work-stealing runtime and end on another, so a thread's own counts cannot tell.)
    pub fn note_done(&self, at: u64, floor_us: u64) {
        let last = self.last_done.load(Ordering::Relaxed);
        if last == 0 {
            self.first_done.store(at, Ordering::Relaxed);
        }
        if last != 0 && at >= last + floor_us {
            self.gaps
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((last, at));
        }
        // Release: a reader that sees this instant also sees the gap pushed before it.
        self.last_done.store(at.max(last), Ordering::Release);
    }

    /// The first and the last request's end here (µs from the epoch, 0: none), and the
    /// gaps closed since the last call (taken).
    pub fn take_gaps(&self) -> ((u64, u64), Vec<(u64, u64)>) {
        let last = self.last_done.load(Ordering::Acquire);
        let first = self.first_done.load(Ordering::Relaxed);
        let gaps = std::mem::take(&mut *self.gaps.lock().unwrap_or_else(|p| p.into_inner()));
        ((first, last), gaps)
    }

    /// Requests started on this thread since the run began.
    pub fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }
}
