//! The JSON report's `series`: the run over time, a column per figure.

use serde::Serialize;

use crate::metrics::Snapshot;
use crate::metrics::history::{Columns, History};

/// Points of the series: `t_s` is each point's end from the run's start, `length_s` its
/// length (one tick, or more on long runs: see `metrics::history`).
#[derive(Serialize)]
pub(super) struct SeriesDoc {
    t_s: Vec<f64>,
    length_s: Vec<f64>,
    in_flight: Vec<u64>,
    /// VUs (closed model) or arrivals per second (open).
    level: Vec<Option<f64>>,
    dropped: Vec<u64>,
    total: ColumnsDoc,
    steps: Vec<StepColumnsDoc>,
}

#[derive(Serialize)]
struct StepColumnsDoc {
    flow: String,
    name: String,
    #[serde(flatten)]
    columns: ColumnsDoc,
}

/// One figure per point; latencies in ms, null where the point had no response.
#[derive(Serialize)]
struct ColumnsDoc {
    requests: Vec<u64>,
    errors: Vec<u64>,
    rps: Vec<f64>,
    p50_ms: Vec<Option<f64>>,
    p90_ms: Vec<Option<f64>>,
    p99_ms: Vec<Option<f64>>,
    max_ms: Vec<Option<f64>>,
}

pub(super) fn series_doc(h: &History, snap: &Snapshot) -> SeriesDoc {
    let s = &h.series;
    let secs = |d: &std::time::Duration| d.as_secs_f64();
    let columns = |c: &Columns| {
        let ms = |v: &Vec<Option<u64>>| v.iter().map(|x| x.map(|us| us as f64 / 1000.0)).collect();
        ColumnsDoc {
            requests: c.requests.clone(),
            errors: c.errors.clone(),
            rps: c
                .requests
                .iter()
                .zip(&s.length)
                .map(|(&n, len)| crate::metrics::per_second(n, *len))
                .collect(),
            p50_ms: ms(&c.p50),
            p90_ms: ms(&c.p90),
            p99_ms: ms(&c.p99),
            max_ms: ms(&c.max),
        }
    };
    SeriesDoc {
        t_s: s.at.iter().map(secs).collect(),
        length_s: s.length.iter().map(secs).collect(),
        in_flight: s.in_flight.clone(),
        level: s.level.clone(),
        dropped: s.dropped.clone(),
        total: columns(&s.total),
        steps: s
            .steps
            .iter()
            .zip(&snap.steps)
            .map(|(c, step)| StepColumnsDoc {
                flow: step.flow.clone(),
                name: step.name.clone(),
                columns: columns(&c.aligned()),
            })
            .collect(),
    }
}
