//! The histograms of a run: the settings every one of them shares (so any two can be added),
//! and a step's lazily made figures beyond latency and service time.
//!
//! Depends on nothing in the crate. Invariant: every histogram here is made by
//! `latency_histogram`, records µs and auto-resizes, so recording a clamped value and adding
//! two histograms cannot fail.

use std::time::Duration;

use hdrhistogram::Histogram;

/// An empty histogram of values in µs to 3 significant figures, from 1 µs. It starts small
/// (1 ..= 2,047 µs exact to the µs, 16 KiB) and grows as larger values arrive, so a step costs
/// what its latencies need, not the full range of the request timeout (139 KiB for 60 s).
/// Every histogram of a run has these settings, so any two can be added.
pub fn latency_histogram() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, 2, 3).expect("bounds 1..=2 with 3 figures are valid");
    h.auto(true);
    h
}

/// Adds `from` into `into`; both auto-resize, so adding cannot fail.
pub(super) fn add_into(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    let _ = into.add(from);
}

/// A duration in whole µs, at least 1 (the histograms' lowest value).
pub(super) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// A per-step figure with a histogram of its own, beyond the latency and the service time
/// (which `StepInterval` keeps, the service time sharing the latency's until they differ).
///
/// A new per-step histogram (a server time, an overhead, a phase of the exchange) is a
/// variant here, a recording method and an accessor on `StepInterval`, and its summary in
/// the aggregator's `step_stats`: adding, clearing and the memory budget come with `Figures`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Figure {
    /// Open model, first step of an iteration: its actual send minus its planned start.
    SendLag,
    /// The time the server says it spent (`X-Process-Time`, `Server-Timing`).
    ServerTime,
    /// The service time minus the server's time: the network, queueing, parsing and the
    /// framework's work outside the server's own timer.
    Overhead,
    /// A new connection's name resolution (see `phases`).
    Dns,
    /// A new connection's TCP connect.
    Connect,
    /// A new connection's TLS handshake.
    Tls,
    /// Writing the request.
    Write,
    /// From the request written to the response's first byte.
    Ttfb,
    /// From the first byte to the end of the body.
    Download,
}

impl Figure {
    /// Every figure, in index order.
    const ALL: [Figure; 9] = [
        Figure::SendLag,
        Figure::ServerTime,
        Figure::Overhead,
        Figure::Dns,
        Figure::Connect,
        Figure::Tls,
        Figure::Write,
        Figure::Ttfb,
        Figure::Download,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// One histogram per `Figure`, each made when its figure is first recorded (a step that
/// never records one pays a pointer for it) and kept, reset, from then on.
#[derive(Debug, Clone, Default)]
pub(super) struct Figures([Option<Histogram<u64>>; Figure::ALL.len()]);

impl Figures {
    /// Records `us` (already clamped to the run's highest value) as `figure`.
    pub(super) fn record(&mut self, figure: Figure, us: u64) {
        let _ = self.0[figure.index()]
            .get_or_insert_with(latency_histogram)
            .record(us);
    }

    /// The histogram of `figure`, if it was ever recorded.
    pub(super) fn get(&self, figure: Figure) -> Option<&Histogram<u64>> {
        self.0[figure.index()].as_ref()
    }

    /// Adds every figure of `other` into this one's.
    pub(super) fn add(&mut self, other: &Figures) {
        for (mine, theirs) in self.0.iter_mut().zip(&other.0) {
            if let Some(theirs) = theirs {
                add_into(mine.get_or_insert_with(latency_histogram), theirs);
            }
        }
    }

    /// Empties every histogram, keeping its allocation.
    pub(super) fn reset(&mut self) {
        for h in self.0.iter_mut().flatten() {
            h.reset();
        }
    }
}
