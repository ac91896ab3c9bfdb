//! The load engine: turns a `Plan` into requests over a `Transport` and records each outcome.
//!
//! One worker loop (`worker::run_iteration`) executes a flow's steps, each through the one
//! step executor (`executor::send_step`); the load model only decides when iterations start
//! (`crowd`: virtual users back to back; `arrivals`: arrivals at planned instants). Stopping
//! is a value passed in (`Control`): a soft stop ends new work, a hard stop interrupts what is
//! in flight. `workload` binds the plan to a target, `step` holds each step ready to send and
//! judge, `user` each virtual user's state (variables, data rows, cookies); `ramp` turns
//! stages into levels and arrival instants; `setup` runs the setup flow before the clock
//! starts, through the same executor under a policy that stops at the first failure. Depends
//! on `scenario` (the plan) and `metrics` (the recorder).

mod backoff;
pub mod capacity;
mod clock;
mod control;
mod pacer;
mod ramp;
mod threads;
mod transport;
mod worker;
mod workload;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio_util::task::TaskTracker;

pub use control::{Command, Control, FileBudget, Helm, MAX_LIVE_RATE, Outside};
pub use ramp::Ramp;
pub use threads::{Workers, default_threads};
pub use transport::{
    Accepted, ClientOptions, Connections, Failure, FastTransport, H2Transport, Keep, Prepared,
    Reply, ReqwestTransport, Transport, Wire, fetch, preflight, tls,
};
pub use user::User;
pub use workload::Workload;

use crate::metrics::Level;
use crate::metrics::Recorder;
use crate::scenario::{Model, Shard};

// The prepared step and the virtual user it is sent as; the worker loop and the two load
// models that start it.
mod arrivals;
mod attempt;
mod crowd;
mod executor;
mod setup_policy;
mod step;
mod user;

use arrivals::PacerPlace;
use executor::send_step;
use setup_policy::Setup;
use worker::{Running, Shared, lock};

/// The load level a plan (or shard `shard` of it) starts at: a shard runs its share of the
/// VUs; the open model's rate stays the plan's, since each shard takes its own arrivals of
/// the plan's schedule (`arrivals`).
pub fn initial_level(model: &Model, shard: Shard) -> Level {
    match *model {
        Model::Closed { vus } => Level::Vus(shard.share(vus)),
        Model::Open { rate, .. } => Level::Rate(rate),
    }
}

/// Runs the setup flow once, if the plan has one, and makes what it extracts visible to
/// every user; returns those values, by name (for the other shards of a split plan).
/// Setup requests are not part of the run's figures. `Err` names the step that failed and
/// why: the run must not start.
pub async fn setup<T: Transport>(
    work: &mut Workload,
    transport: &T,
) -> Result<Vec<(String, String)>, String> {
    let Some(flow) = &work.setup else {
        return Ok(Vec::new());
    };
    let mut user = work.user(0, fastrand::u64(..));
    let mut session = T::Session::default();
    let globals = &work.globals;
    for step in &flow.steps {
        send_step(
            transport,
            &mut session,
            globals,
            step,
            &mut user,
            &mut Setup,
        )
        .await?;
    }
    let vars = user.into_vars();
    let mut values: Vec<(String, String)> = vars.clone().into_iter().collect();
    values.sort();
    work.publish(vars);
    Ok(values)
}

/// Runs the workload until its stop condition, a stop signal, or the end of its iterations;
/// returns when every request has ended (completed, failed or interrupted).
pub async fn run<T: Transport>(
    work: Arc<Workload>,
    transport: Arc<T>,
    recorder: Recorder,
    control: Control,
    started: Instant,
    runtimes: &[Handle],
) {
    let place = PacerPlace::Apart;
    run_placed(work, transport, recorder, control, started, runtimes, place).await;
}

/// `run`, with the open model's pacer where `place` says.
async fn run_placed<T: Transport>(
    work: Arc<Workload>,
    transport: Arc<T>,
    recorder: Recorder,
    control: Control,
    started: Instant,
    runtimes: &[Handle],
    place: PacerPlace,
) {
    let shared = Arc::new(Shared::new(
        work,
        transport,
        recorder,
        control.clone(),
        runtimes.len(),
    ));
    let load = shared.work.load.clone();
    let shard = shared.work.shard;
    let stages = follow_stages(&load, shard, &control, started);
    let ramp = stage_ramp(&load);
    let watchdog = async {
        let deadline = load.duration.map(|d| started + d);
        tokio::select! {
            () = sleep_until_opt(deadline) => control.stop(),
            () = control.stop.cancelled() => {}
        }
        tokio::time::sleep(load.graceful_stop).await;
        control.abort();
        std::future::pending::<()>().await;
    };
    let drive = drive(shared, started, runtimes, place);
    tokio::select! {
        () = drive => {}
        () = watchdog => {}
        () = stages => {}
    }
    // The run may end between two stage ticks: report the level it ended at.
    if let Some((ramp, closed)) = ramp
        && !control.is_manual()
    {
        control.follow(level_at(
            &ramp,
            (closed, shard),
            &control,
            started,
            clock::now(),
        ));
    }
}

/// Runs the load model until it ends, then waits for every started iteration; a hard stop
/// interrupts those still running.
async fn drive<T: Transport>(
    shared: Arc<Shared<T>>,
    started: Instant,
    runtimes: &[Handle],
    place: PacerPlace,
) {
    let tracker = TaskTracker::new();
    let running = Arc::new(Mutex::new(Running::default()));
    match shared.work.load.model {
        Model::Closed { .. } => crowd::crowd(&shared, &tracker, runtimes, &running).await,
        Model::Open { max_in_flight, .. } => {
            // A shard's part of the cap, at least one (the cap guards, it is not load).
            let max_in_flight = shared.work.shard.share(max_in_flight).max(1);
            let start = arrivals::Start {
                tracker: tracker.clone(),
                runtimes: runtimes.to_vec(),
                running: Arc::clone(&running),
            };
            arrivals::pace(Arc::clone(&shared), start, started, max_in_flight, place).await;
        }
    }
    tracker.close();
    tokio::select! {
        () = tracker.wait() => {}
        () = shared.control.abort.cancelled() => {
            lock(&running).abort_all();
            tracker.wait().await;
        }
    }
}

/// The ramp of a staged load, and whether it counts VUs (closed) or a rate.
fn stage_ramp(load: &crate::scenario::Load) -> Option<(Ramp, bool)> {
    if load.stages.is_empty() {
        return None;
    }
    let (start, closed) = match load.model {
        Model::Closed { vus } => (vus as f64, true),
        Model::Open { rate, .. } => (rate, false),
    };
    Some((Ramp::new(start, &load.stages), closed))
}

/// The stages' level at `now`; pausing holds the stages where they were (the pacer shifts
/// its ramp the same way). A shard runs its share of the plan's VUs at that moment, so the
/// shards' levels add up to the plan's at every moment.
fn level_at(
    ramp: &Ramp,
    (closed, shard): (bool, Shard),
    control: &Control,
    started: Instant,
    now: Instant,
) -> Level {
    let t = (now - started).saturating_sub(control.paused_for(now));
    let level = ramp.level_at(t.as_secs_f64());
    if closed {
        Level::Vus(shard.share(level.round() as u64))
    } else {
        Level::Rate((level * 10.0).round() / 10.0)
    }
}

/// How often stages move the shown level (and the closed model's VUs).
const STAGE_TICK: Duration = Duration::from_millis(100);

/// Moves the level along the stages until they end, the run stops, or the user takes over
/// with a live change. The closed model adds and retires users as it moves; the open model's
/// pacer plans from the ramp itself, so here its level is only what the dashboard shows.
async fn follow_stages(
    load: &crate::scenario::Load,
    shard: Shard,
    control: &Control,
    started: Instant,
) {
    if let Some((ramp, closed)) = stage_ramp(load) {
        let end: Duration = load.stages.iter().map(|s| s.duration).sum();
        let mut tick = tokio::time::interval(STAGE_TICK);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = control.stop.cancelled() => break,
            }
            if control.is_manual() {
                break;
            }
            let now = clock::now();
            control.follow(level_at(&ramp, (closed, shard), control, started, now));
            if (now - started).saturating_sub(control.paused_for(now)) > end {
                break;
            }
        }
    }
    std::future::pending().await
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::{Aggregator, Phase, Snapshot};
    use crate::scenario::{Overrides, parse};

    /// The closed model's stages, split over N shards: at every moment the shards' VUs add
    /// up to the plan's, and a shard's share never differs from another's by more than one.
    #[test]
    fn the_shards_levels_add_up_to_the_plans_at_every_moment_of_the_stages() {
        use crate::scenario::Stage;
        let stages = [
            Stage {
                duration: Duration::from_secs(10),
                target: 37.0,
            },
            Stage {
                duration: Duration::from_secs(5),
                target: 37.0,
            },
            Stage {
                duration: Duration::from_secs(10),
                target: 3.0,
            },
        ];
        let ramp = Ramp::new(0.0, &stages);
        let started = Instant::now();
        let control = Control::new(Level::Vus(0), started);
        let vus = |l: Level| match l {
            Level::Vus(n) => n,
            Level::Rate(_) => u64::MAX,
        };
        for count in 1..=8 {
            for tenth in 0..=260 {
                let now = started + Duration::from_millis(100 * tenth);
                let whole = vus(level_at(
                    &ramp,
                    (true, Shard::WHOLE),
                    &control,
                    started,
                    now,
                ));
                let shares: Vec<u64> = (0..count)
                    .map(|index| {
                        let shard = Shard { index, count };
                        vus(level_at(&ramp, (true, shard), &control, started, now))
                    })
                    .collect();
                assert_eq!(
                    shares.iter().sum::<u64>(),
                    whole,
                    "N={count} at {tenth}/10 s"
                );
                let (lo, hi) = (shares.iter().min(), shares.iter().max());
                assert!(hi.zip(lo).is_some_and(|(h, l)| h - l <= 1), "{shares:?}");
            }
        }
    }

    /// Answers every request with 200 after a fixed delay.
    struct Slow(Duration);

    impl Transport for Slow {
        type Session = ();

        async fn send(&self, _: &mut (), _req: &Prepared) -> Result<Reply, Failure> {
            tokio::time::sleep(self.0).await;
            Ok(Reply {
                status: 200,
                bytes: 2,
                ..Reply::default()
            })
        }
    }

    async fn run_fake(load: &str, steps: &str, delay: Duration) -> (Snapshot, Duration) {
        run_steered(load, steps, delay, |_| async {}).await
    }

    /// Runs a plan against `Slow(delay)` while `steer` acts on its `Control`, all of it on
    /// the test's runtime (the open model's pacer too, so that a paused clock paces it).
    async fn run_steered<F: std::future::Future<Output = ()> + Send + 'static>(
        load: &str,
        steps: &str,
        delay: Duration,
        steer: impl FnOnce(Control) -> F,
    ) -> (Snapshot, Duration) {
        let here = [tokio::runtime::Handle::current()];
        run_on(load, steps, delay, steer, &here, PacerPlace::Here).await
    }

    /// `run_steered`, with the load on `runtimes` and the pacer where `place` says.
    async fn run_on<F: std::future::Future<Output = ()> + Send + 'static>(
        load: &str,
        steps: &str,
        delay: Duration,
        steer: impl FnOnce(Control) -> F,
        runtimes: &[tokio::runtime::Handle],
        place: PacerPlace,
    ) -> (Snapshot, Duration) {
        let text =
            format!("target: http://127.0.0.1:9\nload: {load}\nflows:\n  - steps: {steps}\n");
        let no_env = |_: &str| None;
        let plan =
            parse(&text, "test.yaml", "test", &no_env, &Overrides::default()).expect("valid plan");
        let work = Arc::new(Workload::prepare(&plan, "http://127.0.0.1:9").expect("prepare"));
        let recorder = Recorder::new(plan.step_count(), Duration::from_secs(60));
        let names = plan
            .steps()
            .map(|(f, s)| (f.name.clone(), s.name.clone()))
            .collect();
        let started = clock::now();
        let mut agg = Aggregator::new(recorder.clone(), names, started);
        let control = Control::new(initial_level(&plan.load.model, plan.shard()), started);
        let steering = tokio::spawn(steer(control.clone()));
        let slow = Arc::new(Slow(delay));
        run_placed(work, slow, recorder, control, started, runtimes, place).await;
        steering.abort();
        let took = clock::now() - started;
        (agg.tick(clock::now(), took, Phase::Finished), took)
    }

    // The engine's tests run on a paused clock: virtual time moves only when every task
    // waits on a timer, so the counts are exact, and a 30 s request takes no real time. The
    // open model's pacer runs on the test's runtime then (`PacerPlace::Here`), not on its
    // thread and clock (a run's); two tests below need real time, and say why.

    #[tokio::test(start_paused = true)]
    async fn raising_vus_live_adds_users() {
        let steer = |c: Control| async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            c.set_level(
                c.level()
                    .stepped(true)
                    .stepped(true)
                    .stepped(true)
                    .stepped(true),
            );
        };
        let delay = Duration::from_millis(50);
        let (snap, took) =
            run_steered("{ vus: 2, duration: 1s }", "[ { get: / } ]", delay, steer).await;
        // 2 users × 20 requests over 1 s, and 4 more users from 0.3 s: 4 × 14 more.
        assert_eq!(snap.total.requests, 2 * 20 + 4 * 14);
        assert_eq!(took, Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn pause_stops_sending_until_resumed() {
        let steer = |c: Control| async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            c.toggle_pause();
            tokio::time::sleep(Duration::from_millis(600)).await;
            c.toggle_pause();
        };
        let delay = Duration::from_millis(20);
        let (snap, _) =
            run_steered("{ vus: 2, duration: 1s }", "[ { get: / } ]", delay, steer).await;
        // 0.2 s before the pause and 0.2 s after it, at 2 × 50/s: 40 requests (100 unpaused).
        assert_eq!(snap.total.requests, 40);
    }

    #[tokio::test(start_paused = true)]
    async fn raising_the_rate_live_adds_arrivals() {
        let steer = |c: Control| async move {
            tokio::time::sleep(Duration::from_millis(510)).await;
            c.set_level(Level::Rate(100.0));
        };
        let delay = Duration::from_millis(1);
        let (snap, took) = run_steered(
            "{ rate: 20/s, duration: 1s }",
            "[ { get: / } ]",
            delay,
            steer,
        )
        .await;
        // 20/s from 0 to 500 ms (11 arrivals), then 100/s from the change at 510 ms to the
        // end at 1 s (49 more: 510, 520, …, 990 ms).
        assert_eq!(snap.total.requests, 11 + 49);
        assert_eq!(snap.dropped, 0);
        // The schedule ended with the arrival at 990 ms, whose 1 ms request ended the run.
        assert_eq!(took, Duration::from_millis(991));
    }

    #[tokio::test(start_paused = true)]
    async fn closed_model_runs_exactly_the_iterations() {
        let steps = "[ { get: /a }, { get: /b } ]";
        let (snap, took) = run_fake(
            "{ vus: 7, iterations: 100 }",
            steps,
            Duration::from_millis(1),
        )
        .await;
        assert_eq!(snap.steps[0].requests, 100);
        assert_eq!(snap.steps[1].requests, 100);
        assert_eq!(snap.in_flight, 0);
        // 100 iterations over 7 users: 15 rounds of two 1 ms steps.
        assert_eq!(took, Duration::from_millis(30));
    }

    #[tokio::test(start_paused = true)]
    async fn stages_add_and_retire_users_on_time() {
        // 0 → 10 users over 1 s, then down to 0 over 1 s; each request takes 100 ms.
        let load = "{ vus: 0, stages: [ { duration: 1s, vus: 10 }, { duration: 1s, vus: 0 } ] }";
        let (snap, took) = run_fake(load, "[ { get: / } ]", Duration::from_millis(100)).await;
        // Up to 10 users, 5 on average, for 2 s at 10 requests/s each: 100, give or take
        // the 100 ms stage ticks' rounding and which of two simultaneous events `select!`
        // sees first (it picks at random) as users retire.
        let n = snap.total.requests;
        assert!((98..=110).contains(&n), "{n}");
        assert_eq!(snap.total.interrupted, 0);
        assert_eq!(took, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn open_model_drops_arrivals_beyond_max_in_flight() {
        let load = "{ rate: 1000/s, iterations: 200, max_in_flight: 10 }";
        let (snap, took) = run_fake(load, "[ { get: / } ]", Duration::from_millis(800)).await;
        // 200 arrivals over 0.2 s; each takes 0.8 s, so only the first 10 can start.
        assert_eq!(snap.total.requests, 10);
        assert_eq!(snap.dropped, 190);
        // The tenth started at 9 ms.
        assert_eq!(took, Duration::from_millis(809));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_model_latency_counts_from_the_planned_instant() {
        // Real time, with the pacer on its own thread as in a run: the subject is the gap
        // between an arrival's planned instant and its send, which a paused clock never
        // opens (every task runs at the instant it is due). The load's only runtime is
        // blocked for its first 200 ms, so the arrivals planned then are sent late: their
        // latency counts that wait, their service time does not.
        let workers = Workers::per_core(1).await.expect("a load thread");
        workers.handles()[0].spawn(async { std::thread::sleep(Duration::from_millis(200)) });
        let load = "{ rate: 50/s, iterations: 20 }";
        let delay = Duration::from_millis(30);
        let idle = |_| async {};
        let apart = PacerPlace::Apart;
        let (snap, _) = run_on(
            load,
            "[ { get: / } ]",
            delay,
            idle,
            workers.handles(),
            apart,
        )
        .await;
        let s = &snap.total;
        assert_eq!(s.requests, 20);
        assert!(s.latency.min >= 30_000, "{:?}", s.latency);
        assert!(s.latency.max >= 200_000, "{:?}", s.latency);
        assert!(s.service.max < 200_000, "{:?}", s.service);
    }

    #[tokio::test(start_paused = true)]
    async fn hard_stop_counts_cut_off_requests_as_interrupted() {
        let load = "{ vus: 3, duration: 100ms, graceful_stop: 200ms }";
        let (snap, took) = run_fake(load, "[ { get: / } ]", Duration::from_secs(30)).await;
        assert_eq!(snap.total.interrupted, 3);
        assert_eq!(snap.total.requests, 0);
        assert_eq!(snap.in_flight, 0);
        // Stopped at 100 ms, interrupted 200 ms later: not 30 s.
        assert_eq!(took, Duration::from_millis(300));
    }

    #[tokio::test(start_paused = true)]
    async fn hard_stop_interrupts_open_model_arrivals() {
        let load = "{ rate: 100/s, duration: 200ms, graceful_stop: 100ms }";
        let (snap, took) = run_fake(load, "[ { get: / } ]", Duration::from_secs(30)).await;
        // 20 arrivals (0, 10, …, 190 ms), all started, all cut off by the hard stop.
        let s = &snap.total;
        assert_eq!(s.requests, 0);
        assert_eq!(s.interrupted, 20);
        assert_eq!(snap.dropped, 0);
        assert_eq!(snap.in_flight, 0);
        assert_eq!(took, Duration::from_millis(300));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn arrivals_a_hard_stop_ends_before_they_start_are_counted_as_dropped() {
        // The load's only runtime is blocked until well after the hard stop (at 300 ms): the
        // 20 arrivals queued on it never start, and each must still be counted. Real time:
        // the load runs on a runtime of its own (whose clock a test cannot pause), blocked
        // by a real sleep.
        let workers = Workers::per_core(1).await.expect("a load thread");
        workers.handles()[0].spawn(async { std::thread::sleep(Duration::from_millis(800)) });
        let load = "{ rate: 100/s, duration: 200ms, graceful_stop: 100ms }";
        let slow = Duration::from_secs(30);
        let idle = |_| async {};
        let apart = PacerPlace::Apart;
        let (snap, _) = run_on(load, "[ { get: / } ]", slow, idle, workers.handles(), apart).await;
        assert_eq!(snap.total.requests, 0);
        assert_eq!(snap.total.interrupted, 0);
        assert_eq!(snap.dropped, 20);
        assert_eq!(snap.in_flight, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn graceful_stop_lets_in_flight_requests_finish() {
        let load = "{ vus: 3, duration: 100ms, graceful_stop: 5s }";
        let (snap, took) = run_fake(load, "[ { get: / } ]", Duration::from_millis(300)).await;
        assert_eq!(snap.total.interrupted, 0);
        assert_eq!(snap.total.requests, 3);
        assert_eq!(took, Duration::from_millis(300));
    }
}
