//! What a run leaves besides its final figures: the time series (a point per tick, each
//! with exact percentiles of its own interval) and each step's whole-run histograms encoded
//! as HdrHistogram's tools read them. Built by the aggregator, read by reports.
//!
//! Memory stays bounded on runs of any length: a point covers one tick until
//! `POINTS_PER_WIDTH` points have been kept at that width (fewer with many steps: all the
//! steps share `STEP_POINTS_PER_WIDTH`); later points then cover twice as many ticks.
//! Points are never merged after the fact (percentiles of two intervals cannot be combined
//! from their summaries), so every point's figures are exact for its interval, and the
//! series grows with the logarithm of the run's length.
//!
//! Depends on `interval` and `histograms`; built by `aggregate`.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::histograms::Tally;
pub use super::histograms::{decode, encode};
use super::interval::StepInterval;

/// Points kept at one width before the width doubles (at a 250 ms tick: the first hour at
/// tick resolution, the next two hours at 500 ms, …).
pub const POINTS_PER_WIDTH: usize = 14_400;

/// Step-points (a point of one step's columns, about 80 bytes) kept at one width, over all
/// steps and the total: with more than 7 steps, each width keeps fewer points (200 steps:
/// 573 points, over two minutes at tick resolution), so a run of many steps stays within
/// tens of MB however long it lasts.
pub const STEP_POINTS_PER_WIDTH: usize = POINTS_PER_WIDTH * 8;

/// The fewest points kept at one width, however many steps (a minute at tick resolution):
/// with 480 steps or more, a step that records costs at most this many points per width
/// (about 19 KiB), and one that never records costs none (`Columns::skipped`).
const MIN_POINTS_PER_WIDTH: usize = 240;
/// One step's (or the whole run's) figures, one entry per point. Latencies in µs; `None`
/// where the point had no response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Columns {
    /// Points before the step first recorded, not kept (each had no request and no
    /// latency): the entries below start at point `skipped`. See `aligned`.
    pub skipped: usize,
    /// Requests completed in the point.
    pub requests: Vec<u64>,
    /// Of those, errors.
    pub errors: Vec<u64>,
    /// Median latency.
    pub p50: Vec<Option<u64>>,
    /// 90th percentile.
    pub p90: Vec<Option<u64>>,
    /// 99th percentile.
    pub p99: Vec<Option<u64>>,
    /// Largest latency.
    pub max: Vec<Option<u64>>,
    /// Each point's latency histogram, encoded (`encode`), when the run keeps them (a
    /// shard, for a merge: `SeriesBuilder::keep_histograms`); empty otherwise.
    pub hdr: Vec<String>,
}

impl Columns {
    /// The same figures with an entry for every point, the skipped ones included.
    pub fn aligned(&self) -> Columns {
        let n = self.skipped;
        Columns {
            skipped: 0,
            requests: after(n, 0, &self.requests),
            errors: after(n, 0, &self.errors),
            p50: after(n, None, &self.p50),
            p90: after(n, None, &self.p90),
            p99: after(n, None, &self.p99),
            max: after(n, None, &self.max),
            hdr: match self.hdr.is_empty() {
                true => Vec::new(),
                false => after(n, String::new(), &self.hdr),
            },
        }
    }

    fn push(&mut self, open: &OpenPoint, keep: bool) {
        if keep {
            self.hdr.push(open.latency.encode_with(encode));
        }
        open.latency
            .view(|h| self.push_figures(open.requests, open.errors, h));
    }

    /// Adds a point of `requests`, `errors` and the latencies in `h`.
    pub fn push_figures(&mut self, requests: u64, errors: u64, h: &Histogram<u64>) {
        self.requests.push(requests);
        self.errors.push(errors);
        let at = |q: f64| (!h.is_empty()).then(|| h.value_at_quantile(q));
        let [p50, p90, p99, max] = [
            at(0.50),
            at(0.90),
            at(0.99),
            (!h.is_empty()).then(|| h.max()),
        ];
        self.p50.push(p50);
        self.p90.push(p90);
        self.p99.push(p99);
        self.max.push(max);
    }
}

/// `n` entries of `fill`, then `values`.
fn after<T: Clone>(n: usize, fill: T, values: &[T]) -> Vec<T> {
    let mut out = vec![fill; n];
    out.extend_from_slice(values);
    out
}

/// The run over time: column per figure, an entry per point.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// When each point ended, from the run's start.
    pub at: Vec<Duration>,
    /// How long each point lasted.
    pub length: Vec<Duration>,
    /// Requests in flight at the end of each point.
    pub in_flight: Vec<u64>,
    /// The load level at the end of each point: VUs, or arrivals per second.
    pub level: Vec<Option<f64>>,
    /// Open model: arrivals dropped in each point.
    pub dropped: Vec<u64>,
    /// All steps together.
    pub total: Columns,
    /// One per step, in plan order (a step's leading points without data are skipped:
    /// `Columns::aligned` puts them back).
    pub steps: Vec<Columns>,
}

impl Series {
    /// Number of points.
    pub fn len(&self) -> usize {
        self.at.len()
    }

    /// Whether no point was kept.
    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }
}

/// A point being filled, tick by tick.
#[derive(Debug, Clone)]
struct OpenPoint {
    requests: u64,
    errors: u64,
    latency: Tally,
}

impl OpenPoint {
    fn new() -> Self {
        Self {
            requests: 0,
            errors: 0,
            latency: Tally::default(),
        }
    }

    fn add(&mut self, tick: &StepInterval) {
        self.requests += tick.completed();
        self.errors += tick.errors.iter().sum::<u64>();
        self.latency.add(&tick.latency);
    }

    fn clear(&mut self) {
        self.requests = 0;
        self.errors = 0;
        self.latency.reset();
    }
}

/// Builds the series from the aggregator's ticks.
#[derive(Debug, Clone)]
pub struct SeriesBuilder {
    series: Series,
    total: OpenPoint,
    /// Each step's open point, made when the step first records.
    steps: Vec<Option<OpenPoint>>,
    /// Ticks per point now, ticks in the open point, points kept at this width, and how
    /// many it keeps before the width doubles.
    width: u32,
    ticks: u32,
    at_width: usize,
    per_width: usize,
    length: Duration,
    dropped_before: u64,
    /// Each point keeps its latency histogram (`Columns::hdr`).
    keep: bool,
}

/// What the tick knows besides the intervals: the end of the tick and the run's state.
#[derive(Debug, Clone, Copy)]
pub struct TickState {
    /// From the run's start to the end of the tick.
    pub at: Duration,
    /// The tick's length.
    pub length: Duration,
    /// In flight at its end.
    pub in_flight: u64,
    /// The level (VUs or rate) at its end.
    pub level: Option<f64>,
    /// Arrivals dropped so far.
    pub dropped: u64,
}

impl SeriesBuilder {
    /// A builder for `steps` steps.
    pub fn new(steps: usize) -> Self {
        Self {
            series: Series {
                steps: vec![Columns::default(); steps],
                ..Series::default()
            },
            total: OpenPoint::new(),
            steps: (0..steps).map(|_| None).collect(),
            width: 1,
            ticks: 0,
            at_width: 0,
            per_width: (STEP_POINTS_PER_WIDTH / (steps + 1))
                .clamp(MIN_POINTS_PER_WIDTH, POINTS_PER_WIDTH),
            length: Duration::ZERO,
            dropped_before: 0,
            keep: false,
        }
    }

    /// Keeps each point's latency histogram from now on (a shard's run, whose series a
    /// merge adds point by point).
    pub fn keep_histograms(&mut self) {
        self.keep = true;
    }

    /// Adds one tick: each step's interval (in plan order; `None` for a step that has
    /// recorded nothing yet) and the run's state at its end. `last`: the run has ended, so
    /// the point closes however few ticks it has.
    pub fn add<'a>(
        &mut self,
        steps: impl IntoIterator<Item = Option<&'a StepInterval>>,
        state: TickState,
        last: bool,
    ) {
        for (open, tick) in self.steps.iter_mut().zip(steps) {
            if let Some(tick) = tick {
                open.get_or_insert_with(OpenPoint::new).add(tick);
                self.total.add(tick);
            }
        }
        self.ticks += 1;
        self.length += state.length;
        if self.ticks < self.width && !last {
            return;
        }
        let s = &mut self.series;
        s.at.push(state.at);
        s.length.push(self.length);
        s.in_flight.push(state.in_flight);
        s.level.push(state.level);
        s.dropped
            .push(state.dropped.saturating_sub(self.dropped_before));
        self.dropped_before = state.dropped;
        s.total.push(&self.total, self.keep);
        self.total.clear();
        for (columns, open) in s.steps.iter_mut().zip(&mut self.steps) {
            match open {
                Some(open) => {
                    columns.push(open, self.keep);
                    open.clear();
                }
                None => columns.skipped += 1,
            }
        }
        self.ticks = 0;
        self.length = Duration::ZERO;
        self.at_width += 1;
        if self.at_width >= self.per_width {
            self.width = self.width.saturating_mul(2);
            self.at_width = 0;
        }
    }

    /// The series so far (points still open are left out).
    pub fn series(&self) -> &Series {
        &self.series
    }
}

/// The record of a finished run that the final snapshot carries for reports.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// The run over time.
    pub series: Series,
    /// Each step's whole-run histograms, in plan order.
    pub histograms: Vec<EncodedHistograms>,
    /// The whole run's.
    pub total_histograms: EncodedHistograms,
    /// The histograms' highest trackable value (µs): longer values were recorded as this.
    pub high_us: u64,
    /// The run's exact state, when it keeps one (a shard's, or a merge's): what
    /// `stampede merge` adds.
    pub state: Option<super::run_state::RunState>,
}

/// One step's whole-run histograms (or the run's), encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedHistograms {
    /// Latency from the planned start, µs.
    pub latency: String,
    /// Service time from the actual send, µs.
    pub service: String,
    /// The server's own time, µs, when some response said it.
    pub server_time: Option<String>,
    /// Service time minus server time, µs, for the same responses.
    pub overhead: Option<String>,
    /// A step with `retry:`: each whole exchange, first attempt's start to last one's end.
    pub exchange: Option<String>,
    /// A tagged step's, per value (in the order of `StepStats::tags`).
    pub tags: Vec<EncodedHistograms>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Outcome, ServerTime};
    use base64::Engine as _;

    fn tick_with(ms: &[u64]) -> StepInterval {
        let mut i = StepInterval::new(60_000_000);
        for &m in ms {
            let d = Duration::from_millis(m);
            let ok = Outcome::Response {
                status: 200,
                bytes: 0,
                unexpected: None,
                failure: None,
                failed_checks: 0,
                server: ServerTime::Unknown,
                phases: Default::default(),
            };
            i.record(d, d, ok);
        }
        i
    }

    fn state(tick: u64) -> TickState {
        TickState {
            at: Duration::from_millis(250 * tick),
            length: Duration::from_millis(250),
            in_flight: 3,
            level: Some(10.0),
            dropped: tick,
        }
    }

    #[test]
    fn each_point_has_the_exact_figures_of_its_interval() {
        let mut b = SeriesBuilder::new(3);
        let a = tick_with(&(1..=100).collect::<Vec<_>>());
        let empty = tick_with(&[]);
        b.add([Some(&a), Some(&empty), None], state(1), false);
        b.add(
            [Some(&empty), Some(&tick_with(&[7])), None],
            state(2),
            false,
        );
        b.add([None, None, Some(&tick_with(&[3]))], state(3), true);
        let s = b.series();
        assert_eq!(s.len(), 3);
        assert_eq!(s.total.requests, vec![100, 1, 1]);
        assert_eq!(s.steps[0].requests, vec![100, 0, 0]);
        // A step that recorded nothing until the third point keeps only that point.
        assert_eq!((s.steps[2].skipped, s.steps[2].requests.len()), (2, 1));
        let aligned = s.steps[2].aligned();
        assert_eq!(aligned.requests, vec![0, 0, 1]);
        assert_eq!(aligned.p50[..2], [None, None]);
        assert_eq!(aligned.p50[2].map(|v| v / 1000), Some(3));
        assert_eq!(s.steps[0].p50[1], None, "no response: no percentile");
        let p50 = s.steps[0].p50[0].expect("responses");
        assert!((49_950..=50_050).contains(&p50), "{p50}");
        assert_eq!(s.steps[1].max[1].map(|v| v / 1000), Some(7));
        assert_eq!(s.dropped, vec![1, 1, 1]);
        assert_eq!(s.at[1], Duration::from_millis(500));
    }

    #[test]
    fn width_doubles_after_a_full_set_of_points_and_stays_exact() {
        let mut b = SeriesBuilder::new(1);
        let one = tick_with(&[5]);
        for t in 0..POINTS_PER_WIDTH as u64 + 4 {
            b.add([Some(&one)], state(t + 1), false);
        }
        let s = b.series();
        // 14,400 one-tick points, then two points of two ticks each.
        assert_eq!(s.len(), POINTS_PER_WIDTH + 2);
        assert_eq!(s.total.requests[POINTS_PER_WIDTH], 2);
        assert_eq!(s.length[POINTS_PER_WIDTH], Duration::from_millis(500));
    }

    #[test]
    fn a_histogram_that_claims_a_huge_payload_is_refused() {
        use std::io::Write as _;
        // A valid V2 header whose payload length says 4 GiB, with no payload.
        let mut inner = Vec::new();
        inner.extend_from_slice(&0x1c84_9303_u32.to_be_bytes());
        inner.extend_from_slice(&u32::MAX.to_be_bytes());
        inner.extend_from_slice(&0_u32.to_be_bytes());
        inner.extend_from_slice(&3_u32.to_be_bytes());
        inner.extend_from_slice(&1_u64.to_be_bytes());
        inner.extend_from_slice(&1_000_000_u64.to_be_bytes());
        inner.extend_from_slice(&1.0_f64.to_be_bytes());
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&inner).expect("deflate");
        let zipped = z.finish().expect("deflate");
        let mut outer = Vec::new();
        outer.extend_from_slice(&0x1c84_9304_u32.to_be_bytes());
        outer.extend_from_slice(&(zipped.len() as u32).to_be_bytes());
        outer.extend_from_slice(&zipped);
        let text = base64::engine::general_purpose::STANDARD.encode(&outer);
        assert!(decode(&text).is_none());
        assert!(decode("not base64!").is_none());
        assert!(decode("AAAA").is_none());
    }

    #[test]
    fn many_steps_share_the_budget() {
        let mut b = SeriesBuilder::new(1000);
        let empty = StepInterval::new(60_000_000);
        let ticks: Vec<&StepInterval> = (0..1000).map(|_| &empty).collect();
        for t in 0..MIN_POINTS_PER_WIDTH as u64 + 2 {
            b.add(ticks.iter().map(|&t| Some(t)), state(t + 1), false);
        }
        // 240 one-tick points, then one point of two ticks.
        assert_eq!(b.series().len(), MIN_POINTS_PER_WIDTH + 1);
    }

    #[test]
    fn encoded_histograms_decode_to_the_same_counts() {
        let i = tick_with(&[1, 2, 3, 250, 1000]);
        let text = i.latency.view(encode);
        let back = decode(&text).expect("decodes");
        let latency = i.latency.to_histogram();
        assert_eq!(back.len(), 5);
        assert_eq!(back.max(), latency.max());
        assert_eq!(back.value_at_quantile(0.5), latency.value_at_quantile(0.5));
    }
}
