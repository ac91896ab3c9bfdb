//! The validated, immutable description of a run: what the engine executes and the reports
//! describe. A `Plan` cannot hold an invalid value; nothing downstream re-checks it.
//!
//! Depends on `checks`, `data`, `insight` and `template` (the validated parts a step holds) and on
//! `redact` (the plan carries the run's redactor).

use crate::redact::Redactor;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName};

use super::checks::{Expect, Extraction};
use super::data::DataSet;
use super::insight::{ServerClock, TagBy};
use super::retry::Retry;
use super::template::{JsonTemplate, Template};

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The scenario's name (the file stem if the file gives none).
    pub name: String,
    /// Where the scenario came from (`None` for an ad-hoc `--url` run).
    pub source: Option<PathBuf>,
    /// Where requests go.
    pub target: Target,
    /// How much load and when to stop.
    pub load: Load,
    /// The flows, each with at least one step.
    pub flows: Vec<Flow>,
    /// A flow run once before the load; what it extracts is visible to every user.
    pub setup: Option<Flow>,
    /// `setup: { once: true }`: a split plan runs setup in shard 0 alone, which hands what
    /// it extracted to the others (`--setup-out`, `--setup-in`).
    pub setup_once: bool,
    /// `variables:` and `--set` values, as (name, value).
    pub variables: Vec<(String, String)>,
    /// The data files, loaded.
    pub data: Vec<DataSet>,
    /// Whether each virtual user keeps a cookie jar.
    pub cookies: bool,
    /// Whether to connect to the target once before the load, refusing to start when it
    /// cannot be reached.
    pub preflight: bool,
    /// Hides the scenario's secrets in everything stampede prints or writes.
    pub redactor: Redactor,
    /// Pass/fail criteria on the run's figures (`thresholds:` and `--threshold`).
    pub thresholds: Vec<super::Threshold>,
    /// Where the default headers that read setup's or an init's values get them, one line
    /// each (`defaults.headers.authorization reads token from …`), for `stampede validate`.
    pub header_sources: Vec<String>,
    /// How TLS connections are verified and authenticated.
    pub tls: Tls,
    /// The HTTP version and the way to the target (a proxy).
    pub http: Http,
    /// `--shard I/N`: which part of the plan this process runs, and the whole plan's
    /// fingerprint (`None` until `Plan::into_shard`; left out of the fingerprint itself).
    pub shard: Option<super::shard::ShardOf>,
}

/// `http2:`, `streams_per_connection:`, `proxy:`, `proxy_from_env:` and their flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Http {
    /// HTTP/2: negotiated by ALPN over https, by prior knowledge (h2c) over http.
    pub version2: bool,
    /// HTTP/2: how many users share one connection, each with its own stream (1: a
    /// connection per user, as with HTTP/1.1).
    pub streams: u32,
    /// Where connections go instead of the target, if anywhere.
    pub proxy: Option<Proxies>,
}

impl Default for Http {
    fn default() -> Self {
        Self {
            version2: false,
            streams: 1,
            proxy: None,
        }
    }
}

/// The proxies a run goes through: one for http and one for https targets (the same one
/// for `--proxy`), and the hosts that go direct (`NO_PROXY`, with `--proxy-from-env`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxies {
    /// For http:// targets.
    pub http: Option<ProxyUrl>,
    /// For https:// targets.
    pub https: Option<ProxyUrl>,
    /// Host names (and their subdomains) and addresses that bypass the proxy; `*`: all.
    pub bypass: Vec<String>,
    /// Where the setting came from, for the summary: `--proxy`, `proxy:`, or the variables.
    pub source: String,
}

impl Proxies {
    /// The proxy a connection to `host:port` goes through, if any.
    pub fn route(&self, https: bool, host: &str, port: u16) -> Option<&ProxyUrl> {
        let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
        if self.bypass.iter().any(|b| bypasses(b, &host, port)) {
            return None;
        }
        if https {
            self.https.as_ref()
        } else {
            self.http.as_ref()
        }
    }
}

/// Whether a `NO_PROXY` entry covers `host` (lower case, no brackets) at `port`: `*`; a
/// name and its subdomains (`example.com`, `.example.com`, `*.example.com`), with an
/// optional `:port`; an address (`10.0.0.1`, `::1`, `[::1]:8080`); or a network in CIDR
/// form (`10.0.0.0/8`, `fd00::/8`), as curl and Go read them.
fn bypasses(entry: &str, host: &str, port: u16) -> bool {
    let entry = entry.trim();
    if entry == "*" {
        return true;
    }
    if let Some((net, bits)) = entry.split_once('/') {
        let net = net.trim_matches(['[', ']']).parse::<std::net::IpAddr>();
        let (Ok(net), Ok(bits), Ok(ip)) = (net, bits.parse::<u32>(), host.parse()) else {
            return false;
        };
        return in_network(ip, net, bits);
    }
    let (name, wanted_port) = if let Some(rest) = entry.strip_prefix('[') {
        match rest.split_once(']') {
            Some((name, tail)) => (name, tail.strip_prefix(':')),
            None => (rest, None),
        }
    } else if entry.matches(':').count() == 1 {
        let (name, p) = entry.split_once(':').unwrap_or((entry, ""));
        (name, Some(p))
    } else {
        (entry, None)
    };
    if let Some(p) = wanted_port
        && p.parse::<u16>().ok() != Some(port)
    {
        return false;
    }
    let name = name.trim_start_matches("*.").trim_start_matches('.');
    !name.is_empty() && (host == name || host.ends_with(&format!(".{name}")))
}

/// Whether `ip` is in `net`/`bits` (both of one family).
fn in_network(ip: std::net::IpAddr, net: std::net::IpAddr, bits: u32) -> bool {
    use std::net::IpAddr::{V4, V6};
    match (ip, net) {
        (V4(ip), V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (V6(ip), V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// An HTTP proxy: its address, and the credentials sent to it (`Proxy-Authorization`).
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (3128... whatever the URL says; 80 when it says none).
    pub port: u16,
    /// `user:password@` from the URL, percent-decoded.
    pub credentials: Option<(String, String)>,
}

impl ProxyUrl {
    /// `http://host:port`, without the credentials (for messages and the summary).
    pub fn shown(&self) -> String {
        if self.host.contains(':') {
            format!("http://[{}]:{}", self.host, self.port)
        } else {
            format!("http://{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Debug for ProxyUrl {
    /// Never prints the credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.shown())?;
        if self.credentials.is_some() {
            f.write_str(" (with credentials)")?;
        }
        Ok(())
    }
}

/// `tls:` and `--insecure`, `--cacert`, `--cert`, `--key`: PEM text read and checked when
/// the scenario loads (so a bad file is an error at its place, before any request).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// Accept any server certificate (no verification): for self-signed test servers.
    pub insecure: bool,
    /// Authorities trusted besides the system's (PEM, one or more certificates).
    pub ca_pem: Option<Vec<u8>>,
    /// A client certificate chain and its private key (PEM), for mutual TLS.
    pub client_pem: Option<(Vec<u8>, Vec<u8>)>,
    /// The lowest TLS version offered; `None`: 1.2.
    pub min_version: Option<TlsVersion>,
}

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    V1_2,
    V1_3,
}

impl Plan {
    /// The plan with its names (scenario, flows, steps) free of secrets, and `redactor`
    /// kept for what the run will print.
    pub fn hiding(mut self, redactor: Redactor) -> Self {
        self.name = redactor.owned(&self.name);
        for flow in self.flows.iter_mut().chain(self.setup.as_mut()) {
            flow.name = redactor.owned(&flow.name);
            for step in flow.init.iter_mut().chain(&mut flow.steps) {
                step.name = redactor.owned(&step.name);
                // Generated check names quote the expected value (`header x-api-key == "…"`).
                for check in &mut step.expect.checks {
                    check.name = redactor.owned(&check.name);
                }
            }
        }
        self.redactor = redactor;
        self
    }

    /// `(flow, step)` names of every step, in `steps` order.
    pub fn step_names(&self) -> Vec<(String, String)> {
        self.steps()
            .map(|(f, s)| (f.name.clone(), s.name.clone()))
            .collect()
    }

    /// Every step of every flow (each flow's init steps first), in order; `Step::id`
    /// indexes this sequence.
    pub fn steps(&self) -> impl Iterator<Item = (&Flow, &Step)> {
        self.flows
            .iter()
            .flat_map(|f| f.all_steps().map(move |s| (f, s)))
    }

    /// The number of steps over all flows (init steps included).
    pub fn step_count(&self) -> usize {
        self.flows
            .iter()
            .map(|f| f.init.len() + f.steps.len())
            .sum()
    }

    /// The longest timeout of any step: the histograms must cover it.
    pub fn longest_timeout(&self) -> Duration {
        self.steps()
            .map(|(_, s)| s.timeout)
            .chain(
                self.setup
                    .iter()
                    .flat_map(|f| f.steps.iter().map(|s| s.timeout)),
            )
            .max()
            .unwrap_or(Duration::from_secs(30))
    }
}

/// Where requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The embedded demo service, started in-process on an ephemeral loopback port.
    Demo,
    /// A base URL such as `http://127.0.0.1:8000` (no trailing slash).
    Url(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Demo => f.write_str("demo"),
            Target::Url(u) => f.write_str(u),
        }
    }
}

/// The load model, its size, and the stop conditions.
#[derive(Debug, Clone, PartialEq)]
pub struct Load {
    /// Closed (virtual users) or open (arrival rate); with stages, the starting level.
    pub model: Model,
    /// Stop starting work after this long.
    pub duration: Option<Duration>,
    /// Stop after this many flow iterations (closed) or arrivals (open), over all users.
    pub iterations: Option<u64>,
    /// How long in-flight requests may finish after the stop before they are interrupted.
    pub graceful_stop: Duration,
    /// Ramps from the model's starting level (VUs or arrivals/s, by model); empty for a
    /// constant level.
    pub stages: Vec<Stage>,
    /// A capacity search (`find_capacity`): the open model at its `start`, the rate set hold
    /// by hold, the run ending with the answer.
    pub capacity: Option<super::Capacity>,
}

/// One stage: move linearly from the level at its start to `target` over `duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    /// How long the ramp takes.
    pub duration: Duration,
    /// VUs (closed model) or arrivals per second (open model) at the stage's end.
    pub target: f64,
}

/// How work is started.
#[derive(Debug, Clone, PartialEq)]
pub enum Model {
    /// `vus` virtual users, each running flows back to back.
    Closed {
        /// Number of virtual users.
        vus: u64,
    },
    /// Arrivals at a fixed rate, independent of how fast the target answers.
    Open {
        /// Arrivals per second.
        rate: f64,
        /// Arrivals beyond this many concurrent iterations are dropped (and counted).
        max_in_flight: u64,
    },
}

impl std::fmt::Display for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Model::Closed { vus } => write!(f, "closed, {vus} VUs"),
            Model::Open {
                rate,
                max_in_flight,
            } => write!(f, "open, {rate}/s (max {max_in_flight} in flight)"),
        }
    }
}

/// A named sequence of steps that a user runs as one iteration.
#[derive(Debug, Clone)]
pub struct Flow {
    /// The flow's name.
    pub name: String,
    /// Relative frequency among flows (at least 1).
    pub weight: u64,
    /// Closed model: an iteration of this flow starts at most once per `pace`.
    pub pace: Option<Duration>,
    /// Steps a virtual user runs once, before its first iteration of the flow (a login):
    /// what they extract stays in the user's scope. Their requests are the run's like any
    /// other (their own steps in every figure); they are never iterations.
    pub init: Vec<Step>,
    /// The steps, at least one.
    pub steps: Vec<Step>,
}

impl Flow {
    /// Its init steps, then its steps: the order of their ids.
    pub fn all_steps(&self) -> impl Iterator<Item = &Step> {
        self.init.iter().chain(&self.steps)
    }
}

/// One request and what its response must look like.
#[derive(Debug, Clone)]
pub struct Step {
    /// Index over all steps of the plan (metrics are kept per id); setup steps count after
    /// the load's steps.
    pub id: usize,
    /// The step's name (`METHOD url` if the file gives none).
    pub name: String,
    /// The HTTP method.
    pub method: Method,
    /// A path joined to the target, or a full URL.
    pub url: StepUrl,
    /// Query parameters, URL-encoded and appended when the request is built.
    pub query: Vec<(String, Template)>,
    /// Request headers whose values are fixed (defaults merged in).
    pub headers: HeaderMap,
    /// Request headers whose values are templates, rendered per request.
    pub header_templates: Vec<(HeaderName, Template)>,
    /// The request body, if any.
    pub body: Option<Body>,
    /// Time allowed for the whole exchange, including the body.
    pub timeout: Duration,
    /// The most body bytes kept for the step's checks and extraction (the rest is counted,
    /// not stored).
    pub max_body: usize,
    /// What the response must look like.
    pub expect: Expect,
    /// Values taken from the response into the user's variables.
    pub extract: Vec<Extraction>,
    /// What a failed step does to the rest of the iteration.
    pub on_error: OnError,
    /// A pause after the step, uniform in `min..=max`.
    pub think: Option<(Duration, Duration)>,
    /// How many redirects (3xx with a `Location`) to follow, each sent and recorded as a
    /// request of this step; 0: none, the 3xx is the answer.
    pub follow_redirects: u32,
    /// Where its responses say the server's own time.
    pub server_time: ServerClock,
    /// The value that splits its figures (`tag_by:`), if any.
    pub tag_by: Option<TagBy>,
    /// How its failed attempts are retried (`retry:`), if they are.
    pub retry: Option<Retry>,
}

impl Step {
    /// Whether every part of the request is fixed text (it can be built once).
    pub fn is_literal(&self) -> bool {
        self.url.template.as_literal().is_some()
            && self.query.iter().all(|(_, t)| t.as_literal().is_some())
            && self.header_templates.is_empty()
            && self.body.as_ref().is_none_or(Body::is_literal)
    }
}

/// What a failed step (transport error, unexpected status, failed extraction) does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Abandon the rest of this flow iteration (the default).
    AbortIteration,
    /// Go on with the next step.
    Continue,
}

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    /// `body:` text, sent as written (after rendering).
    Text(Template),
    /// `json:` a JSON document whose strings may be templates.
    Json(JsonTemplate),
    /// `form:` fields sent urlencoded (`a=1&b=x%20y`), each value a template.
    Form(Vec<(String, Template)>),
    /// `body_file:` a file's bytes, read when the scenario loads and sent as they are.
    File(Bytes),
    /// `multipart:` parts sent as `multipart/form-data`.
    Multipart(Multipart),
}

/// A `multipart/form-data` body: its parts and the boundary between them.
#[derive(Debug, Clone)]
pub struct Multipart {
    /// Chosen when the scenario loads: random, and found in no file part.
    pub boundary: String,
    /// The parts, in the file's order.
    pub parts: Vec<Part>,
}

/// One part of a multipart body.
#[derive(Debug, Clone)]
pub struct Part {
    /// The form field's name.
    pub name: String,
    /// Its value: text (a template) or a file's bytes.
    pub content: PartContent,
    /// The file name the part declares (a file part's own name by default).
    pub filename: Option<String>,
    /// The part's `Content-Type` (a file part's default: `application/octet-stream`).
    pub content_type: Option<String>,
}

/// What a part carries.
#[derive(Debug, Clone)]
pub enum PartContent {
    Text(Template),
    File(Bytes),
}

impl Multipart {
    /// The body, each text part's value given by `text`.
    pub fn encode_with<E>(
        &self,
        mut text: impl FnMut(&Template) -> Result<String, E>,
    ) -> Result<Bytes, E> {
        let mut out = Vec::new();
        for part in &self.parts {
            out.extend_from_slice(b"--");
            out.extend_from_slice(self.boundary.as_bytes());
            out.extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"");
            out.extend_from_slice(escape_field(&part.name).as_bytes());
            out.push(b'"');
            if let Some(filename) = &part.filename {
                out.extend_from_slice(b"; filename=\"");
                out.extend_from_slice(escape_field(filename).as_bytes());
                out.push(b'"');
            }
            out.extend_from_slice(b"\r\n");
            if let Some(t) = &part.content_type {
                out.extend_from_slice(b"Content-Type: ");
                out.extend_from_slice(t.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"\r\n");
            match &part.content {
                PartContent::Text(t) => out.extend_from_slice(text(t)?.as_bytes()),
                PartContent::File(bytes) => out.extend_from_slice(bytes),
            }
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"--");
        out.extend_from_slice(self.boundary.as_bytes());
        out.extend_from_slice(b"--\r\n");
        Ok(Bytes::from(out))
    }

    /// Every template of the parts.
    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        self.parts.iter().filter_map(|p| match &p.content {
            PartContent::Text(t) => Some(t),
            PartContent::File(_) => None,
        })
    }
}

/// A field or file name inside quotes, as browsers write it (HTML's form encoding): `"`,
/// CR and LF percent-encoded.
fn escape_field(name: &str) -> String {
    name.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

impl Body {
    /// The body when it has no dynamic part.
    pub fn literal(&self) -> Option<Bytes> {
        match self {
            Body::Text(t) => t.as_literal().map(|s| Bytes::from(s.to_string())),
            Body::Json(j) => j.as_literal().map(|s| Bytes::from(s.to_string())),
            Body::Form(fields) => {
                let mut form = form_urlencoded::Serializer::new(String::new());
                for (name, value) in fields {
                    form.append_pair(name, value.as_literal()?);
                }
                Some(Bytes::from(form.finish()))
            }
            Body::File(bytes) => Some(bytes.clone()),
            Body::Multipart(m) => m
                .encode_with(|t| t.as_literal().map(str::to_string).ok_or(()))
                .ok(),
        }
    }

    fn is_literal(&self) -> bool {
        self.literal().is_some()
    }
}

/// A step's address, before the target is known.
#[derive(Debug, Clone)]
pub struct StepUrl {
    /// As written (after `{{ env.NAME }}`), for default step names.
    pub text: String,
    /// The compiled template.
    pub template: Template,
    /// A complete `http(s)://` URL; otherwise a path appended to the target's base URL.
    pub absolute: bool,
}

impl StepUrl {
    /// As written in the plan, for default step names.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}
