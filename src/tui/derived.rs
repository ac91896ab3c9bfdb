//! What the panels draw, computed once per snapshot (or per sort/zoom change), never per
//! frame: chart series and bounds, the step order, and the grouped error rows.
//!
//! Depends on `metrics` (the snapshot), and on `choices` (sort, zoom) and `history` (the
//! points) below it. A new line on the latency chart is an entry in `LATENCY_LINES`.

use crate::metrics::{Change, Snapshot};

use super::choices::{SortKey, Zoom};
use super::history::{History, Point};

/// Lowest latency the log chart shows (ms): 10 µs.
const LOG_FLOOR_MS: f64 = 0.01;

/// A line of the latency chart.
#[derive(Debug, Clone, Copy)]
pub struct ChartLine {
    /// Its name in the legend.
    pub name: &'static str,
    /// The value it plots of a point, in ms.
    pub of: fn(&Point) -> f64,
    /// Drawn only where it has a value (above 0): a figure not every response gives, such
    /// as the server's time. It then takes no part in the axis, nor in the legend.
    pub sometimes: bool,
}

/// The latency chart's lines, in drawing order (which picks each one's colour, or its
/// marker without colour). A new line is a `Point` field (read from the tick in
/// `history`) and an entry here.
pub const LATENCY_LINES: [ChartLine; 5] = [
    ChartLine {
        name: "p50",
        of: |p| p.p50,
        sometimes: false,
    },
    ChartLine {
        name: "p90",
        of: |p| p.p90,
        sometimes: false,
    },
    ChartLine {
        name: "p99",
        of: |p| p.p99,
        sometimes: false,
    },
    ChartLine {
        name: "max",
        of: |p| p.max,
        sometimes: false,
    },
    ChartLine {
        name: "srv p99",
        of: |p| p.server_p99,
        sometimes: true,
    },
];

/// A (time, value) series for a chart.
pub type Series = Vec<(f64, f64)>;

/// Chart data for the current window.
#[derive(Debug, Clone, Default)]
pub struct Charts {
    /// Time bounds (s).
    pub x: [f64; 2],
    /// Requests per second per tick.
    pub rps: Series,
    /// Errors per second per tick.
    pub eps: Series,
    /// Errors as a percentage of requests, per point.
    pub error_pct: Series,
    /// The error chart's top (%).
    pub error_top: f64,
    /// The requests chart's top (requests/s).
    pub rps_top: f64,
    /// `error_pct` on the requests chart's scale (`error_top` % at `rps_top`): a short panel
    /// draws both there, the legend naming the errors' own top.
    pub error_scaled: Series,
    /// Top of the throughput axis.
    pub top: f64,
    /// log10(ms) of each of `LATENCY_LINES` per tick (ticks with responses only), in its
    /// order.
    pub latency: Vec<Series>,
    /// Bounds of the latency axis in log10(ms), whole decades.
    pub decades: [f64; 2],
    /// Times of live changes inside the window.
    pub marks: Vec<f64>,
}

/// One (step, count) row under an error class.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorRow {
    /// Index into `Snapshot::steps`.
    pub step: usize,
    /// Errors of this class in the step.
    pub count: u64,
    /// Seconds since the step last saw it.
    pub ago: f64,
}

/// An error class and its steps, most errors first.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorGroup {
    /// Index into `Snapshot::total.errors_by_class`.
    pub class: usize,
    /// The steps that saw it.
    pub rows: Vec<ErrorRow>,
}

/// Everything derived from one snapshot and the view settings.
#[derive(Debug, Clone, Default)]
pub struct Derived {
    /// Chart data.
    pub charts: Charts,
    /// Step indices in display order.
    pub step_order: Vec<usize>,
    /// Errors grouped by class.
    pub errors: Vec<ErrorGroup>,
}

impl Derived {
    /// Computes the panels' data.
    pub fn compute(snap: &Snapshot, history: &History, zoom: Zoom, sort: SortKey) -> Self {
        Self {
            charts: charts(snap, history.window(zoom)),
            step_order: step_order(snap, sort),
            errors: error_groups(snap),
        }
    }
}

fn charts(snap: &Snapshot, points: &[Point]) -> Charts {
    let first = points.first().map_or(0.0, |p| p.t);
    let last = points.last().map_or(1.0, |p| p.t);
    let x = [first, last.max(first + 1.0)];
    let series = |f: fn(&Point) -> f64| -> Series { points.iter().map(|p| (p.t, f(p))).collect() };
    let top = points.iter().map(|p| p.rps.max(p.eps)).fold(1.0, f64::max) * 1.1;
    let (latency, decades) = latency_lines(points);
    let pct = |p: &Point| {
        if p.rps > 0.0 {
            p.eps / p.rps * 100.0
        } else {
            0.0
        }
    };
    let error_pct: Series = points.iter().map(|p| (p.t, pct(p))).collect();
    let error_top = (error_pct.iter().map(|&(_, y)| y).fold(0.0, f64::max) * 1.2).clamp(1.0, 100.0);
    let rps_top = points.iter().map(|p| p.rps).fold(1.0, f64::max) * 1.1;
    let error_scaled = error_pct
        .iter()
        .map(|&(t, y)| (t, y / error_top * rps_top))
        .collect();
    Charts {
        x,
        rps: series(|p| p.rps),
        eps: series(|p| p.eps),
        error_pct,
        error_top,
        rps_top,
        error_scaled,
        top,
        latency,
        decades,
        marks: marks(snap, x),
    }
}

/// The chart's marks within `x`: level changes and pauses, stalls (closed model) where they
/// began, and in a capacity search each hold where it began (the search's own level changes,
/// which a drained queue makes two of and a hold run again none, are left out).
fn marks(snap: &Snapshot, x: [f64; 2]) -> Vec<f64> {
    let search = snap.live.capacity.as_ref();
    let events = (snap.live.events.iter())
        .filter(|e| search.is_none() || !matches!(e.change, Change::Level { .. }))
        .map(|e| e.at);
    let holds = search.into_iter().flat_map(|c| {
        let running = c.outcome.is_none().then_some(c.began);
        c.holds.iter().map(|h| h.at).chain(running)
    });
    let mut marks: Vec<f64> = (events.chain(holds))
        .chain(snap.stalls.iter().map(|s| s.at))
        .map(|t| t.as_secs_f64())
        .filter(|t| (x[0]..=x[1]).contains(t))
        .collect();
    marks.sort_by(f64::total_cmp);
    marks.dedup();
    marks
}

/// Each of `LATENCY_LINES` in log10(ms) over the points with responses, and the axis's
/// bounds in whole decades.
fn latency_lines(points: &[Point]) -> (Vec<Series>, [f64; 2]) {
    let log = |ms: f64| ms.max(LOG_FLOOR_MS).log10();
    let answered: Vec<&Point> = points.iter().filter(|p| p.max > 0.0).collect();
    // A line drawn only sometimes has no point where it has no value.
    let has = |line: &ChartLine, p: &Point| !line.sometimes || (line.of)(p) > 0.0;
    let lat = |line: &ChartLine| -> Series {
        answered
            .iter()
            .filter(|p| has(line, p))
            .map(|p| (p.t, log((line.of)(p))))
            .collect()
    };
    // The axis spans every line's values (today p50 is the lowest and max the highest).
    let values = || {
        answered.iter().flat_map(|p| {
            LATENCY_LINES
                .iter()
                .filter(|line| has(line, p))
                .map(move |line| log((line.of)(p)))
        })
    };
    let lo = values().fold(f64::INFINITY, f64::min);
    let hi = values().fold(f64::NEG_INFINITY, f64::max);
    let decades = if lo.is_finite() && hi.is_finite() {
        [lo.floor(), hi.ceil().max(lo.floor() + 1.0)]
    } else {
        [-1.0, 2.0]
    };
    (LATENCY_LINES.iter().map(lat).collect(), decades)
}

fn step_order(snap: &Snapshot, sort: SortKey) -> Vec<usize> {
    let steps = &snap.steps;
    let mut order: Vec<usize> = (0..steps.len()).collect();
    match sort {
        SortKey::Plan => {}
        SortKey::Requests => order.sort_by_key(|&i| std::cmp::Reverse(steps[i].requests)),
        SortKey::P99 => order.sort_by_key(|&i| std::cmp::Reverse(steps[i].latency.p99)),
        SortKey::Errors => {
            order.sort_by(|&a, &b| steps[b].error_rate().total_cmp(&steps[a].error_rate()));
        }
    }
    order
}

fn error_groups(snap: &Snapshot) -> Vec<ErrorGroup> {
    snap.total
        .errors_by_class
        .iter()
        .enumerate()
        .map(|(class, total)| {
            let mut rows: Vec<ErrorRow> = snap
                .steps
                .iter()
                .enumerate()
                .filter_map(|(step, s)| {
                    let e = s.errors_by_class.iter().find(|e| e.class == total.class)?;
                    let ago = snap.elapsed.saturating_sub(e.last_seen).as_secs_f64();
                    Some(ErrorRow {
                        step,
                        count: e.count,
                        ago,
                    })
                })
                .collect();
            rows.sort_by_key(|r| std::cmp::Reverse(r.count));
            ErrorGroup { class, rows }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::marks;
    use crate::metrics::{
        CapacityHold, CapacityReport, Change, HoldVerdict, Level, LoadEvent, Snapshot,
    };

    fn level(at: u64, from: f64, to: f64) -> LoadEvent {
        LoadEvent {
            at: Duration::from_secs(at),
            change: Change::Level {
                from: Level::Rate(from),
                to: Level::Rate(to),
            },
        }
    }

    fn hold(at: u64, rate: f64, verdict: HoldVerdict) -> CapacityHold {
        CapacityHold {
            stage: "raising",
            rate,
            achieved_rate: rate,
            requests: 0,
            p50_us: 0,
            p99_us: 0,
            error_rate: 0.0,
            verdict,
            why: None,
            at: Duration::from_secs(at),
            length: Duration::from_secs(2),
        }
    }

    #[test]
    fn a_capacity_search_marks_each_hold_where_it_began() {
        let mut snap = Snapshot::empty(&[]);
        // Raised at 2 s, broke; drained to the floor at 4 s, bisected at 6 s; a hold the
        // generator was late for ran again at the same rate at 8 s (no level change); a
        // pause at 9 s.
        snap.live.events = vec![
            level(2, 100.0, 200.0),
            level(4, 200.0, 1.0),
            level(6, 1.0, 150.0),
            LoadEvent {
                at: Duration::from_secs(9),
                change: Change::Pause,
            },
        ];
        let mut search = CapacityReport {
            stage: "bisecting",
            rate: 150.0,
            began: Duration::from_secs(8),
            holds: vec![
                hold(0, 100.0, HoldVerdict::Held),
                hold(2, 200.0, HoldVerdict::Broke),
                hold(6, 150.0, HoldVerdict::Generator),
            ],
            ..CapacityReport::default()
        };
        snap.live.capacity = Some(search.clone());
        assert_eq!(marks(&snap, [0.0, 20.0]), vec![0.0, 2.0, 6.0, 8.0, 9.0]);
        // Once it ended, no hold runs; and the window cuts what is outside it.
        search.outcome = Some("found");
        snap.live.capacity = Some(search);
        assert_eq!(marks(&snap, [1.0, 20.0]), vec![2.0, 6.0, 9.0]);
        // Without a search, every level change is marked.
        snap.live.capacity = None;
        assert_eq!(marks(&snap, [0.0, 20.0]), vec![2.0, 4.0, 6.0, 9.0]);
    }
}
