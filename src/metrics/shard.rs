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

    /// Requests started on this thread since the run began.
    pub fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }
}
