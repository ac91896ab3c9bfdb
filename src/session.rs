//! One run from plan to report: start the target (the demo service, if asked), build the
//! transport and recorder, run the engine with its tick task and a display (dashboard or
//! headless progress), apply the user's live actions and signals, then print the summary and
//! write the JSON report. Part of the composition root: it wires, it does not measure.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cli::{RuntimeShape, TransportChoice};
use crate::demo::{DemoConfig, DemoServer};
use crate::engine::{
    self, ClientOptions, Control, FastTransport, FileBudget, H2Transport, ReqwestTransport,
    Transport, Workers, Workload,
};
use crate::fdlimit;
use crate::metrics::{
    Aggregator, CheckName, Level, LiveState, Phase, Recorder, Snapshot, TickState,
};
use crate::report::export::{self, Exporter, Sink};
use crate::report::{self, Ending, RunInfo, exit};
use crate::scenario::{Model, Plan, Target};
use crate::signals::StopSignals;
use crate::tui::{self, Action};

/// How often snapshots are taken.
pub const TICK: Duration = Duration::from_millis(250);

/// How the run is shown while it goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// A progress line per second on stderr.
    Headless,
    /// The interactive dashboard.
    Dashboard {
        /// Colours on or off.
        color: bool,
        /// Leave the dashboard as soon as the run ends.
        exit_on_end: bool,
    },
}

/// What a run produces besides the summary on stdout.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Where to write the JSON report (`-`: stdout).
    pub json: Option<PathBuf>,
    /// Where to write the JUnit report.
    pub junit: Option<PathBuf>,
    /// Where to stream the time series as CSV.
    pub csv: Option<PathBuf>,
    /// Where to stream the HDR interval log.
    pub hdr_log: Option<PathBuf>,
    /// Where to write the HTML report.
    pub html: Option<PathBuf>,
    /// Where to serve live Prometheus metrics.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// A saved result to compare the run with.
    pub baseline: Option<PathBuf>,
    /// The relative change that counts against the baseline.
    pub tolerance: f64,
    /// No summary at the end.
    pub quiet: bool,
    /// Dashboard or headless.
    pub display: Display,
    /// Connect to the target before the load (unless the plan turns it off).
    pub preflight: bool,
    /// Which HTTP client sends the requests.
    pub transport: TransportChoice,
    /// Per-core runtimes or the shared one.
    pub shape: RuntimeShape,
    /// Worker threads for the load.
    pub threads: usize,
}

/// The longest the preflight waits for the target's name, connection and handshake.
const PREFLIGHT_LIMIT: Duration = Duration::from_secs(10);

/// Runs a plan to its end, prints the summary, writes the JSON report; returns the exit code.
pub async fn run_plan(plan: Plan, opts: &SessionOptions) -> Result<u8, String> {
    // Every output file is opened first: one that cannot be written stops the run here.
    type Make = fn(Sink) -> Box<dyn Exporter>;
    let outputs: [(&Option<PathBuf>, &str, &str, Make); 5] = [
        (&opts.json, "the JSON report", "--json", |s| {
            Box::new(export::Json(s))
        }),
        (&opts.junit, "the JUnit report", "--junit", |s| {
            Box::new(export::Junit(s))
        }),
        (&opts.csv, "the CSV time series", "--csv", |s| {
            Box::new(report::csv::Csv::new(s))
        }),
        (&opts.hdr_log, "the HDR interval log", "--hdr-log", |s| {
            Box::new(report::hdrlog::HdrLog::new(s))
        }),
        (&opts.html, "the HTML report", "--html", |s| {
            Box::new(report::html::Html(s))
        }),
    ];
    let named: Vec<(&str, &std::path::Path)> = outputs
        .iter()
        .filter_map(|(path, _, flag, _)| Some((*flag, path.as_deref()?)))
        .collect();
    export::check_places(&named)?;
    let mut exporters: Vec<Feed> = Vec::new();
    let mut summary_to_stderr = false;
    for (path, what, _, make) in outputs {
        let Some(path) = path else { continue };
        let sink = Sink::open(path, what)?;
        summary_to_stderr |= sink.is_stdout();
        exporters.push(Feed {
            exporter: make(sink),
            failed: None,
        });
    }
    // Read now: a baseline that cannot be read is exit 2 before the load, not after it.
    let baseline = match &opts.baseline {
        Some(path) => Some((path.display().to_string(), report::read_result(path)?)),
        None => None,
    };
    let metrics = match opts.metrics_listen {
        Some(addr) => {
            let bound = crate::prom::Bound::bind(addr).await?;
            if !bound.addr.ip().is_loopback() {
                crate::note!(
                    "warning: live metrics on {} are reachable from other machines",
                    bound.addr
                );
            }
            crate::note!("live metrics at http://{}/metrics", bound.addr);
            Some(bound)
        }
        None => None,
    };
    let summary = match (opts.quiet, summary_to_stderr) {
        (true, _) => SummaryTo::Nowhere,
        (false, true) => SummaryTo::Stderr,
        (false, false) => SummaryTo::Stdout,
    };
    let client = client_options(&plan);
    let budget = file_budget(&plan, opts);
    let connections = client.connections as u64;
    let files = connections.saturating_mul(budget.per_user) + budget.besides;
    if let Err(why) = fdlimit::make_room(files, connections) {
        match plan.load.model {
            Model::Closed { .. } => return Err(why),
            Model::Open { .. } => crate::note!(
                "warning: {why}; arrivals past the limit fail as error class `connect`"
            ),
        }
    }
    let mut signals = StopSignals::register();
    let (demo, base) = match &plan.target {
        Target::Demo => {
            let server = DemoServer::bind(([127, 0, 0, 1], 0).into(), DemoConfig::default())
                .await
                .map_err(|e| format!("cannot start the demo service: {e}"))?;
            let url = server.url();
            (Some(server), url)
        }
        Target::Url(u) => (None, u.clone()),
    };
    if let Some(server) = &demo {
        crate::note!("demo service listening on {}", server.url());
    }
    if demo.is_none() && opts.preflight && plan.preflight {
        let limit = plan.longest_timeout().min(PREFLIGHT_LIMIT);
        tokio::select! {
            reached = engine::preflight(&base, limit, &plan.tls, &plan.http) => reached?,
            () = signals.recv() => {
                crate::note!("interrupted while connecting to the target: no load was sent");
                return Ok(exit::INTERRUPTED);
            }
        }
    }
    let work = Workload::prepare(&plan, &base)?;
    let ends = Ends {
        signals,
        demo,
        base,
        exporters,
        summary,
        metrics,
        baseline,
    };
    if plan.http.version2 {
        // HTTP/2 has one transport, whichever --transport says.
        let transport = H2Transport::new(client.connect_timeout, &plan.tls, &plan.http)?;
        return run_with(Arc::new(transport), work, &plan, opts, ends).await;
    }
    match opts.transport {
        TransportChoice::Reqwest if plan.http.proxy.is_some() => Err(
            "--transport reqwest does not go through a proxy; leave --transport out to use one"
                .to_string(),
        ),
        TransportChoice::Fast => {
            let transport = FastTransport::new(client.connect_timeout, &plan.tls, &plan.http)?;
            run_with(Arc::new(transport), work, &plan, opts, ends).await
        }
        TransportChoice::Reqwest => {
            let transport = ReqwestTransport::new(client)?;
            run_with(Arc::new(transport), work, &plan, opts, ends).await
        }
    }
}

/// What a run holds besides its plan and workload: the signals, the demo service it
/// started (if any), the target's base URL.
struct Ends {
    signals: StopSignals,
    demo: Option<DemoServer>,
    base: String,
    exporters: Vec<Feed>,
    summary: SummaryTo,
    /// The live metrics endpoint, bound; it serves from the first snapshot.
    metrics: Option<crate::prom::Bound>,
    /// `--baseline`: its name and the saved result.
    baseline: Option<(String, serde_json::Value)>,
}

/// Where the text summary goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SummaryTo {
    Stdout,
    /// Standard output carries a report (`--json -`).
    Stderr,
    /// `--quiet`.
    Nowhere,
}

/// The run proper, on the chosen transport: setup, the load, the reports.
async fn run_with<T: Transport>(
    transport: Arc<T>,
    mut work: Workload,
    plan: &Plan,
    opts: &SessionOptions,
    ends: Ends,
) -> Result<u8, String> {
    let Ends {
        mut signals,
        demo,
        base,
        exporters,
        summary,
        metrics,
        baseline,
    } = ends;
    if let Some(setup) = &plan.setup {
        tokio::select! {
            done = engine::setup(&mut work, transport.as_ref()) => done?,
            () = signals.recv() => {
                crate::note!("interrupted during setup \"{}\": no load was sent", setup.name);
                if let Some(server) = demo {
                    server.stop().await;
                }
                return Ok(exit::INTERRUPTED);
            }
        }
        crate::note!("setup \"{}\": {} step(s) ok", setup.name, setup.steps.len());
    }
    let work = Arc::new(work);
    let highest =
        (plan.longest_timeout() * 2 + plan.load.graceful_stop).max(Duration::from_secs(60));
    let recorder = Recorder::new(plan.step_count(), highest).with_flows(plan.flows.len());
    let names: Vec<(String, String)> = plan
        .steps()
        .map(|(f, s)| (f.name.clone(), s.name.clone()))
        .collect();

    let workers = match opts.shape {
        RuntimeShape::PerCore => Workers::per_core(opts.threads).await?,
        RuntimeShape::Shared => Workers::shared(),
    };
    let started = Instant::now();
    let started_at = SystemTime::now();
    let level = engine::initial_level(&plan.load.model);
    let control = Control::with_budget(level, started, file_budget(plan, opts));
    let interrupted = Arc::new(AtomicBool::new(false));
    let leave = CancellationToken::new();
    let quiet = opts.display != Display::Headless; // no stray text over the dashboard
    let signal_task = watch_signals(
        signals,
        control.clone(),
        Arc::clone(&interrupted),
        leave.clone(),
        quiet,
    );
    let signals = tokio::spawn(signal_task);
    let (tx, rx) = watch::channel(Arc::new(Snapshot::empty(&names)));
    let (end_tx, end_rx) = oneshot::channel();
    let metrics = metrics.map(|bound| bound.serve(rx.clone()));
    let checks = plan
        .steps()
        .map(|(_, s)| {
            let check = |c: &crate::scenario::Check| CheckName {
                name: c.name.clone(),
                reads_body: c.kind.needs_body(),
            };
            s.expect.checks.iter().map(check).collect()
        })
        .collect();
    let aggregator = Aggregator::new(recorder.clone(), names, started)
        .with_checks(checks)
        .with_flows(plan.flows.iter().map(|f| f.name.clone()).collect())
        .with_redactor(plan.redactor.clone());
    let ticker = tokio::spawn(tick(
        aggregator,
        tx,
        control.clone(),
        plan.load.duration,
        end_rx,
        exporters,
    ));
    let (act_tx, act_rx) = mpsc::unbounded_channel();
    let steering = tokio::spawn(steer(act_rx, control.clone(), Arc::clone(&interrupted)));
    let guard = tokio::spawn(abort_on_fail(
        rx.clone(),
        plan.thresholds.clone(),
        control.clone(),
    ));
    let base_lines = baseline.as_ref().and_then(|(_, doc)| {
        let l = &doc["total"]["latency_ms"];
        Some([l["p50"].as_f64()?, l["p99"].as_f64()?])
    });
    let display = show(opts.display, rx, act_tx, leave, plan, &base, base_lines);

    let connections = Arc::clone(&transport);
    engine::run(
        work,
        transport,
        recorder,
        control,
        started,
        workers.handles(),
    )
    .await;
    drop(workers);
    let ended = Instant::now();
    let _ = end_tx.send(ended);
    let (snapshot, mut exporters) = ticker
        .await
        .map_err(|e| format!("the metrics task failed: {e}"))?;
    // The dashboard stays on the final snapshot until the user leaves it.
    let _ = display.await;
    steering.abort();
    signals.abort();
    guard.abort();
    if let Some(server) = demo {
        server.stop().await;
    }
    let ending = if interrupted.load(Ordering::Relaxed) {
        Ending::Interrupted
    } else {
        Ending::Completed
    };
    let mut info = RunInfo {
        scenario: plan.name.clone(),
        source: plan.source.clone(),
        target: plan.redactor.owned(&base),
        demo: plan.target == Target::Demo,
        load: plan.load.clone(),
        started_at,
        duration: ended - started,
        ending,
        verdicts: report::verdicts(&plan.thresholds, &snapshot),
        baseline: None,
        insecure: insecure_applies(plan, &base),
        connections: connections.connections(),
        proxy: plan.http.proxy.as_ref().map(proxy_summary),
    };
    if let Some((name, saved)) = baseline {
        // Compared as results, so a run and a saved file go through the same code.
        let this: serde_json::Value = serde_json::from_str(&report::to_json(&info, &snapshot))
            .map_err(|e| format!("cannot read this run's result back: {e}"))?;
        let comparison = report::compare::compare(&saved, &this, opts.tolerance);
        info.baseline = Some(report::Baseline { name, comparison });
    }
    let code = write_reports(&info, &snapshot, &mut exporters, summary);
    if let Some(server) = metrics {
        server.stop().await;
    }
    Ok(code)
}

/// `--insecure` is said only where it applies: an https target (or a step with an https
/// URL).
fn insecure_applies(plan: &Plan, base: &str) -> bool {
    plan.tls.insecure
        && (base.starts_with("https://")
            || plan
                .steps()
                .any(|(_, s)| s.url.absolute && s.url.text.starts_with("https://")))
}

/// The proxies as the summary names them (never their credentials).
fn proxy_summary(p: &crate::scenario::Proxies) -> String {
    let mut text = match (&p.http, &p.https) {
        (Some(a), Some(b)) if a == b => a.shown(),
        (Some(a), Some(b)) => format!("{} (http), {} (https)", a.shown(), b.shown()),
        (Some(a), None) => format!("{} (http only)", a.shown()),
        (None, Some(b)) => format!("{} (https only)", b.shown()),
        (None, None) => String::new(),
    };
    text.push_str(&format!(" from {}", p.source));
    if !p.bypass.is_empty() {
        text.push_str(&format!(", except {}", p.bypass.join(", ")));
    }
    text
}

/// The open files a run's users need: in-process, the demo service holds the other end of
/// every connection; each per-core runtime holds a few descriptors of its own (its epoll,
/// its wake-up event). The run's start and every live change check against it.
fn file_budget(plan: &Plan, opts: &SessionOptions) -> FileBudget {
    let runtimes = match opts.shape {
        RuntimeShape::PerCore => opts.threads as u64,
        RuntimeShape::Shared => 0,
    };
    FileBudget {
        per_user: if plan.target == Target::Demo { 2 } else { 1 },
        besides: 3 * runtimes,
    }
}

fn client_options(plan: &Plan) -> ClientOptions {
    let staged = plan
        .load
        .stages
        .iter()
        .map(|s| s.target.ceil() as u64)
        .max()
        .unwrap_or(0);
    let connections = match plan.load.model {
        Model::Closed { vus } => vus.max(staged),
        Model::Open { max_in_flight, .. } => max_in_flight,
    };
    // A user or arrival opens a connection only when it runs an iteration.
    let connections = plan
        .load
        .iterations
        .map_or(connections, |n| connections.min(n));
    ClientOptions {
        connections: usize::try_from(connections).unwrap_or(usize::MAX),
        connect_timeout: plan.longest_timeout(),
        tls: plan.tls.clone(),
    }
}

/// Starts the chosen display; it ends when the run has ended and been shown.
fn show(
    display: Display,
    rx: watch::Receiver<Arc<Snapshot>>,
    actions: mpsc::UnboundedSender<Action>,
    leave: CancellationToken,
    plan: &Plan,
    base: &str,
    baseline: Option<[f64; 2]>,
) -> JoinHandle<std::io::Result<()>> {
    match display {
        Display::Headless => {
            let planned = plan.load.duration;
            tokio::spawn(async move {
                crate::progress::print_lines(rx, planned).await;
                Ok(())
            })
        }
        Display::Dashboard { color, exit_on_end } => {
            let opts = tui::Options {
                scenario: plan.name.clone(),
                target: plan.redactor.owned(base),
                color,
                exit_on_end,
                baseline,
                insecure: insecure_applies(plan, base),
                graceful_stop: plan.load.graceful_stop,
            };
            let planned = plan.load.duration;
            tokio::spawn(async move {
                let result = tui::run(rx.clone(), actions, leave, opts).await;
                if let Err(e) = &result {
                    // The terminal is restored; show the rest of the run headless.
                    crate::note!("warning: the dashboard stopped ({e}); going on headless");
                    crate::progress::print_lines(rx, planned).await;
                }
                result
            })
        }
    }
}

/// Writes the files, then prints the summary; returns the exit code. Files come first: a
/// summary that cannot be printed (a closed pipe, a full disk) must not lose the result.
fn write_reports(
    info: &RunInfo,
    snapshot: &Snapshot,
    exporters: &mut [Feed],
    summary: SummaryTo,
) -> u8 {
    let mut code = match info.ending {
        Ending::Interrupted => exit::INTERRUPTED,
        Ending::Completed if info.verdicts.iter().any(|v| !v.passed) => exit::THRESHOLDS,
        Ending::Completed => exit::OK,
    };
    // A missing file or summary is the caller's to fix; an interrupted run still says so by
    // its exit code.
    let mut failed = |what: String| {
        crate::note!("error: {what}");
        if code == exit::OK {
            code = exit::USAGE;
        }
    };
    for feed in exporters.iter_mut() {
        let result = match feed.failed.take() {
            Some(e) => Err(e),
            None => feed.exporter.finish(info, snapshot),
        };
        if let Err(e) = result {
            failed(format!("cannot write {}: {e}", feed.exporter.describe()));
        }
    }
    let text = report::summary(info, snapshot);
    match summary {
        SummaryTo::Stdout => {
            if let Err(e) = crate::out::text(&text) {
                failed(format!("cannot write the summary to stdout: {e}"));
            }
        }
        SummaryTo::Stderr => crate::note!("{}", text.trim_end()),
        SummaryTo::Nowhere => {}
    }
    code
}

/// Applies the dashboard's actions to the engine.
async fn steer(
    mut actions: mpsc::UnboundedReceiver<Action>,
    control: Control,
    interrupted: Arc<AtomicBool>,
) {
    while let Some(action) = actions.recv().await {
        match action {
            Action::Stop => {
                // `q` during the run's own graceful stop does not make it an interruption.
                if !control.is_stopping() {
                    interrupted.store(true, Ordering::Relaxed);
                }
                control.stop();
            }
            Action::Abort => {
                // Cutting short a graceful stop the run began itself (its duration, a
                // threshold, a data file) keeps it completed, as a signal then does; a stop
                // the user asked for has already marked it interrupted.
                if !control.is_stopping() {
                    interrupted.store(true, Ordering::Relaxed);
                }
                control.abort();
            }
            Action::TogglePause => control.toggle_pause(),
            Action::Raise => _ = control.step_level(true),
            Action::Lower => _ = control.step_level(false),
        }
    }
}

/// Publishes a snapshot every `TICK` until the engine reports its end instant, then returns
/// the final snapshot (taken at that instant, so rates use the true run length, and carrying
/// the run's history). Each tick also extends the time series and feeds the exporters that
/// stream (a CSV row, an HDR log interval per tick); they come back with the snapshot.
async fn tick(
    mut agg: Aggregator,
    tx: watch::Sender<Arc<Snapshot>>,
    control: Control,
    planned: Option<Duration>,
    mut end: oneshot::Receiver<Instant>,
    mut exporters: Vec<Feed>,
) -> (Snapshot, Vec<Feed>) {
    let mut every = tokio::time::interval_at((control.started() + TICK).into(), TICK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ended = loop {
        tokio::select! {
            _ = every.tick() => {
                let phase = if control.is_stopping() { Phase::Stopping } else { Phase::Running };
                let snap = snapshot(&mut agg, &control, Instant::now(), phase, planned);
                stream(&mut exporters, &agg, &snap);
                tx.send_replace(Arc::new(snap));
            }
            ended = &mut end => break ended.unwrap_or_else(|_| Instant::now()),
        }
    };
    let mut last = snapshot(&mut agg, &control, ended, Phase::Finished, planned);
    stream(&mut exporters, &agg, &last);
    last.history = Some(Arc::new(agg.history()));
    tx.send_replace(Arc::new(last.clone()));
    (last, exporters)
}

/// An exporter and the first error it met while streaming (it is then fed no more ticks).
pub struct Feed {
    exporter: Box<dyn Exporter>,
    failed: Option<std::io::Error>,
}

fn stream(exporters: &mut [Feed], agg: &Aggregator, snap: &Snapshot) {
    let (steps, total) = agg.last_intervals();
    let tick = export::Tick {
        snap,
        steps: &steps,
        total,
    };
    for feed in exporters.iter_mut().filter(|f| f.failed.is_none()) {
        if let Err(e) = feed.exporter.tick(&tick) {
            feed.failed = Some(e);
        }
    }
}

/// Watches the run's figures, tick by tick, and stops the run (gracefully, with the reason)
/// at the first `abort_on_fail` threshold that fails once its delay has passed.
async fn abort_on_fail(
    mut rx: watch::Receiver<Arc<Snapshot>>,
    thresholds: Vec<crate::scenario::Threshold>,
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
        for t in &watched {
            if snap.elapsed < t.delay {
                continue;
            }
            let value = t.observe(&snap);
            // No data yet is not a failure to stop for: it may come.
            if value.is_some() && !t.passes(value) {
                control.stop_because(format!(
                    "threshold {} failed (observed {}) and has abort_on_fail",
                    t.text,
                    t.show(value)
                ));
                return;
            }
        }
    }
}

/// One tick, with the control's live state (rates exclude time paused).
fn snapshot(
    agg: &mut Aggregator,
    control: &Control,
    now: Instant,
    phase: Phase,
    planned: Option<Duration>,
) -> Snapshot {
    let paused_for = control.paused_for(now);
    let active = now
        .saturating_duration_since(control.started())
        .saturating_sub(paused_for);
    let mut snap = agg.tick(now, active, phase);
    let level = control.level();
    agg.extend_series(
        TickState {
            at: snap.elapsed,
            length: snap.total.interval.length,
            in_flight: snap.in_flight,
            level: Some(match level {
                Level::Vus(v) => v as f64,
                Level::Rate(r) => r,
            }),
            dropped: snap.dropped,
        },
        phase == Phase::Finished,
    );
    snap.live = LiveState {
        level: Some(level),
        planned,
        paused: control.is_paused(),
        paused_for,
        events: control.events(),
        stop_reason: control.stop_reason(),
        notice: control.notice(now),
    };
    snap
}

/// First stop signal (Ctrl-C, SIGTERM, SIGHUP): graceful stop, and the dashboard leaves once
/// the run ends. Second: interrupt in-flight requests. A signal that comes during the
/// graceful stop of a run that already reached its end interrupts what is in flight, but
/// the run stays `completed`: its load was all sent.
async fn watch_signals(
    mut signals: StopSignals,
    control: Control,
    interrupted: Arc<AtomicBool>,
    leave: CancellationToken,
    quiet: bool,
) {
    for n in 0.. {
        signals.recv().await;
        leave.cancel();
        if control.is_stopping() && !interrupted.load(Ordering::Relaxed) {
            control.abort();
            return;
        }
        interrupted.store(true, Ordering::Relaxed);
        if n == 0 {
            if !quiet {
                crate::note!(
                    "stopping: waiting for in-flight requests (signal again to interrupt them)"
                );
            }
            control.stop();
        } else {
            control.abort();
            return;
        }
    }
}
