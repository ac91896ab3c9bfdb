//! A `StepInterval` as text and back (`IntervalState`): what a shard's result carries of each
//! step's whole-run figures, so that `stampede merge` adds the shards' intervals exactly as
//! the aggregator adds its threads' (every histogram whole, in HdrHistogram's own encoding).
//!
//! Error messages are redacted on the way out (a result is a file a user keeps); failure
//! samples are not here (a step's `Samples`, already redacted, travel beside it). A tag
//! value is named, not numbered: each shard numbers its values in the order it met them.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{StepInterval, Tagged};
use crate::metrics::histograms::{Figure, Tally};
use crate::metrics::history::{decode, encode};
use crate::metrics::outcome::ErrorClass;
use crate::metrics::phases::ConnectionCounts;
use crate::metrics::retries::RetryCounts;
use crate::metrics::tags::OTHER;
use crate::redact::Redactor;

/// A step's (or the run's, or a tag value's) figures over a run, as a result carries them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IntervalState {
    /// Latency, µs: HdrHistogram V2 + deflate, base64 (as every histogram here).
    pub latency: String,
    /// Service time, when some differed from the latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// (status, count).
    pub statuses: Vec<(u16, u64)>,
    /// (error class, count), classes with a count only.
    pub errors: Vec<(String, u64)>,
    /// (error class, its latest message, redacted).
    pub messages: Vec<(String, String)>,
    pub bytes: u64,
    pub interrupted: u64,
    pub failed_after_status: u64,
    pub hops: u64,
    /// Failures per check, by the check's position in the step.
    pub checks: Vec<u64>,
    pub server_time_invalid: u64,
    /// Its requests' connections: new, reused, remade.
    pub connections: ConnectionCounts,
    /// How its exchanges' attempts came out (`retry:`).
    pub retries: RetryCounts,
    /// The figures with histograms of their own, by name (`send_lag`, `dns`, …).
    pub figures: Vec<(String, String)>,
    /// A tagged step's figures per value (`other` among them when it was used).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, IntervalState)>,
}

/// A figure's name in a result.
fn figure_name(figure: Figure) -> &'static str {
    match figure {
        Figure::SendLag => "send_lag",
        Figure::ServerTime => "server_time",
        Figure::Overhead => "overhead",
        Figure::Dns => "dns",
        Figure::Connect => "connect",
        Figure::Tls => "tls",
        Figure::Write => "write",
        Figure::Ttfb => "ttfb",
        Figure::Download => "download",
        Figure::Exchange => "exchange",
        Figure::Corrected => "corrected",
    }
}

/// An error class by its name in reports.
pub fn class_named(name: &str) -> Option<ErrorClass> {
    ErrorClass::ALL.into_iter().find(|c| c.as_str() == name)
}

fn tally_of(text: &str, what: &str) -> Result<Tally, String> {
    decode(text)
        .map(Tally::Many)
        .ok_or_else(|| format!("{what}: not an HdrHistogram (V2, deflated, base64)"))
}

impl StepInterval {
    /// Its figures as a result carries them, messages hidden by `redactor`.
    pub fn state(&self, redactor: &Redactor) -> IntervalState {
        let classes = ErrorClass::ALL.iter();
        IntervalState {
            latency: self.latency.encode_with(encode),
            service: self.service.as_ref().map(|t| t.encode_with(encode)),
            statuses: self.statuses.clone(),
            errors: (classes.clone())
                .filter(|c| self.errors[c.index()] > 0)
                .map(|c| (c.as_str().to_string(), self.errors[c.index()]))
                .collect(),
            messages: classes
                .filter_map(|c| {
                    let message = self.samples[c.index()].as_deref()?;
                    Some((c.as_str().to_string(), redactor.owned(message)))
                })
                .collect(),
            bytes: self.bytes,
            interrupted: self.interrupted,
            failed_after_status: self.failed_after_status,
            hops: self.hops,
            checks: self.checks.clone(),
            server_time_invalid: self.server_time_invalid,
            connections: self.connections,
            retries: self.retries,
            figures: Figure::ALL
                .iter()
                .filter_map(|&f| {
                    Some((
                        figure_name(f).to_string(),
                        self.figures.get(f)?.encode_with(encode),
                    ))
                })
                .collect(),
            tags: self
                .tagged()
                .map(|t| {
                    t.each()
                        .map(|(i, sub)| (t.name(i).to_string(), sub.state(redactor)))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The interval a result's `state` describes, recording up to `high_us`; its tag values
    /// numbered in `names` (shared by every shard's intervals of the step, so that adding
    /// them adds value to value). `Err` names what is not a figure.
    pub fn from_state(
        state: &IntervalState,
        high_us: u64,
        names: &mut Vec<Arc<str>>,
    ) -> Result<StepInterval, String> {
        let mut s = StepInterval::new(high_us);
        s.latency = tally_of(&state.latency, "latency")?;
        s.service = (state.service.as_deref())
            .map(|t| tally_of(t, "service"))
            .transpose()?;
        s.statuses = state.statuses.clone();
        for (name, count) in &state.errors {
            let class =
                class_named(name).ok_or_else(|| format!("\"{name}\" is not an error class"))?;
            s.errors[class.index()] = *count;
        }
        for (name, message) in &state.messages {
            if let Some(class) = class_named(name) {
                s.samples[class.index()] = Some(message.clone());
            }
        }
        s.bytes = state.bytes;
        s.interrupted = state.interrupted;
        s.failed_after_status = state.failed_after_status;
        s.hops = state.hops;
        s.checks = state.checks.clone();
        s.server_time_invalid = state.server_time_invalid;
        s.connections = state.connections;
        s.retries = state.retries;
        for (name, text) in &state.figures {
            let figure = (Figure::ALL.into_iter())
                .find(|f| figure_name(*f) == name)
                .ok_or_else(|| format!("\"{name}\" is not a figure"))?;
            s.figures.set(figure, tally_of(text, name)?);
        }
        if !state.tags.is_empty() {
            let mut tagged = Tagged::default();
            for (value, sub) in &state.tags {
                let i = number(names, value);
                let mut inner = Vec::new();
                let interval = StepInterval::from_state(sub, high_us, &mut inner)?;
                tagged.slot(i, high_us).add(&interval);
            }
            tagged.values = names.clone();
            s.tagged = Some(Box::new(tagged));
        }
        Ok(s)
    }
}

/// The number of tag value `value` in `names`, added if new.
fn number(names: &mut Vec<Arc<str>>, value: &str) -> usize {
    match names.iter().position(|n| &**n == value) {
        Some(i) => i,
        None => {
            names.push(Arc::from(value));
            names.len() - 1
        }
    }
}

impl StepInterval {
    /// Lists the `other` tag value last (see `Tagged::other_last`).
    pub fn other_tag_last(&mut self) {
        if let Some(t) = &mut self.tagged {
            t.other_last();
        }
    }
}

impl Tagged {
    /// Puts `other` after every named value (as the registry numbers it), keeping the
    /// others' order: a merge numbers values in the order the shards met them.
    pub fn other_last(&mut self) {
        let Some(at) = self.values.iter().position(|v| &**v == OTHER) else {
            return;
        };
        let value = self.values.remove(at);
        self.values.push(value);
        if at < self.intervals.len() {
            let interval = self.intervals.remove(at);
            self.intervals.resize_with(self.values.len() - 1, || None);
            self.intervals.push(interval);
        }
    }
}
