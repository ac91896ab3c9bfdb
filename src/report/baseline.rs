//! Saved results read back: `stampede compare`'s two files and a run's `--baseline`.
//!
//! A baseline is read before the load (one that cannot be read is exit 2 before the first
//! request, not after a long run) and compared at the end as a result, so a run and a saved
//! file go through the same code (`compare`). Depends on `files`, `metrics` (the final
//! snapshot) and the report's own `saved`, `compare` and `json`; never on the engine.

use std::path::Path;

use super::{Baseline, RunInfo};
use crate::metrics::Snapshot;

/// Reads a saved result, named in every error.
pub fn read_result(path: &Path) -> Result<serde_json::Value, String> {
    let name = path.display().to_string();
    let text = crate::files::read_text(path, crate::files::RESULT).map_err(|e| e.to_string())?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{name}: not JSON: {e}"))?;
    super::saved::check(&doc, &name)?;
    Ok(doc)
}

/// `--baseline`: a saved result a run is compared with.
#[derive(Debug, Clone)]
pub struct SavedRun {
    /// The path as given, for the summary.
    name: String,
    /// The result as saved.
    doc: serde_json::Value,
}

impl SavedRun {
    /// Reads the result at `path` (see `read_result`).
    pub fn read(path: &Path) -> Result<Self, String> {
        Ok(Self {
            name: path.display().to_string(),
            doc: read_result(path)?,
        })
    }

    /// Its whole-run latency p50 and p99 (ms), for the dashboard's reference lines.
    pub fn latency_lines(&self) -> Option<[f64; 2]> {
        let l = &self.doc["total"]["latency_ms"];
        Some([l["p50"].as_f64()?, l["p99"].as_f64()?])
    }

    /// This run (`info`, `snap`) compared with the saved one; a change past `tolerance`
    /// (relative) counts.
    pub fn compare(
        self,
        info: &RunInfo,
        snap: &Snapshot,
        tolerance: f64,
    ) -> Result<Baseline, String> {
        // Compared as results, so a run and a saved file go through the same code.
        let this: serde_json::Value = serde_json::from_str(&super::to_json(info, snap))
            .map_err(|e| format!("cannot read this run's result back: {e}"))?;
        let comparison = super::compare::compare(&self.doc, &this, tolerance);
        Ok(Baseline {
            name: self.name,
            comparison,
        })
    }
}
