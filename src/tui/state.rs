//! The dashboard's state: `App` holds the latest snapshot, the history the charts draw
//! (one point per tick, kept bounded), the view choices (focus, sort, zoom, help, the open
//! failure sample) and what the panels draw, derived from those. Its keys are in `keys`.
//!
//! Depends on `metrics` (the snapshot), and on `choices`, `history` and `derived` below it.
//! Invariant: `derived` always matches the snapshot, sort and zoom (every change of them
//! goes through `rederive`); nothing here touches the terminal, and the clock only where
//! `absorb` notes the instant a stop was first seen, for the footer's countdown.

use std::sync::Arc;
use std::time::Duration;

use super::choices::{Panel, SortKey, Zoom};
use super::derived::Derived;
use super::history::History;
use crate::metrics::{Phase, Snapshot};

/// Everything the dashboard shows and remembers.
#[derive(Debug, Clone)]
pub struct App {
    /// Scenario name.
    pub scenario: String,
    /// Where the load goes.
    pub target: String,
    /// The latest snapshot.
    pub snap: Arc<Snapshot>,
    /// Chart history.
    pub history: History,
    /// The focused panel.
    pub focus: Panel,
    /// Whether the focused panel fills the body.
    pub expanded: bool,
    /// The error group (its place in `derived.errors`) whose latest failure sample fills
    /// the body: `enter` on the errors panel opens it, `Esc` closes it.
    pub sample: Option<usize>,
    /// Per-step table order.
    pub sort: SortKey,
    /// Chart window.
    pub zoom: Zoom,
    /// Whether the help overlay is open.
    pub help: bool,
    /// Whether the steps table shows each tagged step's values under it (`t`).
    pub show_tags: bool,
    /// Whether the user asked to stop (a second `q` then interrupts).
    pub quitting: bool,
    /// Leave as soon as the run has ended (Ctrl-C, a signal), not on the final screen.
    pub leave_at_end: bool,
    /// The requests in flight are being interrupted (a second `q`).
    pub aborting: bool,
    /// The graceful stop's length, for the stopping footer's countdown.
    pub graceful_stop: Duration,
    /// When this dashboard first saw the run stopping.
    pub stopping_since: Option<std::time::Instant>,
    /// What the panels draw, recomputed when the snapshot, sort or zoom changes.
    pub derived: Derived,
    /// `--baseline`: the saved run's whole-run p50 and p99 (ms), drawn faintly on the
    /// latency chart.
    pub baseline: Option<[f64; 2]>,
    /// TLS certificates are not verified (`--insecure`): the header's warnings say so.
    pub insecure: bool,
}

impl App {
    /// A dashboard over `snap`, before any tick.
    pub fn new(scenario: String, target: String, snap: Arc<Snapshot>) -> Self {
        let mut app = Self {
            scenario,
            target,
            snap,
            history: History::default(),
            focus: Panel::Throughput,
            expanded: false,
            sample: None,
            sort: SortKey::Plan,
            zoom: Zoom::All,
            help: false,
            show_tags: true,
            quitting: false,
            leave_at_end: false,
            aborting: false,
            graceful_stop: Duration::ZERO,
            stopping_since: None,
            derived: Derived::default(),
            baseline: None,
            insecure: false,
        };
        app.rederive();
        app
    }

    /// Recomputes what the panels draw (after a new snapshot, sort or zoom).
    pub(super) fn rederive(&mut self) {
        self.derived = Derived::compute(&self.snap, &self.history, self.zoom, self.sort);
        // The groups are the snapshot's: an open sample stays on a group that exists.
        let groups = self.derived.errors.len();
        self.sample = self
            .sample
            .filter(|_| groups > 0)
            .map(|g| g.min(groups - 1));
    }

    /// Takes in a new snapshot; a new tick adds a chart point (not the final snapshot's
    /// sliver of an interval, whose rate would be noise).
    pub fn absorb(&mut self, snap: Arc<Snapshot>) {
        if snap.phase == Phase::Stopping && self.stopping_since.is_none() {
            self.stopping_since = Some(std::time::Instant::now());
        }
        self.history.take_tick(&snap, self.snap.seq);
        self.snap = snap;
        self.rederive();
    }

    /// Whether the run has ended (the final snapshot is shown).
    pub fn finished(&self) -> bool {
        self.snap.phase == Phase::Finished
    }

    /// Whether any step has checks (the checks panel is shown only then).
    pub fn has_checks(&self) -> bool {
        self.snap.steps.iter().any(|s| !s.checks.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::tui::history::HISTORY_CAP;

    fn app() -> App {
        let snap = Arc::new(Snapshot::empty(&[("f".into(), "s".into())]));
        App::new("demo".into(), "http://127.0.0.1:1".into(), snap)
    }

    #[test]
    fn history_adds_a_point_per_tick_and_stays_bounded() {
        let mut a = app();
        for seq in 1..=(HISTORY_CAP as u64 * 3) {
            let mut s = (*a.snap).clone();
            s.seq = seq;
            s.elapsed = Duration::from_millis(250 * seq);
            s.total.interval.length = Duration::from_millis(250);
            a.absorb(Arc::new(s.clone()));
            a.absorb(Arc::new(s)); // the same tick twice adds one point
        }
        let all = a.history.window(Zoom::All);
        assert!(
            all.len() <= HISTORY_CAP && all.len() > HISTORY_CAP / 2,
            "{}",
            all.len()
        );
        let last10 = a.history.window(Zoom::Last10);
        assert!((40..=41).contains(&last10.len()), "{}", last10.len());
    }
}
