//! `-v`: failure samples handed out as they happen, for a printer to show, at most
//! `PER_SECOND` a second; the rest are counted (`Tapped::take_skipped`), never queued.
//!
//! The recorder offers every failure's sample to its `Tap` (if the run has one): the tap
//! lets one through when `1 / PER_SECOND` has passed since the last (an atomic read, and a
//! compare-and-swap when one is due), and `try_send`s it on a small bounded channel; a
//! sample not due, or one the channel has no room for, is counted. Depends on `samples` and
//! tokio's channel. Invariant: offering never blocks, never allocates for a sample it does
//! not let through, and every offered sample is either sent or counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::samples::Caught;

/// The most samples let through a second.
pub const PER_SECOND: u32 = 5;

/// Samples waiting for the printer, at most.
const ROOM: usize = 8;

/// The recorder's end of `-v`.
#[derive(Debug)]
pub struct Tap {
    tx: mpsc::Sender<(usize, Caught)>,
    /// Instants are counted from here (ns), so the next due instant fits an atomic.
    epoch: Instant,
    /// When the next sample may go through, ns after `epoch`.
    next: AtomicU64,
    skipped: Arc<AtomicU64>,
}

/// The printer's end of `-v`: the samples let through (with their step's id), and the
/// count of those that were not.
#[derive(Debug)]
pub struct Tapped {
    /// Samples let through, with their step's id.
    pub rx: mpsc::Receiver<(usize, Caught)>,
    skipped: Arc<AtomicU64>,
}

/// A tap and its printer's end, for a run that started at `epoch`.
pub fn tap(epoch: Instant) -> (Tap, Tapped) {
    let (tx, rx) = mpsc::channel(ROOM);
    let skipped = Arc::new(AtomicU64::new(0));
    let tap = Tap {
        tx,
        epoch,
        next: AtomicU64::new(0),
        skipped: Arc::clone(&skipped),
    };
    (tap, Tapped { rx, skipped })
}

impl Tap {
    /// Offers a failure's sample of step `step`: sent when one is due and the channel has
    /// room, counted otherwise. A success is never offered.
    pub fn offer(&self, step: usize, caught: &Caught) {
        if caught.class.is_none() {
            return;
        }
        if !self.due(caught.exchange.at) || self.tx.try_send((step, caught.clone())).is_err() {
            self.skipped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether a sample that ended at `at` may go through (and if so, the next is due
    /// `1 / PER_SECOND` later).
    fn due(&self, at: Instant) -> bool {
        let now =
            u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX);
        let next = self.next.load(Ordering::Relaxed);
        if now < next {
            return false;
        }
        let gap = Duration::from_secs(1) / PER_SECOND;
        let then = now.saturating_add(u64::try_from(gap.as_nanos()).unwrap_or(u64::MAX));
        self.next
            .compare_exchange(next, then, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}

impl Tapped {
    /// The failures not let through since the last call.
    pub fn take_skipped(&self) -> u64 {
        self.skipped.swap(0, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::ErrorClass;
    use crate::metrics::samples::Exchange;

    fn failure(at: Instant) -> Caught {
        Caught {
            class: Some(ErrorClass::Reset),
            status: None,
            message: "reset".into(),
            latency: Duration::from_millis(1),
            exchange: Exchange {
                method: reqwest::Method::GET,
                url: Some("http://h/".into()),
                request_headers: Default::default(),
                response: None,
                server_time: Default::default(),
                at,
                phases: Vec::new(),
            },
        }
    }

    #[test]
    fn at_most_five_a_second_go_through_and_the_rest_are_counted() {
        let t0 = Instant::now();
        let (tap, mut tapped) = tap(t0);
        // 10,000 failures a second for two seconds.
        let mut sent = 0;
        for i in 0..20_000u64 {
            tap.offer(0, &failure(t0 + Duration::from_micros(i * 100)));
            while tapped.rx.try_recv().is_ok() {
                sent += 1;
            }
        }
        assert_eq!(sent, 2 * u64::from(PER_SECOND));
        assert_eq!(
            sent + tapped.take_skipped(),
            20_000,
            "every one sent or counted"
        );
        assert_eq!(tapped.take_skipped(), 0);
    }

    #[test]
    fn a_full_channel_counts_instead_of_waiting() {
        let t0 = Instant::now();
        let (tap, tapped) = tap(t0);
        for s in 0..20u64 {
            tap.offer(0, &failure(t0 + Duration::from_secs(s)));
        }
        assert_eq!(tapped.rx.len(), ROOM);
        assert_eq!(tapped.take_skipped(), 20 - ROOM as u64);
    }
}
