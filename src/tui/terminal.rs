//! The terminal while the dashboard owns it: `TerminalGuard` takes it and gives it back on
//! every path (normal end, errors through `Drop`, panics through ratatui's hook, which
//! restores before the message is printed).
//!
//! Depends on `state` (the `App` it draws), `theme` and `view`. Invariant: once the guard
//! is dropped the terminal is restored, even when it has gone away.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use ratatui::DefaultTerminal;

use super::state::App;
use super::theme::Theme;
use super::view::draw;

/// Owns the terminal while the dashboard runs; restores it when dropped.
pub struct TerminalGuard {
    /// Always `Some` until dropped.
    terminal: Option<DefaultTerminal>,
}

/// Set by the panic hook: a task somewhere panicked, so the dashboard must give the
/// terminal back (tokio catches task panics, so nothing else would stop it drawing).
pub static PANICKED: AtomicBool = AtomicBool::new(false);

impl TerminalGuard {
    /// Takes the terminal: raw mode, the alternate screen, and a panic hook that restores
    /// it and notes the panic in `PANICKED`.
    pub fn enter() -> io::Result<Self> {
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
    /// Draws the dashboard once.
    pub fn draw(&mut self, app: &App, theme: Theme) -> io::Result<()> {
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
