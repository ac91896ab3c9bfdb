//! The server's own time, read from a response's headers as the step's `ServerClock` says:
//! `X-Process-Time` (a number, in seconds by default) or `Server-Timing` (`dur=` in ms,
//! one metric's or every metric's summed).
//!
//! `Stamps` reads header by header, so the HTTP/1.1 codec finds the value while it frames
//! the response, without copying a header out; `read` does the same over a `HeaderMap`
//! (HTTP/2, reqwest). Depends on the scenario's `ServerClock` and `metrics::ServerTime`.
//! Invariant: a value that is not a time is `ServerTime::Invalid`, never zero.

use reqwest::header::HeaderMap;

use crate::metrics::ServerTime;
use crate::scenario::{ServerClock, TimeUnit};

/// The most µs a server time may say (about a year): a larger number is a mistake, not a
/// time, and would not fit the histograms anyway.
const MOST_MICROS: f64 = 3.2e13;

/// What the headers seen so far say of the server's time.
#[derive(Debug)]
pub struct Stamps<'c> {
    clock: &'c ServerClock,
    /// From a one-number header (`X-Process-Time`, or the one the step names): the last one
    /// wins.
    number: Option<ServerTime>,
    /// From `Server-Timing` headers: their durations summed (ms), or `Err` for one that was
    /// not a number.
    timing: Option<Result<f64, ()>>,
}

impl<'c> Stamps<'c> {
    /// Nothing seen yet.
    pub fn new(clock: &'c ServerClock) -> Self {
        Self {
            clock,
            number: None,
            timing: None,
        }
    }

    /// Reads one header line, if it is one the clock names.
    #[inline]
    pub fn see(&mut self, name: &str, value: &[u8]) {
        match self.clock {
            ServerClock::Off => {}
            ServerClock::Auto => {
                if name.eq_ignore_ascii_case("x-process-time") {
                    self.number = Some(number(value, TimeUnit::Seconds));
                } else if name.eq_ignore_ascii_case("server-timing") {
                    self.add_timing(value, None);
                }
            }
            ServerClock::Header { name: wanted, unit } => {
                if name.eq_ignore_ascii_case(wanted.as_str()) {
                    self.number = Some(number(value, *unit));
                }
            }
            ServerClock::ServerTiming { metric } => {
                if name.eq_ignore_ascii_case("server-timing") {
                    self.add_timing(value, metric.as_deref());
                }
            }
        }
    }

    fn add_timing(&mut self, value: &[u8], metric: Option<&str>) {
        let Some(found) = server_timing(value, metric) else {
            return;
        };
        self.timing = Some(match (self.timing, found) {
            (Some(Err(())), _) | (_, Err(())) => Err(()),
            (Some(Ok(sum)), Ok(ms)) => Ok(sum + ms),
            (None, Ok(ms)) => Ok(ms),
        });
    }

    /// The server's time the headers said. A one-number header beats `Server-Timing`
    /// (FastAPI's middleware writes the first; a proxy may add the second).
    pub fn finish(self) -> ServerTime {
        match (self.number, self.timing) {
            (Some(said), _) => said,
            (None, Some(Ok(ms))) => micros(ms * TimeUnit::Millis.micros()),
            (None, Some(Err(()))) => ServerTime::Invalid,
            (None, None) => ServerTime::Unknown,
        }
    }
}

/// The server's time `headers` say, as `clock` reads them.
pub fn read(clock: &ServerClock, headers: &HeaderMap) -> ServerTime {
    if !clock.is_on() {
        return ServerTime::Unknown;
    }
    let mut stamps = Stamps::new(clock);
    for (name, value) in headers {
        stamps.see(name.as_str(), value.as_bytes());
    }
    stamps.finish()
}

/// A header's number in `unit`, as a server time.
fn number(value: &[u8], unit: TimeUnit) -> ServerTime {
    match std::str::from_utf8(value).map(|t| t.trim().parse::<f64>()) {
        Ok(Ok(n)) => micros(n * unit.micros()),
        _ => ServerTime::Invalid,
    }
}

/// A time in µs: a finite, non-negative number of at most `MOST_MICROS`, rounded.
fn micros(us: f64) -> ServerTime {
    if us.is_finite() && (0.0..=MOST_MICROS).contains(&us) {
        ServerTime::Took(us.round() as u64)
    } else {
        ServerTime::Invalid
    }
}

/// The `dur=` of one `Server-Timing` header's metrics (`db;dur=3.2, app;dur=1.1;desc="x"`),
/// summed in ms: of the metric named `metric` only, or of all. `None`: no metric said a
/// duration; `Err`: one said a duration that is not a number. Commas and semicolons inside
/// a quoted `desc` do not split.
fn server_timing(value: &[u8], metric: Option<&str>) -> Option<Result<f64, ()>> {
    let text = std::str::from_utf8(value).ok()?;
    let mut sum = None;
    for entry in split_unquoted(text, ',') {
        let mut parts = split_unquoted(entry, ';');
        let name = parts.next().unwrap_or("").trim();
        if metric.is_some_and(|m| !m.eq_ignore_ascii_case(name)) {
            continue;
        }
        for param in parts {
            let Some((key, said)) = param.split_once('=') else {
                continue;
            };
            if !key.trim().eq_ignore_ascii_case("dur") {
                continue;
            }
            let said = said.trim().trim_matches('"');
            match said.parse::<f64>() {
                Ok(ms) if ms.is_finite() && ms >= 0.0 => {
                    sum = Some(Ok(sum.and_then(Result::ok).unwrap_or(0.0) + ms));
                }
                _ => return Some(Err(())),
            }
        }
    }
    sum
}

/// `text` split at each `sep` outside double quotes.
fn split_unquoted(text: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let t = rest?;
        let mut quoted = false;
        for (i, c) in t.char_indices() {
            if c == '"' {
                quoted = !quoted;
            } else if c == sep && !quoted {
                rest = Some(&t[i + 1..]);
                return Some(&t[..i]);
            }
        }
        rest = None;
        Some(t)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn said(clock: &ServerClock, headers: &[(&str, &str)]) -> ServerTime {
        let mut stamps = Stamps::new(clock);
        for (name, value) in headers {
            stamps.see(name, value.as_bytes());
        }
        stamps.finish()
    }

    #[test]
    fn x_process_time_is_seconds_and_beats_server_timing() {
        let auto = ServerClock::Auto;
        let fastapi = [("X-Process-Time", "0.005123")];
        assert_eq!(said(&auto, &fastapi), ServerTime::Took(5_123));
        let both = [("server-timing", "app;dur=9"), ("x-process-time", "0.002")];
        assert_eq!(said(&auto, &both), ServerTime::Took(2_000));
        assert_eq!(said(&auto, &[("x-other", "1")]), ServerTime::Unknown);
        assert_eq!(said(&ServerClock::Off, &fastapi), ServerTime::Unknown);
    }

    #[test]
    fn server_timing_sums_its_durations_or_reads_one_metric() {
        let auto = ServerClock::Auto;
        let header = [("Server-Timing", "db;dur=3.2, app;dur=1.1")];
        assert_eq!(said(&auto, &header), ServerTime::Took(4_300));
        // Two headers are one list; a metric without a duration adds nothing.
        let split = [
            ("server-timing", "db;dur=3.2"),
            ("server-timing", "cache;desc=\"hit, warm\", app;dur=\"1.1\""),
        ];
        assert_eq!(said(&auto, &split), ServerTime::Took(4_300));
        assert_eq!(
            said(&auto, &[("server-timing", "cache;desc=hit")]),
            ServerTime::Unknown
        );
        let app = ServerClock::ServerTiming {
            metric: Some(Arc::from("app")),
        };
        assert_eq!(said(&app, &header), ServerTime::Took(1_100));
    }

    #[test]
    fn a_named_header_is_read_in_its_unit() {
        let runtime = ServerClock::Header {
            name: reqwest::header::HeaderName::from_static("x-runtime"),
            unit: TimeUnit::Millis,
        };
        assert_eq!(
            said(&runtime, &[("X-Runtime", " 12.5 ")]),
            ServerTime::Took(12_500)
        );
        // The default header is not read when another is named.
        assert_eq!(
            said(&runtime, &[("x-process-time", "0.1")]),
            ServerTime::Unknown
        );
    }

    #[test]
    fn what_is_not_a_time_is_invalid_never_zero() {
        let auto = ServerClock::Auto;
        for bad in ["abc", "-0.1", "NaN", "inf", "", "1e300"] {
            assert_eq!(
                said(&auto, &[("x-process-time", bad)]),
                ServerTime::Invalid,
                "{bad:?}"
            );
        }
        assert_eq!(
            said(&auto, &[("server-timing", "db;dur=fast")]),
            ServerTime::Invalid
        );
        assert_eq!(
            said(&auto, &[("server-timing", "db;dur=-1, app;dur=2")]),
            ServerTime::Invalid
        );
    }

    #[test]
    fn a_header_map_reads_the_same() {
        let mut headers = HeaderMap::new();
        headers.insert("x-process-time", "0.25".parse().expect("a value"));
        assert_eq!(
            read(&ServerClock::Auto, &headers),
            ServerTime::Took(250_000)
        );
    }
}
