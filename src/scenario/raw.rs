//! The serde mirror of a scenario file: exactly what the user wrote, with source locations.
//!
//! Plain structs with `deny_unknown_fields` so a typo is an error with a location; values that
//! need checking beyond their type are `Spanned` so validation (in `build`) can point at them.
//! Nothing here interprets a value: that is `build`'s job, once.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

/// A spanned free-form value: YAML scalars, lists and maps as JSON values.
pub type AnyValue = Spanned<serde_json::Value>;

/// A whole scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    /// A JSON scenario's pointer to its JSON Schema, for editors; not read.
    #[serde(rename = "$schema")]
    pub _schema: Option<Spanned<String>>,
    pub name: Option<Spanned<String>>,
    pub target: Option<Spanned<String>>,
    pub defaults: Option<RawDefaults>,
    pub load: Option<Spanned<RawLoad>>,
    pub variables: Option<BTreeMap<String, AnyValue>>,
    pub data: Option<BTreeMap<String, Spanned<RawData>>>,
    pub cookies: Option<Spanned<bool>>,
    pub preflight: Option<Spanned<bool>>,
    pub secrets: Option<Vec<Spanned<String>>>,
    pub thresholds: Option<Vec<AnyValue>>,
    pub setup: Option<Spanned<RawFlow>>,
    pub flows: Option<Spanned<Vec<Spanned<RawFlow>>>>,
    pub tls: Option<Spanned<RawTls>>,
    pub http2: Option<Spanned<bool>>,
    pub streams_per_connection: Option<Spanned<u64>>,
    pub proxy: Option<Spanned<String>>,
    pub proxy_from_env: Option<Spanned<bool>>,
}

/// `tls:`: verification, extra authorities, a client certificate, the lowest version.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub insecure: Option<Spanned<bool>>,
    pub ca: Option<Spanned<String>>,
    pub cert: Option<Spanned<String>>,
    pub key: Option<Spanned<String>>,
    pub min_version: Option<Spanned<String>>,
}

/// A data file: rows that steps read as `{{ data.NAME.COLUMN }}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawData {
    pub file: Option<Spanned<String>>,
    pub mode: Option<Spanned<String>>,
    pub on_exhausted: Option<Spanned<String>>,
}

/// One stage of a ramp: reach `vus` or `rate` by the end of `duration`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    pub duration: Option<Spanned<String>>,
    pub vus: Option<Spanned<u64>>,
    pub rate: Option<AnyValue>,
}

/// Settings every step inherits.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    pub headers: Option<BTreeMap<String, Spanned<String>>>,
    pub timeout: Option<Spanned<String>>,
    pub max_body: Option<Spanned<String>>,
    pub follow_redirects: Option<Spanned<u64>>,
    pub server_time: Option<AnyValue>,
    pub tag_by: Option<AnyValue>,
    pub retry: Option<AnyValue>,
}

/// How much load and for how long.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoad {
    pub vus: Option<Spanned<u64>>,
    pub rate: Option<AnyValue>,
    pub max_in_flight: Option<Spanned<u64>>,
    pub duration: Option<Spanned<String>>,
    pub iterations: Option<Spanned<u64>>,
    pub graceful_stop: Option<Spanned<String>>,
    pub stages: Option<Spanned<Vec<Spanned<RawStage>>>>,
    pub find_capacity: Option<AnyValue>,
}

/// A named, weighted, ordered list of steps.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFlow {
    pub name: Option<Spanned<String>>,
    pub weight: Option<Spanned<u64>>,
    pub pace: Option<Spanned<String>>,
    pub init: Option<Spanned<Vec<Spanned<RawStep>>>>,
    pub steps: Option<Spanned<Vec<Spanned<RawStep>>>>,
    /// Setup only: a split plan runs it in shard 0 alone.
    pub once: Option<Spanned<bool>>,
}

/// One request. The method is given either as a shortcut key (`get: /path`) or as
/// `method:` with `url:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub name: Option<Spanned<String>>,
    pub method: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub get: Option<Spanned<String>>,
    pub post: Option<Spanned<String>>,
    pub put: Option<Spanned<String>>,
    pub patch: Option<Spanned<String>>,
    pub delete: Option<Spanned<String>>,
    pub head: Option<Spanned<String>>,
    pub options: Option<Spanned<String>>,
    pub headers: Option<BTreeMap<String, Spanned<String>>>,
    pub query: Option<BTreeMap<String, AnyValue>>,
    pub json: Option<AnyValue>,
    pub body: Option<Spanned<String>>,
    pub form: Option<BTreeMap<String, AnyValue>>,
    pub body_file: Option<AnyValue>,
    pub multipart: Option<Spanned<Vec<Spanned<RawPart>>>>,
    pub timeout: Option<Spanned<String>>,
    pub max_body: Option<Spanned<String>>,
    pub expect: Option<RawExpect>,
    pub extract: Option<BTreeMap<String, AnyValue>>,
    pub on_error: Option<Spanned<String>>,
    pub think: Option<Spanned<String>>,
    pub follow_redirects: Option<Spanned<u64>>,
    pub server_time: Option<AnyValue>,
    pub tag_by: Option<AnyValue>,
    pub retry: Option<AnyValue>,
}

impl RawStep {
    /// The method shortcuts that are present, as (METHOD, value).
    pub fn shortcuts(&self) -> Vec<(&'static str, &Spanned<String>)> {
        [
            ("GET", &self.get),
            ("POST", &self.post),
            ("PUT", &self.put),
            ("PATCH", &self.patch),
            ("DELETE", &self.delete),
            ("HEAD", &self.head),
            ("OPTIONS", &self.options),
        ]
        .into_iter()
        .filter_map(|(m, v)| v.as_ref().map(|v| (m, v)))
        .collect()
    }
}

/// One part of a `multipart:` body: a text value (a template) or a file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPart {
    pub name: Option<Spanned<String>>,
    pub value: Option<AnyValue>,
    pub file: Option<Spanned<String>>,
    pub filename: Option<Spanned<String>>,
    pub content_type: Option<Spanned<String>>,
}

/// What a response must look like to count as a success.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    pub status: Option<AnyValue>,
    pub latency: Option<Spanned<String>>,
    pub body: Option<Spanned<Vec<Spanned<RawBodyCheck>>>>,
    pub headers: Option<BTreeMap<String, Spanned<RawHeaderCheck>>>,
}

/// An assertion on the response body: a JSON path with one test, or a regex.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBodyCheck {
    pub name: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    pub equals: Option<AnyValue>,
    pub exists: Option<Spanned<bool>>,
    pub contains: Option<Spanned<String>>,
    pub regex: Option<Spanned<String>>,
    pub soft: Option<Spanned<bool>>,
}

/// An assertion on one response header.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeaderCheck {
    pub equals: Option<Spanned<String>>,
    pub exists: Option<Spanned<bool>>,
    pub contains: Option<Spanned<String>>,
    pub regex: Option<Spanned<String>>,
    pub soft: Option<Spanned<bool>>,
}
