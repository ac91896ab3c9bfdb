//! The composition root: turns a parsed command line into a plan, a target, a transport, an
//! engine run with its tick and progress display, and finally a report and an exit code.
//!
//! Every other module is testable alone; this one only wires them together.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{oneshot, watch};

use crate::cli::{Cli, Command, DemoArgs, RunArgs, ValidateArgs};
use crate::demo::{DemoConfig, DemoServer};
use crate::engine::{self, ClientOptions, Control, ReqwestTransport, Workload};
use crate::metrics::{Aggregator, Phase, Recorder, Snapshot};
use crate::report::{self, Ending, RunInfo};
use crate::scenario::{self, Model, Overrides, Plan, Target};

/// How often snapshots are taken.
pub const TICK: Duration = Duration::from_millis(250);

/// Exit status of a run whose report was printed (0), of bad input (2), of an interruption
/// (130). Code 1 is reserved for failed thresholds.
pub mod exit {
    /// Everything ran and held.
    pub const OK: u8 = 0;
    /// Bad usage, bad scenario, or an error before the run.
    pub const USAGE: u8 = 2;
    /// Stopped by Ctrl-C or SIGTERM.
    pub const INTERRUPTED: u8 = 130;
}

/// Executes a parsed command line.
pub fn execute(cli: Cli) -> ExitCode {
    let code = match cli.command {
        Command::Validate(args) => validate(&args),
        Command::Run(args) => run(&args),
        Command::Demo(args) => demo(&args),
    };
    ExitCode::from(code)
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

fn validate(args: &ValidateArgs) -> u8 {
    let mut failed = false;
    for file in &args.files {
        match scenario::load(file, &env_var, &Overrides::default()) {
            Ok(plan) => println!(
                "ok    {}: \"{}\", {} flow(s), {} step(s), {}",
                file.display(),
                plan.name,
                plan.flows.len(),
                plan.step_count(),
                plan.load.model
            ),
            Err(e) => {
                failed = true;
                eprintln!("error: {e}");
            }
        }
    }
    if failed { exit::USAGE } else { exit::OK }
}

fn demo(args: &DemoArgs) -> u8 {
    let result = runtime().and_then(|rt| {
        rt.block_on(async {
            let server = DemoServer::bind(args.listen, DemoConfig::default())
                .await
                .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
            eprintln!(
                "demo service listening on {} (Ctrl-C to stop)",
                server.url()
            );
            let _ = tokio::signal::ctrl_c().await;
            server.stop().await;
            Ok(())
        })
    });
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: {e}");
            exit::USAGE
        }
    }
}

fn overrides(args: &RunArgs) -> Result<Overrides, String> {
    let target = match &args.target {
        Some(t) => Some(scenario::parse_target(t).map_err(|e| format!("--target: {e}"))?),
        None => None,
    };
    Ok(Overrides {
        vus: args.vus,
        rate: args.rate,
        max_in_flight: args.max_in_flight,
        duration: args.duration,
        iterations: args.iterations,
        target,
    })
}

fn plan_of(args: &RunArgs) -> Result<Plan, String> {
    let ov = overrides(args)?;
    let plan = match (&args.file, &args.url) {
        (Some(file), _) => scenario::load(file, &env_var, &ov),
        (None, Some(url)) => scenario::ad_hoc(url, &args.method, &env_var, &ov),
        (None, None) => return Err("give a scenario file or --url".into()),
    };
    plan.map_err(|e| e.to_string())
}

fn run(args: &RunArgs) -> u8 {
    let plan = match plan_of(args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let outcome = runtime().and_then(|rt| rt.block_on(run_plan(plan, args.json.as_deref())));
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            exit::USAGE
        }
    }
}

/// Runs a plan to its end, prints the summary, writes the JSON report; returns the exit code.
async fn run_plan(plan: Plan, json: Option<&Path>) -> Result<u8, String> {
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
        eprintln!("demo service listening on {}", server.url());
    }
    let work = Arc::new(Workload::prepare(&plan, &base)?);
    let connections = match plan.load.model {
        Model::Closed { vus } => vus,
        Model::Open { max_in_flight, .. } => max_in_flight,
    };
    let transport = Arc::new(ReqwestTransport::new(ClientOptions {
        connections: usize::try_from(connections).unwrap_or(usize::MAX),
        connect_timeout: plan.longest_timeout(),
    })?);
    let highest =
        (plan.longest_timeout() * 2 + plan.load.graceful_stop).max(Duration::from_secs(60));
    let recorder = Recorder::new(plan.step_count(), highest);
    let names: Vec<(String, String)> = plan
        .steps()
        .map(|(f, s)| (f.name.clone(), s.name.clone()))
        .collect();
    let started = Instant::now();
    let control = Control::new(engine::initial_level(&plan.load.model), started);
    let interrupted = Arc::new(AtomicBool::new(false));
    let signals = tokio::spawn(watch_signals(control.clone(), Arc::clone(&interrupted)));

    let started_at = SystemTime::now();
    let (tx, rx) = watch::channel(Arc::new(Snapshot::empty(&names)));
    let (end_tx, end_rx) = oneshot::channel();
    let aggregator = Aggregator::new(recorder.clone(), names, started);
    let ticker = tokio::spawn(tick(aggregator, tx, control.clone(), started, end_rx));
    let progress = tokio::spawn(crate::progress::print_lines(rx, plan.load.duration));

    engine::run(work, transport, recorder, control, started).await;
    let ended = Instant::now();
    let _ = end_tx.send(ended);
    let snapshot = ticker
        .await
        .map_err(|e| format!("the metrics task failed: {e}"))?;
    progress.abort();
    signals.abort();
    if let Some(server) = demo {
        server.stop().await;
    }

    let ending = if interrupted.load(Ordering::Relaxed) {
        Ending::Interrupted
    } else {
        Ending::Completed
    };
    let info = RunInfo {
        scenario: plan.name.clone(),
        source: plan.source.clone(),
        target: base,
        demo: plan.target == Target::Demo,
        load: plan.load.clone(),
        started_at,
        duration: ended - started,
        ending,
    };
    print!("{}", report::summary(&info, &snapshot));
    let code = match ending {
        Ending::Completed => exit::OK,
        Ending::Interrupted => exit::INTERRUPTED,
    };
    if let Some(path) = json
        && let Err(e) = std::fs::write(path, report::to_json(&info, &snapshot))
    {
        // The summary is printed; the missing file is the caller's to fix (an interrupted
        // run still says so by its exit code).
        eprintln!(
            "error: cannot write the JSON report to {}: {e}",
            path.display()
        );
        return Ok(if code == exit::OK { exit::USAGE } else { code });
    }
    Ok(code)
}

/// Publishes a snapshot every `TICK` until the engine reports its end instant, then returns
/// the final snapshot (taken at that instant, so rates use the true run length).
async fn tick(
    mut agg: Aggregator,
    tx: watch::Sender<Arc<Snapshot>>,
    control: Control,
    started: Instant,
    mut end: oneshot::Receiver<Instant>,
) -> Snapshot {
    let mut every = tokio::time::interval_at((started + TICK).into(), TICK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ended = loop {
        tokio::select! {
            _ = every.tick() => {
                let now = Instant::now();
                let phase = if control.is_stopping() { Phase::Stopping } else { Phase::Running };
                tx.send_replace(Arc::new(agg.tick(now, now - started, phase)));
            }
            ended = &mut end => break ended.unwrap_or_else(|_| Instant::now()),
        }
    };
    let last = agg.tick(ended, ended - started, Phase::Finished);
    tx.send_replace(Arc::new(last.clone()));
    last
}

/// First Ctrl-C or SIGTERM: graceful stop. Second: interrupt in-flight requests.
async fn watch_signals(control: Control, interrupted: Arc<AtomicBool>) {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    for n in 0.. {
        #[cfg(unix)]
        let terminate = async {
            match term.as_mut() {
                Some(t) => {
                    t.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminate => {}
        }
        interrupted.store(true, Ordering::Relaxed);
        if n == 0 {
            eprintln!("stopping: waiting for in-flight requests (signal again to interrupt them)");
            control.stop();
        } else {
            control.abort();
            return;
        }
    }
}
