//! The composition root, command by command: turns a parsed command line into a validated
//! plan and the run's options, hands a run to `session`, and answers `validate`, `report`,
//! `compare`, `demo`, `completions` and `man` itself; each returns its exit code (the codes
//! are `report::exit`'s).
//!
//! Depends on `cli`, `scenario`, `session`, `report`, `engine` (the default thread count),
//! `demo`, `signals`, `redact`, `files` and `out`; nothing imports it but `main`. Every other
//! module is testable alone; this one and `session` only wire them together.

mod init;
mod split;

use std::io::IsTerminal;
use std::process::ExitCode;

use crate::cli::{
    Cli, Command, CompareArgs, DemoArgs, PlanArgs, ReportArgs, RunArgs, RuntimeShape, ValidateArgs,
};
use crate::demo::{DemoConfig, DemoServer};
use crate::engine;
use crate::redact::Redactor;
use crate::report::{OutputPaths, exit, read_result};
use crate::scenario::{self, Overrides, Plan};
use crate::session::{self, Display, SessionOptions};
use crate::signals::StopSignals;

/// Executes a parsed command line.
pub fn execute(cli: Cli) -> ExitCode {
    let code = match cli.command {
        Command::Validate(args) => validate(&args),
        Command::Run(args) => run(&args),
        Command::Demo(args) => demo(&args),
        Command::Report(args) => report(&args),
        Command::Compare(args) => compare(&args),
        Command::Merge(args) => split::merge(&args),
        Command::Init(args) => init::init(&args),
        Command::Completions(args) => completions(args.shell),
        Command::Man => man(),
    };
    ExitCode::from(code)
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    runtime_with(None)
}

/// A multi-thread runtime with `threads` workers (default: one per usable core).
fn runtime_with(threads: Option<usize>) -> Result<tokio::runtime::Runtime, String> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        builder.worker_threads(n.max(1));
    }
    builder
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// `stampede validate FILE...`: each file as `run` with the same flags would plan it.
fn validate(args: &ValidateArgs) -> u8 {
    let mut failed = false;
    let hide = cli_redactor(&args.plan.secret, &args.plan.set);
    let ov = match overrides(&args.plan) {
        Ok(ov) => ov,
        Err(e) => {
            crate::note!("error: {}", hide.text(&e));
            return exit::USAGE;
        }
    };
    for file in &args.files {
        let planned = scenario::load(file, &env_var, &ov)
            .map_err(|e| e.to_string())
            .and_then(|plan| with_thresholds(plan, &args.plan.threshold));
        match planned {
            Ok(plan) => {
                let stages = match plan.load.stages.len() {
                    0 => String::new(),
                    n => format!(" then {n} stage(s)"),
                };
                let mut line = format!(
                    "ok    {}: \"{}\", {} flow(s), {} step(s), {}{stages}",
                    file.display(),
                    plan.name,
                    plan.flows.len(),
                    plan.step_count(),
                    plan.load.model
                );
                // Which setup or init step gives each default header its value.
                for source in &plan.header_sources {
                    line.push_str(&format!("\n      {source}"));
                }
                if let Err(e) = crate::out::text(&format!("{line}\n")) {
                    crate::note!("error: cannot write to stdout: {e}");
                    failed = true;
                }
            }
            Err(e) => {
                failed = true;
                crate::note!("error: {}", hide.text(&e));
            }
        }
    }
    if failed { exit::USAGE } else { exit::OK }
}

/// `stampede report RESULT --html PATH`: the HTML report of a saved result, the same page
/// `run --html` writes.
fn report(args: &ReportArgs) -> u8 {
    let made = distinct_from_result(args)
        .and_then(|()| {
            crate::files::read_text(&args.result, crate::files::RESULT).map_err(|e| e.to_string())
        })
        .and_then(|text| {
            crate::report::html::check_result(&text, &args.result.display().to_string())?;
            let mut sink = crate::report::export::Sink::open(&args.html, "the HTML report")?;
            sink.write(&crate::report::html::render(&text))
                .map_err(|e| format!("cannot write the HTML report to {}: {e}", sink.place()))
        });
    match made {
        Ok(()) => exit::OK,
        Err(e) => {
            crate::note!("error: {e}");
            exit::USAGE
        }
    }
}

/// The page must not overwrite the result it is made from.
fn distinct_from_result(args: &ReportArgs) -> Result<(), String> {
    let paths = [args.result.as_path(), args.html.as_path()];
    match crate::report::staged::same_file(&paths) {
        Some((_, _, file)) => Err(format!(
            "--html {} is the result it would be made from ({}): give the page another path, \
             e.g. --html {}",
            args.html.display(),
            file.display(),
            args.result.with_extension("html").display()
        )),
        None => Ok(()),
    }
}

/// `stampede completions SHELL`: the completion script on stdout.
fn completions(shell: clap_complete::Shell) -> u8 {
    use clap::CommandFactory as _;
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "stampede", &mut out);
    print_bytes(&out)
}

/// `stampede man`: the manual page (roff) on stdout, subcommands included.
fn man() -> u8 {
    use clap::CommandFactory as _;
    let command = Cli::command();
    let mut out = Vec::new();
    let rendered = clap_mangen::Man::new(command.clone())
        .render(&mut out)
        .and_then(|()| {
            // Each subcommand's options as a section of the same page, titled by the command.
            for sub in command
                .get_subcommands()
                .filter(|s| s.get_arguments().next().is_some())
            {
                let mut section = Vec::new();
                clap_mangen::Man::new(sub.clone()).render_options_section(&mut section)?;
                let title = format!(".SH \"STAMPEDE {} OPTIONS\"", sub.get_name().to_uppercase());
                let text = String::from_utf8_lossy(&section).replacen(".SH OPTIONS", &title, 1);
                out.extend_from_slice(text.as_bytes());
            }
            Ok(())
        });
    if let Err(e) = rendered {
        crate::note!("error: cannot render the manual page: {e}");
        return exit::USAGE;
    }
    print_bytes(&out)
}

fn print_bytes(bytes: &[u8]) -> u8 {
    match crate::out::stdout(&String::from_utf8_lossy(bytes)) {
        Ok(()) => exit::OK,
        Err(e) => {
            crate::note!("error: cannot write to stdout: {e}");
            exit::USAGE
        }
    }
}

/// `stampede compare BASE NEW`: the table on stdout; exit 1 when a figure regressed.
fn compare(args: &CompareArgs) -> u8 {
    let docs = read_result(&args.base).and_then(|b| Ok((b, read_result(&args.new)?)));
    let (base, new) = match docs {
        Ok(d) => d,
        Err(e) => {
            crate::note!("error: {e}");
            return exit::USAGE;
        }
    };
    let c = crate::report::compare::compare(&base, &new, args.tolerance);
    let text = crate::report::compare::table(
        &c,
        &args.base.display().to_string(),
        &args.new.display().to_string(),
    );
    if let Err(e) = crate::out::text(&text) {
        crate::note!("error: cannot write to stdout: {e}");
        return exit::USAGE;
    }
    if c.regressed() {
        exit::REGRESSED
    } else {
        exit::OK
    }
}

fn demo(args: &DemoArgs) -> u8 {
    if let Err(e) = check_listen(args) {
        crate::note!("error: {e}");
        return exit::USAGE;
    }
    let result = runtime().and_then(|rt| rt.block_on(serve_demo(args.listen)));
    match result {
        Ok(()) => exit::OK,
        Err(e) => {
            crate::note!("error: {e}");
            exit::USAGE
        }
    }
}

/// Refuses to expose the demo beyond this machine unless `--public` says so, and warns when
/// it does: the service has no authentication and anyone reaching the port can load it.
fn check_listen(args: &DemoArgs) -> Result<(), String> {
    let addr = args.listen;
    if addr.ip().is_loopback() {
        return Ok(());
    }
    if !args.public {
        return Err(format!(
            "--listen {addr}: other machines could reach the demo service there, and it has no \
             authentication; add --public to serve it there anyway, or listen on 127.0.0.1:{}",
            addr.port()
        ));
    }
    crate::note!(
        "warning: the demo service listens on {addr}, reachable from other machines, with no \
         authentication"
    );
    Ok(())
}

async fn serve_demo(listen: std::net::SocketAddr) -> Result<(), String> {
    // Registered before binding, so a signal during start-up stops the demo gracefully too.
    let mut signals = StopSignals::register();
    let server = DemoServer::bind(listen, DemoConfig::default())
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    crate::note!(
        "demo service listening on {} (Ctrl-C to stop)",
        server.url()
    );
    signals.recv().await;
    crate::note!("stopping the demo service (a second Ctrl-C stops at once)");
    tokio::select! {
        () = server.stop() => {}
        () = signals.recv() => {}
    }
    Ok(())
}

/// The dashboard when stdout is a terminal and `--headless` is not given.
fn display_for(args: &RunArgs) -> Display {
    let no_color = args.no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    // JSON on stdout leaves no room for a dashboard there.
    let json_on_stdout = args.json.as_deref() == Some(std::path::Path::new("-"));
    if args.headless || json_on_stdout || !std::io::stdout().is_terminal() {
        Display::Headless
    } else {
        Display::Dashboard {
            color: !no_color,
            exit_on_end: args.exit_on_end,
        }
    }
}

fn overrides(args: &PlanArgs) -> Result<Overrides, String> {
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
        set: args.set.clone(),
        secrets: args.secret.clone(),
        insecure: args.insecure,
        cacert: args.cacert.clone(),
        cert: args.cert.clone(),
        key: args.key.clone(),
        http2: args.http2,
        streams_per_connection: args.streams_per_connection,
        proxy: args.proxy.clone(),
        proxy_from_env: args.proxy_from_env,
        follow_redirects: args.follow_redirects,
    })
}

/// The URL of a URL run: `--url`, or a positional argument that reads as one.
fn url_of(args: &RunArgs) -> Option<String> {
    if let Some(url) = &args.url {
        return Some(url.clone());
    }
    let file = args.file.as_ref()?.to_str()?;
    let lower = file.to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://")).then(|| file.to_string())
}

/// The request flags of a URL run, refused (by name, with the fix) next to a scenario file.
fn ad_hoc_request(args: &RunArgs, url: Option<String>) -> Result<Option<scenario::AdHoc>, String> {
    let given = [
        ("--method", args.method.is_some()),
        ("--header", !args.headers.is_empty()),
        ("--body", args.body.is_some()),
        ("--body-file", args.body_file.is_some()),
        ("--content-type", args.content_type.is_some()),
        ("--json-body", args.json_body),
        ("--basic-auth", args.basic_auth.is_some()),
        ("--timeout", args.timeout.is_some()),
    ];
    let Some(url) = url else {
        if let Some((flag, _)) = given.iter().find(|(_, set)| *set) {
            return Err(format!(
                "{flag} applies to a URL run (stampede URL ...); a scenario file says it in the \
                 step (method, headers, body, json, timeout), or see --print-scenario"
            ));
        }
        return Ok(None);
    };
    let mut headers = Vec::new();
    for h in &args.headers {
        let Some((name, value)) = h.split_once(':') else {
            return Err(format!(
                "--header \"{h}\": write Name: value, e.g. -H 'Accept: text/html'"
            ));
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let has = |headers: &[(String, String)], name: &str| {
        headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    if let Some(t) = &args.content_type {
        headers.push(("content-type".into(), t.clone()));
    } else if args.json_body && !has(&headers, "content-type") {
        headers.push(("content-type".into(), "application/json".into()));
    }
    if let Some(auth) = &args.basic_auth {
        use base64::Engine as _;
        if !auth.contains(':') {
            return Err("--basic-auth: write user:password".into());
        }
        let token = base64::engine::general_purpose::STANDARD.encode(auth);
        headers.push(("authorization".into(), format!("Basic {token}")));
    }
    let text = match (&args.body, &args.body_file) {
        (Some(b), _) => Some(b.clone()),
        (None, Some(path)) => Some(
            crate::files::read_text(path, crate::files::BODY)
                .map_err(|e| format!("--body-file {}: {}", path.display(), e.reason))?,
        ),
        (None, None) => None,
    };
    let body = match text {
        Some(t) if args.json_body => Some(scenario::AdHocBody::Json(
            serde_json::from_str(&t)
                .map_err(|e| format!("--json-body: the body is not JSON: {e}"))?,
        )),
        Some(t) => Some(scenario::AdHocBody::Text(t)),
        None if args.json_body => return Err("--json-body: give the body with -d or -D".into()),
        None => None,
    };
    Ok(Some(scenario::AdHoc {
        url,
        method: args.method.clone().unwrap_or_else(|| "GET".into()),
        headers,
        body,
        timeout: args.timeout,
    }))
}

/// What `run` was asked: a plan to run, or (`--print-scenario`) a scenario to print.
enum Asked {
    Run(Box<Plan>),
    Print(String),
}

fn plan_of(args: &RunArgs) -> Result<Asked, String> {
    let ov = overrides(&args.plan)?;
    let url = url_of(args);
    let request = ad_hoc_request(args, url)?;
    let plan = match (&request, &args.file) {
        (Some(r), _) if args.print_scenario => {
            return scenario::ad_hoc_yaml(r, &env_var, &ov)
                .map(Asked::Print)
                .map_err(|e| e.to_string());
        }
        (Some(r), _) => scenario::ad_hoc(r, &env_var, &ov),
        (None, Some(file)) => scenario::load(file, &env_var, &ov),
        (None, None) => return Err("give a scenario file or a URL".into()),
    };
    let plan = plan.map_err(|e| e.to_string())?;
    let plan = with_thresholds(plan, &args.plan.threshold)?;
    if let (true, Some(file)) = (args.print_scenario, &args.file) {
        let texts = &args.plan.threshold;
        return scenario::file_yaml(file, &plan, texts, &env_var, &ov).map(Asked::Print);
    }
    Ok(Asked::Run(Box::new(split::sharded(plan, args, &env_var)?)))
}

/// Adds the `--threshold`s after the file's, named as its steps are.
fn with_thresholds(mut plan: Plan, texts: &[String]) -> Result<Plan, String> {
    let steps = plan.step_names();
    let tags: Vec<Option<String>> = plan
        .steps()
        .map(|(_, s)| s.tag_by.as_ref().map(|t| t.key.clone()))
        .collect();
    let tags: Vec<Option<&str>> = tags.iter().map(Option::as_deref).collect();
    for text in texts {
        let threshold = scenario::Threshold::parse(text, &steps)
            .and_then(|t| t.tag_fits(&tags).map(|()| t))
            .map_err(|why| format!("--threshold \"{text}\": {why}"))?;
        plan.thresholds.push(threshold);
    }
    Ok(plan)
}

/// Hides secrets in messages written before there is a plan (whose own redactor also knows
/// the file's `secrets:`): URL and header credentials, and the `--set` values of the
/// variables named by `--secret`.
fn cli_redactor(secrets: &[String], set: &[(String, String)]) -> Redactor {
    let values = set
        .iter()
        .filter(|(name, _)| secrets.contains(name))
        .map(|(_, value)| value.clone());
    Redactor::new(secrets, values)
}

fn run(args: &RunArgs) -> u8 {
    let plan = match plan_of(args) {
        Ok(Asked::Run(p)) => *p,
        Ok(Asked::Print(yaml)) => return print_bytes(yaml.as_bytes()),
        Err(e) => {
            let hide = cli_redactor(&args.plan.secret, &args.plan.set);
            crate::note!("error: {}", hide.text(&e));
            return exit::USAGE;
        }
    };
    let hide = plan.redactor.clone();
    let distributed = match split::distributed(args, &env_var) {
        Ok(d) => d,
        Err(e) => {
            crate::note!("error: {e}");
            return exit::USAGE;
        }
    };
    let opts = SessionOptions {
        outputs: OutputPaths {
            json: args.json.clone(),
            junit: args.junit.clone(),
            csv: args.csv.clone(),
            hdr_log: args.hdr_log.clone(),
            html: args.html.clone(),
        },
        metrics_listen: args.metrics_listen,
        metrics_linger: args.metrics_linger.unwrap_or(session::METRICS_LINGER),
        baseline: args.baseline.clone(),
        tolerance: args.tolerance,
        quiet: args.quiet,
        phases: args.phases,
        display: display_for(args),
        preflight: !args.no_preflight,
        transport: args.transport,
        shape: args.runtime,
        threads: args
            .threads
            .map_or_else(engine::default_threads, usize::from),
        verbose: args.verbose,
        distributed,
    };
    // The shared shape runs the load on this runtime, so it gets the worker threads asked
    // for; per core, it only runs the dashboard, the metrics tick and the signal watcher.
    let main_threads = (opts.shape == RuntimeShape::Shared).then_some(opts.threads);
    let outcome =
        runtime_with(main_threads).and_then(|rt| rt.block_on(session::run_plan(plan, &opts)));
    match outcome {
        Ok(code) => code,
        Err(e) => {
            crate::note!("error: {}", hide.text(&e));
            exit::USAGE
        }
    }
}
