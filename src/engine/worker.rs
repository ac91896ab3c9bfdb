//! The one worker loop and the two ways of starting it.
//!
//! `run_iteration` executes one flow: every step is sent, timed and recorded the same way in
//! both load models. The closed model runs it back to back in each virtual user; the open
//! model's pacer starts it at each planned arrival instant, and the first step's latency is
//! measured from that instant (coordinated-omission safe), with the service time beside it.
//!
//! Hard-stop signalling avoids a shared lock per request: each virtual user owns a child token,
//! and open-model arrivals spread over a fixed set of child tokens.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Control, ReadyFlow, Transport, Workload};
use crate::metrics::{Outcome, Recorder};
use crate::scenario::Model;

/// Child abort tokens for open-model arrivals (spreads waker registration over many locks).
const ABORT_LANES: usize = 64;

/// tokio's timer fires on 1 ms ticks, rounding every deadline up: aiming this much early
/// centres arrivals on their planned instants instead of sending them all up to 1 ms late.
const TIMER_SLACK: Duration = Duration::from_micros(500);

/// What every worker shares (read-only, apart from the iteration budget).
pub struct Shared<T> {
    pub work: Arc<Workload>,
    transport: Arc<T>,
    recorder: Recorder,
    control: Control,
    /// Iterations left to start when the plan limits them.
    budget: Option<AtomicU64>,
}

impl<T: Transport> Shared<T> {
    pub fn new(
        work: Arc<Workload>,
        transport: Arc<T>,
        recorder: Recorder,
        control: Control,
    ) -> Self {
        let budget = work.load.iterations.map(AtomicU64::new);
        Self {
            work,
            transport,
            recorder,
            control,
            budget,
        }
    }

    /// Takes one iteration from the budget; false when it is spent.
    fn claim(&self) -> bool {
        match &self.budget {
            None => true,
            Some(left) => left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
        }
    }
}

/// Runs the load model until it ends, then waits for every started iteration.
pub async fn drive<T: Transport>(shared: Arc<Shared<T>>, started: Instant) {
    let tracker = TaskTracker::new();
    match shared.work.load.model {
        Model::Closed { vus } => {
            for vu in 0..vus {
                let abort = shared.control.abort.child_token();
                tracker.spawn(virtual_user(Arc::clone(&shared), vu, abort));
            }
        }
        Model::Open {
            rate,
            max_in_flight,
        } => pace(&shared, &tracker, started, rate, max_in_flight).await,
    }
    tracker.close();
    tracker.wait().await;
}

async fn virtual_user<T: Transport>(shared: Arc<Shared<T>>, vu: u64, abort: CancellationToken) {
    let mut rng = fastrand::Rng::with_seed(fastrand::u64(..) ^ vu);
    while !shared.control.is_stopping() && shared.claim() {
        let flow = shared.work.pick(&mut rng);
        run_iteration(&shared, flow, Instant::now(), &abort).await;
    }
}

/// Starts arrivals at `started + n / rate`, whether or not earlier ones have finished.
///
/// Every planned arrival is either started or counted as dropped: when `max_in_flight`
/// iterations are running, and when a stop signal comes while arrivals are already due.
/// The pacer ends the schedule itself at the run's duration, so a run of `d` seconds at
/// `r`/s plans exactly `ceil(d × r)` arrivals.
async fn pace<T: Transport>(
    shared: &Arc<Shared<T>>,
    tracker: &TaskTracker,
    started: Instant,
    rate: f64,
    max_in_flight: u64,
) {
    let lanes: Vec<CancellationToken> = (0..ABORT_LANES)
        .map(|_| shared.control.abort.child_token())
        .collect();
    let deadline = shared.work.load.duration.map(|d| started + d);
    let mut rng = fastrand::Rng::new();
    let mut admitted = 0u64;
    for n in 0u64.. {
        let Some(offset) = Duration::try_from_secs_f64(n as f64 / rate).ok() else {
            return;
        };
        let planned = started + offset;
        if deadline.is_some_and(|d| planned >= d) || !shared.claim() {
            return;
        }
        let wake = planned.checked_sub(TIMER_SLACK).unwrap_or(planned);
        if wake > Instant::now() {
            tokio::select! {
                () = tokio::time::sleep_until(wake.into()) => {}
                () = shared.control.stop.cancelled() => {}
            }
        }
        if shared.control.is_stopping() {
            if planned > Instant::now() + TIMER_SLACK {
                return; // not due yet: the stop ended the schedule before it
            }
            shared.recorder.drop_arrival(); // due, but the run is stopping: counted, not lost
            continue;
        }
        // Arrivals never wait for a free slot: a late start would hide the server's slowness.
        if admitted - shared.recorder.iterations_done() >= max_in_flight {
            shared.recorder.drop_arrival();
            continue;
        }
        admitted += 1;
        let shared = Arc::clone(shared);
        let abort = lanes[n as usize % ABORT_LANES].clone();
        let seed = rng.u64(..);
        tracker.spawn(async move {
            let mut rng = fastrand::Rng::with_seed(seed);
            let flow = shared.work.pick(&mut rng);
            run_iteration(&shared, flow, planned, &abort).await;
        });
    }
}

/// The worker loop: sends each step of `flow` in order and records how it ended. The first
/// step's latency counts from `planned` (or from the send, if that came a little earlier);
/// later steps from their own send.
async fn run_iteration<T: Transport>(
    shared: &Shared<T>,
    flow: &ReadyFlow,
    planned: Instant,
    abort: &CancellationToken,
) {
    let mut first_start = Some(planned);
    for (i, step) in flow.steps.iter().enumerate() {
        if i > 0 && shared.control.is_stopping() {
            break;
        }
        shared.recorder.start();
        let sent = Instant::now();
        let begin = first_start.take().map_or(sent, |p| p.min(sent));
        let result = tokio::select! {
            biased;
            () = abort.cancelled() => None,
            r = shared.transport.send(&step.request) => Some(r),
        };
        let end = Instant::now();
        let interrupted = result.is_none();
        let outcome = match result {
            None => Outcome::Interrupted,
            Some(Ok(reply)) => Outcome::Response {
                status: reply.status,
                bytes: reply.bytes,
                unexpected: (!step.expect.accepts(reply.status)).then(|| step.expect.label()),
            },
            Some(Err(failure)) => Outcome::Failed {
                class: failure.class,
                message: failure.message,
            },
        };
        shared
            .recorder
            .record(step.id, end - begin, end - sent, outcome);
        if interrupted {
            break;
        }
    }
    shared.recorder.end_iteration();
}
