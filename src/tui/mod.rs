//! The live dashboard (ratatui + crossterm): an event loop over a steady frame timer,
//! terminal input and snapshot updates, drawing a view of the latest `Snapshot`.
//!
//! It only reads snapshots and emits `Action`s for the engine through a channel; it never
//! measures. The terminal is restored on every path: normal end, quit keys, errors (the
//! guard's `Drop`) and panics (ratatui's hook restores before the message is printed).
//! Depends on `metrics` (and `format`), and on `report::warnings` for the health warnings it
//! shares with the summary.

mod choices;
mod derived;
mod history;
mod input;
mod keys;
mod panels;
mod state;
mod text;
mod theme;
mod view;

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ratatui::DefaultTerminal;
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

/// Owns the terminal while the dashboard runs; restores it when dropped.
struct TerminalGuard {
    /// Always `Some` until dropped.
    terminal: Option<DefaultTerminal>,
}

/// Set by the panic hook: a task somewhere panicked, so the dashboard must give the
/// terminal back (tokio catches task panics, so nothing else would stop it drawing).
static PANICKED: AtomicBool = AtomicBool::new(false);

impl TerminalGuard {
    fn enter() -> io::Result<Self> {
        // try_init enables raw mode, enters the alternate screen and installs a panic hook
        // that restores the terminal before the panic message is printed.
        let terminal = ratatui::try_init().inspect_err(|_| {
            let _ = ratatui::try_restore();
        })?;
        let restore_first = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.store(true, Ordering::SeqCst);
            restore_first(info);
        }));
        Ok(Self {
            terminal: Some(terminal),
        })
    }
}

impl TerminalGuard {
    fn draw(&mut self, app: &App, theme: Theme) -> io::Result<()> {
        match &mut self.terminal {
            Some(t) => t.draw(|f| draw(f, app, theme)).map(|_| ()),
            None => Ok(()),
        }
    }
}

impl Drop for TerminalGuard {
    /// Restores quietly: on a terminal that has gone away every step fails, and ratatui's
    /// own reports of that (`eprintln!` to the same dead terminal) would panic, losing the
    /// results still to be written.
    fn drop(&mut self) {
        if let Some(mut terminal) = self.terminal.take() {
            if terminal.show_cursor().is_ok() {
                drop(terminal);
            } else {
                // Its drop would retry and report the failure with a panicking eprintln!.
                std::mem::forget(terminal);
            }
        }
        let _ = ratatui::try_restore();
    }
}

/// The next key, or never when there is no terminal input to read.
async fn next_input(
    input: &mut Option<mpsc::UnboundedReceiver<input::Input>>,
) -> Option<input::Input> {
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
    let first = Arc::clone(&snapshots.borrow_and_update());
    let mut app = App::new(opts.scenario, opts.target, first);
    app.baseline = opts.baseline;
    app.insecure = opts.insecure;
    app.graceful_stop = opts.graceful_stop;
    let mut input = input::spawn();
    if input.is_none() {
        // No terminal to read keys from: nothing could leave the final screen.
        app.leave_at_end = true;
    }
    let mut updating = true;
    let mut frames = tokio::time::interval(Duration::from_millis(1000 / FPS));
    frames.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let leave_now =
            app.finished() && (opts.exit_on_end || app.leave_at_end || leave.is_cancelled());
        if leave_now {
            guard.draw(&app, theme)?;
            return Ok(());
        }
        tokio::select! {
            _ = frames.tick() => {
                if PANICKED.load(Ordering::SeqCst) {
                    return Err(io::Error::other("a task panicked; the terminal was restored"));
                }
                if let Err(e) = guard.draw(&app, theme) {
                    // The terminal has gone (the key thread may not have said so yet): stop
                    // the run as its input's end would, then leave.
                    let gone = !std::io::IsTerminal::is_terminal(&std::io::stdout());
                    if gone && !app.quitting {
                        app.quitting = true;
                        let _ = actions.send(Action::Stop);
                    }
                    return Err(e);
                }
            }
            changed = snapshots.changed(), if updating => {
                match changed {
                    Ok(()) => app.absorb(Arc::clone(&snapshots.borrow_and_update())),
                    // The tick task has ended: the final snapshot is already absorbed.
                    Err(_) => updating = false,
                }
            }
            got = next_input(&mut input) => match got {
                Some(Input::Key(key)) => match app.on_key(key) {
                    Outcome::Leave => return Ok(()),
                    Outcome::Engine(action) => {
                        let _ = actions.send(action);
                    }
                    Outcome::Redraw => {}
                },
                ended => {
                    let why = match ended {
                        Some(Input::Ended(why)) => why,
                        _ => "the terminal's input ended".to_string(),
                    };
                    // The terminal went away (as with SIGHUP): stop the run, write what was
                    // asked, and leave; nothing more can be shown.
                    input = None;
                    app.leave_at_end = true;
                    if !app.quitting {
                        app.quitting = true;
                        let _ = actions.send(Action::Stop);
                    }
                    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                        return Err(io::Error::other(why));
                    }
                }
            },
            () = leave.cancelled(), if !app.leave_at_end => {
                app.quitting = true;
                app.leave_at_end = true;
            }
        }
    }
}
