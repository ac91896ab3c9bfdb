//! How a run is shown while it goes on: the dashboard, or progress lines on stderr (also
//! the fallback when the dashboard fails), and the dashboard's keys turned into the engine's
//! commands.
//!
//! Part of the wiring: it joins `tui` and `progress` to the snapshots and `engine::Command`,
//! so that neither the dashboard nor the engine knows the other. Depends on `tui`,
//! `progress`, `engine`, `metrics`, `report` (whether `--insecure` applies) and `scenario`.
//! Invariant: the display's task ends only when the run has ended and been shown.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::engine::Command;
use crate::metrics::Snapshot;
use crate::scenario::Plan;
use crate::tui::{self, Action};

/// How the run is shown while it goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// A progress line per second on stderr.
    Headless,
    /// The interactive dashboard.
    Dashboard {
        /// Colours on or off.
        color: bool,
        /// Leave the dashboard as soon as the run ends.
        exit_on_end: bool,
    },
}

/// What the display shows besides the snapshots: the target, the baseline's p50 and p99.
pub(super) struct Shown<'a> {
    /// The target's base URL (redacted before it is shown).
    pub base: &'a str,
    /// `--baseline`: its whole-run p50 and p99 (ms).
    pub baseline: Option<[f64; 2]>,
}

/// Starts the chosen display; it ends when the run has ended and been shown.
pub(super) fn show(
    display: Display,
    rx: watch::Receiver<Arc<Snapshot>>,
    actions: mpsc::UnboundedSender<Action>,
    leave: CancellationToken,
    plan: &Plan,
    shown: Shown<'_>,
) -> JoinHandle<std::io::Result<()>> {
    let planned = plan.load.duration;
    let Display::Dashboard { color, exit_on_end } = display else {
        return tokio::spawn(async move {
            crate::progress::print_lines(rx, planned).await;
            Ok(())
        });
    };
    let opts = tui::Options {
        scenario: plan.name.clone(),
        target: plan.redactor.owned(shown.base),
        color,
        exit_on_end,
        baseline: shown.baseline,
        insecure: crate::report::insecure_applies(plan, shown.base),
        graceful_stop: plan.load.graceful_stop,
    };
    tokio::spawn(async move {
        let result = tui::run(rx.clone(), actions, leave, opts).await;
        if let Err(e) = &result {
            // The terminal is restored; show the rest of the run headless.
            crate::note!("warning: the dashboard stopped ({e}); going on headless");
            crate::progress::print_lines(rx, planned).await;
        }
        result
    })
}

/// The dashboard's keys, as the engine's commands.
impl From<Action> for Command {
    fn from(action: Action) -> Self {
        match action {
            Action::Stop => Command::Stop,
            Action::Abort => Command::Abort,
            Action::TogglePause => Command::TogglePause,
            Action::Raise => Command::Raise,
            Action::Lower => Command::Lower,
        }
    }
}
