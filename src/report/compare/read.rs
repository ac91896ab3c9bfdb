//! Reading a result for comparison: each step's figures (the total first) and the points
//! of its series that count as samples, and why two results may not compare.
//!
//! Depends on nothing in the crate: results are read as JSON values, so a result saved by
//! an earlier run and the run that just ended go through the same code. Invariant: a
//! point counts as a sample only when it is a full tick in which requests completed.

use serde_json::Value;

/// A step's figures as the comparison reads them from a result.
pub struct Figures<'a> {
    /// `flow / step`, or `total`.
    pub label: String,
    /// The step's figures in the result (`total` or an entry of `steps`).
    pub stats: &'a Value,
    /// The step's columns in the series (`Null` without one).
    pub columns: &'a Value,
    /// Which points of the series count as samples (see `figures`).
    pub usable: Vec<bool>,
}

impl Figures<'_> {
    /// One value per usable point of the series column `key` (nulls left out): samples of
    /// the figure over time, for batch-means tests that stay honest when successive
    /// requests are not independent (a slow minute makes many slow requests).
    pub fn points(&self, key: &str) -> Vec<f64> {
        let Some(values) = self.columns[key].as_array() else {
            return Vec::new();
        };
        values
            .iter()
            .zip(&self.usable)
            .filter(|(_, ok)| **ok)
            .filter_map(|(v, _)| v.as_f64())
            .collect()
    }

    /// Each usable point's error fraction.
    pub fn error_points(&self) -> Vec<f64> {
        let requests = self.points("requests");
        let errors = self.points("errors");
        requests
            .iter()
            .zip(&errors)
            .filter(|(r, _)| **r > 0.0)
            .map(|(r, e)| e / r)
            .collect()
    }
}

/// `flow / name` of a step's figures, or its name alone.
fn label(stats: &Value) -> String {
    let name = stats["name"].as_str().unwrap_or("?");
    match stats["flow"].as_str() {
        Some(flow) => format!("{flow} / {name}"),
        None => name.to_string(),
    }
}

/// Each step of a result (the total first), with its series' columns.
pub fn figures(doc: &Value) -> Vec<Figures<'_>> {
    let series = &doc["series"];
    // A point is a sample when it is a full one (the run's last, cut-off tick gives a rate
    // that is mostly noise) and requests completed in it (a pause is not a rate of 0).
    let lengths: Vec<f64> = series["length_s"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    let mut sorted = lengths.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    let usable = |columns: &Value| -> Vec<bool> {
        let requests = columns["requests"].as_array();
        lengths
            .iter()
            .enumerate()
            .map(|(i, len)| {
                let busy = requests
                    .and_then(|r| r.get(i))
                    .and_then(Value::as_u64)
                    .is_some_and(|n| n > 0);
                *len >= median / 2.0 && busy
            })
            .collect()
    };
    let mut out = vec![Figures {
        label: "total".into(),
        stats: &doc["total"],
        columns: &series["total"],
        usable: usable(&series["total"]),
    }];
    if let Some(steps) = doc["steps"].as_array() {
        for (i, stats) in steps.iter().enumerate() {
            let columns = &series["steps"][i];
            out.push(Figures {
                label: label(stats),
                stats,
                columns,
                usable: usable(columns),
            });
        }
    }
    out
}

/// Why two results may not compare: another scenario's name, or steps on one side only
/// (`unmatched` of them). Their figures are still compared, step by step where the names
/// match, but a reader must know.
pub fn differences(base: &Value, new: &Value, unmatched: usize) -> Vec<String> {
    let mut warnings = Vec::new();
    let (b, n) = (&base["scenario"]["name"], &new["scenario"]["name"]);
    if let (Some(b), Some(n)) = (b.as_str(), n.as_str())
        && b != n
    {
        warnings.push(format!(
            "the results are of different scenarios (\"{b}\" and \"{n}\"): the totals may not compare"
        ));
    }
    if unmatched > 0 {
        warnings.push(format!(
            "the results have different steps ({unmatched} on one side only, listed below): \
             only the steps in both are compared, and the totals cover different steps"
        ));
    }
    warnings
}
