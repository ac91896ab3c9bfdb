//! Steering from outside the engine: the user's live actions (`Command`s, from the
//! dashboard's keys) and the stop signals, and who stopped the run. `Helm` starts these
//! with the abort judge as the run begins, and stops them together at its end.
//!
//! Depends on `Control` (its parent), its sibling `judge`, `signals`, `metrics` and
//! `scenario` (the snapshots and thresholds the judge reads) and `out` (notes). The
//! dashboard's own action type is turned into a `Command` by the wiring, so the engine does
//! not know the dashboard. Invariant: a
//! stop the run began itself (its duration, a threshold, a data file) never becomes an
//! interruption; one the user asks for while the run is still going always does.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Control;
use super::judge::abort_on_fail;
use crate::metrics::Snapshot;
use crate::scenario::Threshold;
use crate::signals::StopSignals;

/// A live action on the running engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Stop gracefully: in-flight requests may finish.
    Stop,
    /// Interrupt in-flight requests now.
    Abort,
    /// Pause sending, or resume it.
    TogglePause,
    /// One step more load.
    Raise,
    /// One step less load.
    Lower,
}

/// What a stop signal means at the moment it comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signalled {
    /// The first: stop gracefully; the run is interrupted.
    Stop,
    /// A later one: interrupt what is in flight; the run is interrupted.
    Abort,
    /// The run already reached its end and is stopping gracefully: interrupt what is in
    /// flight, but the run stays completed (its load was all sent).
    CutShort,
}

impl Control {
    /// Applies one live action.
    pub fn apply(&self, command: Command) {
        match command {
            Command::Stop => {
                // `q` during the run's own graceful stop does not make it an interruption.
                self.interrupt_unless_stopping();
                self.stop();
            }
            Command::Abort => {
                // Cutting short a graceful stop the run began itself (its duration, a
                // threshold, a data file) keeps it completed, as a signal then does; a stop
                // the user asked for has already marked it interrupted.
                self.interrupt_unless_stopping();
                self.abort();
            }
            Command::TogglePause => self.toggle_pause(),
            Command::Raise => _ = self.step_level(true),
            Command::Lower => _ = self.step_level(false),
        }
    }

    /// Whether the user (a key, a signal) stopped the run before it reached its end.
    pub fn was_interrupted(&self) -> bool {
        self.live.interrupted.load(Ordering::Relaxed)
    }

    fn interrupt_unless_stopping(&self) {
        if !self.is_stopping() {
            self.live.interrupted.store(true, Ordering::Relaxed);
        }
    }

    /// Reads a stop signal (`first`: none came before) and marks the run interrupted when
    /// it is one; the caller then stops or aborts as the answer says.
    fn signalled(&self, first: bool) -> Signalled {
        if self.is_stopping() && !self.was_interrupted() {
            return Signalled::CutShort;
        }
        self.live.interrupted.store(true, Ordering::Relaxed);
        if first {
            Signalled::Stop
        } else {
            Signalled::Abort
        }
    }
}

/// What steers a run from outside: the stop signals, the user's live actions, the
/// thresholds that may stop it (read from the run's snapshots).
pub struct Outside<A> {
    /// The registered stop signals.
    pub signals: StopSignals,
    /// Cancelled at the first signal: the dashboard then leaves once the run ends.
    pub leave: CancellationToken,
    /// No message on a signal (a dashboard is on screen).
    pub quiet: bool,
    /// The user's live actions.
    pub actions: mpsc::UnboundedReceiver<A>,
    /// The run's snapshots, for the abort judge.
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// The plan's thresholds (the judge watches those with `abort_on_fail`).
    pub thresholds: Vec<Threshold>,
}

/// The tasks that steer a running engine from outside (`steer`, `watch_signals`,
/// `abort_on_fail`), started together and stopped together once the run is over.
pub struct Helm {
    tasks: [JoinHandle<()>; 3],
}

impl Helm {
    /// Starts steering `control` from `outside`.
    pub fn start<A: Into<Command> + Send + 'static>(
        control: &Control,
        outside: Outside<A>,
    ) -> Self {
        let Outside {
            signals,
            leave,
            quiet,
            actions,
            snapshots,
            thresholds,
        } = outside;
        Self {
            tasks: [
                tokio::spawn(watch_signals(signals, control.clone(), leave, quiet)),
                tokio::spawn(steer(actions, control.clone())),
                tokio::spawn(abort_on_fail(snapshots, thresholds, control.clone())),
            ],
        }
    }

    /// Stops every steering task (the run is over: nothing may steer it any more).
    pub fn stop(self) {
        for task in self.tasks {
            task.abort();
        }
    }
}

/// Applies the user's live actions in order, until their sender is dropped.
async fn steer<A: Into<Command>>(mut actions: mpsc::UnboundedReceiver<A>, control: Control) {
    while let Some(action) = actions.recv().await {
        control.apply(action.into());
    }
}

/// First stop signal (Ctrl-C, SIGTERM, SIGHUP): graceful stop, and the dashboard leaves
/// (`leave`) once the run ends. Second: interrupt in-flight requests. A signal that comes
/// during the graceful stop of a run that already reached its end interrupts what is in
/// flight, but the run stays `completed`. `quiet`: no message (a dashboard is on screen).
async fn watch_signals(
    mut signals: StopSignals,
    control: Control,
    leave: CancellationToken,
    quiet: bool,
) {
    for n in 0.. {
        signals.recv().await;
        leave.cancel();
        match control.signalled(n == 0) {
            Signalled::Stop => {
                if !quiet {
                    crate::note!(
                        "stopping: waiting for in-flight requests (signal again to interrupt them)"
                    );
                }
                control.stop();
            }
            Signalled::Abort | Signalled::CutShort => {
                control.abort();
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::metrics::Level;

    fn control() -> Control {
        Control::new(Level::Vus(10), Instant::now())
    }

    #[test]
    fn the_users_stop_interrupts_a_running_run() {
        for command in [Command::Stop, Command::Abort] {
            let c = control();
            c.apply(command);
            assert!(c.is_stopping() && c.was_interrupted(), "{command:?}");
            assert_eq!(c.abort.is_cancelled(), command == Command::Abort);
        }
    }

    #[test]
    fn a_key_during_the_runs_own_stop_keeps_it_completed() {
        let c = control();
        c.stop_because("the data ran out".into());
        c.apply(Command::Stop);
        assert!(!c.was_interrupted());
        assert!(!c.abort.is_cancelled());
        c.apply(Command::Abort);
        assert!(!c.was_interrupted());
        assert!(
            c.abort.is_cancelled(),
            "the abort still cuts the stop short"
        );
    }

    #[test]
    fn the_other_commands_pause_and_change_the_level_without_stopping() {
        let c = control();
        c.apply(Command::TogglePause);
        assert!(c.is_paused());
        c.apply(Command::TogglePause);
        assert!(!c.is_paused());
        c.apply(Command::Raise);
        assert!(matches!(c.level(), Level::Vus(v) if v > 10));
        c.apply(Command::Lower);
        c.apply(Command::Lower);
        assert!(matches!(c.level(), Level::Vus(v) if v < 10));
        assert!(!c.is_stopping() && !c.was_interrupted());
    }

    #[test]
    fn signals_stop_then_abort_an_interrupted_run() {
        let c = control();
        assert_eq!(c.signalled(true), Signalled::Stop);
        assert!(c.was_interrupted());
        c.stop();
        assert_eq!(c.signalled(false), Signalled::Abort);
        assert!(c.was_interrupted());

        // After the user's `q`, a signal is the first of its kind: a graceful stop again.
        let c = control();
        c.apply(Command::Stop);
        assert_eq!(c.signalled(true), Signalled::Stop);
    }

    #[test]
    fn a_signal_during_the_runs_own_stop_cuts_it_short_and_keeps_it_completed() {
        let c = control();
        c.stop();
        assert_eq!(c.signalled(true), Signalled::CutShort);
        assert!(!c.was_interrupted());
    }
}
