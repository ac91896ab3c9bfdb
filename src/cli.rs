//! Command-line definitions (clap) and nothing else: turning arguments into a plan happens in
//! `run`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod init;

pub use init::{FlowPer, InitArgs};

use crate::scenario::{MAX_USERS, Shard, is_name, parse_duration, parse_rate};

/// The version and the commit it was built from: `0.1.0 (41c52fe)`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("STAMPEDE_COMMIT"),
    ")"
);

/// A terminal load tester: scenario files, exact percentiles, open and closed load models.
#[derive(Debug, Parser)]
#[command(name = "stampede", version = VERSION, about, long_about = None)]
#[command(
    override_usage = "stampede <COMMAND>\n       stampede FILE [OPTIONS]      (stampede run FILE)\n       \
stampede URL [OPTIONS]       (a load on one URL, e.g. stampede http://127.0.0.1:8000/ -c 10 -z 30s)"
)]
#[command(
    after_help = "Shortcuts: `stampede FILE` is `stampede run FILE`; `stampede URL` runs a load \
on one URL with oha's and hey's flags (-c, -q, -z, -n, -m, -H, -d): `stampede run --help` lists them.\n\
Exit codes: 0 run completed · 1 a threshold failed (compare: a regression) · 2 bad usage or scenario · 130 interrupted."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario file, or an ad-hoc load against --url.
    Run(Box<RunArgs>),
    /// Check scenario files without sending a request; reports every problem found.
    Validate(Box<ValidateArgs>),
    /// Serve the embedded demo service alone.
    Demo(DemoArgs),
    /// Make a report from a saved result (`run --json`).
    Report(ReportArgs),
    /// Compare two results (`run --json`) step by step: exit 1 when one regressed.
    Compare(CompareArgs),
    /// Write a scenario from what the service publishes: its OpenAPI document (FastAPI's
    /// /openapi.json), a file or a URL.
    Init(Box<InitArgs>),
    /// Merge the results of a split plan's shards (`run --shard I/N --json`) into the result
    /// of one run that did all their work, judged by the plan's thresholds.
    Merge(MergeArgs),
    /// Print a shell completion script: bash, zsh, fish or powershell.
    Completions(CompletionsArgs),
    /// Print the manual page (roff), e.g. `stampede man > stampede.1`.
    Man,
}

/// Arguments of `stampede completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of `stampede compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The result to compare against.
    pub base: PathBuf,

    /// The result to judge.
    pub new: PathBuf,

    /// A change smaller than this (relative) is within noise, e.g. 10% (default 5%).
    #[arg(long, value_name = "PERCENT", value_parser = parse_percent, default_value = "5%")]
    pub tolerance: f64,
}

/// Arguments of `stampede merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' results (`run --shard I/N --json PATH`), or, with --from-log, their logs.
    #[arg(required = true, value_name = "RESULT")]
    pub results: Vec<PathBuf>,

    /// The files are logs (`kubectl logs`) in which each shard printed its result between
    /// marker lines (`run --log-result`); a log may hold several.
    #[arg(long)]
    pub from_log: bool,

    /// Merge even when some of the plan's shards are missing (the result says which).
    #[arg(long)]
    pub partial: bool,

    /// Write the merged result as JSON to this file (mergeable again).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,

    /// Write the HTML report of the merged result to this file.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,

    /// Write a JUnit XML report of the merged result to this file.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,

    /// Print no summary.
    #[arg(long)]
    pub quiet: bool,
}

/// How a run takes part in a plan split over several processes.
#[derive(Debug, Args, Clone, Default)]
pub struct SplitArgs {
    /// Run shard I of N (0-based) of the plan: its share of the arrivals, users, iterations
    /// and data rows. Also from a Kubernetes Indexed Job: JOB_COMPLETION_INDEX with
    /// STAMPEDE_SHARDS=N.
    #[arg(long, value_name = "I/N", value_parser = Shard::parse)]
    pub shard: Option<Shard>,

    /// Begin the load at this instant (RFC 3339, e.g. 2026-12-06T10:00:00Z), so every shard
    /// starts together; also STAMPEDE_START_AT.
    #[arg(long, value_name = "TIME", value_parser = parse_instant)]
    pub start_at: Option<std::time::SystemTime>,

    /// `setup: { once: true }`, shard 0: write setup's values to this file for the others.
    #[arg(long, value_name = "PATH")]
    pub setup_out: Option<PathBuf>,

    /// `setup: { once: true }`, the other shards: take setup's values from this file,
    /// waiting for it.
    #[arg(long, value_name = "PATH")]
    pub setup_in: Option<PathBuf>,

    /// How long a shard waits for --setup-in.
    #[arg(long, value_name = "DURATION", value_parser = positive_duration, default_value = "2m")]
    pub setup_wait: Duration,

    /// Which run of the plan this shard belongs to (any text, e.g. a Kubernetes Job's uid);
    /// also STAMPEDE_RUN_ID. A merge refuses results of different runs, and setup's values
    /// are taken only from the same run.
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,

    /// Also print the result (the JSON of --json) to stdout between marker lines, for
    /// `stampede merge --from-log` where shards share no volume.
    #[arg(long)]
    pub log_result: bool,
}

/// An RFC 3339 instant.
pub fn parse_instant(text: &str) -> Result<std::time::SystemTime, String> {
    humantime::parse_rfc3339_weak(text.trim()).map_err(|e| {
        format!("\"{text}\" is not an RFC 3339 time ({e}); write e.g. 2026-12-06T10:00:00Z")
    })
}

/// `5%` or `5` (percent) as a fraction.
fn parse_percent(text: &str) -> Result<f64, String> {
    let number = text.trim().trim_end_matches('%').trim();
    match number.parse::<f64>() {
        Ok(v) if (0.0..=1000.0).contains(&v) => Ok(v / 100.0),
        _ => Err(format!("\"{text}\" is not a percentage: write e.g. 5%")),
    }
}

/// Arguments of `stampede report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A result written by `stampede run --json PATH`.
    pub result: PathBuf,

    /// Write the HTML report (self-contained, works offline) to this file.
    #[arg(long, value_name = "PATH", required = true)]
    pub html: PathBuf,
}

/// The flags that change a scenario's plan: accepted by `run` and by `validate`, so a file
/// is checked as it will run.
#[derive(Debug, Args, Clone, Default)]
pub struct PlanArgs {
    /// Closed model: this many virtual users, or connections (replaces the file's load
    /// model), at most 1,000,000.
    #[arg(long, short = 'c', alias = "connections", value_name = "N", value_parser = clap::value_parser!(u64).range(1..=MAX_USERS), conflicts_with = "rate")]
    pub vus: Option<u64>,

    /// Open model: arrivals per second, e.g. 500/s (replaces the file's load model).
    #[arg(long, short = 'q', value_name = "RATE", value_parser = parse_rate)]
    pub rate: Option<f64>,

    /// Open model: most iterations in flight (at most 1,000,000); arrivals beyond it are
    /// dropped and counted.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=MAX_USERS))]
    pub max_in_flight: Option<u64>,

    /// Stop starting work after this long, e.g. 30s or 1m30s.
    #[arg(long, short = 'z', value_name = "DURATION", value_parser = positive_duration)]
    pub duration: Option<Duration>,

    /// Stop after this many flow iterations (closed) or arrivals (open), over all users.
    #[arg(long, short = 'n', value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub iterations: Option<u64>,

    /// Send the load here instead of the file's target: a base URL, or `demo`.
    #[arg(long, value_name = "URL|demo")]
    pub target: Option<String>,

    /// Set a template variable, replacing the file's `variables:` value (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_set)]
    pub set: Vec<(String, String)>,

    /// A pass/fail criterion beside the file's `thresholds:`, e.g. `p99<200ms` or
    /// `checkout/pay:error_rate<1%` (repeatable); exit code 1 when one fails.
    #[arg(long = "threshold", value_name = "EXPR")]
    pub threshold: Vec<String>,

    /// A header or variable whose values never appear in any output, as the file's
    /// `secrets:` (repeatable).
    #[arg(long = "secret", value_name = "NAME")]
    pub secret: Vec<String>,

    /// Accept any server certificate, without verification (self-signed test servers);
    /// the summary warns about it.
    #[arg(long, short = 'k')]
    pub insecure: bool,

    /// Trust the certificate authorities in this PEM file, besides the system's.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// A client certificate (PEM) for mutual TLS; needs --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,

    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,

    /// HTTP/2: negotiated by ALPN over https, prior knowledge (h2c) over http.
    #[arg(long)]
    pub http2: bool,

    /// HTTP/2: how many users share one connection, each on its own stream (default 1: a
    /// connection per user).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub streams_per_connection: Option<u32>,

    /// Send every request through this HTTP proxy (http://[user:pass@]host:port); https
    /// targets go through a CONNECT tunnel.
    #[arg(long, value_name = "URL", conflicts_with = "proxy_from_env")]
    pub proxy: Option<String>,

    /// Use the proxy named by HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY (ignored
    /// otherwise: load never goes through a proxy unasked).
    #[arg(long)]
    pub proxy_from_env: bool,

    /// Follow up to N redirects per request (each hop is recorded as a request of its
    /// step), replacing the file's `follow_redirects`; default 0.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=30))]
    pub follow_redirects: Option<u32>,
}

/// Arguments of `stampede run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario file (YAML, or JSON), or a URL (http:// or https://) to load without one.
    #[arg(
        value_name = "FILE|URL",
        required_unless_present = "url",
        conflicts_with = "url"
    )]
    pub file: Option<PathBuf>,

    /// What changes the plan (load, target, variables, thresholds, secrets).
    #[command(flatten)]
    pub plan: PlanArgs,

    /// A shard of a split plan (`--shard`, `--start-at`, setup's hand-over).
    #[command(flatten)]
    pub split: SplitArgs,

    /// Ad-hoc mode: load this URL without a scenario file (defaults: 50 VUs for 10s); the
    /// same as giving the URL in place of the file.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// URL run: the HTTP method.
    #[arg(long, short = 'm', value_name = "METHOD")]
    pub method: Option<String>,

    /// URL run: a request header, `Name: value` (repeatable).
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    pub headers: Vec<String>,

    /// URL run: the request body (a template, like a scenario's body).
    #[arg(long, short = 'd', value_name = "BODY", conflicts_with = "body_file")]
    pub body: Option<String>,

    /// URL run: the request body, read from this file.
    #[arg(long, short = 'D', value_name = "FILE")]
    pub body_file: Option<PathBuf>,

    /// URL run: the body's content type (a Content-Type header).
    #[arg(long, short = 'T', value_name = "TYPE")]
    pub content_type: Option<String>,

    /// URL run: the body is JSON (checked now; sent with Content-Type: application/json).
    #[arg(long)]
    pub json_body: bool,

    /// URL run: basic authentication, `user:password`.
    #[arg(long, short = 'a', value_name = "USER:PASSWORD")]
    pub basic_auth: Option<String>,

    /// URL run: the time allowed for one request (default 30s).
    #[arg(long, value_name = "DURATION", value_parser = positive_duration)]
    pub timeout: Option<Duration>,

    /// Print the run as a scenario file (YAML) instead of running it: a URL run's request,
    /// or a scenario file with the command line's changes (--rate, --duration, --set, ...)
    /// written in.
    #[arg(long)]
    pub print_scenario: bool,

    /// The HTTP client: `fast` (one kept-alive HTTP/1.1 connection per user) or `reqwest`
    /// (a pooled client).
    #[arg(long, value_name = "NAME", value_enum, default_value_t = TransportChoice::Fast)]
    pub transport: TransportChoice,

    /// How the load runs: `shared` (one work-stealing runtime) or
    /// `per-core` (one single-threaded runtime per load thread, each driving its share of
    /// the users, like wrk's threads).
    #[arg(long, value_name = "SHAPE", value_enum, default_value_t = RuntimeShape::Shared)]
    pub runtime: RuntimeShape,

    /// Worker threads for the load (default: the cores this process may use, from its CPU
    /// affinity).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,

    /// Skip the connection made to the target before the load (a target that cannot be
    /// reached then shows as connection errors instead of stopping the run with exit 2).
    #[arg(long)]
    pub no_preflight: bool,

    /// Write the full result as JSON to this file (`-`: to stdout, the summary then goes
    /// to stderr).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,

    /// Write a JUnit XML report (one test case per threshold and per check) to this file.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,

    /// Write the time series as CSV to this file, a row per step and tick (plus the whole
    /// run's), as the run goes.
    #[arg(long, value_name = "PATH")]
    pub csv: Option<PathBuf>,

    /// Write an HdrHistogram interval log (latency in µs, an interval per tick, tagged
    /// flow/step) to this file, as the run goes.
    #[arg(long, value_name = "PATH")]
    pub hdr_log: Option<PathBuf>,

    /// Write a self-contained HTML report (charts over time, the distribution, the steps,
    /// statuses and errors) to this file at the end of the run.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,

    /// Serve live metrics in the Prometheus text format at http://ADDR/metrics during the
    /// run: a port (on 127.0.0.1) or ADDRESS:PORT.
    #[arg(long, value_name = "ADDR", value_parser = crate::prom::parse_listen)]
    pub metrics_listen: Option<SocketAddr>,

    /// With --metrics-listen: keep serving the final figures this long after the run ends
    /// (default 5s; 0s closes at once), so Prometheus scrapes the last interval.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub metrics_linger: Option<Duration>,

    /// Compare this run with a saved result (`--json`): a delta column and the changes in
    /// the summary, the saved p50 and p99 on the dashboard's latency chart.
    #[arg(long, value_name = "RESULT.json")]
    pub baseline: Option<PathBuf>,

    /// With --baseline: a change smaller than this (relative) is within noise.
    #[arg(long, value_name = "PERCENT", value_parser = parse_percent, default_value = "5%", requires = "baseline")]
    pub tolerance: f64,

    /// Print no summary at the end (the files asked for are still written).
    #[arg(long)]
    pub quiet: bool,

    /// The summary also shows each step's phases (DNS, connect, TLS, write, time to first
    /// byte, download: p50 / p99) and its new, reused and remade connections.
    #[arg(long)]
    pub phases: bool,

    /// No dashboard: progress lines on stderr, the summary on stdout (also whenever stdout
    /// is not a terminal).
    #[arg(long)]
    pub headless: bool,

    /// Dashboard without colours (also when the NO_COLOR environment variable is set).
    #[arg(long)]
    pub no_color: bool,

    /// Leave the dashboard as soon as the run ends instead of keeping its final screen
    /// until `q`.
    #[arg(long)]
    pub exit_on_end: bool,

    /// Print each failure's sample (the request, the status, the response's headers and
    /// the first 2 KiB of its body) to stderr as it happens, at most 5 a second, the rest
    /// counted. Headless only: on the dashboard, `enter` on the errors shows a sample.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

/// The HTTP clients a run can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportChoice {
    /// stampede's own connection-level HTTP/1.1 client: each user owns one connection.
    Fast,
    /// reqwest's pooled client.
    Reqwest,
}

/// How the load's runtime is laid out (see `engine::threads`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeShape {
    /// One single-threaded runtime per worker thread, like wrk's threads.
    PerCore,
    /// One multi-thread (work-stealing) runtime for the load and the dashboard.
    Shared,
}

/// Arguments of `stampede validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Scenario files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,

    /// The plan as `run` would change it (load, target, variables, thresholds, secrets).
    #[command(flatten)]
    pub plan: PlanArgs,
}

/// Arguments of `stampede demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address to listen on; an address other than loopback (127.0.0.1, ::1) needs --public.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,

    /// Allow --listen on an address other machines can reach (e.g. 0.0.0.0:8000). The demo
    /// has no authentication: anyone who can reach the port can use it.
    #[arg(long)]
    pub public: bool,
}

/// `NAME=VALUE` for `--set`.
fn parse_set(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("\"{text}\" is not NAME=VALUE, e.g. --set user_id=42"))?;
    let name = name.trim();
    if !is_name(name) {
        return Err(format!(
            "\"{name}\" is not a variable name (letters, digits and _)"
        ));
    }
    Ok((name.to_string(), value.to_string()))
}

fn positive_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        d if d.is_zero() => Err(format!("\"{text}\" must be longer than zero")),
        d => Ok(d),
    }
}

/// Inserts `run` when the first argument is not a subcommand or a global flag, so that
/// `stampede FILE` and `stampede --url URL` work as `stampede run ...`.
pub fn with_default_subcommand(args: Vec<String>) -> Vec<String> {
    const KNOWN: [&str; 15] = [
        "run",
        "init",
        "validate",
        "demo",
        "report",
        "compare",
        "merge",
        "completions",
        "man",
        "help",
        "-h",
        "--help",
        "-V",
        "--version",
        "",
    ];
    match args.get(1) {
        Some(first) if !KNOWN.contains(&first.as_str()) => {
            let mut out = Vec::with_capacity(args.len() + 1);
            out.push(args[0].clone());
            out.push("run".to_string());
            out.extend(args.into_iter().skip(1));
            out
        }
        _ => args,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn file_shortcut_becomes_run() {
        let args = with_default_subcommand(strings(&["stampede", "x.yaml", "--vus", "3"]));
        assert_eq!(args, strings(&["stampede", "run", "x.yaml", "--vus", "3"]));
        let args = with_default_subcommand(strings(&["stampede", "validate", "x.yaml"]));
        assert_eq!(args[1], "validate");
        let cli = Cli::try_parse_from(with_default_subcommand(strings(&[
            "stampede",
            "--url",
            "http://127.0.0.1:1/",
        ])));
        assert!(matches!(cli.map(|c| c.command), Ok(Command::Run(_))));
    }

    #[test]
    fn vus_and_rate_conflict() {
        let cli = Cli::try_parse_from(strings(&[
            "stampede", "run", "x.yaml", "--vus", "2", "--rate", "5/s",
        ]));
        assert!(cli.is_err());
    }
}
