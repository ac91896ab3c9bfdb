//! The charts' memory: one `Point` per tick of the run, bounded by merging the older half.
//!
//! Depends on `metrics` (the snapshot a point is read from) and on `choices` (the zoom
//! window). Invariant: points are in time order and never more than `HISTORY_CAP`.

use std::time::Duration;

use super::choices::Zoom;
use crate::metrics::Snapshot;

/// One tick of the charts.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Point {
    /// Run time in seconds.
    pub t: f64,
    /// Requests per second in the tick.
    pub rps: f64,
    /// Errors per second in the tick.
    pub eps: f64,
    /// Latency percentiles of the tick in ms (0 when the tick had no response).
    pub p50: f64,
    /// 90th percentile, ms.
    pub p90: f64,
    /// 99th percentile, ms.
    pub p99: f64,
    /// Largest, ms.
    pub max: f64,
    /// The server's own time, 99th percentile, ms (0 when no response of the tick said it).
    pub server_p99: f64,
}

impl Point {
    /// The point of `snap`'s latest tick: its rates, and its latencies in ms.
    fn of_tick(snap: &Snapshot) -> Point {
        let i = &snap.total.interval;
        let secs = i.length.as_secs_f64();
        let ms = |us: u64| us as f64 / 1000.0;
        Point {
            t: snap.elapsed.as_secs_f64(),
            rps: i.rps(),
            eps: if secs > 0.0 {
                i.errors as f64 / secs
            } else {
                0.0
            },
            p50: ms(i.latency.p50),
            p90: ms(i.latency.p90),
            p99: ms(i.latency.p99),
            max: ms(i.latency.max),
            server_p99: ms(i.server_time.p99),
        }
    }
}

/// Chart points for the whole run, bounded: past `HISTORY_CAP` points, the older half is
/// merged two by two, so memory stays flat while the newest half (17 minutes of ticks)
/// keeps full resolution for the zoomed windows.
#[derive(Debug, Clone, Default)]
pub struct History {
    points: Vec<Point>,
}

/// Most points kept.
pub const HISTORY_CAP: usize = 8192;

/// Shortest interval that makes a chart point (half the 250 ms tick).
const MIN_POINT_INTERVAL: Duration = Duration::from_millis(125);

impl History {
    /// Appends a tick.
    pub fn push(&mut self, p: Point) {
        if self.points.len() >= HISTORY_CAP {
            let newer = self.points.split_off(self.points.len() / 2);
            let mut older: Vec<Point> = self
                .points
                .chunks(2)
                .map(|pair| match pair {
                    [a, b] => merge(a, b),
                    [a] => *a,
                    _ => Point::default(),
                })
                .collect();
            older.extend(newer);
            self.points = older;
        }
        self.points.push(p);
    }

    /// Adds `snap`'s tick as a point when it is a new one (a later `seq` than `shown`, the
    /// snapshot on screen, and a later time than the newest point) and a full one: the
    /// final snapshot's sliver of an interval gives a rate that is noise.
    pub fn take_tick(&mut self, snap: &Snapshot, shown: u64) {
        let full_tick = snap.total.interval.length >= MIN_POINT_INTERVAL;
        let later = self
            .points
            .last()
            .is_none_or(|p| snap.elapsed.as_secs_f64() > p.t);
        if snap.seq > shown && snap.seq > 0 && full_tick && later {
            self.push(Point::of_tick(snap));
        }
    }

    /// The points inside a zoom window ending at the newest point.
    pub fn window(&self, zoom: Zoom) -> &[Point] {
        let Some(span) = zoom.window() else {
            return &self.points;
        };
        let end = self.points.last().map_or(0.0, |p| p.t);
        let first = self.points.partition_point(|p| p.t < end - span);
        &self.points[first..]
    }
}

fn merge(a: &Point, b: &Point) -> Point {
    Point {
        t: b.t,
        rps: (a.rps + b.rps) / 2.0,
        eps: (a.eps + b.eps) / 2.0,
        p50: (a.p50 + b.p50) / 2.0,
        p90: (a.p90 + b.p90) / 2.0,
        p99: a.p99.max(b.p99),
        max: a.max.max(b.max),
        server_p99: a.server_p99.max(b.server_p99),
    }
}
