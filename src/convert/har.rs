//! `stampede init --from-har`: a recorded browser session (HAR 1.2, as Chromium and Firefox
//! save it) as one flow, in the recorded order, with the recorded think times.
//!
//! Static assets and other origins are left out; browser-only headers are dropped. A value a
//! request sends that an earlier response produced (a JSON field, a header such as a CSRF
//! token or a `Location`) becomes an `extract` on that response's step and a template in
//! the requests that send it, so ids and tokens are never replayed as recorded when they can
//! be correlated; values that look like ids or tokens and cannot be are listed as warnings
//! with their places. Credentials (`authorization`, cookies, passwords in bodies) become
//! `{{ env.NAME }}` references. Depends on `yaml` and `openapi::clean`.

use base64::Engine as _;
use serde_json::Value;

mod correlate;

use super::openapi::clean;
use super::yaml::{Flow, Scenario, Step};
use correlate::Correlator;

/// The pause written after each step.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Think {
    /// The recorded gap before the next request.
    #[default]
    Recorded,
    /// None.
    None,
    /// The same after every step (`500ms`, `1s..3s`).
    Fixed(String),
}

/// What `init --from-har` was asked.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub think: Think,
    /// Keep scripts, styles, images and fonts.
    pub keep_static: bool,
    /// The origin whose requests are kept (default: the first request's that is not static).
    pub origin: Option<String>,
    /// The target to write (default: the kept origin).
    pub target: Option<String>,
}

/// The scenario, and what could not be correlated.
pub struct Converted {
    pub yaml: String,
    pub warnings: Vec<String>,
}

/// Headers a browser adds that a load test does not send as recorded.
const DROPPED: [&str; 17] = [
    "user-agent",
    "accept-encoding",
    "host",
    "connection",
    "content-length",
    "cookie",
    "referer",
    "origin",
    "accept-language",
    "upgrade-insecure-requests",
    "priority",
    "pragma",
    "cache-control",
    "if-none-match",
    "if-modified-since",
    "dnt",
    "te",
];

/// A request's body: its MIME type, its text, and its form fields when the recorder listed
/// them.
type Post = (String, String, Vec<(String, String)>);

/// One recorded exchange, as far as a scenario needs it.
struct Entry {
    started_ms: f64,
    time_ms: f64,
    method: String,
    url: url::Url,
    headers: Vec<(String, String)>,
    /// (mime type, text, form params).
    post: Option<Post>,
    status: u16,
    response_headers: Vec<(String, String)>,
    response_json: Option<Value>,
    resource_type: String,
    response_mime: String,
}

/// The scenario for the HAR `text` read from `source`.
pub fn convert(text: &str, source: &str, opts: &Options) -> Result<Converted, String> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| format!("{source}: not a HAR file (not JSON: {e})"))?;
    let Some(raw) = doc.pointer("/log/entries").and_then(Value::as_array) else {
        return Err(format!(
            "{source}: not a HAR file (no log.entries); save it from the browser's network panel (Save all as HAR)"
        ));
    };
    let entries: Vec<Entry> = raw.iter().filter_map(entry).collect();
    if entries.is_empty() {
        return Err(format!(
            "{source}: the HAR file has no request stampede can send ({} entries)",
            raw.len()
        ));
    }
    let origin = match &opts.origin {
        Some(o) => o.trim_end_matches('/').to_string(),
        // The first page's origin (not a CDN's script before it).
        None => {
            let first = entries
                .iter()
                .find(|e| !is_static(e))
                .unwrap_or(&entries[0]);
            first.url[..url::Position::BeforePath].to_string()
        }
    };
    let kept: Vec<&Entry> = (entries.iter())
        .filter(|e| e.url[..url::Position::BeforePath] == origin)
        .filter(|e| opts.keep_static || !is_static(e))
        .collect();
    if kept.is_empty() {
        return Err(format!(
            "{source}: no request to {origin} that is not a static asset"
        ));
    }
    let mut c = Correlator::default();
    let mut steps: Vec<Step> = Vec::new();
    for (i, e) in kept.iter().enumerate() {
        let mut step = c.step(e, i, &steps);
        step.think = think(&opts.think, e, kept.get(i + 1).copied());
        steps.push(step);
        c.learn(e, i);
        for (at, var, from) in c.extractions.drain(..) {
            if let Some(s) = steps.get_mut(at) {
                s.extract.push((var, from));
            }
        }
    }
    let mut scenario = Scenario {
        name: clean::name(source.rsplit('/').next().unwrap_or("recorded"), "recorded"),
        target: opts.target.clone().unwrap_or_else(|| origin.clone()),
        ..Scenario::default()
    };
    scenario.header = vec![
        format!(
            "Made by `stampede init --from-har {source}`: {} of its {} requests,",
            kept.len(),
            raw.len()
        ),
        "in the recorded order (static assets and other origins left out).".into(),
    ];
    scenario.header.extend(c.notes.iter().cloned());
    scenario.cookies = true;
    shared_headers(&mut scenario, &mut steps);
    scenario.flows.push(Flow {
        name: "recorded".into(),
        comment: format!("recorded at {origin}"),
        init: Vec::new(),
        steps,
    });
    Ok(Converted {
        yaml: scenario.to_yaml(),
        warnings: c.warnings,
    })
}

/// The think time after entry `e`, `next` the entry sent after it.
fn think(how: &Think, e: &Entry, next: Option<&Entry>) -> Option<String> {
    match how {
        Think::None => None,
        Think::Fixed(t) => Some(t.clone()),
        Think::Recorded => next.and_then(|next| {
            // A gap over a minute (a pause in the recording, a clock jump) is a minute.
            let gap = (next.started_ms - (e.started_ms + e.time_ms.max(0.0))).min(60_000.0);
            (gap >= 1.0).then(|| format!("{}ms", gap.round() as u64))
        }),
    }
}

/// A header every step sends with the same value (the recorded session's cookies, an API
/// key) is written once, in `defaults.headers`; not one that reads a response's value (a
/// default header may read only setup's and init's).
fn shared_headers(scenario: &mut Scenario, steps: &mut [Step]) {
    let Some((first, rest)) = steps.split_first().filter(|(_, rest)| !rest.is_empty()) else {
        return;
    };
    let fixed = |v: &str| v.matches("{{").count() == v.matches("{{ env.").count();
    let shared: Vec<(String, String)> = (first.headers.iter())
        .filter(|h| fixed(&h.1) && rest.iter().all(|s| s.headers.contains(h)))
        .cloned()
        .collect();
    for step in steps.iter_mut() {
        step.headers.retain(|h| !shared.contains(h));
    }
    scenario.headers.extend(shared);
}

/// An entry of the HAR, or `None` for one without a usable request.
fn entry(v: &Value) -> Option<Entry> {
    let req = v.get("request")?;
    let url = url::Url::parse(req.get("url")?.as_str()?).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let post = req.get("postData").map(|p| {
        let mime = text(p.get("mimeType")).to_ascii_lowercase();
        (
            mime,
            text(p.get("text")).to_string(),
            pairs(p.get("params")),
        )
    });
    let resp = v.get("response");
    let content = resp.and_then(|r| r.get("content"));
    let mime = text(content.and_then(|c| c.get("mimeType"))).to_ascii_lowercase();
    let started_ms = (v.get("startedDateTime").and_then(Value::as_str))
        .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    Some(Entry {
        started_ms,
        time_ms: v.get("time").and_then(Value::as_f64).unwrap_or(0.0),
        method: (req.get("method")?.as_str())
            .filter(|m| {
                !m.is_empty() && m.len() <= 20 && m.bytes().all(|b| b.is_ascii_alphabetic())
            })?
            .to_ascii_lowercase(),
        headers: pairs(req.get("headers")),
        post,
        status: (resp.and_then(|r| r.get("status")).and_then(Value::as_u64))
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or(0),
        response_headers: pairs(resp.and_then(|r| r.get("headers"))),
        response_json: content
            .and_then(content_text)
            .filter(|_| mime.contains("json"))
            .and_then(|b| serde_json::from_str(&b).ok()),
        resource_type: text(v.get("_resourceType")).to_ascii_lowercase(),
        response_mime: mime,
        url,
    })
}

/// A string field's text, or "" when it is missing or not a string.
fn text(v: Option<&Value>) -> &str {
    v.and_then(Value::as_str).unwrap_or("")
}

/// A HAR list of `{ name, value }` (headers, form params) as pairs; an entry without a
/// name or a value is left out, one whose value is not a string has "".
fn pairs(list: Option<&Value>) -> Vec<(String, String)> {
    (list.and_then(Value::as_array).into_iter().flatten())
        .filter_map(|h| {
            let name = h.get("name")?.as_str()?;
            let value = h.get("value")?;
            Some((name.to_string(), text(Some(value)).to_string()))
        })
        .collect()
}

/// A response's recorded content as text (base64 decoded when the HAR says so; a body
/// that is not UTF-8 is "").
fn content_text(content: &Value) -> Option<String> {
    let t = content.get("text")?.as_str()?;
    Some(match text(content.get("encoding")) {
        "base64" => (base64::engine::general_purpose::STANDARD.decode(t).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default(),
        _ => t.to_string(),
    })
}

/// A script, style, image, font or media file, by the browser's type, the response's MIME
/// type or the path's extension.
fn is_static(e: &Entry) -> bool {
    const TYPES: [&str; 6] = ["script", "stylesheet", "image", "font", "media", "manifest"];
    const MIMES: [&str; 6] = [
        "javascript",
        "text/css",
        "image/",
        "font/",
        "audio/",
        "video/",
    ];
    const EXTENSIONS: [&str; 16] = [
        ".js", ".mjs", ".css", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".webp", ".woff",
        ".woff2", ".ttf", ".otf", ".map", ".mp4",
    ];
    let path = e.url.path().to_ascii_lowercase();
    TYPES.contains(&e.resource_type.as_str())
        || MIMES.iter().any(|m| e.response_mime.contains(m))
        || EXTENSIONS.iter().any(|x| path.ends_with(x))
}
