//! `-v`: each failure's sample printed on stderr as it happens, for debugging a scenario —
//! at most `SAMPLES_PER_SECOND` a second (the recorder's tap lets no more through), and once
//! a second how many more failures were not shown, so that the counts add up to the run's
//! errors. Only headless: over the dashboard, text would garble the screen (there, `enter`
//! on an error group shows its latest sample).
//!
//! Part of the wiring: the engine never prints, so the samples come through the metrics'
//! tap (a bounded channel the workers never wait on) to this task, which words them with
//! `report::sample_lines`, redacted first with the plan's redactor. Depends on `metrics`,
//! `report`, `scenario` and `out`. Invariant: every failure is printed or counted in a
//! "more not shown" line, the last one printed when the run has ended.

use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::metrics::{SAMPLES_PER_SECOND, Tapped};
use crate::redact::Redactor;
use crate::report::sample_lines;
use crate::scenario::Plan;

/// The printer of a run's samples, running until `finish`.
pub(super) struct Printer {
    end: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// What the printer needs to word a sample.
struct Words {
    /// Each step's `flow / step`, by id.
    names: Vec<String>,
    redactor: Redactor,
    /// When the run started (a sample's time counts from there).
    started: Instant,
}

impl Printer {
    /// Starts printing what `tapped` receives, for `plan`'s run that started at `started`.
    pub(super) fn start(tapped: Tapped, plan: &Plan, started: Instant) -> Self {
        let words = Words {
            names: plan
                .step_names()
                .into_iter()
                .map(|(flow, step)| format!("{flow} / {step}"))
                .collect(),
            redactor: plan.redactor.clone(),
            started,
        };
        let (end, ended) = oneshot::channel();
        let task = tokio::spawn(print(tapped, words, ended));
        Self { end, task }
    }

    /// The run has ended (every request is recorded): prints what is left and the last
    /// count, and returns when that is done (at once without a printer).
    pub(super) async fn finish(printer: Option<Self>) {
        if let Some(printer) = printer {
            let _ = printer.end.send(());
            let _ = printer.task.await;
        }
    }
}

async fn print(mut tapped: Tapped, words: Words, mut ended: oneshot::Receiver<()>) {
    let second = Duration::from_secs(1);
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + second, second);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            got = tapped.rx.recv() => match got {
                Some((step, caught)) => words.show(step, &caught),
                None => break,
            },
            _ = every.tick() => not_shown(&tapped),
            _ = &mut ended => break,
        }
    }
    while let Ok((step, caught)) = tapped.rx.try_recv() {
        words.show(step, &caught);
    }
    not_shown(&tapped);
}

impl Words {
    fn show(&self, step: usize, caught: &crate::metrics::samples::Caught) {
        let name = self.names.get(step).map_or("?", String::as_str);
        let sample = caught.shown(&self.redactor, self.started);
        for line in sample_lines(name, &sample) {
            crate::note!("{line}");
        }
    }
}

/// Says how many failures were not shown since it last said, if any.
fn not_shown(tapped: &Tapped) {
    let n = tapped.take_skipped();
    if n > 0 {
        crate::note!(
            "… {n} more failure{} not shown (-v shows at most {SAMPLES_PER_SECOND} a second)",
            if n == 1 { "" } else { "s" }
        );
    }
}
