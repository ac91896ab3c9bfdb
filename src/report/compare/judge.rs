//! The verdict rule: a change counts only when it is beyond the tolerance and outside what
//! chance explains (see the rules in `compare`'s doc): a row per figure, and the total's
//! note when it moved while every step held.
//!
//! Depends on `metrics::history` (to decode the histograms) and on `comparison` and `read`
//! beside it. Invariant: without a histogram or a long enough series, only the tolerance
//! judges, and the row's note says so.

use super::comparison::{Metric, Row, Verdict};
use super::read::Figures;
use crate::metrics::history::decode;

/// The two-sided 99 % normal quantile.
const Z99: f64 = 2.576;

/// The |z| or |t| a rate change must reach to count.
const SIGNIFICANT: f64 = 3.0;

/// The smallest error-rate change that counts (a fraction: 0.1 percentage point).
const ERROR_RATE_FLOOR: f64 = 0.001;

/// The total is judged by the same rule as each step, but it pools them: more samples
/// narrow its intervals, and a changed mix of steps moves it while no step moves. When the
/// total changed and every step of that figure is within noise, its row says so.
pub fn explain_total(rows: &mut [Row]) {
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

/// Whether `new` is further from `base` than the relative `tolerance`.
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

/// The rps row: beyond the tolerance, then Welch's test over the series' points.
pub fn rate_row(b: &Figures<'_>, n: &Figures<'_>, tolerance: f64) -> Row {
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

/// A percentile's row: beyond the tolerance, then the histograms' confidence intervals,
/// then Welch's test over the series' points.
pub fn latency_row(b: &Figures<'_>, n: &Figures<'_>, metric: Metric, tolerance: f64) -> Row {
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

/// The error rate's row: beyond the tolerance and the floor, then the z-test, then
/// Welch's test over the series' points.
pub fn error_row(b: &Figures<'_>, n: &Figures<'_>, tolerance: f64) -> Row {
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
