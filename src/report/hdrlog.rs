//! `--hdr-log PATH`: an HdrHistogram interval log, streamed a tick at a time: each step's
//! latency histogram for the tick, tagged `flow/step`, then all steps' together, untagged.
//! Values are microseconds. Written by hdrhistogram's own log writer and V2+deflate
//! serializer, so `HistogramLogProcessor` and the Python `hdrhistogram` package read it.

use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};

use super::RunInfo;
use super::export::{Exporter, Sink, Tick};
use crate::metrics::Snapshot;

/// Streams interval histograms to its sink.
pub struct HdrLog {
    sink: Sink,
    serializer: V2DeflateSerializer,
    /// The run's start (wall clock), written once as the log's StartTime.
    start: Option<SystemTime>,
    /// Where the last interval ended, from the start.
    last_end: Duration,
    buf: Vec<u8>,
}

impl HdrLog {
    /// An interval log writing to `sink`.
    pub fn new(sink: Sink) -> Self {
        Self {
            sink,
            serializer: V2DeflateSerializer::new(),
            start: None,
            last_end: Duration::ZERO,
            buf: Vec::new(),
        }
    }
}

/// A tag as the log format allows it: no comma, space or line break.
pub fn tag_of(flow: &str, step: &str) -> String {
    format!("{flow}/{step}")
        .chars()
        .map(|c| {
            if matches!(c, ',' | ' ' | '\r' | '\n') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

fn failed(e: impl std::fmt::Debug) -> std::io::Error {
    std::io::Error::other(format!("{e:?}"))
}

impl Exporter for HdrLog {
    fn describe(&self) -> String {
        format!("the HDR interval log to {}", self.sink.place())
    }

    fn tick(&mut self, tick: &Tick<'_>) -> std::io::Result<()> {
        let snap = tick.snap;
        self.buf.clear();
        let mut builder = IntervalLogWriterBuilder::new();
        if self.start.is_none() {
            let start = SystemTime::now()
                .checked_sub(snap.elapsed)
                .unwrap_or(SystemTime::UNIX_EPOCH);
            self.start = Some(start);
            builder
                .add_comment(&format!(
                    " stampede {} interval log: latency in microseconds, one interval per \
                     tick, tagged flow/step; the untagged one is all steps together",
                    env!("CARGO_PKG_VERSION")
                ))
                .with_start_time(start)
                .with_base_time(start);
        }
        let mut writer = builder
            .begin_log_with(&mut self.buf, &mut self.serializer)
            .map_err(failed)?;
        let begin = self.last_end;
        let length = snap.elapsed.saturating_sub(begin);
        for (interval, step) in tick.steps.iter().zip(&snap.steps) {
            let tag = tag_of(&step.flow, &step.name);
            writer
                .write_histogram(&interval.latency, begin, length, Tag::new(&tag))
                .map_err(failed)?;
        }
        writer
            .write_histogram(&tick.total.latency, begin, length, None)
            .map_err(failed)?;
        self.last_end = snap.elapsed;
        self.sink.append(&self.buf)
    }

    fn finish(&mut self, _info: &RunInfo, _snap: &Snapshot) -> std::io::Result<()> {
        self.sink.commit()
    }
}
