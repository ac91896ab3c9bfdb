//! `--metrics-listen ADDR`: the run's live figures in the Prometheus / OpenMetrics text
//! format, for the tools a team already has (Prometheus, Grafana, VictoriaMetrics).
//!
//! Every scrape encodes the latest snapshot through `prometheus-client`'s collector API: the
//! snapshot is already cumulative, so nothing is counted twice and the load's hot path is
//! not touched. Latency is exported two ways, per step: a histogram on the 1-2-5 ladder
//! (aggregatable across runs and machines), and the exact whole-run quantiles from the HDR
//! histogram as gauges (`stampede_latency_quantile_seconds`), since ladder buckets are coarse.
//! The server's own time and the overhead around it have exact quantiles the same way
//! (`stampede_server_time_quantile_seconds`, `stampede_overhead_quantile_seconds`), for the
//! steps whose responses say it. A tagged step's values have families of their own
//! (`stampede_tag_*`, labelled `tag` and `value`: at most `max_values` + 1 per step).
//! Depends on `metrics` and axum; binds where it is told (loopback by default).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::metrics::{Level, Percentiles, Phase, Snapshot, StepStats};

/// Encodes the latest snapshot on each scrape.
#[derive(Debug)]
struct Figures {
    latest: watch::Receiver<Arc<Snapshot>>,
}

type Labels = Vec<(&'static str, String)>;

/// A step's labels; a tag value's row adds its `tag` and `value` (a bounded set: at most
/// `max_values` + 1 per step).
fn step_labels(s: &StepStats) -> Labels {
    let mut labels = vec![("flow", s.flow.clone()), ("step", s.name.clone())];
    if let Some(tag) = &s.tag {
        labels.push(("tag", tag.key.clone()));
        labels.push(("value", tag.value.clone()));
    }
    labels
}

fn with(mut labels: Labels, key: &'static str, value: String) -> Labels {
    labels.push((key, value));
    labels
}

/// One metric family: a descriptor, then a value per label set.
fn family<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: MetricType,
    values: impl IntoIterator<Item = (Labels, M)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in values {
        value.encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

// The families, in the order a scrape lists them: per-step counters, the run's own
// figures, then latency (exact quantiles, then the 1-2-5 histogram).
impl Collector for Figures {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let snap = Arc::clone(&self.latest.borrow());
        let e = &mut encoder;
        step_counters(e, &snap.steps)?;
        run_figures(e, &snap)?;
        let quantiles: [Quantiles; 3] = [
            (
                "stampede_latency_quantile_seconds",
                "Exact whole-run latency quantiles per step, from its HDR histogram",
                |s| &s.latency,
            ),
            (
                "stampede_server_time_quantile_seconds",
                "Exact whole-run quantiles per step of the time the server said it spent \
                 (X-Process-Time, Server-Timing)",
                |s| &s.server_time,
            ),
            (
                "stampede_overhead_quantile_seconds",
                "Exact whole-run quantiles per step of service time minus server time",
                |s| &s.overhead,
            ),
        ];
        for (name, help, of) in quantiles {
            quantiles_of(e, &snap.steps, name, help, of)?;
        }
        tag_families(e, &snap.steps)?;
        latency_histograms(e, &snap.steps)
    }
}

/// Requests, errors and interruptions per step, then `answer_counters`.
fn step_counters(
    e: &mut DescriptorEncoder<'_>,
    steps: &[StepStats],
) -> Result<(), std::fmt::Error> {
    family(
        e,
        "stampede_requests",
        "Requests completed (a response or an error), per step",
        MetricType::Counter,
        steps
            .iter()
            .map(|s| (step_labels(s), ConstCounter::new(s.requests))),
    )?;
    family(
        e,
        "stampede_errors",
        "Requests that ended in an error, per step and error class",
        MetricType::Counter,
        steps.iter().flat_map(|s| {
            s.errors_by_class.iter().map(|c| {
                let labels = with(step_labels(s), "class", c.class.as_str().to_string());
                (labels, ConstCounter::new(c.count))
            })
        }),
    )?;
    family(
        e,
        "stampede_interrupted",
        "Requests cut off by a hard stop, per step",
        MetricType::Counter,
        steps
            .iter()
            .map(|s| (step_labels(s), ConstCounter::new(s.interrupted))),
    )?;
    answer_counters(e, steps)
}

/// Responses per status code and check failures, per step.
fn answer_counters(
    e: &mut DescriptorEncoder<'_>,
    steps: &[StepStats],
) -> Result<(), std::fmt::Error> {
    family(
        e,
        "stampede_responses",
        "Responses per step and status code",
        MetricType::Counter,
        steps.iter().flat_map(|s| {
            s.statuses.iter().map(|(code, n)| {
                (
                    with(step_labels(s), "code", code.to_string()),
                    ConstCounter::new(*n),
                )
            })
        }),
    )?;
    family(
        e,
        "stampede_check_failures",
        "Responses that failed a check, per step and check",
        MetricType::Counter,
        steps.iter().flat_map(|s| {
            s.checks.iter().map(|c| {
                let labels = with(step_labels(s), "check", c.name.clone());
                (labels, ConstCounter::new(c.failed))
            })
        }),
    )?;
    Ok(())
}

/// The run's own figures: dropped arrivals, requests in flight, the level asked for, whether
/// it runs, and its age.
fn run_figures(e: &mut DescriptorEncoder<'_>, snap: &Snapshot) -> Result<(), std::fmt::Error> {
    family(
        e,
        "stampede_dropped_arrivals",
        "Open model: planned arrivals that did not start",
        MetricType::Counter,
        [(Labels::new(), ConstCounter::new(snap.dropped))],
    )?;
    family(
        e,
        "stampede_in_flight",
        "Requests sent and not yet ended",
        MetricType::Gauge,
        [(Labels::new(), ConstGauge::new(snap.in_flight as i64))],
    )?;
    if let Some(level) = snap.live.level {
        let (unit, value) = match level {
            Level::Vus(v) => ("vus", v as f64),
            Level::Rate(r) => ("arrivals_per_second", r),
        };
        family(
            e,
            "stampede_level",
            "The load asked for now: virtual users (closed model) or arrivals per second (open)",
            MetricType::Gauge,
            [(vec![("unit", unit.to_string())], ConstGauge::new(value))],
        )?;
    }
    let running = i64::from(snap.phase != Phase::Finished);
    family(
        e,
        "stampede_running",
        "1 while the run goes on (stopping included), 0 once it has ended",
        MetricType::Gauge,
        [(Labels::new(), ConstGauge::new(running))],
    )?;
    family(
        e,
        "stampede_elapsed_seconds",
        "Time since the run started",
        MetricType::Gauge,
        [(Labels::new(), ConstGauge::new(snap.elapsed.as_secs_f64()))],
    )?;
    Ok(())
}

/// A tagged step's figures per value (`tag_by:`), in families of their own (so that summing
/// a step family never counts a request twice): requests, errors, and the exact latency and
/// server-time quantiles.
fn tag_families(e: &mut DescriptorEncoder<'_>, steps: &[StepStats]) -> Result<(), std::fmt::Error> {
    let rows: Vec<StepStats> = steps.iter().flat_map(|s| s.tags.iter().cloned()).collect();
    if rows.is_empty() {
        return Ok(());
    }
    let counters: [Counter; 2] = [
        (
            "stampede_tag_requests",
            "Requests completed per value of a step's tag",
            |s| s.requests,
        ),
        (
            "stampede_tag_errors",
            "Requests that ended in an error per value of a step's tag",
            |s| s.errors,
        ),
    ];
    for (name, help, of) in counters {
        let values = rows
            .iter()
            .map(|s| (step_labels(s), ConstCounter::new(of(s))));
        family(e, name, help, MetricType::Counter, values)?;
    }
    quantiles_of(
        e,
        &rows,
        "stampede_tag_latency_quantile_seconds",
        "Exact whole-run latency quantiles per value of a step's tag",
        |s| &s.latency,
    )?;
    quantiles_of(
        e,
        &rows,
        "stampede_tag_server_time_quantile_seconds",
        "Exact whole-run server-time quantiles per value of a step's tag",
        |s| &s.server_time,
    )
}

/// A family of counters: its name, its help, and the count it reads of a row.
type Counter = (&'static str, &'static str, fn(&StepStats) -> u64);

/// A family of exact quantiles: its name, its help, and the figure it reads of a step.
type Quantiles = (&'static str, &'static str, fn(&StepStats) -> &Percentiles);

/// The exact whole-run quantiles of a figure (`of`), for each step that has any, from its
/// HDR histogram.
fn quantiles_of(
    e: &mut DescriptorEncoder<'_>,
    steps: &[StepStats],
    name: &str,
    help: &str,
    of: fn(&StepStats) -> &Percentiles,
) -> Result<(), std::fmt::Error> {
    family(
        e,
        name,
        help,
        MetricType::Gauge,
        steps.iter().filter(|s| of(s).count > 0).flat_map(|s| {
            let p = *of(s);
            [
                ("0.5", p.p50),
                ("0.9", p.p90),
                ("0.99", p.p99),
                ("0.999", p.p999),
                ("1", p.max),
            ]
            .map(|(q, us)| {
                let labels = with(step_labels(s), "quantile", q.to_string());
                (labels, ConstGauge::new(us as f64 / 1e6))
            })
        }),
    )
}

/// Each step's latency on the 1-2-5 ladder, as a Prometheus histogram.
fn latency_histograms(
    e: &mut DescriptorEncoder<'_>,
    steps: &[StepStats],
) -> Result<(), std::fmt::Error> {
    let mut metric = e.encode_descriptor(
        "stampede_latency_seconds",
        "Latency per step from the planned start to the end of the body (timeouts included)",
        None,
        MetricType::Histogram,
    )?;
    for s in steps {
        let mut buckets = Vec::with_capacity(s.distribution.len());
        for b in &s.distribution {
            let upper = if b.upper_us == u64::MAX {
                f64::INFINITY
            } else {
                b.upper_us as f64 / 1e6
            };
            buckets.push((upper, b.count));
        }
        if buckets.is_empty() {
            buckets.push((f64::INFINITY, 0));
        }
        let p = s.latency;
        let sum = p.mean * p.count as f64 / 1e6;
        let labels = step_labels(s);
        metric
            .encode_family(&labels)?
            .encode_histogram::<Labels>(sum, p.count, &buckets, None)?;
    }
    Ok(())
}

/// The endpoint of one run; it stops when the token is cancelled.
pub struct MetricsServer {
    /// Where it listens (the port chosen when asked for port 0).
    pub addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// `ADDR:PORT`, or a bare port on loopback.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse::<SocketAddr>().map_err(|_| {
        format!("\"{text}\" is not an address: give a port (9464) or ADDRESS:PORT (127.0.0.1:9464)")
    })
}

/// The endpoint's socket, bound before any request so that an address in use is exit 2
/// before the load; it serves once the run's snapshots exist.
pub struct Bound {
    listener: tokio::net::TcpListener,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Bound {
    /// Binds `addr`.
    pub async fn bind(addr: SocketAddr) -> Result<Self, String> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("--metrics-listen {addr}: cannot listen there: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("--metrics-listen: {e}"))?;
        Ok(Self { listener, addr })
    }

    /// Serves `GET /metrics` from the latest snapshot.
    pub fn serve(self, latest: watch::Receiver<Arc<Snapshot>>) -> MetricsServer {
        let Self { listener, addr } = self;
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Figures { latest }));
        let app = Router::new()
            .route("/metrics", get(scrape))
            .with_state(Arc::new(registry));
        let stop = CancellationToken::new();
        let until = stop.clone();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { until.cancelled().await })
                .await;
        });
        MetricsServer { addr, stop, task }
    }
}

impl MetricsServer {
    /// Stops listening (a scrape under way finishes).
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), self.task).await;
    }
}

async fn scrape(State(registry): State<Arc<Registry>>) -> Response {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_port_listens_on_loopback() {
        assert_eq!(
            parse_listen("9464"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 9464)))
        );
        assert!(parse_listen("0.0.0.0:9464").is_ok());
        assert!(parse_listen("localhost").is_err());
    }
}
