//! Comparing two results (`stampede compare BASE NEW`, and `run --baseline BASE`): per step
//! and for the whole run, the change in rps, p50, p99 and error rate, each judged improved,
//! regressed or within noise.
//!
//! A change counts only when it is both larger than the tolerance (relative, default 5 %)
//! and outside what chance explains:
//! - a percentile: the two runs' 99 % confidence intervals for that quantile do not overlap.
//!   Each interval comes from the run's own HDR histogram (in the result's `hdr`): the
//!   ranks n·q ± 2.58·√(n·q·(1−q)) of n samples bound the true quantile (order statistics);
//! - the error rate: a two-proportion z-test, |z| ≥ 3, and at least 0.1 percentage point;
//! - rps: Welch's t-test over the series' points (each point a sample of the rate), |t| ≥ 3.
//!
//! The first two treat requests as independent, which they are not (a slow minute makes
//! many slow requests, an outage many errors): on a large run their intervals shrink below
//! any real run-to-run difference. So a percentile or error-rate change must also pass
//! Welch's test over the series' points (batch means: each point's p50, p99 or error
//! fraction is one sample), when both runs have at least three points.
//!
//! Without histograms or a series (a result of another tool, or a run too short for three
//! points) only the tolerance judges. Reads results as JSON values, so a result saved by an
//! earlier run and the run that just ended are compared by the same code. The module
//! depends on `metrics::history` (to decode histograms, in `judge`) and `format` (in
//! `comparison`); this file only on its parts.
//!
//! The parts, each file using only those above it in this list: `comparison` (the rows and
//! verdicts), `read` (a result's figures and series), `judge` (the verdict rule), `table`
//! (the text). This file pairs the steps of the two results and orders the calls.

mod comparison;
mod judge;
mod read;
mod table;

use serde_json::Value;

pub use comparison::{Comparison, Metric, Row, Verdict};
use judge::{error_row, explain_total, latency_row, rate_row};
use read::{Figures, differences, figures};
pub use table::table;

/// Compares `new` against `base`, step by step (matched by flow and name).
pub fn compare(base: &Value, new: &Value, tolerance: f64) -> Comparison {
    let before = figures(base);
    let after = figures(new);
    let mut rows = Vec::new();
    for b in &before {
        let Some(n) = after.iter().find(|n| n.label == b.label) else {
            continue;
        };
        rows.push(rate_row(b, n, tolerance));
        for metric in [Metric::P50, Metric::P99] {
            rows.push(latency_row(b, n, metric, tolerance));
        }
        rows.push(error_row(b, n, tolerance));
    }
    let names = |side: &[Figures<'_>], other: &[Figures<'_>]| -> Vec<String> {
        side.iter()
            .filter(|f| !other.iter().any(|o| o.label == f.label))
            .map(|f| f.label.clone())
            .collect()
    };
    explain_total(&mut rows);
    let (only_in_base, only_in_new) = (names(&before, &after), names(&after, &before));
    let warnings = differences(base, new, only_in_base.len() + only_in_new.len());
    Comparison {
        rows,
        only_in_base,
        only_in_new,
        tolerance,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::Histogram;
    use serde_json::json;

    /// A result of one step whose latencies are `ms` (each once) and whose series has
    /// the given rps points (250 ms each), its errors spread over them, and per-point
    /// percentiles that wobble a little around the run's.
    fn result(ms: &[u64], errors: u64, rps_points: &[f64]) -> Value {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
        for &m in ms {
            h.record(m * 1000).expect("in range");
        }
        let p = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        let rps = rps_points.iter().sum::<f64>() / rps_points.len() as f64;
        let stats = json!({
            "flow": "f", "name": "s", "requests": ms.len(), "errors": errors, "rps": rps,
            "latency_ms": { "count": ms.len(), "p50": p(0.5), "p99": p(0.99) },
            "hdr": { "latency": crate::metrics::history::encode(&h) },
        });
        let mut total = stats.clone();
        total["flow"] = Value::Null;
        total["name"] = json!("total");
        let k = rps_points.len() as u64;
        let wobble =
            |v: f64| -> Vec<f64> { (0..k).map(|i| v * (1.0 + 0.01 * (i % 3) as f64)).collect() };
        let columns = json!({
            "rps": rps_points,
            "requests": rps_points.iter().map(|r| (r / 4.0).ceil() as u64).collect::<Vec<_>>(),
            "errors": (0..k).map(|i| errors / k + u64::from(i < errors % k)).collect::<Vec<_>>(),
            "p50_ms": wobble(p(0.5)),
            "p99_ms": wobble(p(0.99)),
        });
        json!({
            "schema_version": 1, "total": total, "steps": [stats],
            "series": { "length_s": vec![0.25; rps_points.len()], "total": columns.clone(),
                        "steps": [ columns ] },
        })
    }

    fn spread(center: u64, n: usize) -> Vec<u64> {
        (0..n).map(|i| center + (i as u64 % 11)).collect()
    }

    #[test]
    fn a_clear_slowdown_regresses_and_a_repeat_is_within_noise() {
        let steady = [1000.0, 1010.0, 990.0, 1005.0, 995.0];
        let base = result(&spread(100, 5000), 0, &steady);
        let same = result(&spread(100, 5000), 0, &steady);
        let slower = result(&spread(150, 5000), 0, &steady);
        let c = compare(&base, &same, 0.05);
        assert!(!c.regressed(), "{c:?}");
        let c = compare(&base, &slower, 0.05);
        let row = c.row("f / s", Metric::P50).expect("row");
        assert_eq!(row.verdict, Verdict::Regressed);
        assert!(c.regressed());
        // The other way round, the same change is an improvement.
        let c = compare(&slower, &base, 0.05);
        assert_eq!(
            c.row("total", Metric::P99).expect("row").verdict,
            Verdict::Improved
        );
    }

    #[test]
    fn a_change_on_few_samples_is_within_the_confidence_interval() {
        // p99 of 20 samples: its interval spans most of the range on both sides.
        let base = result(
            &[
                10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 90,
            ],
            0,
            &[10.0; 5],
        );
        let new = result(
            &[
                10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 60,
            ],
            0,
            &[10.0; 5],
        );
        let row = compare(&base, &new, 0.05);
        let row = row.row("total", Metric::P99).expect("row");
        assert_eq!(row.verdict, Verdict::WithinNoise, "{row:?}");
        assert_eq!(row.note, "confidence intervals overlap");
    }

    #[test]
    fn rps_and_error_rate_need_significance_and_the_tolerance() {
        let base = result(
            &spread(100, 10_000),
            10,
            &[1000.0, 1100.0, 900.0, 1050.0, 950.0],
        );
        // 8 % fewer rps, inside a noisy series: within noise.
        let noisy = result(
            &spread(100, 10_000),
            10,
            &[920.0, 1200.0, 700.0, 1000.0, 780.0],
        );
        let c = compare(&base, &noisy, 0.05);
        assert_eq!(
            c.row("total", Metric::Rps).expect("row").verdict,
            Verdict::WithinNoise
        );
        // Half the rps, steadily: regressed.
        let halved = result(
            &spread(100, 10_000),
            10,
            &[500.0, 510.0, 490.0, 505.0, 495.0],
        );
        let c = compare(&base, &halved, 0.05);
        assert_eq!(
            c.row("total", Metric::Rps).expect("row").verdict,
            Verdict::Regressed
        );
        // 0.1 % → 2 % errors on 10,000 requests: regressed; 0.1 % → 0.12 %: below the floor.
        let failing = result(&spread(100, 10_000), 200, &[1000.0; 5]);
        assert_eq!(
            compare(&base, &failing, 0.05)
                .row("f / s", Metric::ErrorRate)
                .expect("row")
                .verdict,
            Verdict::Regressed
        );
        let slightly = result(&spread(100, 10_000), 12, &[1000.0; 5]);
        assert_eq!(
            compare(&base, &slightly, 0.05)
                .row("f / s", Metric::ErrorRate)
                .expect("row")
                .verdict,
            Verdict::WithinNoise
        );
    }

    #[test]
    fn a_generous_tolerance_hides_a_real_change() {
        let base = result(&spread(100, 5000), 0, &[1000.0; 5]);
        let slower = result(&spread(120, 5000), 0, &[1000.0; 5]);
        assert!(compare(&base, &slower, 0.05).regressed());
        assert!(!compare(&base, &slower, 0.5).regressed());
    }

    #[test]
    fn a_total_that_moved_while_every_step_held_says_why() {
        let steady = [1000.0, 1010.0, 990.0, 1005.0, 995.0];
        let base = result(&spread(100, 5000), 0, &steady);
        let mut new = result(&spread(100, 5000), 0, &steady);
        // The same step, but the total pools another mix (here: slower requests elsewhere).
        let other = result(&spread(150, 5000), 0, &steady);
        new["total"] = other["total"].clone();
        new["series"]["total"] = other["series"]["total"].clone();
        let c = compare(&base, &new, 0.05);
        assert_eq!(
            c.row("f / s", Metric::P50).expect("row").verdict,
            Verdict::WithinNoise
        );
        let total = c.row("total", Metric::P50).expect("row");
        assert_eq!(total.verdict, Verdict::Regressed);
        assert!(
            total.note.starts_with("every step within noise"),
            "{total:?}"
        );
        assert!(table(&c, "a", "b").contains("every step within noise: the total pools them"));
        // A total that moved with its step needs no word.
        let slower = result(&spread(150, 5000), 0, &steady);
        let c = compare(&base, &slower, 0.05);
        assert_eq!(c.row("total", Metric::P50).expect("row").note, "");
    }

    #[test]
    fn results_of_other_scenarios_or_steps_are_warned_about() {
        let steady = [1000.0; 5];
        let mut base = result(&spread(100, 500), 0, &steady);
        let mut new = base.clone();
        assert!(compare(&base, &new, 0.05).warnings.is_empty());
        base["scenario"] = json!({ "name": "shop" });
        new["scenario"] = json!({ "name": "search" });
        new["steps"][0]["name"] = json!("renamed");
        let c = compare(&base, &new, 0.05);
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        let text = table(&c, "a.json", "b.json");
        assert!(
            text.contains(
                "warning: the results are of different scenarios (\"shop\" and \"search\")"
            ),
            "{text}"
        );
        assert!(
            text.contains("warning: the results have different steps (2 on one side only"),
            "{text}"
        );
    }
}
