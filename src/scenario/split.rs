//! A plan as one shard runs it (`Plan::into_shard`): its share of the data rows, and the
//! whole plan's fingerprint, which every shard of one plan shares and a merge checks. The
//! arithmetic of the split is `shard`'s; the engine applies the rest of it (arrivals, users,
//! budgets). Depends on `plan`, `data` and `shard`.

use super::data::DataMode;
use super::plan::{Model, Plan};
use super::shard::{Shard, ShardOf};
use super::threshold::Metric;

/// A hash of the resolved plan (the scenario with its overrides, data and secrets applied;
/// files by name, not path), before it is split: shards made from one file with the same flags have the same one,
/// whatever their `--shard`, and a merge refuses results whose fingerprints differ. The
/// plan's debug form is the canonical text (it has no map, so its order is fixed); SHA-256,
/// its first 16 bytes in hex.
pub fn fingerprint(plan: &Plan) -> String {
    let mut whole = plan.clone();
    whole.shard = None;
    // Files by name, not by path: the same scenario may sit in another folder on each
    // machine (its content, and its data files' rows, are in the hash).
    let name = |p: &std::path::Path| p.file_name().map(std::path::PathBuf::from);
    whole.source = whole.source.as_deref().and_then(name);
    for set in &mut whole.data {
        set.file = name(&set.file).unwrap_or_default();
    }
    let text = format!("{whole:?}");
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Plan {
    /// This plan as shard `shard` runs it: its `unique` and `sequential` data rows are the
    /// rows r with r ≡ index (mod N), so no two shards read the same one; the rest of the
    /// split is the engine's (`Shard::share`, `Shard::owns`). `Err` when a data file has
    /// fewer such rows than shards, or a capacity search would be split.
    pub fn into_shard(mut self, shard: Shard) -> Result<Plan, String> {
        let fingerprint = fingerprint(&self);
        if !shard.is_split() {
            self.shard = Some(ShardOf { shard, fingerprint });
            return Ok(self);
        }
        if self.load.capacity.is_some() {
            return Err(
                "a capacity search (load.find_capacity) judges each hold as it goes and cannot \
                 be split over shards; run it on one machine, without --shard"
                    .into(),
            );
        }
        let aborts_on_rps = |t: &&super::Threshold| t.abort_on_fail && t.metric == Metric::Rps;
        if let Some(t) = self.thresholds.iter().find(aborts_on_rps) {
            return Err(format!(
                "threshold \"{}\" has abort_on_fail: a shard's rps is its part of the load, so \
                 it would stop every shard at once; judge rps on the merge (leave abort_on_fail \
                 out for it), or run without --shard",
                t.text
            ));
        }
        if let Model::Closed { vus } = self.load.model
            && self.load.stages.is_empty()
            && vus < shard.count
        {
            return Err(format!(
                "{vus} virtual user(s) over {} shards: each shard runs its share of the users \
                 and would have none; give load.vus at least {}, or run fewer shards",
                shard.count, shard.count
            ));
        }
        for set in &mut self.data {
            if set.mode == DataMode::Random {
                continue; // every shard picks from every row
            }
            if (set.rows.len() as u64) < shard.count {
                return Err(format!(
                    "data file {}: {} row(s) for {} shards; each shard reads its own rows \
                     (row r goes to shard r mod N): give it at least {} rows, or use \
                     mode: random",
                    set.file.display(),
                    set.rows.len(),
                    shard.count,
                    shard.count
                ));
            }
            let rows = std::mem::take(&mut set.rows);
            set.rows = (rows.into_iter().enumerate())
                .filter(|(r, _)| shard.owns(*r as u64))
                .map(|(_, row)| row)
                .collect();
        }
        self.shard = Some(ShardOf { shard, fingerprint });
        Ok(self)
    }

    /// The shard this plan runs (`Shard::WHOLE` when it is not split).
    pub fn shard(&self) -> Shard {
        self.shard.as_ref().map_or(Shard::WHOLE, |s| s.shard)
    }
}
