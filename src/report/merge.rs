//! `stampede merge`: the shards' results of a split plan read back and added into the
//! result of one run that did all their work (`merge`), which the outputs then write as
//! any run's: the same summary, JSON, HTML and JUnit, the thresholds judged on the merged
//! figures. Each result's exact state (`metrics::run_state`) is what is added; the rest of
//! the run's description (scenario, target, load, protocol) is read from the results.
//!
//! Refused, with what to do: a file that is not a result, a result of another schema
//! version, a run that was not a shard, shards of different plans (their fingerprints), a
//! shard given twice, and a missing shard (unless `partial`). A merged result is a result
//! of the same kind, so merging is associative. Depends on `metrics` (the state and its
//! snapshot), `scenario` (the thresholds and the load) and the rest of `report`.

use std::time::SystemTime;

use serde_json::Value;

use super::shards::{self, Shards};
use super::{Ending, RunInfo, saved, verdicts};
use crate::metrics::run_state::{Part, RunState, secs};
use crate::metrics::{Connections, Level, Snapshot, snapshot_of};
use crate::scenario::{Load, Model, Stage, Threshold};

/// The line before a result printed to a log (`run --log-result`): a log line that holds
/// it (after any prefix a log collector adds) begins one.
pub const LOG_BEGIN: &str = "----- stampede result begin -----";
/// The line after it.
pub const LOG_END: &str = "----- stampede result end -----";

/// One result to merge: where it came from, and its document.
pub struct Input {
    pub name: String,
    pub doc: Value,
}

/// The results printed in a log between `LOG_BEGIN` and `LOG_END` (each line of a result
/// with the prefix its begin line had removed); `name` says where the log came from.
pub fn from_log(text: &str, name: &str) -> Result<Vec<Input>, String> {
    let mut found = Vec::new();
    let mut open: Option<(String, String)> = None; // (prefix, text so far)
    for line in text.lines() {
        match &mut open {
            None => {
                if let Some(at) = line.find(LOG_BEGIN) {
                    open = Some((line[..at].to_string(), String::new()));
                }
            }
            Some((prefix, body)) => {
                let line = line.strip_prefix(prefix.as_str()).unwrap_or(line);
                if line.trim_end() == LOG_END {
                    let n = found.len() + 1;
                    let doc = serde_json::from_str(body)
                        .map_err(|e| format!("{name}: result {n} in the log is not JSON: {e}"))?;
                    found.push(Input {
                        name: format!("{name} (result {n})"),
                        doc,
                    });
                    open = None;
                } else {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
    }
    if open.is_some() {
        return Err(format!(
            "{name}: a result begins in the log but does not end (\"{LOG_END}\")"
        ));
    }
    if found.is_empty() {
        return Err(format!(
            "{name}: no result in the log; run each shard with --log-result, which prints its \
             result between \"{LOG_BEGIN}\" and \"{LOG_END}\""
        ));
    }
    Ok(found)
}

/// A result read for the merge: its shards, its state, and where its clock starts.
struct Read<'a> {
    input: &'a Input,
    shards: Shards,
    state: RunState,
    /// Its earliest shard's start: the zero of its state's clock.
    origin: SystemTime,
}

fn read(input: &Input) -> Result<Read<'_>, String> {
    let name = &input.name;
    saved::check(&input.doc, name)?;
    let shards = shards::read(&input.doc)
        .map_err(|e| format!("{name}: {e}"))?
        .ok_or_else(|| {
            format!(
                "{name}: not a shard's result (it has no shards part); run each shard with \
                 --shard I/N --json PATH, then merge those files"
            )
        })?;
    let state: RunState = serde_json::from_value(input.doc["state"].clone()).map_err(|e| {
        format!("{name}: its exact state (\"state\") is missing or unreadable ({e}); merge the files that stampede run --shard wrote")
    })?;
    let origin = (shards.parts.iter().map(|p| p.started_at).min())
        .ok_or_else(|| format!("{name}: its shards part lists no shard"))?;
    // Every figure readable, or the file is named now rather than the merge failing later.
    snapshot_of(&state).map_err(|e| format!("{name}: its exact state: {e}"))?;
    Ok(Read {
        input,
        shards,
        state,
        origin,
    })
}

/// The plan's shards, each once, of one plan.
fn check_shards(all: &[Read<'_>], partial: bool) -> Result<Shards, String> {
    let first = &all[0];
    let mut merged = Shards {
        count: first.shards.count,
        fingerprint: first.shards.fingerprint.clone(),
        run_id: first.shards.run_id.clone(),
        parts: Vec::new(),
        merged: true,
    };
    let mut from: Vec<(u64, &str)> = Vec::new();
    for r in all {
        let name = &r.input.name;
        if r.shards.fingerprint != merged.fingerprint || r.shards.count != merged.count {
            return Err(format!(
                "{name} is a shard of another plan than {} (plan {} in {} shards, not {} in {}): \
                 merge the shards of one run of one scenario with the same flags",
                first.input.name,
                r.shards.fingerprint,
                r.shards.count,
                merged.fingerprint,
                merged.count
            ));
        }
        if r.shards.run_id != merged.run_id {
            return Err(format!(
                "{name} is of another run than {} (run id {} against {}): merge the shards \
                 of one run",
                first.input.name,
                r.shards.run_id.as_deref().unwrap_or("none"),
                merged.run_id.as_deref().unwrap_or("none")
            ));
        }
        let planned = first.shards.parts.first().and_then(|p| p.planned_start);
        for part in &r.shards.parts {
            if part.planned_start != planned {
                return Err(format!(
                    "{name}: shard {} was to start at another instant than {}'s (--start-at): \
                     merge the shards of one run, not an earlier run's file",
                    part.index, first.input.name
                ));
            }
            if let Some((_, other)) = from.iter().find(|(i, _)| *i == part.index) {
                return Err(format!(
                    "shard {}/{} is in both {other} and {name}: give each shard once",
                    part.index, merged.count
                ));
            }
            from.push((part.index, name));
            merged.parts.push(part.clone());
        }
    }
    merged.parts.sort_by_key(|p| p.index);
    let missing = merged.missing();
    if !missing.is_empty() && !partial {
        let list: Vec<String> = missing
            .iter()
            .map(|i| format!("{i}/{}", merged.count))
            .collect();
        return Err(format!(
            "shard(s) {} missing: the plan was split into {}; give every shard's result, or \
             --partial to merge only these",
            list.join(", "),
            merged.count
        ));
    }
    Ok(merged)
}

/// The result of one run that did the work of all `inputs`: its description and its final
/// snapshot, the thresholds judged on it. `Err` says which input is refused and why.
pub fn merge(inputs: &[Input], partial: bool) -> Result<(RunInfo, Snapshot), String> {
    let all = inputs.iter().map(read).collect::<Result<Vec<_>, _>>()?;
    let Some(first) = all.first() else {
        return Err("give the shards' results to merge".into());
    };
    let shards = check_shards(&all, partial)?;
    let start = all.iter().map(|r| r.origin).min().unwrap_or(first.origin);
    let offset = |r: &Read<'_>| r.origin.duration_since(start).unwrap_or_default();
    let parts: Vec<Part<'_>> = all.iter().map(|r| (&r.state, offset(r))).collect();
    let doc = &first.input.doc;
    let load = load_of(&doc["load"]);
    let closed = matches!(load.model, Model::Closed { .. });
    let state = RunState::merge(&parts, closed)?;
    let mut snap = snapshot_of(&state)?;
    snap.live.level = (state.series.level.last().copied().flatten()).map(|l| match closed {
        true => Level::Vus(l.round() as u64),
        false => Level::Rate(l),
    });
    snap.live.stop_reason =
        (all.iter()).find_map(|r| r.input.doc["stop_reason"].as_str().map(str::to_string));
    snap.live.paused_for =
        secs((all.iter().filter_map(|r| r.input.doc["paused_s"].as_f64())).fold(0.0, f64::max));
    let ended = (all.iter())
        .map(|r| offset(r).saturating_add(secs(r.input.doc["duration_s"].as_f64().unwrap_or(0.0))))
        .max()
        .unwrap_or_default();
    let steps = snap
        .steps
        .iter()
        .map(|s| (s.flow.clone(), s.name.clone()))
        .collect::<Vec<_>>();
    let thresholds = thresholds_of(doc, &steps)?;
    let interrupted = all.iter().any(|r| r.input.doc["outcome"] == "interrupted");
    let info = RunInfo {
        scenario: doc["scenario"]["name"].as_str().unwrap_or("").to_string(),
        source: doc["scenario"]["file"].as_str().map(Into::into),
        target: doc["target"].as_str().unwrap_or("").to_string(),
        demo: doc["target_is_demo"].as_bool().unwrap_or(false),
        load,
        started_at: start,
        duration: ended,
        ending: if interrupted {
            Ending::Interrupted
        } else {
            Ending::Completed
        },
        verdicts: verdicts(&thresholds, &snap),
        baseline: None,
        insecure: false,
        connections: connections_of(&all),
        proxy: doc["protocol"]["proxy"].as_str().map(str::to_string),
        phases: false,
        shards: Some(shards),
    };
    Ok((info, snap))
}

/// The plan's thresholds, as its results name them.
fn thresholds_of(doc: &Value, steps: &[(String, String)]) -> Result<Vec<Threshold>, String> {
    (doc["thresholds"].as_array().into_iter().flatten())
        .filter_map(|t| t["threshold"].as_str())
        .map(|text| {
            Threshold::parse(text, steps)
                .map_err(|e| format!("the results' threshold \"{text}\": {e}"))
        })
        .collect()
}

/// The load as the results describe it.
fn load_of(v: &Value) -> Load {
    let seconds = |v: &Value| secs(v.as_f64().unwrap_or(0.0));
    let model = match v["model"].as_str() {
        Some("open") => Model::Open {
            rate: v["rate_per_s"].as_f64().unwrap_or(0.0),
            max_in_flight: v["max_in_flight"].as_u64().unwrap_or(0),
        },
        _ => Model::Closed {
            vus: v["vus"].as_u64().unwrap_or(0),
        },
    };
    Load {
        model,
        duration: v["duration_s"].as_f64().map(secs),
        iterations: v["iterations"].as_u64(),
        graceful_stop: seconds(&v["graceful_stop_s"]),
        stages: (v["stages"].as_array().into_iter().flatten())
            .map(|s| Stage {
                duration: seconds(&s["duration_s"]),
                target: s["vus"]
                    .as_f64()
                    .or_else(|| s["rate_per_s"].as_f64())
                    .unwrap_or(0.0),
            })
            .collect(),
        capacity: None,
    }
}

/// The connections over every shard, when the results say.
fn connections_of(all: &[Read<'_>]) -> Option<Connections> {
    let protocols: Vec<&Value> = all.iter().map(|r| &r.input.doc["protocol"]).collect();
    let version = match protocols.first()?["http_version"].as_str()? {
        "2" => "2",
        _ => "1.1",
    };
    let sum = |key: &str| {
        protocols
            .iter()
            .filter_map(|p| p[key].as_u64())
            .sum::<u64>()
    };
    Some(Connections {
        http_version: version,
        opened: sum("connections_opened"),
        streams_per_connection: (protocols.iter())
            .filter_map(|p| p["streams_per_connection"].as_u64())
            .max()
            .and_then(|n| u32::try_from(n).ok()),
        graceful_closes: protocols
            .iter()
            .any(|p| p["graceful_closes"].is_u64())
            .then(|| sum("graceful_closes")),
    })
}
