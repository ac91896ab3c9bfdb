//! The load engine: turns a `Plan` into requests over a `Transport` and records each outcome.
//!
//! One worker loop (`worker::run_iteration`) executes a flow's steps; the load model only
//! decides when iterations start (virtual users back to back, or arrivals at planned instants).
//! Stopping is a value passed in (`Control`): a soft stop ends new work, a hard stop interrupts
//! what is in flight. Depends on `scenario` (the plan) and `metrics` (the recorder).

mod transport;
mod worker;

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

pub use transport::{ClientOptions, Failure, Prepared, Reply, ReqwestTransport, Transport};

use crate::metrics::Recorder;
use crate::scenario::{Load, Plan, StatusSet};

/// How a run is told to stop. Cloning shares the same signals.
#[derive(Debug, Clone, Default)]
pub struct Control {
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
        self.stop.cancel();
    }

    /// Hard stop: interrupt every in-flight request now (each is counted as interrupted).
    pub fn abort(&self) {
        self.stop.cancel();
        self.abort.cancel();
    }

    /// Whether a soft (or hard) stop was requested.
    pub fn is_stopping(&self) -> bool {
        self.stop.is_cancelled()
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
