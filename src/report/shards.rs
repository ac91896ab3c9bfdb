//! Which shards a result holds (`Shards`): a shard's own result lists itself, a merged one
//! every shard it adds up, each with its planned and actual start and its requests, so a
//! reader sees the start skew and each machine's share. The JSON's `shards` part, read back
//! by `merge`, and the summary's line.
//!
//! Depends on `scenario` (the `Shard`) only.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::scenario::Shard;

/// The shards a result holds, of a plan split into `count`.
#[derive(Debug, Clone, PartialEq)]
pub struct Shards {
    /// How many shards the plan was split into.
    pub count: u64,
    /// The whole plan's fingerprint (`scenario::fingerprint`).
    pub fingerprint: String,
    /// `--run-id`: which run of the plan (a Kubernetes Job's uid), when given.
    pub run_id: Option<String>,
    /// The shards held, by index.
    pub parts: Vec<ShardPart>,
    /// A merge of shards' results (`stampede merge`), not a shard's own run: only then are
    /// the thresholds the run's verdict (a shard alone sends a part of the load).
    pub merged: bool,
}

/// One shard's run.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardPart {
    pub index: u64,
    /// `--start-at`, when given.
    pub planned_start: Option<SystemTime>,
    /// When its load began.
    pub started_at: SystemTime,
    /// Its requests.
    pub requests: u64,
}

impl Shards {
    /// A shard's own: `shard` of the plan with `fingerprint`, started at `started_at`.
    pub fn one(
        (shard, fingerprint, run_id): (Shard, &str, Option<String>),
        (planned_start, started_at): (Option<SystemTime>, SystemTime),
        requests: u64,
    ) -> Self {
        Shards {
            count: shard.count,
            fingerprint: fingerprint.to_string(),
            run_id,
            parts: vec![ShardPart {
                index: shard.index,
                planned_start,
                started_at,
                requests,
            }],
            merged: false,
        }
    }

    /// Whether this is one shard's own run, whose thresholds read a part of the load: its
    /// exit code leaves them to the merge.
    pub fn is_shard_run(&self) -> bool {
        !self.merged
    }

    /// From the earliest start to the latest.
    pub fn skew(&self) -> Duration {
        let starts = self.parts.iter().map(|p| p.started_at);
        match (starts.clone().min(), starts.max()) {
            (Some(first), Some(last)) => last.duration_since(first).unwrap_or_default(),
            _ => Duration::ZERO,
        }
    }

    /// The indexes no part holds.
    pub fn missing(&self) -> Vec<u64> {
        (0..self.count)
            .filter(|i| !self.parts.iter().any(|p| p.index == *i))
            .collect()
    }

    /// The summary's line: how many shards, the start skew, the latest starter.
    pub fn line(&self) -> String {
        let mut line = match self.parts.as_slice() {
            [one] => format!("shard {}/{} of a split plan", one.index, self.count),
            parts => format!("{} of {} shards merged", parts.len(), self.count),
        };
        if let [_, _, ..] = self.parts.as_slice() {
            line.push_str(&format!(
                "; their loads began within {}",
                shown(self.skew())
            ));
        }
        let late = (self.parts.iter())
            .filter_map(|p| Some((p.index, p.started_at.duration_since(p.planned_start?).ok()?)))
            .max_by_key(|(_, d)| *d);
        if let Some((index, late)) = late.filter(|(_, d)| *d >= Duration::from_millis(1)) {
            line.push_str(&format!(
                "; shard {index} began {} after --start-at",
                shown(late)
            ));
        }
        let missing = self.missing();
        if self.parts.len() > 1 && !missing.is_empty() {
            let list: Vec<String> = missing.iter().map(u64::to_string).collect();
            line.push_str(&format!("; missing shard(s) {}", list.join(", ")));
        }
        line
    }

    /// The JSON's `shards` part.
    pub fn doc(&self) -> ShardsDoc {
        let rfc = |t: SystemTime| humantime::format_rfc3339_millis(t).to_string();
        let mut parts: Vec<&ShardPart> = self.parts.iter().collect();
        parts.sort_by_key(|p| p.index);
        ShardsDoc {
            count: self.count,
            fingerprint: self.fingerprint.clone(),
            run_id: self.run_id.clone(),
            skew_ms: self.skew().as_secs_f64() * 1000.0,
            parts: parts
                .into_iter()
                .map(|p| PartDoc {
                    index: p.index,
                    planned_start: p.planned_start.map(rfc),
                    started_at: rfc(p.started_at),
                    late_ms: p.planned_start.map(|at| {
                        p.started_at
                            .duration_since(at)
                            .unwrap_or_default()
                            .as_secs_f64()
                            * 1000.0
                    }),
                    requests: p.requests,
                })
                .collect(),
        }
    }
}

/// A duration as the summary shows latencies.
fn shown(d: Duration) -> String {
    crate::format::format_latency(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The JSON's `shards`: the plan's split and each shard held.
#[derive(Debug, Serialize)]
pub struct ShardsDoc {
    count: u64,
    /// Shards of one plan share it; `merge` refuses results whose fingerprints differ.
    fingerprint: String,
    /// `--run-id`, when given: `merge` refuses results of different runs.
    run_id: Option<String>,
    /// From the earliest shard's start to the latest's.
    skew_ms: f64,
    parts: Vec<PartDoc>,
}

#[derive(Debug, Serialize)]
struct PartDoc {
    index: u64,
    /// `--start-at`; null when not given.
    planned_start: Option<String>,
    started_at: String,
    /// How long after `planned_start` its load began.
    late_ms: Option<f64>,
    requests: u64,
}

/// Reads a result's `shards` part back; `None` when it has none (a run that was not split).
pub fn read(doc: &serde_json::Value) -> Result<Option<Shards>, String> {
    let v = &doc["shards"];
    if v.is_null() {
        return Ok(None);
    }
    let count = v["count"].as_u64().ok_or("shards.count is not a count")?;
    Shard::new(0, count).map_err(|e| format!("shards.count: {e}"))?;
    let fingerprint = (v["fingerprint"].as_str()).ok_or("shards.fingerprint is not text")?;
    let time = |at: &serde_json::Value, what: &str| -> Result<Option<SystemTime>, String> {
        match at.as_str() {
            None if at.is_null() => Ok(None),
            None => Err(format!("{what} is not a time")),
            Some(t) => humantime::parse_rfc3339_weak(t)
                .map(Some)
                .map_err(|e| format!("{what}: {e}")),
        }
    };
    let parts = (v["parts"].as_array())
        .ok_or("shards.parts is not a list")?
        .iter()
        .map(|p| {
            let index = p["index"]
                .as_u64()
                .ok_or("a shard's index is not a count")?;
            Shard::new(index, count).map_err(|e| format!("shards.parts: {e}"))?;
            Ok(ShardPart {
                index,
                planned_start: time(&p["planned_start"], "planned_start")?,
                started_at: time(&p["started_at"], "started_at")?.ok_or("started_at is missing")?,
                requests: p["requests"].as_u64().unwrap_or(0),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Some(Shards {
        count,
        fingerprint: fingerprint.to_string(),
        run_id: v["run_id"].as_str().map(str::to_string),
        parts,
        merged: false,
    }))
}
