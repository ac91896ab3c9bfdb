//! Headless progress: one line per second on stderr while a run goes on.
//!
//! Reads snapshots only (never the recorder), like the TUI will.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::format::format_latency;
use crate::metrics::{Phase, Snapshot};

/// Renders one progress line from a snapshot; `planned` is the run's duration if it has one.
pub fn line(snap: &Snapshot, planned: Option<Duration>) -> String {
    let t = &snap.total;
    let elapsed = snap.elapsed.as_secs_f64().round();
    let clock = match planned {
        Some(p) => format!("{elapsed:>4}s/{}s", p.as_secs_f64().round()),
        None => format!("{elapsed:>4}s"),
    };
    let stopping = if snap.phase == Phase::Stopping {
        " · stopping"
    } else {
        ""
    };
    let interrupted = if t.interrupted > 0 {
        format!(" · interrupted {}", t.interrupted)
    } else {
        String::new()
    };
    let dropped = if snap.dropped > 0 {
        format!(" · dropped {}", snap.dropped)
    } else {
        String::new()
    };
    format!(
        "{clock} · {} req · {:.0}/s now · p50 {} · p99 {} · errors {:.2}% · in flight {}{interrupted}{dropped}{stopping}",
        t.requests,
        t.interval.rps(),
        format_latency(t.latency.p50),
        format_latency(t.latency.p99),
        t.error_rate() * 100.0,
        snap.in_flight,
    )
}

/// Prints a progress line every second until the snapshots stop (the sender is dropped).
pub async fn print_lines(mut rx: watch::Receiver<Arc<Snapshot>>, planned: Option<Duration>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        tokio::select! {
            _ = every.tick() => {
                let snap = Arc::clone(&rx.borrow_and_update());
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{}", line(&snap, planned));
            }
            changed = rx.changed() => if changed.is_err() { return },
        }
    }
}
