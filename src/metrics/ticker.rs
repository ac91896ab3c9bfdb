//! The tick: every `TICK` the aggregator merges what the workers recorded into a `Snapshot`,
//! extends the time series, hands the tick to whoever streams it (the CSV and HDR log
//! exporters) and publishes the snapshot to the displays; at the engine's end instant it
//! takes the final snapshot, which carries the run's history.
//!
//! Depends on the rest of `metrics` and on tokio only. What it needs from the run's control
//! (start, pause time, load level, events) comes through the `Steering` trait, and where
//! ticks go through `Listener`, so that `metrics` stays below the `engine` and `report` that
//! implement them. Invariant: the final snapshot is taken at the instant the engine reports,
//! so rates use the true run length.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use super::{Aggregator, Level, LiveState, Phase, Snapshot, TickState};

/// How often snapshots are taken.
pub const TICK: Duration = Duration::from_millis(250);

/// What the tick reads from the run's steering (implemented by `engine::Control`).
pub trait Steering: Send + Sync + 'static {
    /// When the run started.
    fn started(&self) -> Instant;
    /// Whether the run is stopping (a soft or hard stop was asked for).
    fn is_stopping(&self) -> bool;
    /// Time spent paused up to `now`.
    fn paused_for(&self, now: Instant) -> Duration;
    /// The live state at `now` (level, pause, events, stop reason, notice), with
    /// `paused_for` as already read for this tick and no planned duration.
    fn live(&self, now: Instant, paused_for: Duration) -> LiveState;
}

/// Where each tick goes besides the displays: the exporters that stream.
pub trait Listener: Send + 'static {
    /// Takes one tick: the snapshot, and the aggregator whose last intervals it was made of.
    fn tick(&mut self, agg: &Aggregator, snap: &Snapshot);
}

/// Two listeners, each given every tick in turn (the outputs, then a capacity search).
impl<A: Listener, B: Listener> Listener for (A, B) {
    fn tick(&mut self, agg: &Aggregator, snap: &Snapshot) {
        self.0.tick(agg, snap);
        self.1.tick(agg, snap);
    }
}

/// A listener that may be absent.
impl<L: Listener> Listener for Option<L> {
    fn tick(&mut self, agg: &Aggregator, snap: &Snapshot) {
        if let Some(l) = self {
            l.tick(agg, snap);
        }
    }
}

/// The tick task of one run.
pub struct Ticker<S, L> {
    /// Merges the workers' recording.
    agg: Aggregator,
    /// Publishes each snapshot.
    tx: watch::Sender<Arc<Snapshot>>,
    /// The run's steering.
    steering: S,
    /// The planned duration, if any (for the progress bar).
    planned: Option<Duration>,
    /// The streaming outputs.
    listener: L,
}

impl<S: Steering, L: Listener> Ticker<S, L> {
    /// The tick of a run steered by `steering`, planned to last `planned`: it merges with
    /// `agg`, publishes on `tx` and streams to `listener`.
    pub fn new(
        agg: Aggregator,
        tx: watch::Sender<Arc<Snapshot>>,
        steering: S,
        planned: Option<Duration>,
        listener: L,
    ) -> Self {
        Self {
            agg,
            tx,
            steering,
            planned,
            listener,
        }
    }

    /// Publishes a snapshot every `TICK` until `end` brings the engine's end instant, then
    /// returns the final snapshot (taken at that instant, carrying the run's history) and
    /// the listener, which has seen every tick including the last.
    pub async fn run(mut self, mut end: oneshot::Receiver<Instant>) -> (Snapshot, L) {
        let started = self.steering.started();
        let mut every = tokio::time::interval_at((started + TICK).into(), TICK);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let ended = loop {
            tokio::select! {
                _ = every.tick() => {
                    let phase = if self.steering.is_stopping() {
                        Phase::Stopping
                    } else {
                        Phase::Running
                    };
                    let snap = self.snapshot(Instant::now(), phase);
                    self.listener.tick(&self.agg, &snap);
                    self.tx.send_replace(Arc::new(snap));
                }
                ended = &mut end => break ended.unwrap_or_else(|_| Instant::now()),
            }
        };
        let mut last = self.snapshot(ended, Phase::Finished);
        self.listener.tick(&self.agg, &last);
        last.history = Some(Arc::new(self.agg.history()));
        self.tx.send_replace(Arc::new(last.clone()));
        (last, self.listener)
    }

    /// One tick, with the steering's live state (rates exclude time paused).
    fn snapshot(&mut self, now: Instant, phase: Phase) -> Snapshot {
        let paused_for = self.steering.paused_for(now);
        let active = now
            .saturating_duration_since(self.steering.started())
            .saturating_sub(paused_for);
        let mut snap = self.agg.tick(now, active, phase);
        let live = LiveState {
            planned: self.planned,
            ..self.steering.live(now, paused_for)
        };
        self.agg.extend_series(
            TickState {
                at: snap.elapsed,
                length: snap.total.interval.length,
                in_flight: snap.in_flight,
                level: live.level.map(|level| match level {
                    Level::Vus(v) => v as f64,
                    Level::Rate(r) => r,
                }),
                dropped: snap.dropped,
            },
            phase == Phase::Finished,
        );
        snap.live = live;
        snap
    }
}
