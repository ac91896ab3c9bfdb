//! Headless progress: one line per second on stderr while a run goes on.
//!
//! Reads snapshots only (never the recorder), like the TUI will.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::format::latency_or_dash;
use crate::metrics::{Phase, Snapshot};

/// Renders one progress line from a snapshot; `planned` is the run's duration if it has
/// one, `rate` the requests per second since the line before (`None` for the first).
pub fn line(snap: &Snapshot, planned: Option<Duration>, rate: Option<f64>) -> String {
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
    // The level (VUs or rate) moves with stages and live changes: show where it is now.
    let level = snap
        .live
        .level
        .map(|l| format!(" · {l}"))
        .unwrap_or_default();
    let rate = rate.unwrap_or(t.rps);
    let latency = |us: u64| latency_or_dash(t.latency.count, us);
    format!(
        "{clock}{level} · {} req · {rate:.0}/s · p50 {} · p99 {} · errors {:.2}% · in flight {}{interrupted}{dropped}{stopping}",
        t.requests,
        latency(t.latency.p50),
        latency(t.latency.p99),
        t.error_rate() * 100.0,
        snap.in_flight,
    )
}

/// Prints a progress line every second until the snapshots stop (the sender is dropped).
/// Its rate counts the requests completed since the line before, over the time between
/// the two snapshots: a whole second, not one tick scaled up (which read `0/s` whenever
/// the last tick happened to complete nothing).
pub async fn print_lines(mut rx: watch::Receiver<Arc<Snapshot>>, planned: Option<Duration>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    let mut before: Option<(u64, Duration)> = None;
    loop {
        tokio::select! {
            _ = every.tick() => {
                let snap = Arc::clone(&rx.borrow_and_update());
                let now = (snap.total.requests, snap.elapsed);
                let rate = before.and_then(|(n, at)| {
                    let secs = now.1.checked_sub(at)?.as_secs_f64();
                    (secs > 0.0).then(|| now.0.saturating_sub(n) as f64 / secs)
                });
                before = Some(now);
                crate::note!("{}", line(&snap, planned, rate));
            }
            changed = rx.changed() => if changed.is_err() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Level;

    #[test]
    fn the_line_shows_the_level_the_rate_given_and_no_zero_latency() {
        let mut snap = Snapshot::empty(&[("f".into(), "s".into())]);
        snap.elapsed = Duration::from_secs(3);
        snap.total.requests = 120;
        snap.live.level = Some(Level::Vus(7));
        let text = line(&snap, Some(Duration::from_secs(10)), Some(40.0));
        assert!(
            text.starts_with("   3s/10s · 7 VUs · 120 req · 40/s · p50 — · p99 —"),
            "{text}"
        );
    }
}
