//! The load engine: turns a `Plan` into requests over a `Transport` and records each outcome.
//!
//! One worker loop (`worker::run_iteration`) executes a flow's steps; the load model only
//! decides when iterations start (virtual users back to back, or arrivals at planned instants).
//! Stopping is a value passed in (`Control`): a soft stop ends new work, a hard stop interrupts
//! what is in flight. Depends on `scenario` (the plan) and `metrics` (the recorder).

mod transport;
mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio_util::sync::CancellationToken;

pub use transport::{ClientOptions, Failure, Prepared, Reply, ReqwestTransport, Transport};

use crate::metrics::Recorder;
use crate::scenario::{Load, Plan, StatusSet};

/// How a run is told to stop. Cloning shares the same signals.
///
/// Workers ask `is_stopping` before every step, so it reads an atomic flag: the token's own
/// `is_cancelled` takes a mutex, which every worker would contend on. The tokens remain for
/// waiting (`cancelled().await`).
#[derive(Debug, Clone, Default)]
pub struct Control {
    stopping: Arc<AtomicBool>,
    stop: CancellationToken,
    abort: CancellationToken,
}

impl Control {
    /// Fresh signals, neither raised.
    pub fn new() -> Self {
        Self::default()
    }

    /// Soft stop: start no new iteration or step; in-flight requests may finish within the
    /// plan's graceful stop time.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.stop.cancel();
    }

    /// Hard stop: interrupt every in-flight request now (each is counted as interrupted).
    pub fn abort(&self) {
        self.stop();
        self.abort.cancel();
    }

    /// Whether a soft (or hard) stop was requested.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }
}

/// A flow whose requests are fully prepared for one target.
#[derive(Debug)]
struct ReadyFlow {
    weight: u64,
    steps: Vec<ReadyStep>,
}

#[derive(Debug)]
struct ReadyStep {
    id: usize,
    request: Prepared,
    expect: StatusSet,
}

/// The plan bound to a concrete base URL: what the workers execute.
#[derive(Debug)]
pub struct Workload {
    load: Load,
    flows: Vec<ReadyFlow>,
    total_weight: u64,
}

impl Workload {
    /// Resolves every step against `base` (the target URL without trailing slash).
    pub fn prepare(plan: &Plan, base: &str) -> Result<Self, String> {
        let mut flows = Vec::with_capacity(plan.flows.len());
        for flow in &plan.flows {
            let mut steps = Vec::with_capacity(flow.steps.len());
            for step in &flow.steps {
                let text = step.url.resolve(base);
                let url = reqwest::Url::parse(&text).map_err(|e| {
                    format!(
                        "step \"{}\": \"{text}\" is not a valid URL ({e})",
                        step.name
                    )
                })?;
                steps.push(ReadyStep {
                    id: step.id,
                    request: Prepared {
                        method: step.method.clone(),
                        url,
                        headers: step.headers.clone(),
                        body: step.body.clone(),
                        timeout: step.timeout,
                    },
                    expect: step.expect_status.clone(),
                });
            }
            flows.push(ReadyFlow {
                weight: flow.weight,
                steps,
            });
        }
        Ok(Self {
            load: plan.load.clone(),
            total_weight: flows.iter().map(|f| f.weight).sum(),
            flows,
        })
    }

    /// Picks a flow at random, in proportion to the weights.
    fn pick(&self, rng: &mut fastrand::Rng) -> &ReadyFlow {
        if self.flows.len() == 1 {
            return &self.flows[0];
        }
        let mut ticket = rng.u64(0..self.total_weight.max(1));
        for flow in &self.flows {
            if ticket < flow.weight {
                return flow;
            }
            ticket -= flow.weight;
        }
        &self.flows[self.flows.len() - 1]
    }
}

/// Runs the workload until its stop condition, a stop signal, or the end of its iterations;
/// returns when every request has ended (completed, failed or interrupted).
pub async fn run<T: Transport>(
    work: Arc<Workload>,
    transport: Arc<T>,
    recorder: Recorder,
    control: Control,
    started: Instant,
) {
    let shared = Arc::new(worker::Shared::new(
        work,
        transport,
        recorder,
        control.clone(),
    ));
    let load = shared.work.load.clone();
    let watchdog = async {
        let deadline = load.duration.map(|d| started + d);
        tokio::select! {
            () = sleep_until_opt(deadline) => control.stop(),
            () = control.stop.cancelled() => {}
        }
        tokio::time::sleep(load.graceful_stop).await;
        control.abort();
        std::future::pending::<()>().await;
    };
    let drive = worker::drive(shared, started);
    tokio::select! {
        () = drive => {}
        () = watchdog => {}
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::{Aggregator, Phase, Snapshot};
    use crate::scenario::{Overrides, parse};

    /// Answers every request with 200 after a fixed delay.
    struct Slow(Duration);

    impl Transport for Slow {
        async fn send(&self, _req: &Prepared) -> Result<Reply, Failure> {
            tokio::time::sleep(self.0).await;
            Ok(Reply {
                status: 200,
                bytes: 2,
            })
        }
    }

    async fn run_fake(load: &str, steps: &str, delay: Duration) -> (Snapshot, Duration) {
        let text =
            format!("target: http://127.0.0.1:9\nload: {load}\nflows:\n  - steps: {steps}\n");
        let no_env = |_: &str| None;
        let plan =
            parse(&text, "test.yaml", "test", &no_env, &Overrides::default()).expect("valid plan");
        let work = Arc::new(Workload::prepare(&plan, "http://127.0.0.1:9").expect("prepare"));
        let recorder = Recorder::new(plan.step_count(), Duration::from_secs(60));
        let names = plan
            .steps()
            .map(|(f, s)| (f.name.clone(), s.name.clone()))
            .collect();
        let started = Instant::now();
        let mut agg = Aggregator::new(recorder.clone(), names, started);
        run(
            work,
            Arc::new(Slow(delay)),
            recorder,
            Control::new(),
            started,
        )
        .await;
        let took = started.elapsed();
        (agg.tick(Instant::now(), took, Phase::Finished), took)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closed_model_runs_exactly_the_iterations() {
        let steps = "[ { get: /a }, { get: /b } ]";
        let (snap, _) = run_fake(
            "{ vus: 7, iterations: 100 }",
            steps,
            Duration::from_millis(1),
        )
        .await;
        assert_eq!(snap.steps[0].requests, 100);
        assert_eq!(snap.steps[1].requests, 100);
        assert_eq!(snap.in_flight, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_model_drops_arrivals_beyond_max_in_flight() {
        let load = "{ rate: 1000/s, iterations: 200, max_in_flight: 10 }";
        let (snap, _) = run_fake(load, "[ { get: / } ]", Duration::from_millis(800)).await;
        // 200 arrivals over 0.2 s; each takes 0.8 s, so only the first 10 can start.
        assert_eq!(snap.total.requests, 10);
        assert_eq!(snap.dropped, 190);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_model_latency_counts_from_the_planned_instant() {
        let load = "{ rate: 50/s, iterations: 20 }";
        let (snap, _) = run_fake(load, "[ { get: / } ]", Duration::from_millis(30)).await;
        let s = &snap.total;
        assert_eq!(s.requests, 20);
        assert!(s.latency.min >= 30_000, "{:?}", s.latency);
        assert!(s.latency.p50 >= s.service.p50);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hard_stop_counts_cut_off_requests_as_interrupted() {
        let load = "{ vus: 3, duration: 100ms, graceful_stop: 200ms }";
        let (snap, took) = run_fake(load, "[ { get: / } ]", Duration::from_secs(30)).await;
        assert_eq!(snap.total.interrupted, 3);
        assert_eq!(snap.total.requests, 0);
        assert_eq!(snap.in_flight, 0);
        assert!(took < Duration::from_secs(5), "{took:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn graceful_stop_lets_in_flight_requests_finish() {
        let load = "{ vus: 3, duration: 100ms, graceful_stop: 5s }";
        let (snap, took) = run_fake(load, "[ { get: / } ]", Duration::from_millis(300)).await;
        assert_eq!(snap.total.interrupted, 0);
        assert_eq!(snap.total.requests, 3);
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
}
