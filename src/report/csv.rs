//! `--csv PATH`: the time series as CSV, streamed a tick at a time (a row per step, then one
//! for the whole run), into the file's temporary twin (see `staged`), which becomes the file
//! at the end: memory stays flat however long the run, and a run killed midway leaves its
//! rows up to the last tick in `.NAME.stampede-PID.tmp`, never a cut-short file at NAME. Exact per tick: these rows are never thinned (the JSON's series is, on runs
//! over an hour; see `metrics::history`).
//!
//! Columns: `t_s` (end of the tick from the run's start), `length_s`, `flow`, `step` (`total`
//! with an empty flow for the whole run), `requests`, `errors`, `rps`, `p50_ms`, `p90_ms`,
//! `p99_ms`, `max_ms` (empty when the tick had no response), `in_flight`, `level` (VUs or
//! arrivals per second), `dropped` (arrivals dropped in the tick, as in the JSON series),
//! `server_p50_ms`, `server_p99_ms` (the time the server said it spent, `X-Process-Time` or
//! `Server-Timing`; empty when no response of the tick said it), `tag` (`key=value` on the
//! row of a tagged step's value, right after its step's row; empty otherwise).
//! Only the names can need quoting (`cell`), which also keeps a spreadsheet from running a
//! name as a formula; the figures are plain numbers.

use std::borrow::Cow;

use super::RunInfo;
use super::export::{Exporter, Sink, Tick};
use crate::metrics::{Level, Snapshot, StepStats};

/// The columns, in order.
pub const HEADER: [&str; 17] = [
    "t_s",
    "length_s",
    "flow",
    "step",
    "requests",
    "errors",
    "rps",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "max_ms",
    "in_flight",
    "level",
    "dropped",
    "server_p50_ms",
    "server_p99_ms",
    "tag",
];

/// Streams the series to its sink.
pub struct Csv {
    sink: Sink,
    header_written: bool,
    /// Arrivals dropped before this tick (the snapshot counts them from the start).
    dropped_before: u64,
}

impl Csv {
    /// A CSV exporter writing to `sink`.
    pub fn new(sink: Sink) -> Self {
        Self {
            sink,
            header_written: false,
            dropped_before: 0,
        }
    }
}

/// A tick's rows, the header first when `header` is true; `dropped_before`: arrivals
/// dropped before the tick.
pub fn rows(snap: &Snapshot, header: bool, dropped_before: u64) -> std::io::Result<Vec<u8>> {
    let mut out = String::new();
    if header {
        out.push_str(&HEADER.join(","));
        out.push('\n');
    }
    let level = match snap.live.level {
        Some(Level::Vus(v)) => v.to_string(),
        Some(Level::Rate(r)) => r.to_string(),
        None => String::new(),
    };
    let dropped = snap.dropped.saturating_sub(dropped_before).to_string();
    let with_tags = snap
        .steps
        .iter()
        .flat_map(|s| std::iter::once(s).chain(s.tags.iter()));
    for step in with_tags.chain(std::iter::once(&snap.total)) {
        out.push_str(&row(snap, step, &level, &dropped).join(","));
        out.push('\n');
    }
    Ok(out.into_bytes())
}

/// A name as a CSV cell (RFC 4180): quoted when it holds a comma, a quote or a line break.
/// A name a spreadsheet would run as a formula (it starts with `=`, `+`, `-`, `@`, a tab or
/// a carriage return) is neutralised as OWASP advises: prefixed with `'` and quoted.
pub fn cell(text: &str) -> Cow<'_, str> {
    let formula = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if !formula && !text.contains([',', '"', '\n', '\r']) {
        return Cow::Borrowed(text);
    }
    let prefix = if formula { "'" } else { "" };
    Cow::Owned(format!("\"{prefix}{}\"", text.replace('"', "\"\"")))
}

fn row(snap: &Snapshot, step: &StepStats, level: &str, dropped: &str) -> [String; 17] {
    let i = &step.interval;
    let of = |count: u64, us: u64| {
        if count == 0 {
            String::new()
        } else {
            format!("{}", us as f64 / 1000.0)
        }
    };
    let ms = |us: u64| of(i.latency.count, us);
    let server = |us: u64| of(i.server_time.count, us);
    [
        format!("{:.3}", snap.elapsed.as_secs_f64()),
        format!("{:.3}", i.length.as_secs_f64()),
        cell(&step.flow).into_owned(),
        cell(&step.name).into_owned(),
        i.requests.to_string(),
        i.errors.to_string(),
        format!("{:.1}", i.rps()),
        ms(i.latency.p50),
        ms(i.latency.p90),
        ms(i.latency.p99),
        ms(i.latency.max),
        snap.in_flight.to_string(),
        level.to_string(),
        dropped.to_string(),
        server(i.server_time.p50),
        server(i.server_time.p99),
        step.tag.as_ref().map_or(String::new(), |t| {
            cell(&format!("{}={}", t.key, t.value)).into_owned()
        }),
    ]
}

impl Exporter for Csv {
    fn describe(&self) -> String {
        format!("the CSV time series to {}", self.sink.place())
    }

    fn tick(&mut self, tick: &Tick<'_>) -> std::io::Result<()> {
        let bytes = rows(tick.snap, !self.header_written, self.dropped_before)?;
        self.header_written = true;
        self.dropped_before = tick.snap.dropped;
        self.sink.append(&bytes)
    }

    fn finish(&mut self, _info: &RunInfo, snap: &Snapshot) -> std::io::Result<()> {
        // A run that ended before its first tick still gets a header and its one row set.
        if !self.header_written {
            self.header_written = true;
            self.sink.append(&rows(snap, true, 0)?)?;
        }
        self.sink.commit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_spreadsheet_would_run_are_neutralised_and_read_back_as_text() {
        let names = [
            "=HYPERLINK(\"http://x\",\"y\")",
            "+1+2",
            "-2+3",
            "@SUM(A1)",
            "\tcmd",
            "\r=1",
            "a, \"b\"\nc",
            "plain",
            "mid=dle",
        ];
        let mut text = String::new();
        for name in names {
            text.push_str(&format!("{},{}\n", cell(name), cell("f")));
        }
        // An independent CSV reader sees each name whole, the formulas behind a quote.
        let mut reader = ::csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes());
        let read: Vec<String> = reader
            .records()
            .map(|r| r.expect("a record")[0].to_string())
            .collect();
        let expected: Vec<String> = names
            .iter()
            .map(|n| {
                if n.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                    format!("'{n}")
                } else {
                    n.to_string()
                }
            })
            .collect();
        assert_eq!(read, expected);
        assert_eq!(cell("=1+2"), "\"'=1+2\"");
        assert_eq!(cell("plain"), "plain");
        for line in text.lines().filter(|l| !l.is_empty()) {
            assert!(!line.starts_with(['=', '+', '-', '@']), "{line}");
        }
    }
}
