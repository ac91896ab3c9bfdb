//! One run from plan to exit code, in order: open the outputs and read the baseline (anything
//! that can refuse the run does so before the load), start the target (the demo service, if
//! asked) and reach it, pick the transport, run the setup flow, then the load with its tick,
//! its display and its steering, and finally the reports.
//!
//! Part of the composition root: it orders the calls, each concern lives in its layer — the
//! outputs, baseline, reports and exit code in `report`, the tick in `metrics::ticker`, live
//! actions, signals and `abort_on_fail` in `engine::control`. Depends on `cli` (the option
//! types), `demo`, `engine`, `metrics`, `prom`, `report`, `scenario`, `signals`, `tui`,
//! `progress` and `out`; nothing depends on it but `run`, the command layer above it.

mod display;
mod parts;
mod shards;
mod verbose;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

pub use display::Display;
pub use shards::Distributed;

use crate::cli::{RuntimeShape, TransportChoice};
use crate::demo::DemoServer;
use crate::engine::{
    self, Control, FastTransport, FileBudget, H2Transport, Helm, Outside, ReqwestTransport,
    Transport, Workers, Workload,
};
use crate::metrics::Snapshot;
use crate::metrics::ticker::Ticker;
use crate::prom::{Bound, MetricsServer};
use crate::report::shards::Shards;
use crate::report::{Ending, OutputPaths, Outputs, RunInfo, SavedRun, exit};
use crate::scenario::Plan;
use crate::signals::StopSignals;
use crate::tui::Action;
use display::{Shown, show};
use parts::{aggregator, bind_metrics, client_options, recorder, start_target};
use verbose::Printer;

/// What a run produces besides the summary on stdout, and how it runs.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// The files the run writes (`--json`, `--junit`, `--csv`, `--hdr-log`, `--html`).
    pub outputs: OutputPaths,
    /// Where to serve live Prometheus metrics.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// How long the metrics endpoint keeps serving the final figures after the run.
    pub metrics_linger: Duration,
    /// A saved result to compare the run with.
    pub baseline: Option<PathBuf>,
    /// The relative change that counts against the baseline.
    pub tolerance: f64,
    /// No summary at the end.
    pub quiet: bool,
    /// The summary shows the phases table.
    pub phases: bool,
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
    /// `-v`: print failure samples as they happen (headless only).
    pub verbose: bool,
    /// A shard's part in a split run: the common start, who runs setup.
    pub distributed: Distributed,
}

/// How long the metrics endpoint serves the final figures after a run, by default: a few
/// scrapes at the 1 s interval a load test's Prometheus uses (`--metrics-linger`).
pub const METRICS_LINGER: Duration = Duration::from_secs(5);

/// The longest the preflight waits for the target's name, connection and handshake.
const PREFLIGHT_LIMIT: Duration = Duration::from_secs(10);

/// Runs a plan to its end, prints the summary, writes the reports; returns the exit code.
pub async fn run_plan(plan: Plan, opts: &SessionOptions) -> Result<u8, String> {
    // Every output is opened first: one that cannot be written stops the run here, as does
    // a baseline that cannot be read (exit 2 before the load, not after it).
    let outputs = opts.outputs.open(opts.quiet)?;
    let role = shards::setup_role(&plan, &opts.distributed)?;
    let baseline = opts.baseline.as_deref().map(SavedRun::read).transpose()?;
    let metrics = match opts.metrics_listen {
        Some(addr) => Some(bind_metrics(addr).await?),
        None => None,
    };
    let client = client_options(&plan);
    FileBudget::of(&plan, runtimes(opts)).make_room(client.connections as u64, &plan.load.model)?;
    let mut signals = StopSignals::register();
    let (demo, base) = start_target(&plan.target).await?;
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
        outputs,
        metrics,
        baseline,
        role,
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

/// What a run holds besides its plan and workload, from before the load to its reports.
struct Ends {
    signals: StopSignals,
    /// The demo service it started, if any.
    demo: Option<DemoServer>,
    /// The target's base URL.
    base: String,
    outputs: Outputs,
    /// The live metrics endpoint, bound; it serves from the first snapshot.
    metrics: Option<Bound>,
    /// `--baseline`, read.
    baseline: Option<SavedRun>,
    /// Who runs setup (a split plan may run it in shard 0 alone).
    role: shards::SetupRole,
}

/// The run proper, on the chosen transport: the setup flow, the load, the reports.
async fn run_with<T: Transport>(
    transport: Arc<T>,
    mut work: Workload,
    plan: &Plan,
    opts: &SessionOptions,
    mut ends: Ends,
) -> Result<u8, String> {
    if !run_setup(transport.as_ref(), &mut work, plan, opts, &mut ends).await?
        || !start_together(&opts.distributed, &mut ends.signals).await
    {
        if let Some(server) = ends.demo {
            server.stop().await;
        }
        return Ok(exit::INTERRUPTED);
    }
    let Ends {
        signals,
        demo,
        base,
        outputs,
        metrics,
        baseline,
        role: _,
    } = ends;
    let shown = Shown {
        base: &base,
        baseline: baseline.as_ref().and_then(SavedRun::latency_lines),
    };
    let ran = load(
        transport,
        work,
        plan,
        opts,
        (signals, outputs, metrics),
        shown,
    )
    .await?;
    if let Some(server) = demo {
        server.stop().await;
    }
    let mut info = RunInfo::of(
        plan,
        &base,
        &ran.snapshot,
        ran.started_at,
        ran.duration,
        ran.ending,
        ran.connections,
    );
    info.phases = opts.phases;
    info.shards = (plan.shard.as_ref()).map(|s| {
        let starts = (opts.distributed.start_at, ran.started_at);
        let id = (
            s.shard,
            s.fingerprint.as_str(),
            opts.distributed.run_id.clone(),
        );
        Shards::one(id, starts, ran.snapshot.total.requests)
    });
    if let Some(saved) = baseline {
        info.baseline = Some(saved.compare(&info, &ran.snapshot, opts.tolerance)?);
    }
    let code = ran.outputs.finish(&info, &ran.snapshot);
    if opts.distributed.log_result {
        shards::log_result(&crate::report::to_json(&info, &ran.snapshot))?;
    }
    if let Some(server) = ran.metrics {
        // After a Ctrl-C the user wants out: no lingering then.
        if code != exit::INTERRUPTED {
            linger(&server, opts.metrics_linger).await;
        }
        server.stop().await;
    }
    Ok(code)
}

/// Serves the final figures a while longer (`--metrics-linger`), so that Prometheus scrapes
/// the run's last interval; a signal ends the wait at once.
async fn linger(server: &MetricsServer, time: Duration) {
    if time.is_zero() {
        return;
    }
    let mut signals = StopSignals::register();
    crate::note!(
        "serving the final metrics at http://{}/metrics for {} more (--metrics-linger; Ctrl-C ends it)",
        server.addr,
        humantime::format_duration(time)
    );
    tokio::select! {
        () = tokio::time::sleep(time) => {}
        () = signals.recv() => {}
    }
}

/// Runs the setup flow, or takes its values from shard 0 (`setup: { once: true }`);
/// `Ok(false)`: a signal came first (no load was sent).
async fn run_setup<T: Transport>(
    transport: &T,
    work: &mut Workload,
    plan: &Plan,
    opts: &SessionOptions,
    ends: &mut Ends,
) -> Result<bool, String> {
    let Some(setup) = &plan.setup else {
        return Ok(true);
    };
    let d = &opts.distributed;
    if let shards::SetupRole::Receive(path) = &ends.role {
        crate::note!(
            "setup \"{}\": waiting for shard 0's values at {}",
            setup.name,
            path.display()
        );
        let Some(values) = shards::receive_setup(path, plan, d, &mut ends.signals).await? else {
            crate::note!("interrupted while waiting for setup's values: no load was sent");
            return Ok(false);
        };
        crate::note!(
            "setup \"{}\": {} value(s) from shard 0",
            setup.name,
            values.len()
        );
        work.adopt_setup(values);
        return Ok(true);
    }
    let values = tokio::select! {
        done = engine::setup(work, transport) => done?,
        () = ends.signals.recv() => {
            crate::note!("interrupted during setup \"{}\": no load was sent", setup.name);
            return Ok(false);
        }
    };
    crate::note!("setup \"{}\": {} step(s) ok", setup.name, setup.steps.len());
    if let shards::SetupRole::Share(path) = &ends.role {
        shards::write_setup(path, plan, d, values)?;
    }
    Ok(true)
}

/// `--start-at`: waits for the instant every shard starts at; `false`: a signal came first.
async fn start_together(d: &Distributed, signals: &mut StopSignals) -> bool {
    match d.start_at {
        Some(at) => {
            let started = shards::wait_until(at, signals).await;
            if !started {
                crate::note!("interrupted while waiting for --start-at: no load was sent");
            }
            started
        }
        None => true,
    }
}

/// What the load leaves for the reports.
struct Ran {
    snapshot: Snapshot,
    outputs: Outputs,
    metrics: Option<MetricsServer>,
    started_at: SystemTime,
    duration: Duration,
    ending: Ending,
    connections: Option<engine::Connections>,
}

/// The load: the engine with its tick, its steering (keys, signals, `abort_on_fail`) and its
/// display, until the run has ended and been shown.
async fn load<T: Transport>(
    transport: Arc<T>,
    work: Workload,
    plan: &Plan,
    opts: &SessionOptions,
    (signals, outputs, metrics): (StopSignals, Outputs, Option<Bound>),
    shown: Shown<'_>,
) -> Result<Ran, String> {
    let (recorder, tapped) = recorder(plan, opts.verbose && opts.display == Display::Headless);
    let workers = match opts.shape {
        RuntimeShape::PerCore => Workers::per_core(opts.threads).await?,
        RuntimeShape::Shared => Workers::shared(),
    };
    let (started, started_at) = (Instant::now(), SystemTime::now());
    let level = engine::initial_level(&plan.load.model, plan.shard());
    let control = Control::with_budget(level, started, FileBudget::of(plan, runtimes(opts)));
    let names = plan.step_names();
    let (tx, rx) = watch::channel(Arc::new(Snapshot::empty(&names)));
    let (act_tx, act_rx) = mpsc::unbounded_channel::<Action>();
    let leave = CancellationToken::new();
    let helm = Helm::start(
        &control,
        Outside {
            signals,
            leave: leave.clone(),
            quiet: opts.display != Display::Headless, // no stray text over the dashboard
            actions: act_rx,
            snapshots: rx.clone(),
            thresholds: plan.thresholds.clone(),
        },
    );
    let metrics = metrics.map(|bound| bound.serve(rx.clone()));
    let search = (plan.load.capacity.clone()).map(|spec| {
        let high = recorder.high_us();
        engine::capacity::Driver::new(spec, control.clone(), recorder.clone(), names.clone(), high)
    });
    let agg = aggregator(plan, recorder.clone(), names, started);
    let (steering, planned) = (control.clone(), plan.load.duration);
    let (end_tx, end_rx) = oneshot::channel();
    let listeners = (outputs, search);
    let ticker = tokio::spawn(Ticker::new(agg, tx, steering, planned, listeners).run(end_rx));
    let display = show(opts.display, rx, act_tx, leave, plan, shown);
    let printer = tapped.map(|t| Printer::start(t, plan, started));

    let connections = Arc::clone(&transport);
    let (work, runtimes) = (Arc::new(work), workers.handles());
    engine::run(
        work,
        transport,
        recorder,
        control.clone(),
        started,
        runtimes,
    )
    .await;
    drop(workers);
    let ended = Instant::now();
    let _ = end_tx.send(ended);
    let (snapshot, (outputs, _)) = ticker
        .await
        .map_err(|e| format!("the metrics task failed: {e}"))?;
    Printer::finish(printer).await;
    // The dashboard stays on the final snapshot until the user leaves it.
    let _ = display.await;
    helm.stop();
    let ending = match control.was_interrupted() {
        true => Ending::Interrupted,
        false => Ending::Completed,
    };
    Ok(Ran {
        snapshot,
        outputs,
        metrics,
        started_at,
        duration: ended - started,
        ending,
        connections: connections.connections(),
    })
}

/// The per-core runtimes a run starts (each holds open files of its own).
fn runtimes(opts: &SessionOptions) -> u64 {
    match opts.shape {
        RuntimeShape::PerCore => opts.threads as u64,
        RuntimeShape::Shared => 0,
    }
}
