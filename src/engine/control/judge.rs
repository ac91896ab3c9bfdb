//! The abort judge: `abort_on_fail` thresholds read tick by tick, stopping the run
//! gracefully, with the reason, at the first that fails once its delay has passed.
//!
//! Depends on `Control` (its parent), `scenario` (the thresholds) and `metrics` (the
//! snapshots). Invariant: only a threshold marked `abort_on_fail` stops a run, never before
//! its `delay`, and never for want of data (a threshold with no figure yet may still pass);
//! the judge stops at most once and leaves a run that is already stopping alone.

use std::sync::Arc;

use tokio::sync::watch;

use super::Control;
use crate::metrics::Snapshot;
use crate::scenario::Threshold;

/// Watches the run's snapshots and stops the run at the first `abort_on_fail` threshold of
/// `thresholds` that fails once its delay has passed.
pub(super) async fn abort_on_fail(
    mut rx: watch::Receiver<Arc<Snapshot>>,
    thresholds: Vec<Threshold>,
    control: Control,
) {
    let watched: Vec<_> = thresholds.into_iter().filter(|t| t.abort_on_fail).collect();
    if watched.is_empty() {
        return;
    }
    while rx.changed().await.is_ok() {
        let snap = Arc::clone(&rx.borrow_and_update());
        if control.is_stopping() {
            return;
        }
        if let Some(reason) = breach(&watched, &snap) {
            control.stop_because(reason);
            return;
        }
    }
}

/// Why the run must stop on `snap`: the first of `watched` that fails after its delay.
fn breach(watched: &[Threshold], snap: &Snapshot) -> Option<String> {
    watched.iter().find_map(|t| {
        if snap.elapsed < t.delay {
            return None;
        }
        let value = t.observe(snap);
        // No data yet is not a failure to stop for: it may come.
        (value.is_some() && !t.passes(value)).then(|| {
            format!(
                "threshold {} failed (observed {}) and has abort_on_fail",
                t.text,
                t.show(value)
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::metrics::Level;

    fn threshold(text: &str, abort_on_fail: bool, delay: Duration) -> Threshold {
        let mut t = Threshold::parse(text, &[]).expect("a threshold");
        t.abort_on_fail = abort_on_fail;
        t.delay = delay;
        t
    }

    /// A tick at `elapsed` with `errors` of 100 requests failed (none: no data).
    fn tick(elapsed: Duration, errors: Option<u64>) -> Arc<Snapshot> {
        let mut snap = Snapshot::empty(&[]);
        snap.elapsed = elapsed;
        if let Some(errors) = errors {
            snap.total.requests = 100;
            snap.total.errors = errors;
        }
        Arc::new(snap)
    }

    /// Sends `snap` and lets the judge (on this one-thread runtime) read it.
    async fn show(tx: &watch::Sender<Arc<Snapshot>>, snap: Arc<Snapshot>) {
        tx.send_replace(snap);
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn an_abort_on_fail_threshold_stops_the_run_once_its_delay_has_passed() {
        let c = Control::new(Level::Vus(1), Instant::now());
        let (tx, rx) = watch::channel(tick(Duration::ZERO, None));
        let judged = vec![threshold("error_rate < 1%", true, Duration::from_secs(10))];
        let judge = tokio::spawn(abort_on_fail(rx, judged, c.clone()));
        show(&tx, tick(Duration::from_secs(2), None)).await;
        show(&tx, tick(Duration::from_secs(5), Some(50))).await;
        assert!(
            !c.is_stopping(),
            "failing within its delay is not yet a reason"
        );
        show(&tx, tick(Duration::from_secs(10), Some(0))).await;
        assert!(!c.is_stopping(), "holding after its delay");
        show(&tx, tick(Duration::from_secs(11), Some(50))).await;
        assert!(c.is_stopping());
        assert!(!c.was_interrupted(), "the run stopped itself");
        assert_eq!(
            c.stop_reason().as_deref(),
            Some("threshold error_rate < 1% failed (observed 50.00%) and has abort_on_fail")
        );
        assert!(judge.is_finished(), "the judge stops once");
    }

    #[tokio::test]
    async fn a_failing_threshold_without_abort_on_fail_never_stops_the_run() {
        let c = Control::new(Level::Vus(1), Instant::now());
        let (tx, rx) = watch::channel(tick(Duration::ZERO, None));
        let judged = vec![threshold("error_rate < 1%", false, Duration::ZERO)];
        let judge = tokio::spawn(abort_on_fail(rx, judged, c.clone()));
        show(&tx, tick(Duration::from_secs(3), Some(100))).await;
        assert!(!c.is_stopping());
        assert!(judge.is_finished(), "nothing to watch: it leaves at once");
    }

    #[test]
    fn no_data_is_no_breach_and_the_first_failing_threshold_is_named() {
        let watched = [
            threshold("p99 < 200ms", true, Duration::ZERO),
            threshold("error_rate < 1%", true, Duration::ZERO),
        ];
        let quiet = tick(Duration::from_secs(1), None);
        assert_eq!(breach(&watched, &quiet), None);
        let failing = tick(Duration::from_secs(1), Some(3));
        let why = breach(&watched, &failing).expect("a breach");
        assert!(why.starts_with("threshold error_rate < 1% failed"), "{why}");
    }

    #[tokio::test]
    async fn a_run_already_stopping_is_left_alone() {
        let c = Control::new(Level::Vus(1), Instant::now());
        let (tx, rx) = watch::channel(tick(Duration::ZERO, None));
        let judged = vec![threshold("error_rate < 1%", true, Duration::ZERO)];
        let judge = tokio::spawn(abort_on_fail(rx, judged, c.clone()));
        c.stop();
        show(&tx, tick(Duration::from_secs(1), Some(50))).await;
        assert_eq!(c.stop_reason(), None);
        assert!(judge.is_finished());
    }
}
