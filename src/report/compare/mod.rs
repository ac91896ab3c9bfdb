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
//! earlier run and the run that just ended are compared by the same code. Depends on
//! `metrics::history` (to decode histograms) and `format`.

use std::fmt::Write as _;

use serde_json::Value;

use crate::format::format_latency;
use crate::metrics::history::decode;

/// The two-sided 99 % normal quantile.
const Z99: f64 = 2.576;
/// The |z| or |t| a rate change must reach to count.
const SIGNIFICANT: f64 = 3.0;
/// The smallest error-rate change that counts (a fraction: 0.1 percentage point).
const ERROR_RATE_FLOOR: f64 = 0.001;

/// What a change means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Improved,
    Regressed,
    WithinNoise,
}

impl Verdict {
    /// The word in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Improved => "improved",
            Verdict::Regressed => "regressed",
            Verdict::WithinNoise => "within noise",
        }
    }
}

/// A compared figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Rps,
    P50,
    P99,
    ErrorRate,
}

impl Metric {
    /// Its name in tables.
    pub fn name(self) -> &'static str {
        self.as_str()
    }

    fn as_str(self) -> &'static str {
        match self {
            Metric::Rps => "rps",
            Metric::P50 => "p50",
            Metric::P99 => "p99",
            Metric::ErrorRate => "error rate",
        }
    }

    /// A value of it as tables show it.
    pub fn show(self, v: f64) -> String {
        match self {
            Metric::Rps => format!("{v:.1}/s"),
            Metric::P50 | Metric::P99 => format_latency((v * 1000.0).round() as u64),
            Metric::ErrorRate => format!("{:.2}%", v * 100.0),
        }
    }
}

/// One figure of one step in both runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `flow / step`, or `total`.
    pub step: String,
    pub metric: Metric,
    /// Rps per second, latencies in ms, error rate a fraction; `None`: no data.
    pub base: Option<f64>,
    pub new: Option<f64>,
    pub verdict: Verdict,
    /// Why, when it is not obvious from the figures (`no data`, `CI overlaps`).
    pub note: &'static str,
}

impl Row {
    /// The relative change, new against base.
    pub fn change(&self) -> Option<f64> {
        match (self.base, self.new) {
            (Some(b), Some(n)) if b != 0.0 => Some((n - b) / b),
            _ => None,
        }
    }

    /// `+4.2%`, or `—` when there is no base to compare to.
    pub fn change_text(&self) -> String {
        match (self.change(), self.base, self.new) {
            (Some(c), _, _) => format!("{:+.1}%", c * 100.0),
            (None, Some(b), Some(n)) if b == n => "+0.0%".to_string(),
            (None, Some(_), Some(_)) => "new".to_string(),
            _ => "—".to_string(),
        }
    }
}

/// Every row, and the steps found on one side only.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// Each figure of each step found in both, the total first.
    pub rows: Vec<Row>,
    /// Steps of the base that the new result does not have.
    pub only_in_base: Vec<String>,
    /// Steps of the new result that the base does not have.
    pub only_in_new: Vec<String>,
    /// The relative change below which nothing counts.
    pub tolerance: f64,
    /// Why the two results may not compare (another scenario, other steps).
    pub warnings: Vec<String>,
}

impl Comparison {
    /// Whether any figure regressed.
    pub fn regressed(&self) -> bool {
        self.rows.iter().any(|r| r.verdict == Verdict::Regressed)
    }

    /// The row of `step`'s `metric`.
    pub fn row(&self, step: &str, metric: Metric) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.step == step && r.metric == metric)
    }
}

/// A step's figures as the comparison reads them from a result.
struct Figures<'a> {
    label: String,
    stats: &'a Value,
    /// The step's columns in the series (`Null` without one).
    columns: &'a Value,
    /// Which points of the series count as samples (see `figures`).
    usable: Vec<bool>,
}

impl Figures<'_> {
    /// One value per usable point of the series column `key` (nulls left out): samples of
    /// the figure over time, for batch-means tests that stay honest when successive
    /// requests are not independent (a slow minute makes many slow requests).
    fn points(&self, key: &str) -> Vec<f64> {
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
    fn error_points(&self) -> Vec<f64> {
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

fn label(stats: &Value) -> String {
    let name = stats["name"].as_str().unwrap_or("?");
    match stats["flow"].as_str() {
        Some(flow) => format!("{flow} / {name}"),
        None => name.to_string(),
    }
}

/// Each step of a result (the total first), with its series' columns.
fn figures(doc: &Value) -> Vec<Figures<'_>> {
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

/// Why two results may not compare: another scenario's name, or steps on one side only
/// (`unmatched` of them). Their figures are still compared, step by step where the names
/// match, but a reader must know.
fn differences(base: &Value, new: &Value, unmatched: usize) -> Vec<String> {
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

/// The total is judged by the same rule as each step, but it pools them: more samples
/// narrow its intervals, and a changed mix of steps moves it while no step moves. When the
/// total changed and every step of that figure is within noise, its row says so.
fn explain_total(rows: &mut [Row]) {
    let metrics = [Metric::Rps, Metric::P50, Metric::P99, Metric::ErrorRate];
    for metric in metrics {
        let steps: Vec<Verdict> = rows
            .iter()
            .filter(|r| r.metric == metric && r.step != "total")
            .map(|r| r.verdict)
            .collect();
        let quiet = !steps.is_empty() && steps.iter().all(|v| *v == Verdict::WithinNoise);
        if let Some(total) = rows
            .iter_mut()
            .find(|r| r.metric == metric && r.step == "total")
            && total.verdict != Verdict::WithinNoise
            && quiet
        {
            total.note = "every step within noise: the total pools them (more samples, or another mix of steps)";
        }
    }
}

/// Improved or regressed by the direction of a change that counts; `worse_when_higher`
/// for latencies and errors.
fn direction(base: f64, new: f64, worse_when_higher: bool) -> Verdict {
    if (new > base) == worse_when_higher {
        Verdict::Regressed
    } else {
        Verdict::Improved
    }
}

fn beyond(base: f64, new: f64, tolerance: f64) -> bool {
    if base == 0.0 {
        new != 0.0
    } else {
        ((new - base) / base).abs() > tolerance
    }
}

/// A row with both values and a change beyond the tolerance, still to be judged; or the
/// finished row when there is nothing more to judge (no data on a side, or a change within
/// the tolerance).
fn to_judge(
    step: &str,
    metric: Metric,
    base: Option<f64>,
    new: Option<f64>,
    tolerance: f64,
) -> Result<(Row, f64, f64), Row> {
    let mut row = Row {
        step: step.to_string(),
        metric,
        base,
        new,
        verdict: Verdict::WithinNoise,
        note: "",
    };
    match (base, new) {
        (Some(b), Some(n)) if beyond(b, n, tolerance) => Ok((row, b, n)),
        (Some(_), Some(_)) => Err(row),
        _ => {
            row.note = "no data";
            Err(row)
        }
    }
}

fn rate_row(b: &Figures<'_>, n: &Figures<'_>, tolerance: f64) -> Row {
    let (base, new) = (b.stats["rps"].as_f64(), n.stats["rps"].as_f64());
    let (mut row, bv, nv) = match to_judge(&b.label, Metric::Rps, base, new, tolerance) {
        Ok(judge) => judge,
        Err(done) => return done,
    };
    match welch_t(&b.points("rps"), &n.points("rps")) {
        Some(t) if t.abs() < SIGNIFICANT => row.note = "within the series' spread",
        Some(_) => row.verdict = direction(bv, nv, false),
        None => {
            row.verdict = direction(bv, nv, false);
            row.note = "by tolerance (series too short)";
        }
    }
    row
}

fn latency_row(b: &Figures<'_>, n: &Figures<'_>, metric: Metric, tolerance: f64) -> Row {
    let key = if metric == Metric::P50 { "p50" } else { "p99" };
    let q = if metric == Metric::P50 { 0.5 } else { 0.99 };
    let count = |f: &Figures<'_>| f.stats["latency_ms"]["count"].as_u64().unwrap_or(0);
    let value = |f: &Figures<'_>| {
        (count(f) > 0)
            .then(|| f.stats["latency_ms"][key].as_f64())
            .flatten()
    };
    let (mut row, bv, nv) = match to_judge(&b.label, metric, value(b), value(n), tolerance) {
        Ok(judge) => judge,
        Err(done) => return done,
    };
    let column = if metric == Metric::P50 {
        "p50_ms"
    } else {
        "p99_ms"
    };
    match (interval(b, q), interval(n, q)) {
        (Some((blo, bhi)), Some((nlo, nhi))) if nlo <= bhi && blo <= nhi => {
            row.note = "confidence intervals overlap";
        }
        (Some(_), Some(_)) => match welch_t(&b.points(column), &n.points(column)) {
            // The histograms treat requests as independent; the points over time do not.
            Some(t) if t.abs() < SIGNIFICANT => row.note = "within the series' spread",
            _ => row.verdict = direction(bv, nv, true),
        },
        _ => {
            row.verdict = direction(bv, nv, true);
            row.note = "by tolerance (no histogram)";
        }
    }
    row
}

/// The 99 % confidence interval (ms) for quantile `q` of the step's latency, from its HDR
/// histogram: the values at ranks n·q ± z·√(n·q·(1−q)).
fn interval(f: &Figures<'_>, q: f64) -> Option<(f64, f64)> {
    let h = decode(f.stats["hdr"]["latency"].as_str()?)?;
    let n = h.len() as f64;
    if n == 0.0 {
        return None;
    }
    let spread = Z99 * (n * q * (1.0 - q)).sqrt();
    let lo = ((n * q - spread) / n).clamp(0.0, 1.0);
    let hi = ((n * q + spread) / n).clamp(0.0, 1.0);
    let ms = |v: u64| v as f64 / 1000.0;
    // Each bound widened to its bucket's edges: the histogram cannot say more precisely.
    let low = h.lowest_equivalent(h.value_at_quantile(lo));
    let high = h.highest_equivalent(h.value_at_quantile(hi));
    Some((ms(low), ms(high)))
}

fn error_row(b: &Figures<'_>, n: &Figures<'_>, tolerance: f64) -> Row {
    let counts = |f: &Figures<'_>| {
        let requests = f.stats["requests"].as_u64()?;
        let errors = f.stats["errors"].as_u64()?;
        (requests > 0).then_some((errors as f64, requests as f64))
    };
    let (bc, nc) = (counts(b), counts(n));
    let mut row = Row {
        step: b.label.clone(),
        metric: Metric::ErrorRate,
        base: bc.map(|(e, r)| e / r),
        new: nc.map(|(e, r)| e / r),
        verdict: Verdict::WithinNoise,
        note: "",
    };
    let (Some((e1, n1)), Some((e2, n2))) = (bc, nc) else {
        row.note = "no data";
        return row;
    };
    let (p1, p2) = (e1 / n1, e2 / n2);
    if (p2 - p1).abs() < ERROR_RATE_FLOOR || !beyond(p1, p2, tolerance) {
        return row;
    }
    let pooled = (e1 + e2) / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    if se > 0.0 && ((p2 - p1) / se).abs() < SIGNIFICANT {
        row.note = "within chance (z-test)";
        return row;
    }
    // Errors come in bursts (one outage fails many requests in a row): the change must
    // also stand out against the rate's spread over time.
    match welch_t(&b.error_points(), &n.error_points()) {
        Some(t) if t.abs() < SIGNIFICANT => row.note = "within the series' spread",
        _ => row.verdict = direction(p1, p2, true),
    }
    row
}

/// Welch's t statistic of two samples' means; `None` with fewer than 3 points on a side.
fn welch_t(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() < 3 || b.len() < 3 {
        return None;
    }
    let stats = |x: &[f64]| {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, var, n)
    };
    let (ma, va, na) = stats(a);
    let (mb, vb, nb) = stats(b);
    let se = (va / na + vb / nb).sqrt();
    if se == 0.0 {
        // Two perfectly steady rates: any difference is real.
        return Some(if ma == mb { 0.0 } else { f64::INFINITY });
    }
    Some((mb - ma) / se)
}

/// The comparison as a table, one line per step and figure.
pub fn table(c: &Comparison, base_name: &str, new_name: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "stampede compare · {base_name} → {new_name} · tolerance {:.0}%",
        c.tolerance * 100.0
    );
    for w in &c.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    let width = c
        .rows
        .iter()
        .map(|r| r.step.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "{:<width$}  {:<10}  {:>12}  {:>12}  {:>8}  verdict",
        "step", "figure", "base", "new", "change"
    );
    for r in &c.rows {
        let show = |v: Option<f64>| v.map_or_else(|| "—".to_string(), |v| r.metric.show(v));
        let note = if r.note.is_empty() {
            String::new()
        } else {
            format!(" · {}", r.note)
        };
        let _ = writeln!(
            out,
            "{:<width$}  {:<10}  {:>12}  {:>12}  {:>8}  {}{note}",
            r.step,
            r.metric.as_str(),
            show(r.base),
            show(r.new),
            r.change_text(),
            r.verdict.as_str()
        );
    }
    for step in &c.only_in_base {
        let _ = writeln!(out, "only in {base_name}: {step}");
    }
    for step in &c.only_in_new {
        let _ = writeln!(out, "only in {new_name}: {step}");
    }
    let regressed = c
        .rows
        .iter()
        .filter(|r| r.verdict == Verdict::Regressed)
        .count();
    let improved = c
        .rows
        .iter()
        .filter(|r| r.verdict == Verdict::Improved)
        .count();
    let _ = writeln!(
        out,
        "\n{} regressed · {} improved · {} within noise",
        regressed,
        improved,
        c.rows.len() - regressed - improved
    );
    out
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
