//! The JSON report: the full result of a run, for machines (CI, dashboards, diffing runs).
//!
//! Latencies are milliseconds with microsecond precision; durations are seconds. The layout is
//! versioned by `schema_version`; a test parses it back and checks every key.

use serde::Serialize;
use std::collections::BTreeMap;

mod series;

use super::RunInfo;
use super::samples::{SamplesDoc, samples_doc};
use crate::metrics::history::EncodedHistograms;
use crate::metrics::{Change, LoadEvent, Percentiles, PhaseStats, Snapshot, StepStats};
use crate::scenario::Model;

/// Bumped whenever a key is renamed or removed (adding keys keeps the version).
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    /// The stampede that made it.
    stampede_version: &'static str,
    scenario: ScenarioRef,
    target: &'a str,
    target_is_demo: bool,
    /// How requests reached the target.
    protocol: ProtocolDoc,
    started_at: String,
    duration_s: f64,
    outcome: &'static str,
    load: LoadDoc,
    paused_s: f64,
    total: StatsDoc,
    steps: Vec<StatsDoc>,
    /// Per flow: iterations that ran every step, and how long they took.
    iterations: Vec<FlowDoc>,
    /// The whole run's latency distribution on a 1-2-5 ladder of upper bounds.
    distribution: Vec<BucketDoc>,
    /// The run over time, a column per figure.
    series: Option<series::SeriesDoc>,
    dropped: u64,
    events: Vec<EventDoc>,
    /// The load level when the run ended (after stages and live changes).
    final_level: Option<String>,
    stop_reason: Option<String>,
    /// Closed model: stretches in which requests were in flight and none ended for more
    /// than 10 × the recent median latency (and at least 50 ms).
    stalls: Vec<StallDoc>,
    /// A capacity search's holds and answer (`load.find_capacity`), rates per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    capacity: Option<super::capacity::CapacityDoc>,
    /// A split plan (`--shard`, `merge`): the shards this result holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    shards: Option<super::shards::ShardsDoc>,
    /// A shard's exact state, which `stampede merge` adds (see `metrics::run_state`).
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'a crate::metrics::run_state::RunState>,
    /// What a reader must not miss: every request interrupted or failed, many dropped.
    warnings: Vec<String>,
    /// Each threshold, the figure it read and whether it held.
    thresholds: Vec<ThresholdDoc>,
    /// Whether every threshold held (true when there are none).
    thresholds_passed: bool,
}

/// The HTTP version, the connections made and the proxy, where the transport says.
#[derive(Serialize)]
struct ProtocolDoc {
    /// "1.1" or "2"; null when the transport does not say (`--transport reqwest`).
    http_version: Option<&'static str>,
    /// Connections made over the run, reconnections included.
    connections_opened: Option<u64>,
    /// HTTP/2: users sharing one connection, each on its own stream.
    streams_per_connection: Option<u32>,
    /// HTTP/2: connections the server ended with GOAWAY(NO_ERROR).
    graceful_closes: Option<u64>,
    /// The proxy requests went through (credentials never shown).
    proxy: Option<String>,
}

#[derive(Serialize)]
struct FlowDoc {
    flow: String,
    count: u64,
    duration_ms: LatencyDoc,
}

#[derive(Serialize)]
struct BucketDoc {
    /// Upper bound in ms; null for the last, open-ended bucket.
    le_ms: Option<f64>,
    count: u64,
}

/// The whole-run histograms, values in µs, each base64 of HdrHistogram's V2 encoding,
/// deflated ("compressed"), as HdrHistogram's tools decode it.
#[derive(Serialize)]
struct HdrDoc {
    latency: String,
    service_time: String,
    /// Only when some response said the server's time.
    #[serde(skip_serializing_if = "Option::is_none")]
    server_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    overhead: Option<String>,
    /// Only for a step with `retry:` (and the total, when one has).
    #[serde(skip_serializing_if = "Option::is_none")]
    exchange: Option<String>,
}

#[derive(Serialize)]
struct ThresholdDoc {
    threshold: String,
    /// In the metric's unit: milliseconds for latencies, a fraction for rates, per second
    /// for rps; null when the run had no data for it.
    observed: Option<f64>,
    passed: bool,
}

/// A live change: `change` is `level` (with `from` and `to`), `pause` or `resume`.
#[derive(Serialize)]
struct EventDoc {
    at_s: f64,
    change: &'static str,
    from: Option<String>,
    to: Option<String>,
}

#[derive(Serialize)]
struct ScenarioRef {
    name: String,
    file: Option<String>,
}

#[derive(Serialize)]
struct LoadDoc {
    model: &'static str,
    vus: Option<u64>,
    rate_per_s: Option<f64>,
    max_in_flight: Option<u64>,
    duration_s: Option<f64>,
    iterations: Option<u64>,
    graceful_stop_s: f64,
    stages: Vec<StageDoc>,
}

/// One stage: the level reached (`vus` or `rate_per_s`) by the end of `duration_s`.
#[derive(Serialize)]
struct StageDoc {
    duration_s: f64,
    vus: Option<u64>,
    rate_per_s: Option<f64>,
}

#[derive(Serialize)]
struct CheckDoc {
    name: String,
    evaluated: u64,
    failed: u64,
    soft: bool,
}

/// One stall: when it began (from the start of the run), how long, requests in flight.
#[derive(Serialize)]
struct StallDoc {
    at_s: f64,
    duration_s: f64,
    in_flight: u64,
}

#[derive(Serialize)]
struct StatsDoc {
    flow: Option<String>,
    name: String,
    requests: u64,
    rps: f64,
    errors: u64,
    error_rate: f64,
    interrupted: u64,
    interrupted_rate: f64,
    bytes_received: u64,
    latency_ms: LatencyDoc,
    service_time_ms: LatencyDoc,
    send_lag_ms: LatencyDoc,
    /// Closed model: the latency as a corrected view has it (each request also recorded
    /// with `record_correct`, the user's recent median time per iteration expected between
    /// requests): what users sending on schedule would have seen. Never the raw figure.
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_corrected_ms: Option<LatencyDoc>,
    /// The time the server said it spent (`X-Process-Time`, `Server-Timing`).
    server_time_ms: LatencyDoc,
    /// Service time − server time, for the responses that said it.
    overhead_ms: LatencyDoc,
    /// Responses whose server time could not be right: counted, not recorded.
    server_time_invalid: u64,
    /// The phases of its exchanges, where the transport saw them.
    phases_ms: PhasesDoc,
    /// Its requests' connections (all zero when the transport does not say).
    connections: ConnectionsDoc,
    /// A step with `retry:` (and the total, when one has): how its exchanges' attempts came
    /// out, and each whole exchange's time, first attempt's start to last attempt's end.
    #[serde(skip_serializing_if = "Option::is_none")]
    retries: Option<RetriesDoc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exchange_ms: Option<LatencyDoc>,
    status_codes: BTreeMap<String, u64>,
    errors_by_class: Vec<ErrorDoc>,
    checks: Vec<CheckDoc>,
    /// Only in a final result.
    hdr: Option<HdrDoc>,
    /// A step's figures per tag value (`tag_by:`; empty when it has none). Not in the
    /// total, nor in a tag value's own figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Vec<TagDoc>>,
    /// A step's failure samples and slowest exchanges; not in the total nor a tag value's.
    #[serde(skip_serializing_if = "Option::is_none")]
    samples: Option<SamplesDoc>,
}

/// One value of a step's tag: which tag and value, and the same figures as a step.
#[derive(Serialize)]
struct TagDoc {
    key: String,
    value: String,
    #[serde(flatten)]
    stats: StatsDoc,
}

/// DNS, connect and TLS once per new connection; write, time to first byte and download
/// per response.
#[derive(Serialize)]
struct PhasesDoc {
    dns: LatencyDoc,
    connect: LatencyDoc,
    tls: LatencyDoc,
    write: LatencyDoc,
    ttfb: LatencyDoc,
    download: LatencyDoc,
}

#[derive(Serialize)]
struct ConnectionsDoc {
    new: u64,
    reused: u64,
    /// New connections made because the server closed the one before.
    reconnects: u64,
}

#[derive(Serialize)]
struct RetriesDoc {
    /// Exchanges that took more than one attempt.
    retried: u64,
    /// Attempts after the first (each also a request of the step).
    retries: u64,
    succeeded_after_retry: u64,
    /// Exchanges whose last attempt was still one to retry, with no attempt left.
    gave_up: u64,
    /// Attempts per exchange that succeeded.
    attempts_per_success: f64,
    /// Retries over all requests of the step.
    retry_rate: f64,
}

#[derive(Serialize)]
struct LatencyDoc {
    count: u64,
    min: f64,
    mean: f64,
    p50: f64,
    p90: f64,
    p95: f64,
    p99: f64,
    #[serde(rename = "p99.9")]
    p99_9: f64,
    max: f64,
}

#[derive(Serialize)]
struct ErrorDoc {
    class: &'static str,
    count: u64,
    sample: String,
}

/// Renders the report as pretty-printed JSON.
pub fn to_json(info: &RunInfo, snap: &Snapshot) -> String {
    let history = snap.history.as_deref();
    let doc = Document {
        schema_version: SCHEMA_VERSION,
        stampede_version: env!("CARGO_PKG_VERSION"),
        scenario: ScenarioRef {
            name: info.scenario.clone(),
            file: info.source.as_ref().map(|p| p.display().to_string()),
        },
        target: &info.target,
        target_is_demo: info.demo,
        protocol: protocol_doc(info),
        started_at: humantime::format_rfc3339_millis(info.started_at).to_string(),
        duration_s: info.duration.as_secs_f64(),
        outcome: info.ending.as_str(),
        load: load_doc(info),
        paused_s: snap.live.paused_for.as_secs_f64(),
        total: stats_doc(&snap.total, None, history.map(|h| &h.total_histograms)),
        steps: snap
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let hdr = history.and_then(|h| h.histograms.get(i));
                let mut doc = stats_doc(s, Some(s.flow.clone()), hdr);
                doc.tags = Some(tag_docs(s, hdr));
                doc.samples = Some(samples_doc(&s.samples));
                doc
            })
            .collect(),
        iterations: snap
            .flows
            .iter()
            .map(|f| FlowDoc {
                flow: f.name.clone(),
                count: f.iterations,
                duration_ms: latency_doc(&f.duration),
            })
            .collect(),
        distribution: snap
            .distribution
            .iter()
            .map(|b| BucketDoc {
                le_ms: (b.upper_us != u64::MAX).then(|| b.upper_us as f64 / 1000.0),
                count: b.count,
            })
            .collect(),
        series: history.map(|h| series::series_doc(h, snap)),
        dropped: snap.dropped,
        events: snap.live.events.iter().map(event_doc).collect(),
        final_level: snap.live.level.map(|l| l.to_string()),
        stop_reason: snap.live.stop_reason.clone(),
        capacity: (snap.live.capacity.as_ref()).map(super::capacity::CapacityDoc::of),
        shards: info.shards.as_ref().map(super::shards::Shards::doc),
        state: history.and_then(|h| h.state.as_ref()),
        stalls: (snap.stalls.iter())
            .map(|s| StallDoc {
                at_s: s.at.as_secs_f64(),
                duration_s: s.length.as_secs_f64(),
                in_flight: s.in_flight,
            })
            .collect(),
        warnings: super::health(info, snap),
        thresholds: info
            .verdicts
            .iter()
            .map(|v| ThresholdDoc {
                threshold: v.threshold.clone(),
                observed: v.value,
                passed: v.passed,
            })
            .collect(),
        thresholds_passed: info.verdicts.iter().all(|v| v.passed),
    };
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// How requests reached the target.
fn protocol_doc(info: &RunInfo) -> ProtocolDoc {
    ProtocolDoc {
        http_version: info.connections.map(|c| c.http_version),
        connections_opened: info.connections.map(|c| c.opened),
        streams_per_connection: info.connections.and_then(|c| c.streams_per_connection),
        graceful_closes: info.connections.and_then(|c| c.graceful_closes),
        proxy: info.proxy.clone(),
    }
}

fn event_doc(e: &LoadEvent) -> EventDoc {
    let (change, from, to) = match e.change {
        Change::Level { from, to } => ("level", Some(from.to_string()), Some(to.to_string())),
        Change::Pause => ("pause", None, None),
        Change::Resume => ("resume", None, None),
    };
    EventDoc {
        at_s: e.at.as_secs_f64(),
        change,
        from,
        to,
    }
}

fn load_doc(info: &RunInfo) -> LoadDoc {
    let l = &info.load;
    let (model, vus, rate, max) = match l.model {
        Model::Closed { vus } => ("closed", Some(vus), None, None),
        Model::Open {
            rate,
            max_in_flight,
        } => ("open", None, Some(rate), Some(max_in_flight)),
    };
    LoadDoc {
        model,
        vus,
        rate_per_s: rate,
        max_in_flight: max,
        duration_s: l.duration.map(|d| d.as_secs_f64()),
        iterations: l.iterations,
        graceful_stop_s: l.graceful_stop.as_secs_f64(),
        stages: l
            .stages
            .iter()
            .map(|s| {
                let closed = model == "closed";
                StageDoc {
                    duration_s: s.duration.as_secs_f64(),
                    vus: closed.then_some(s.target as u64),
                    rate_per_s: (!closed).then_some(s.target),
                }
            })
            .collect(),
    }
}

/// A step's rows per tag value, with their histograms when the result is final.
fn tag_docs(s: &StepStats, hdr: Option<&EncodedHistograms>) -> Vec<TagDoc> {
    s.tags
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let tag = row.tag.clone().unwrap_or_default();
            let hdr = hdr.and_then(|h| h.tags.get(i));
            TagDoc {
                key: tag.key,
                value: tag.value,
                stats: stats_doc(row, Some(row.flow.clone()), hdr),
            }
        })
        .collect()
}

fn stats_doc(s: &StepStats, flow: Option<String>, hdr: Option<&EncodedHistograms>) -> StatsDoc {
    StatsDoc {
        flow,
        name: s.name.clone(),
        requests: s.requests,
        rps: s.rps,
        errors: s.errors,
        error_rate: s.error_rate(),
        interrupted: s.interrupted,
        interrupted_rate: s.interrupted_rate(),
        bytes_received: s.bytes,
        latency_ms: latency_doc(&s.latency),
        service_time_ms: latency_doc(&s.service),
        send_lag_ms: latency_doc(&s.send_lag),
        latency_corrected_ms: (s.corrected.count > 0).then(|| latency_doc(&s.corrected)),
        server_time_ms: latency_doc(&s.server_time),
        overhead_ms: latency_doc(&s.overhead),
        server_time_invalid: s.server_time_invalid,
        phases_ms: phases_doc(&s.phases),
        connections: ConnectionsDoc {
            new: s.connections.new,
            reused: s.connections.reused,
            reconnects: s.connections.reconnects,
        },
        retries: s.retries.map(|r| RetriesDoc {
            retried: r.counts.retried,
            retries: r.counts.retries,
            succeeded_after_retry: r.counts.succeeded_after_retry,
            gave_up: r.counts.gave_up,
            attempts_per_success: r.attempts_per_success,
            retry_rate: r.retry_rate(s.requests),
        }),
        exchange_ms: s.retries.map(|r| latency_doc(&r.exchange)),
        status_codes: s
            .statuses
            .iter()
            .map(|(c, n)| (c.to_string(), *n))
            .collect(),
        errors_by_class: s
            .errors_by_class
            .iter()
            .map(|e| ErrorDoc {
                class: e.class.as_str(),
                count: e.count,
                sample: e.sample.clone(),
            })
            .collect(),
        checks: s
            .checks
            .iter()
            .map(|c| CheckDoc {
                name: c.name.clone(),
                evaluated: c.evaluated,
                failed: c.failed,
                soft: c.soft,
            })
            .collect(),
        hdr: hdr.map(|h| HdrDoc {
            latency: h.latency.clone(),
            service_time: h.service.clone(),
            server_time: h.server_time.clone(),
            overhead: h.overhead.clone(),
            exchange: h.exchange.clone(),
        }),
        tags: None,
        samples: None,
    }
}

fn phases_doc(p: &PhaseStats) -> PhasesDoc {
    PhasesDoc {
        dns: latency_doc(&p.dns),
        connect: latency_doc(&p.connect),
        tls: latency_doc(&p.tls),
        write: latency_doc(&p.write),
        ttfb: latency_doc(&p.ttfb),
        download: latency_doc(&p.download),
    }
}

fn latency_doc(p: &Percentiles) -> LatencyDoc {
    let ms = |us: u64| us as f64 / 1000.0;
    LatencyDoc {
        count: p.count,
        min: ms(p.min),
        mean: p.mean.round() / 1000.0,
        p50: ms(p.p50),
        p90: ms(p.p90),
        p95: ms(p.p95),
        p99: ms(p.p99),
        p99_9: ms(p.p999),
        max: ms(p.max),
    }
}
