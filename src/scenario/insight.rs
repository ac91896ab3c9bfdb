//! What a step reads from its responses beyond judging them: where the server says how long
//! it took (`server_time:`, `ServerClock`), and the value that splits its figures
//! (`tag_by:`, `TagBy`).
//!
//! Plain validated values; the transport reads the headers a clock names
//! (`engine::transport::stamp`), the engine reads a tag's value when it judges a response.
//! Depends on `checks` (a tag's source is an extraction's).

use std::sync::Arc;

use reqwest::header::HeaderName;

use super::checks::{Response, Source};

/// A step's tag (`tag_by:`): where its value comes from, and how many values get a row.
#[derive(Debug, Clone)]
pub struct TagBy {
    /// The tag's name in reports: the JSON field's last key (`from_cache`), the header's
    /// name, `status`, or `match` for a regex; `name:` sets another.
    pub key: String,
    /// Where the value is read.
    pub source: Source,
    /// The most values with a row of their own; later ones are `other` (`max_values`).
    pub max_values: usize,
}

/// How many values of a tag get a row of their own, unless `max_values` says.
pub const DEFAULT_MAX_VALUES: usize = 20;

impl TagBy {
    /// The response's value (`None`: it did not say; a JSON null is `null`).
    pub fn value(&self, r: &mut Response<'_>) -> Option<String> {
        self.source.value(r)
    }
}

/// The unit of a number a server-time header holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// Seconds (`X-Process-Time: 0.005123`, as FastAPI's middleware writes it).
    Seconds,
    /// Milliseconds (`Server-Timing`'s `dur=`).
    Millis,
    /// Microseconds.
    Micros,
}

impl TimeUnit {
    /// µs in one of this unit.
    pub fn micros(self) -> f64 {
        match self {
            TimeUnit::Seconds => 1e6,
            TimeUnit::Millis => 1e3,
            TimeUnit::Micros => 1.0,
        }
    }

    /// Its name in a scenario (`s`, `ms`, `us`).
    pub fn as_str(self) -> &'static str {
        match self {
            TimeUnit::Seconds => "s",
            TimeUnit::Millis => "ms",
            TimeUnit::Micros => "us",
        }
    }
}

/// Where a step reads the time the server spent on a request (`server_time:` in `defaults`
/// or a step).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ServerClock {
    /// Not read (`server_time: false`).
    Off,
    /// `X-Process-Time` in seconds when the response has it, else `Server-Timing` (every
    /// metric's `dur=` summed): no configuration, the common middlewares just work.
    #[default]
    Auto,
    /// One header holding a number in `unit` (`server_time: { header: X-Runtime, unit: s }`).
    Header {
        /// The header (lowercase, as `HeaderName` keeps it).
        name: HeaderName,
        /// What its number counts.
        unit: TimeUnit,
    },
    /// `Server-Timing` (`db;dur=3.2, app;dur=1.1`): one named metric's `dur=` in ms, or
    /// every metric's summed when `metric` is `None`.
    ServerTiming {
        /// The metric's name (`server_time: { header: Server-Timing, metric: app }`).
        metric: Option<Arc<str>>,
    },
}

impl ServerClock {
    /// Whether a response's server time is read at all.
    pub fn is_on(&self) -> bool {
        *self != ServerClock::Off
    }
}
