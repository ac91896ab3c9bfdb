//! The dashboard's state and its key handling, as pure functions of (state, key).
//!
//! `App` holds the latest snapshot, the history the charts draw (one point per tick, kept
//! bounded), and the view choices (focus, sort, zoom, help). `on_key` returns what the
//! outside must do (an engine action, or leave); it never touches the terminal or the clock
//! (only `absorb` notes the instant a stop was first seen, for the footer's countdown).

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::choices::{Panel, SortKey, Zoom};
use super::derived::Derived;
use super::history::History;
use crate::metrics::{Phase, Snapshot};

/// What a key asks of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Stop gracefully (first `q`).
    Stop,
    /// Interrupt in-flight requests (second `q` while stopping).
    Abort,
    /// Pause or resume sending.
    TogglePause,
    /// One step more load.
    Raise,
    /// One step less load.
    Lower,
}

/// What the event loop must do after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing beyond redrawing.
    Redraw,
    /// Send this to the engine.
    Engine(Action),
    /// Leave the dashboard.
    Leave,
}

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
    /// Per-step table order.
    pub sort: SortKey,
    /// Chart window.
    pub zoom: Zoom,
    /// Whether the help overlay is open.
    pub help: bool,
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
            sort: SortKey::Plan,
            zoom: Zoom::All,
            help: false,
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

    fn rederive(&mut self) {
        self.derived = Derived::compute(&self.snap, &self.history, self.zoom, self.sort);
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

    /// Applies a key press.
    ///
    /// `q` and Ctrl-C stop the run (a second press interrupts what is in flight); once it
    /// has ended they leave. `Esc` only goes back: it closes the help or an expanded panel
    /// and never stops a run. The final screen stays browsable (focus, expand, sort, zoom,
    /// help); the load keys do nothing there.
    pub fn on_key(&mut self, key: KeyEvent) -> Outcome {
        if key.kind == KeyEventKind::Release {
            return Outcome::Redraw;
        }
        let ctrl_c =
            key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
        let finished = self.finished();
        if finished && (ctrl_c || key.code == KeyCode::Char('q')) {
            return Outcome::Leave;
        }
        if key.code == KeyCode::Esc {
            if self.help {
                self.help = false;
            } else {
                self.expanded = false;
            }
            return Outcome::Redraw;
        }
        // Any key but Ctrl-C closes the help, `q` too (as in less, htop or man): a key
        // meant for the help never stops a run.
        if self.help && !ctrl_c {
            self.help = false;
            return Outcome::Redraw;
        }
        let running = self.snap.phase == Phase::Running;
        let engine = |action| {
            if running {
                Outcome::Engine(action)
            } else {
                Outcome::Redraw
            }
        };
        match key.code {
            _ if ctrl_c => {
                // Ctrl-C means "get me out": the dashboard leaves once the run has ended.
                self.leave_at_end = true;
                self.quit()
            }
            KeyCode::Char('q') => self.quit(),
            KeyCode::Char('p') => engine(Action::TogglePause),
            KeyCode::Char('+') | KeyCode::Char('=') => engine(Action::Raise),
            KeyCode::Char('-') | KeyCode::Char('_') => engine(Action::Lower),
            KeyCode::Tab | KeyCode::Right | KeyCode::Down => self.refocus(1),
            KeyCode::BackTab | KeyCode::Left | KeyCode::Up => self.refocus(-1),
            KeyCode::Enter => {
                self.expanded = !self.expanded;
                Outcome::Redraw
            }
            KeyCode::Char('s') => {
                self.sort = self.sort.next();
                self.rederive();
                Outcome::Redraw
            }
            KeyCode::Char('z') => {
                self.zoom = self.zoom.next();
                self.rederive();
                Outcome::Redraw
            }
            KeyCode::Char('?') => {
                self.help = true;
                Outcome::Redraw
            }
            _ => Outcome::Redraw,
        }
    }

    fn quit(&mut self) -> Outcome {
        if self.snap.phase != Phase::Running && !self.quitting {
            // The run is already stopping on its own (its duration is up): q interrupts.
            self.quitting = true;
            self.aborting = true;
            return Outcome::Engine(Action::Abort);
        }
        if self.quitting {
            self.aborting = true;
            Outcome::Engine(Action::Abort)
        } else {
            self.quitting = true;
            Outcome::Engine(Action::Stop)
        }
    }

    fn refocus(&mut self, by: isize) -> Outcome {
        self.focus = self.focus.shifted(by);
        if self.focus == Panel::Checks && !self.has_checks() {
            self.focus = self.focus.shifted(by);
        }
        Outcome::Redraw
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

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn app() -> App {
        let snap = Arc::new(Snapshot::empty(&[("f".into(), "s".into())]));
        App::new("demo".into(), "http://127.0.0.1:1".into(), snap)
    }

    #[test]
    fn quit_stops_then_aborts_then_leaves_when_finished() {
        let mut a = app();
        assert_eq!(
            a.on_key(key(KeyCode::Char('q'))),
            Outcome::Engine(Action::Stop)
        );
        assert!(a.quitting);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(a.on_key(ctrl_c), Outcome::Engine(Action::Abort));
        assert!(a.leave_at_end, "Ctrl-C leaves once the run has ended");
        let mut done = (*a.snap).clone();
        done.phase = Phase::Finished;
        a.absorb(Arc::new(done));
        assert_eq!(a.on_key(key(KeyCode::Char('x'))), Outcome::Redraw);
        assert_eq!(a.on_key(key(KeyCode::Char('q'))), Outcome::Leave);
    }

    #[test]
    fn esc_goes_back_and_never_stops_the_run() {
        let mut a = app();
        a.on_key(key(KeyCode::Enter));
        assert!(a.expanded);
        assert_eq!(a.on_key(key(KeyCode::Esc)), Outcome::Redraw);
        assert!(!a.expanded && !a.quitting);
        a.on_key(key(KeyCode::Char('?')));
        assert!(a.help);
        assert_eq!(a.on_key(key(KeyCode::Esc)), Outcome::Redraw);
        assert!(!a.help && !a.quitting);
        assert_eq!(a.on_key(key(KeyCode::Esc)), Outcome::Redraw);
        assert!(!a.quitting, "Esc with nothing open does nothing");
    }

    #[test]
    fn the_final_screen_stays_browsable_until_q() {
        let mut a = app();
        let mut done = (*a.snap).clone();
        done.phase = Phase::Finished;
        a.absorb(Arc::new(done));
        let sort = a.sort;
        assert_eq!(a.on_key(key(KeyCode::Char('s'))), Outcome::Redraw);
        assert_ne!(a.sort, sort);
        a.on_key(key(KeyCode::Enter));
        assert!(a.expanded);
        a.on_key(key(KeyCode::Esc));
        assert!(!a.expanded);
        for k in ['p', '+', '-'] {
            assert_eq!(
                a.on_key(key(KeyCode::Char(k))),
                Outcome::Redraw,
                "no load key acts once the run has ended"
            );
        }
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(a.on_key(ctrl_c), Outcome::Leave);
    }

    #[test]
    fn q_with_the_help_open_only_closes_it() {
        let mut a = app();
        a.on_key(key(KeyCode::Char('?')));
        assert_eq!(a.on_key(key(KeyCode::Char('q'))), Outcome::Redraw);
        assert!(!a.help && !a.quitting);
    }

    #[test]
    fn load_keys_do_nothing_while_stopping() {
        let mut a = app();
        let mut stopping = (*a.snap).clone();
        stopping.phase = Phase::Stopping;
        a.absorb(Arc::new(stopping));
        assert_eq!(a.on_key(key(KeyCode::Char('+'))), Outcome::Redraw);
        assert_eq!(a.on_key(key(KeyCode::Char('p'))), Outcome::Redraw);
    }

    #[test]
    fn q_during_a_stop_interrupts_what_is_in_flight() {
        let mut a = app();
        let mut stopping = (*a.snap).clone();
        stopping.phase = Phase::Stopping;
        a.absorb(Arc::new(stopping));
        assert!(a.stopping_since.is_some());
        assert_eq!(
            a.on_key(key(KeyCode::Char('q'))),
            Outcome::Engine(Action::Abort)
        );
    }

    #[test]
    fn load_and_pause_keys_become_engine_actions() {
        let mut a = app();
        assert_eq!(
            a.on_key(key(KeyCode::Char('+'))),
            Outcome::Engine(Action::Raise)
        );
        assert_eq!(
            a.on_key(key(KeyCode::Char('-'))),
            Outcome::Engine(Action::Lower)
        );
        assert_eq!(
            a.on_key(key(KeyCode::Char('p'))),
            Outcome::Engine(Action::TogglePause)
        );
    }

    #[test]
    fn view_keys_cycle_focus_sort_zoom_and_help() {
        let mut a = app();
        a.on_key(key(KeyCode::Tab));
        assert_eq!(a.focus, Panel::LatencyChart);
        a.on_key(key(KeyCode::Left));
        a.on_key(key(KeyCode::Left));
        assert_eq!(a.focus, Panel::Errors);
        a.on_key(key(KeyCode::Char('s')));
        assert_eq!(a.sort, SortKey::Requests);
        a.on_key(key(KeyCode::Char('z')));
        a.on_key(key(KeyCode::Char('z')));
        assert_eq!(a.zoom, Zoom::Last10);
        a.on_key(key(KeyCode::Char('?')));
        assert!(a.help);
        // Any key closes the help overlay and does nothing else.
        assert_eq!(a.on_key(key(KeyCode::Char('p'))), Outcome::Redraw);
        assert!(!a.help);
        a.on_key(key(KeyCode::Enter));
        assert!(a.expanded);
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
