//! The parts a run is made of, sized from its plan: the transport's options, the recorder
//! and the aggregator; and the services it starts beside the load: the demo service it
//! targets, the live metrics endpoint.
//!
//! Part of the wiring: these join the plan (`scenario`) to the types of `engine`, `metrics`,
//! `demo` and `prom`, which do not know each other's. Invariant: each part is made before the
//! load starts, so whatever can fail here fails with exit 2 before the first request.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::demo::{DemoConfig, DemoServer};
use crate::engine::ClientOptions;
use crate::metrics::{Aggregator, CheckName, Recorder, Tapped};
use crate::prom::Bound;
use crate::scenario::{Model, Plan, Target};

/// `--metrics-listen`: the endpoint, bound now (an address in use is exit 2 before the load).
pub(super) async fn bind_metrics(addr: SocketAddr) -> Result<Bound, String> {
    let bound = Bound::bind(addr).await?;
    if !bound.addr.ip().is_loopback() {
        crate::note!(
            "warning: live metrics on {} are reachable from other machines",
            bound.addr
        );
    }
    crate::note!("live metrics at http://{}/metrics", bound.addr);
    Ok(bound)
}

/// The demo service, started when the plan targets it, and the base URL of the target.
pub(super) async fn start_target(target: &Target) -> Result<(Option<DemoServer>, String), String> {
    match target {
        Target::Demo => {
            let server = DemoServer::bind(([127, 0, 0, 1], 0).into(), DemoConfig::default())
                .await
                .map_err(|e| format!("cannot start the demo service: {e}"))?;
            crate::note!("demo service listening on {}", server.url());
            let url = server.url();
            Ok((Some(server), url))
        }
        Target::Url(u) => Ok((None, u.clone())),
    }
}

/// The transport's settings: as many connections as the load can use at once.
pub(super) fn client_options(plan: &Plan) -> ClientOptions {
    let staged = plan
        .load
        .stages
        .iter()
        .map(|s| s.target.ceil() as u64)
        .max()
        .unwrap_or(0);
    let connections = match plan.load.model {
        Model::Closed { vus } => vus.max(staged),
        Model::Open { max_in_flight, .. } => max_in_flight,
    };
    // A user or arrival opens a connection only when it runs an iteration.
    let connections = plan
        .load
        .iterations
        .map_or(connections, |n| connections.min(n));
    ClientOptions {
        connections: usize::try_from(connections).unwrap_or(usize::MAX),
        connect_timeout: plan.longest_timeout(),
        tls: plan.tls.clone(),
    }
}

/// The recorder of a run, its histograms sized past the longest a request can take, its
/// tagged steps' figures split by value; `verbose` (`-v`): with a tap for the printer of
/// failure samples, whose end is returned.
pub(super) fn recorder(plan: &Plan, verbose: bool) -> (Recorder, Option<Tapped>) {
    // A retried exchange (and, in the open model, its last attempt's latency from the
    // arrival) can take every attempt's timeout and every wait.
    let retried = plan
        .steps()
        .filter_map(|(_, s)| {
            let r = s.retry.as_ref()?;
            Some(s.timeout * r.attempts + r.backoff.1 * (r.attempts - 1))
        })
        .max()
        .unwrap_or_default();
    let highest = (plan.longest_timeout() * 2)
        .max(retried)
        .saturating_add(plan.load.graceful_stop)
        .max(Duration::from_secs(60));
    let tags = plan
        .steps()
        .map(|(_, s)| s.tag_by.as_ref().map(|t| (t.key.clone(), t.max_values)))
        .collect();
    let recorder = Recorder::new(plan.step_count(), highest)
        .with_flows(plan.flows.len())
        .with_tags(tags);
    if !verbose {
        return (recorder, None);
    }
    let (tap, tapped) = crate::metrics::tap(Instant::now());
    (recorder.with_tap(tap), Some(tapped))
}

/// The aggregator of a run: its steps (`names`), their checks and flows, and the redactor
/// that hides secrets in error samples.
pub(super) fn aggregator(
    plan: &Plan,
    recorder: Recorder,
    names: Vec<(String, String)>,
    started: Instant,
) -> Aggregator {
    let checks = plan
        .steps()
        .map(|(_, s)| {
            let check = |c: &crate::scenario::Check| CheckName {
                name: c.name.clone(),
                reads_body: c.kind.needs_body(),
                soft: c.soft,
            };
            s.expect.checks.iter().map(check).collect()
        })
        .collect();
    let agg = Aggregator::new(recorder, names, started)
        .with_checks(checks)
        .with_flows(plan.flows.iter().map(|f| f.name.clone()).collect())
        .with_redactor(plan.redactor.clone());
    // A shard's result carries its exact state, which `stampede merge` adds.
    match plan.shard {
        Some(_) => agg.keeping_state(),
        None => agg,
    }
}
