//! `--hdr-log PATH`: an HdrHistogram interval log, streamed a tick at a time: each step's
//! latency histogram for the tick, tagged `flow/step` (percent-encoded, see `tag_of`), then
//! all steps' together, untagged.
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

/// A step's tag, `flow/step`, as the log format allows it (no comma, space or line
/// break) and unique: in each name `%`, `/`, `,`, and every space or control character are
/// percent-encoded (`%25`, `%2F`, `%2C`, `%20`, ...), so `a b`, `a,b` and `a_b` stay three
/// tags, and the names can be read back (split at the one `/`, then decode).
pub fn tag_of(flow: &str, step: &str) -> String {
    format!("{}/{}", tag_part(flow), tag_part(step))
}

fn tag_part(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '%' | '/' | ',') || c.is_whitespace() || c.is_control() {
            let mut utf8 = [0; 4];
            for byte in c.encode_utf8(&mut utf8).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
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
            // A step's few values are written from a histogram of exactly them.
            interval
                .latency
                .encode_with(|h| writer.write_histogram(h, begin, length, Tag::new(&tag)))
                .map_err(failed)?;
        }
        tick.total
            .latency
            .encode_with(|h| writer.write_histogram(h, begin, length, None))
            .map_err(failed)?;
        self.last_end = snap.elapsed;
        self.sink.append(&self.buf)
    }

    fn finish(&mut self, _info: &RunInfo, _snap: &Snapshot) -> std::io::Result<()> {
        self.sink.commit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names back from a tag (what a reader of the log would do).
    fn names_of(tag: &str) -> (String, String) {
        let decode = |part: &str| {
            let mut bytes = Vec::new();
            let mut rest = part.as_bytes();
            while let Some((&b, tail)) = rest.split_first() {
                if b == b'%' {
                    let hex = std::str::from_utf8(&tail[..2]).expect("hex");
                    bytes.push(u8::from_str_radix(hex, 16).expect("hex"));
                    rest = &tail[2..];
                } else {
                    bytes.push(b);
                    rest = tail;
                }
            }
            String::from_utf8(bytes).expect("utf-8")
        };
        let (flow, step) = tag.split_once('/').expect("one slash");
        (decode(flow), decode(step))
    }

    #[test]
    fn tags_are_unique_reversible_and_valid() {
        let names = [
            ("f", "a b"),
            ("f", "a,b"),
            ("f", "a_b"),
            ("f", "a%20b"),
            ("f/a", "b"),
            ("f", "a/b"),
            ("f", "tab\there\r\n"),
            ("f", "caf\u{e9} \u{a0}\u{1b}[2J"),
        ];
        let tags: Vec<String> = names.iter().map(|(f, s)| tag_of(f, s)).collect();
        assert_eq!(tags[..3], ["f/a%20b", "f/a%2Cb", "f/a_b"]);
        let unique: std::collections::HashSet<&String> = tags.iter().collect();
        assert_eq!(unique.len(), tags.len(), "{tags:?}");
        for ((flow, step), tag) in names.iter().zip(&tags) {
            assert!(Tag::new(tag).is_some(), "the log format refuses {tag}");
            assert_eq!(names_of(tag), (flow.to_string(), step.to_string()));
        }
    }
}
