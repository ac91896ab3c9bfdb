//! What the user chose to see: the panels in focus order, how the steps table is sorted,
//! and the charts' time window. Plain values with their cycling order; no dependencies
//! inside the crate.
//!
//! A new panel starts here, as a `Panel` variant in `Panel::ALL` (focus order), then gets
//! its drawing in `panels` and its place in `view::body_layout`.

/// The dashboard's panels, in focus order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Panel {
    /// Requests per second over time, errors beside.
    Throughput,
    /// Percentiles over time.
    LatencyChart,
    /// The latency table and distribution.
    LatencyNow,
    /// One row per step.
    Steps,
    /// Responses per status code.
    Statuses,
    /// Error classes with samples.
    Errors,
    /// Each check's pass rate, failures first (shown when the plan has checks).
    Checks,
}

impl Panel {
    /// Every panel, in focus order.
    pub const ALL: [Panel; 7] = [
        Panel::Throughput,
        Panel::LatencyChart,
        Panel::LatencyNow,
        Panel::Steps,
        Panel::Statuses,
        Panel::Errors,
        Panel::Checks,
    ];

    /// The panel `by` places on in focus order, wrapping round.
    pub(super) fn shifted(self, by: isize) -> Panel {
        let n = Self::ALL.len() as isize;
        let i = Self::ALL.iter().position(|&p| p == self).unwrap_or(0) as isize;
        Self::ALL[((i + by).rem_euclid(n)) as usize]
    }
}

/// How the per-step table is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// As in the scenario.
    Plan,
    /// Most requests first.
    Requests,
    /// Slowest p99 first.
    P99,
    /// Highest error rate first.
    Errors,
}

impl SortKey {
    /// The next order, back to the plan's after the last.
    pub(super) fn next(self) -> SortKey {
        match self {
            SortKey::Plan => SortKey::Requests,
            SortKey::Requests => SortKey::P99,
            SortKey::P99 => SortKey::Errors,
            SortKey::Errors => SortKey::Plan,
        }
    }

    /// The name shown in the table's title.
    pub fn label(self) -> &'static str {
        match self {
            SortKey::Plan => "plan order",
            SortKey::Requests => "requests",
            SortKey::P99 => "p99",
            SortKey::Errors => "errors",
        }
    }
}

/// The time window the charts show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zoom {
    /// The whole run.
    All,
    /// The last 60 seconds.
    Last60,
    /// The last 10 seconds.
    Last10,
}

impl Zoom {
    /// The next window, back to the whole run after the last.
    pub(super) fn next(self) -> Zoom {
        match self {
            Zoom::All => Zoom::Last60,
            Zoom::Last60 => Zoom::Last10,
            Zoom::Last10 => Zoom::All,
        }
    }

    /// Seconds shown, `None` for the whole run.
    pub fn window(self) -> Option<f64> {
        match self {
            Zoom::All => None,
            Zoom::Last60 => Some(60.0),
            Zoom::Last10 => Some(10.0),
        }
    }

    /// The name shown in chart titles.
    pub fn label(self) -> &'static str {
        match self {
            Zoom::All => "all",
            Zoom::Last60 => "last 60s",
            Zoom::Last10 => "last 10s",
        }
    }
}
