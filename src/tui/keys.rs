//! The dashboard's keys, as pure functions of (state, key): what each key does to the
//! `App`, and what the outside must then do (`Outcome`: redraw, an engine `Action`, leave).
//!
//! Depends on `state` (the `App` it changes) and `choices` (the panels it moves between).
//! Invariant: a key never touches the terminal or the clock, and a load key reaches the
//! engine only while the run is running.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::choices::Panel;
use super::state::App;
use crate::metrics::Phase;

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

impl App {
    /// Applies a key press.
    ///
    /// `q` and Ctrl-C stop the run (a second press interrupts what is in flight); once it
    /// has ended they leave. `Esc` only goes back: it closes the help, a sample or an
    /// expanded panel and never stops a run. `enter` on the errors panel opens the latest
    /// failure sample of an error group (up and down pick another). The final screen stays
    /// browsable (focus, expand, samples, sort, zoom, help); the load keys do nothing there.
    pub fn on_key(&mut self, key: KeyEvent) -> Outcome {
        if key.kind == KeyEventKind::Release {
            return Outcome::Redraw;
        }
        let ctrl_c =
            key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
        if self.finished() && (ctrl_c || key.code == KeyCode::Char('q')) {
            return Outcome::Leave;
        }
        if key.code == KeyCode::Esc {
            self.go_back();
            return Outcome::Redraw;
        }
        // Any key but Ctrl-C closes the help, `q` too (as in less, htop or man): a key
        // meant for the help never stops a run.
        if self.help && !ctrl_c {
            self.help = false;
            return Outcome::Redraw;
        }
        if ctrl_c {
            // Ctrl-C means "get me out": the dashboard leaves once the run has ended.
            self.leave_at_end = true;
            return self.quit();
        }
        self.run_key(key.code).unwrap_or_else(|| match self.sample {
            Some(group) => self.sample_key(key.code, group),
            None => self.view_key(key.code),
        })
    }

    /// `Esc`: closes the help, else an open sample, else an expanded panel.
    fn go_back(&mut self) {
        if self.help {
            self.help = false;
        } else if self.sample.is_some() {
            self.sample = None;
        } else {
            self.expanded = false;
        }
    }

    /// The keys while a sample is open (on `group`): up and down pick another error group,
    /// `enter` closes it, `?` opens the help.
    fn sample_key(&mut self, code: KeyCode, group: usize) -> Outcome {
        let groups = self.derived.errors.len().max(1);
        match code {
            KeyCode::Up | KeyCode::BackTab | KeyCode::Char('k') => {
                self.sample = Some((group + groups - 1) % groups);
            }
            KeyCode::Down | KeyCode::Tab | KeyCode::Char('j') => {
                self.sample = Some((group + 1) % groups);
            }
            KeyCode::Enter => self.sample = None,
            KeyCode::Char('?') => self.help = true,
            _ => {}
        }
        Outcome::Redraw
    }

    /// The keys that steer the run (`q`, pause, load); the load keys act only while it
    /// runs. `None`: not one of them.
    fn run_key(&mut self, code: KeyCode) -> Option<Outcome> {
        let action = match code {
            KeyCode::Char('q') => return Some(self.quit()),
            KeyCode::Char('p') => Action::TogglePause,
            KeyCode::Char('+') | KeyCode::Char('=') => Action::Raise,
            KeyCode::Char('-') | KeyCode::Char('_') => Action::Lower,
            _ => return None,
        };
        Some(if self.snap.phase == Phase::Running {
            Outcome::Engine(action)
        } else {
            Outcome::Redraw
        })
    }

    /// The keys that change only what is shown: focus, expand, sort, zoom, tags, help.
    fn view_key(&mut self, code: KeyCode) -> Outcome {
        match code {
            KeyCode::Tab | KeyCode::Right | KeyCode::Down => self.refocus(1),
            KeyCode::BackTab | KeyCode::Left | KeyCode::Up => self.refocus(-1),
            // On the errors panel: the latest sample of its first group (up/down: others).
            KeyCode::Enter if self.focus == Panel::Errors && !self.derived.errors.is_empty() => {
                self.sample = Some(0);
            }
            KeyCode::Enter => self.expanded = !self.expanded,
            KeyCode::Char('s') => {
                self.sort = self.sort.next();
                self.rederive();
            }
            KeyCode::Char('z') => {
                self.zoom = self.zoom.next();
                self.rederive();
            }
            KeyCode::Char('t') => self.show_tags = !self.show_tags,
            KeyCode::Char('?') => self.help = true,
            _ => {}
        }
        Outcome::Redraw
    }

    /// `q`: stop gracefully, or interrupt when a stop is already under way.
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

    /// Moves the focus `by` panels, over the checks panel when it is not shown.
    fn refocus(&mut self, by: isize) {
        self.focus = self.focus.shifted(by);
        if self.focus == Panel::Checks && !self.has_checks() {
            self.focus = self.focus.shifted(by);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::metrics::Snapshot;
    use crate::tui::choices::{SortKey, Zoom};

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
    fn enter_on_the_errors_opens_a_sample_and_up_down_pick_its_group() {
        use crate::metrics::{ErrorClass, ErrorStat};
        let mut a = app();
        a.focus = Panel::Errors;
        a.on_key(key(KeyCode::Enter));
        assert!(a.sample.is_none() && a.expanded, "no errors: enter expands");
        a.on_key(key(KeyCode::Esc));
        let mut snap = (*a.snap).clone();
        snap.total.errors_by_class = [ErrorClass::Timeout, ErrorClass::Reset]
            .map(|class| ErrorStat {
                class,
                count: 1,
                sample: String::new(),
                last_seen: std::time::Duration::ZERO,
            })
            .to_vec();
        a.absorb(Arc::new(snap));
        a.on_key(key(KeyCode::Enter));
        assert_eq!((a.sample, a.expanded), (Some(0), false));
        a.on_key(key(KeyCode::Down));
        assert_eq!(a.sample, Some(1));
        a.on_key(key(KeyCode::Down));
        assert_eq!(a.sample, Some(0), "round again");
        a.on_key(key(KeyCode::Up));
        assert_eq!(a.sample, Some(1));
        assert_eq!(
            a.focus,
            Panel::Errors,
            "the arrows pick a group, not a panel"
        );
        assert_eq!(a.on_key(key(KeyCode::Esc)), Outcome::Redraw);
        assert!(a.sample.is_none() && !a.quitting);
        a.on_key(key(KeyCode::Enter));
        a.on_key(key(KeyCode::Enter));
        assert!(a.sample.is_none(), "enter closes it too");
        // A new snapshot with fewer groups keeps an open sample on one that exists.
        a.on_key(key(KeyCode::Enter));
        a.on_key(key(KeyCode::Down));
        let mut fewer = (*a.snap).clone();
        fewer.total.errors_by_class.truncate(1);
        a.absorb(Arc::new(fewer));
        assert_eq!(a.sample, Some(0));
        assert_eq!(
            a.on_key(key(KeyCode::Char('q'))),
            Outcome::Engine(Action::Stop)
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
}
