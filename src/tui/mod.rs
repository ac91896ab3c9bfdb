//! The live dashboard (ratatui + crossterm): an event loop over a steady frame timer,
//! terminal input and snapshot updates, drawing a view of the latest `Snapshot`.
//!
//! It only reads snapshots and emits `Action`s for the engine through a channel; it never
//! measures. The terminal is restored on every path: normal end, quit keys, errors (the
//! guard's `Drop`) and panics (ratatui's hook restores before the message is printed).
//!
//! Inside, each file uses only those below it: `choices`, `theme`, `text` and `input` use
//! no other; `history` → `derived` → `state` (the `App`) → `keys`; `panels` and `view`
//! draw an `App`; `terminal` owns the screen; this file runs the loop. Outside, it depends
//! on `metrics` and `format`, and (the header) on `report::warnings` for the health
//! warnings it shares with the summary.

mod choices;
mod derived;
mod history;
mod input;
mod keys;
mod panels;
mod state;
mod terminal;
mod text;
mod theme;
mod view;

use std::io;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

pub use choices::{Panel, SortKey, Zoom};
pub use history::{History, Point};
pub use keys::{Action, Outcome};
pub use state::App;
pub use theme::Theme;
pub use view::{body_layout, draw};

use crate::metrics::Snapshot;
use input::Input;
use terminal::{PANICKED, TerminalGuard};

/// Frames per second: steady, whatever the load.
pub const FPS: u64 = 10;

/// What the dashboard needs besides snapshots.
#[derive(Debug, Clone)]
pub struct Options {
    /// Scenario name for the header.
    pub scenario: String,
    /// Target URL for the header.
    pub target: String,
    /// Colours on or off (`--no-color`, `NO_COLOR`).
    pub color: bool,
    /// Leave as soon as the run ends instead of waiting for a key.
    pub exit_on_end: bool,
    /// `--baseline`: the saved run's p50 and p99 (ms) for the latency chart.
    pub baseline: Option<[f64; 2]>,
    /// TLS certificates are not verified (`--insecure`, for an https target): warned about.
    pub insecure: bool,
    /// The plan's graceful stop, counted down in the footer while stopping.
    pub graceful_stop: Duration,
}

/// The next key, or never when there is no terminal input to read.
async fn next_input(input: &mut Option<mpsc::UnboundedReceiver<Input>>) -> Option<Input> {
    match input {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Runs the dashboard until the run has ended and the user has left its final screen (`q`),
/// or at once when it ends with `exit_on_end`, after Ctrl-C, or when `leave` is cancelled
/// (SIGTERM, SIGHUP).
pub async fn run(
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    actions: mpsc::UnboundedSender<Action>,
    leave: CancellationToken,
    opts: Options,
) -> io::Result<()> {
    let mut guard = TerminalGuard::enter()?;
    let theme = Theme::new(opts.color);
    let exit_on_end = opts.exit_on_end;
    let mut app = opening(opts, Arc::clone(&snapshots.borrow_and_update()));
    let mut input = input::spawn();
    if input.is_none() {
        // No terminal to read keys from: nothing could leave the final screen.
        app.leave_at_end = true;
    }
    let mut updating = true;
    let mut frames = tokio::time::interval(Duration::from_millis(1000 / FPS));
    frames.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let leave_now = app.finished() && (exit_on_end || app.leave_at_end || leave.is_cancelled());
        if leave_now {
            guard.draw(&app, theme)?;
            return Ok(());
        }
        tokio::select! {
            _ = frames.tick() => show(&mut guard, &mut app, theme, &actions)?,
            changed = snapshots.changed(), if updating => {
                match changed {
                    Ok(()) => app.absorb(Arc::clone(&snapshots.borrow_and_update())),
                    // The tick task has ended: the final snapshot is already absorbed.
                    Err(_) => updating = false,
                }
            }
            got = next_input(&mut input) => {
                if let ControlFlow::Break(end) = on_input(got, &mut app, &mut input, &actions) {
                    return end;
                }
            }
            () = leave.cancelled(), if !app.leave_at_end => {
                app.quitting = true;
                app.leave_at_end = true;
            }
        }
    }
}

/// The dashboard over the first snapshot, with what the options say.
fn opening(opts: Options, first: Arc<Snapshot>) -> App {
    let mut app = App::new(opts.scenario, opts.target, first);
    app.baseline = opts.baseline;
    app.insecure = opts.insecure;
    app.graceful_stop = opts.graceful_stop;
    app
}

/// Stops the run gracefully, unless the user already asked.
fn stop_once(app: &mut App, actions: &mpsc::UnboundedSender<Action>) {
    if !app.quitting {
        app.quitting = true;
        let _ = actions.send(Action::Stop);
    }
}

/// A frame: draws the dashboard, or fails when a task has panicked or the terminal has
/// gone (then the run is stopped first, as its input's end would).
fn show(
    guard: &mut TerminalGuard,
    app: &mut App,
    theme: Theme,
    actions: &mpsc::UnboundedSender<Action>,
) -> io::Result<()> {
    if PANICKED.load(Ordering::SeqCst) {
        return Err(io::Error::other(
            "a task panicked; the terminal was restored",
        ));
    }
    guard.draw(app, theme).inspect_err(|_| {
        // The terminal has gone (the key thread may not have said so yet).
        if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            stop_once(app, actions);
        }
    })
}

/// Applies what the terminal sent: a key (which may leave, or ask the engine), or the end
/// of its input. `Break` carries how the dashboard ends.
fn on_input(
    got: Option<Input>,
    app: &mut App,
    input: &mut Option<mpsc::UnboundedReceiver<Input>>,
    actions: &mpsc::UnboundedSender<Action>,
) -> ControlFlow<io::Result<()>> {
    let why = match got {
        Some(Input::Key(key)) => {
            match app.on_key(key) {
                Outcome::Leave => return ControlFlow::Break(Ok(())),
                Outcome::Engine(action) => {
                    let _ = actions.send(action);
                }
                Outcome::Redraw => {}
            }
            return ControlFlow::Continue(());
        }
        Some(Input::Ended(why)) => why,
        None => "the terminal's input ended".to_string(),
    };
    // The terminal went away (as with SIGHUP): stop the run, write what was asked, and
    // leave; nothing more can be shown.
    *input = None;
    app.leave_at_end = true;
    stop_once(app, actions);
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        return ControlFlow::Break(Err(io::Error::other(why)));
    }
    ControlFlow::Continue(())
}
