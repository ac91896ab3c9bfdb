//! `Control`: how the outside (keys, signals, the duration timer) steers a running engine —
//! stop, abort, pause and resume, and live load level changes, each change logged.
//!
//! Workers consult it before every step, so the per-step checks are atomic loads; the mutexes
//! here are taken only on the rare changes themselves.
//!
//! A live level change by the user (`step_level`) meets the same limits as the plan did
//! before the run: at most `MAX_USERS` VUs, and only as many as the open-file limit holds
//! (raised up to the hard limit as the run's start does); the open model's rate at most
//! `MAX_LIVE_RATE`. A change past them goes to the limit, or is refused with a notice the
//! dashboard shows; it never reaches the engine.
//!
//! Around it, the steering from outside, each a task the wiring starts: `steer` applies the
//! user's live actions, `watch_signals` the stop signals, `judge` stops the run when an
//! `abort_on_fail` threshold breaks. `Control` also remembers who stopped the run: the user
//! (a key, a signal) makes it `interrupted`; the run's own end, a threshold or a data file
//! does not. Depends on `metrics` (levels, events; it is the ticker's `Steering`),
//! `scenario` (the plan, thresholds), `signals`, `fdlimit` and `out` (notes); never on the dashboard, whose
//! actions reach it as `Command`s.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

mod judge;
mod steer;

pub use steer::{Command, Helm, Outside};

use crate::fdlimit;
use crate::metrics::ticker::Steering;
use crate::metrics::{CapacityReport, Change, Level, LiveState, LoadEvent};
use crate::scenario::{MAX_USERS, Model, Plan, Target};

/// The highest open-model rate a live change reaches (arrivals per second): far past what
/// one machine sends, and low enough that the pacer never spins planning arrivals it can
/// only drop.
pub const MAX_LIVE_RATE: f64 = 1_000_000.0;

/// How long a refused change's notice stays on the dashboard.
const NOTICE_FOR: Duration = Duration::from_secs(4);

/// The open files a closed-model level needs: per user, and those the run holds besides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileBudget {
    /// Descriptors per user (its connection; two when the demo service runs in-process).
    pub per_user: u64,
    /// Descriptors the run holds besides its users' (the runtimes' own).
    pub besides: u64,
}

impl FileBudget {
    /// The open files a run of `plan` needs: in-process, the demo service holds the other
    /// end of every connection; each of `runtimes` per-core runtimes holds a few descriptors
    /// of its own (its epoll, its wake-up event). The run's start and every live change
    /// check against it.
    pub fn of(plan: &Plan, runtimes: u64) -> Self {
        FileBudget {
            per_user: if plan.target == Target::Demo { 2 } else { 1 },
            besides: 3 * runtimes,
        }
    }

    /// Raises the open-file limit for `connections` before the run. The closed model cannot
    /// start without them (`Err`); the open model goes on, warned, and arrivals past the
    /// limit fail as error class `connect`.
    pub fn make_room(&self, connections: u64, model: &Model) -> Result<(), String> {
        let files = connections.saturating_mul(self.per_user) + self.besides;
        match (fdlimit::make_room(files, connections), model) {
            (Ok(()), _) => Ok(()),
            (Err(why), Model::Closed { .. }) => Err(why),
            (Err(why), Model::Open { .. }) => {
                crate::note!(
                    "warning: {why}; arrivals past the limit fail as error class `connect`"
                );
                Ok(())
            }
        }
    }
}

impl Default for FileBudget {
    fn default() -> Self {
        Self {
            per_user: 1,
            besides: 0,
        }
    }
}

/// Steering of one run. Cloning shares the same state.
#[derive(Debug, Clone)]
pub struct Control {
    pub(super) stop: CancellationToken,
    pub(super) abort: CancellationToken,
    stopping: Arc<AtomicBool>,
    live: Arc<Live>,
}

#[derive(Debug)]
struct Live {
    started: Instant,
    paused: AtomicBool,
    resumed: Notify,
    level: watch::Sender<Level>,
    /// Set once the user changes the level by hand: stages stop steering from then on.
    manual: AtomicBool,
    /// Set when the user (a key, a signal) stops the run before its end (see `steer`).
    interrupted: AtomicBool,
    /// Set when the plan itself ended the run before its duration (a capacity search with
    /// its answer): arrivals due then are not sent, and not dropped either.
    planned_end: AtomicBool,
    files: FileBudget,
    book: Mutex<Book>,
}

/// The rarely written part: pause time and the event log.
#[derive(Debug, Default)]
struct Book {
    paused_total: Duration,
    paused_since: Option<Instant>,
    events: Vec<LoadEvent>,
    stop_reason: Option<String>,
    /// The last refused live change: when, and why.
    notice: Option<(Instant, String)>,
    /// A capacity search's progress (`engine::capacity`).
    capacity: Option<CapacityReport>,
}

impl Control {
    /// Steering for a run that started at `started` with load `level`.
    pub fn new(level: Level, started: Instant) -> Self {
        Self::with_budget(level, started, FileBudget::default())
    }

    /// Steering whose live VU changes must fit the open files of `files`.
    pub fn with_budget(level: Level, started: Instant, files: FileBudget) -> Self {
        Self {
            stop: CancellationToken::new(),
            abort: CancellationToken::new(),
            stopping: Arc::new(AtomicBool::new(false)),
            live: Arc::new(Live {
                started,
                paused: AtomicBool::new(false),
                resumed: Notify::new(),
                level: watch::Sender::new(level),
                manual: AtomicBool::new(false),
                interrupted: AtomicBool::new(false),
                planned_end: AtomicBool::new(false),
                files,
                book: Mutex::new(Book::default()),
            }),
        }
    }

    /// Soft stop: start no new iteration or step; in-flight requests may finish within the
    /// plan's graceful stop time.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.stop.cancel();
        // A paused run must not stay parked once it is told to stop.
        self.live.resumed.notify_waiters();
    }

    /// Soft stop because the plan is done (a capacity search has its answer): like the end
    /// of a duration, the arrivals due from now are not planned, rather than dropped.
    pub fn finish(&self) {
        self.live.planned_end.store(true, Ordering::Release);
        self.stop();
    }

    /// Whether the plan itself ended the run (`finish`).
    pub fn finished_by_plan(&self) -> bool {
        self.live.planned_end.load(Ordering::Acquire)
    }

    /// Soft stop for a reason the reports should give (e.g. a data file ran out).
    pub fn stop_because(&self, reason: String) {
        self.book().stop_reason.get_or_insert(reason);
        self.stop();
    }

    /// Why the run stopped early, if it was not the duration, the iterations or the user.
    pub fn stop_reason(&self) -> Option<String> {
        self.book().stop_reason.clone()
    }

    /// Hard stop: interrupt every in-flight request now (each is counted as interrupted).
    pub fn abort(&self) {
        self.stop();
        self.abort.cancel();
    }

    /// Whether a soft (or hard) stop was requested. An atomic load: the token's own
    /// `is_cancelled` takes a mutex that every worker would contend on.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// When the run started.
    pub fn started(&self) -> Instant {
        self.live.started
    }

    /// Whether sending is paused.
    pub fn is_paused(&self) -> bool {
        self.live.paused.load(Ordering::Acquire)
    }

    /// Pauses sending if running, resumes if paused.
    pub fn toggle_pause(&self) {
        let now = super::clock::now();
        let mut book = self.book();
        let change = match book.paused_since.take() {
            Some(since) => {
                book.paused_total += now - since;
                self.live.paused.store(false, Ordering::Release);
                self.live.resumed.notify_waiters();
                Change::Resume
            }
            None => {
                book.paused_since = Some(now);
                self.live.paused.store(true, Ordering::Release);
                Change::Pause
            }
        };
        book.events.push(self.event(now, change));
    }

    /// Time spent paused up to `now` (the current pause included).
    pub fn paused_for(&self, now: Instant) -> Duration {
        let book = self.book();
        book.paused_total
            + book
                .paused_since
                .map_or(Duration::ZERO, |s| now.saturating_duration_since(s))
    }

    /// Waits while the run is paused (returns at once if it is not, or once it stops).
    pub async fn wait_while_paused(&self) {
        while self.is_paused() && !self.is_stopping() {
            let resumed = self.live.resumed.notified();
            tokio::pin!(resumed);
            // Register before re-checking, so a resume in between is not missed.
            resumed.as_mut().enable();
            if !self.is_paused() || self.is_stopping() {
                return;
            }
            resumed.await;
        }
    }

    /// The load level asked for now.
    pub fn level(&self) -> Level {
        *self.live.level.borrow()
    }

    /// The user changes the load level live (logged as an event; ends any stages).
    pub fn set_level(&self, to: Level) {
        self.live.manual.store(true, Ordering::Release);
        let from = self.level();
        if from == to {
            return;
        }
        self.live.level.send_replace(to);
        let now = super::clock::now();
        let event = self.event(now, Change::Level { from, to });
        self.book().events.push(event);
    }

    /// The user's key: one step more (`up`) or less load, within the limits (see the module
    /// doc). A step past a limit goes to it; at the limit, the change is refused, and the
    /// notice (`notice`) says why. Returns the level now asked for.
    pub fn step_level(&self, up: bool) -> Level {
        let from = self.level();
        match self.within_limits(from, from.stepped(up)) {
            Ok(to) => self.set_level(to),
            Err(why) => self.book().notice = Some((super::clock::now(), why)),
        }
        self.level()
    }

    /// `to`, or the nearest level towards it that the limits allow; `Err` when that is no
    /// higher than `from`.
    fn within_limits(&self, from: Level, to: Level) -> Result<Level, String> {
        match (from, to) {
            (Level::Vus(from), Level::Vus(to)) if to > from => {
                let files = self.live.files;
                let fit = fdlimit::most_connections(files.per_user, files.besides);
                let most = fit.map_or(MAX_USERS, |n| n.min(MAX_USERS));
                let to = to.min(most);
                if to <= from {
                    return Err(match fit {
                        Some(n) if n < MAX_USERS => format!(
                            "+ refused: {from} VUs is all the open-file limit holds ({n}; \
                             raise `ulimit -n` before the run for more)"
                        ),
                        _ => format!("+ refused: {MAX_USERS} VUs is stampede's limit"),
                    });
                }
                let needed = to.saturating_mul(files.per_user) + files.besides;
                fdlimit::make_room(needed, to).map_err(|why| format!("+ refused: {why}"))?;
                Ok(Level::Vus(to))
            }
            (Level::Rate(from), Level::Rate(to)) if to > from => {
                if from >= MAX_LIVE_RATE {
                    return Err(format!("+ refused: {MAX_LIVE_RATE}/s is the live limit"));
                }
                Ok(Level::Rate(to.min(MAX_LIVE_RATE)))
            }
            _ => Ok(to),
        }
    }

    /// Why the last live change was refused, if that was within the last few seconds of
    /// `now` (for the dashboard's footer).
    pub fn notice(&self, now: Instant) -> Option<String> {
        let book = self.book();
        let (at, why) = book.notice.as_ref()?;
        (now.saturating_duration_since(*at) < NOTICE_FOR).then(|| why.clone())
    }

    /// Stages move the level (not logged: a ramp would flood the log).
    pub fn follow(&self, to: Level) {
        self.live.level.send_if_modified(|l| {
            let changed = *l != to;
            *l = to;
            changed
        });
    }

    /// A capacity search's progress, for the displays and the reports.
    pub fn report_capacity(&self, report: CapacityReport) {
        self.book().capacity = Some(report);
    }

    /// Whether the user has changed the level by hand.
    pub fn is_manual(&self) -> bool {
        self.live.manual.load(Ordering::Acquire)
    }

    /// Follows level changes (for the load model drivers).
    pub fn watch_level(&self) -> watch::Receiver<Level> {
        self.live.level.subscribe()
    }

    /// Every live change so far, in order.
    pub fn events(&self) -> Vec<LoadEvent> {
        self.book().events.clone()
    }

    fn event(&self, at: Instant, change: Change) -> LoadEvent {
        LoadEvent {
            at: at.saturating_duration_since(self.live.started),
            change,
        }
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        self.live.book.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Steering for Control {
    fn started(&self) -> Instant {
        Control::started(self)
    }

    fn is_stopping(&self) -> bool {
        Control::is_stopping(self)
    }

    fn paused_for(&self, now: Instant) -> Duration {
        Control::paused_for(self, now)
    }

    fn live(&self, now: Instant, paused_for: Duration) -> LiveState {
        LiveState {
            level: Some(self.level()),
            planned: None,
            paused: self.is_paused(),
            paused_for,
            events: self.events(),
            stop_reason: self.stop_reason(),
            notice: self.notice(now),
            capacity: self.book().capacity.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plans_own_end_is_a_stop_that_says_so() {
        let c = Control::new(Level::Rate(10.0), Instant::now());
        c.stop();
        assert!(c.is_stopping() && !c.finished_by_plan());
        let c = Control::new(Level::Rate(10.0), Instant::now());
        c.finish();
        assert!(c.is_stopping() && c.finished_by_plan());
        assert!(!c.was_interrupted());
    }

    #[tokio::test]
    async fn pause_resume_and_level_changes_are_logged() {
        let c = Control::new(Level::Vus(10), Instant::now());
        c.toggle_pause();
        assert!(c.is_paused());
        c.set_level(Level::Vus(11));
        c.toggle_pause();
        assert!(!c.is_paused());
        c.wait_while_paused().await;
        let changes: Vec<Change> = c.events().iter().map(|e| e.change).collect();
        assert_eq!(
            changes,
            vec![
                Change::Pause,
                Change::Level {
                    from: Level::Vus(10),
                    to: Level::Vus(11)
                },
                Change::Resume
            ]
        );
        assert_eq!(c.level(), Level::Vus(11));
    }

    #[tokio::test(start_paused = true)]
    async fn stop_releases_a_paused_waiter() {
        let c = Control::new(Level::Rate(5.0), Instant::now());
        c.toggle_pause();
        let waiter = tokio::spawn({
            let c = c.clone();
            async move { c.wait_while_paused().await }
        });
        // A minute of paused time: a paused run's waiter is still parked, not let through.
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!waiter.is_finished(), "a paused waiter waits");
        c.stop();
        // Paused time runs ahead when every task waits: without the stop's wake-up this
        // times out at once instead of hanging.
        tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .expect("released by the stop")
            .expect("joined");
    }

    #[tokio::test]
    async fn live_changes_stop_at_the_user_cap_and_the_open_file_budget() {
        // 150 presses of + from 4 VUs: 10 % a press would reach millions.
        let c = Control::new(Level::Vus(4), Instant::now());
        for _ in 0..150 {
            c.step_level(true);
        }
        let fit = fdlimit::most_connections(1, 0).map_or(MAX_USERS, |n| n.min(MAX_USERS));
        assert_eq!(c.level(), Level::Vus(fit));
        let why = c.notice(Instant::now()).expect("a refusal is noticed");
        assert!(why.starts_with("+ refused: "), "{why}");
        assert!(
            c.notice(Instant::now() + NOTICE_FOR).is_none(),
            "notices fade"
        );
        // Down again works at once.
        assert!(matches!(c.step_level(false), Level::Vus(v) if v < fit));

        // Four descriptors a user: a quarter as many users.
        let heavy = FileBudget {
            per_user: 4,
            besides: 0,
        };
        let c = Control::with_budget(Level::Vus(4), Instant::now(), heavy);
        for _ in 0..150 {
            c.step_level(true);
        }
        let fit = fdlimit::most_connections(4, 0).map_or(MAX_USERS, |n| n.min(MAX_USERS));
        assert_eq!(c.level(), Level::Vus(fit));

        let c = Control::new(Level::Rate(100.0), Instant::now());
        for _ in 0..300 {
            c.step_level(true);
        }
        assert_eq!(c.level(), Level::Rate(MAX_LIVE_RATE));
        assert!(c.notice(Instant::now()).is_some());
    }
}
