//! The text summary printed at the end of every run (headless or not); with `--phases`,
//! the phases of each step's exchanges and the use of its connections too.

use std::fmt::Write as _;

use super::RunInfo;
use crate::format::{bytes, format_latency, latency_or_dash, printable, thousands};
use crate::metrics::{Percentiles, PhaseStats, Snapshot, StepStats};
use crate::scenario::Model;

/// The end-of-run summary: run description, one row per step, latency, statuses and errors.
pub fn summary(info: &RunInfo, snap: &Snapshot) -> String {
    let mut out = String::new();
    let t = &snap.total;
    let demo = if info.demo {
        " (embedded demo service)"
    } else {
        ""
    };
    let _ = writeln!(out, "stampede · {} → {}{demo}", info.scenario, info.target);
    let _ = writeln!(
        out,
        "load      {} · ran {:.2}s · {}",
        describe_load(info),
        info.duration.as_secs_f64(),
        info.ending.as_str()
    );
    if let Some(line) = protocol_line(info) {
        let _ = writeln!(out, "http      {line}");
    }
    if let Some(shards) = &info.shards {
        let _ = writeln!(out, "shards    {}", shards.line());
    }
    let _ = writeln!(
        out,
        "requests  {} · {:.1}/s · {} errors ({:.2}%) · {} interrupted ({:.2}%) · {} dropped · {} received",
        thousands(t.requests),
        t.rps,
        thousands(t.errors),
        t.error_rate() * 100.0,
        thousands(t.interrupted),
        t.interrupted_rate() * 100.0,
        thousands(snap.dropped),
        bytes(t.bytes),
    );
    out.push('\n');
    step_table(&mut out, snap, info.baseline.as_ref());
    out.push('\n');
    server_time_table(&mut out, snap);
    if info.phases {
        phases_table(&mut out, snap);
    }
    latency_lines(&mut out, &t.latency, &t.service, info);
    send_lag_line(&mut out, &t.send_lag, info);
    status_line(&mut out, t);
    error_lines(&mut out, snap);
    retry_lines(&mut out, snap);
    check_lines(&mut out, snap);
    change_line(&mut out, snap);
    if let Some(reason) = &snap.live.stop_reason {
        let _ = writeln!(out, "stopped   early: {reason}");
    }
    if let Some(search) = &snap.live.capacity {
        super::capacity::lines(&mut out, search);
    }
    threshold_lines(&mut out, info);
    baseline_lines(&mut out, info);
    // Last, where a reader (and a CI log's tail) sees them.
    for warning in super::health(info, snap) {
        let _ = writeln!(out, "WARNING   {warning}");
    }
    out
}

/// `HTTP/2 · 3 connections · 10 streams each · via proxy …`, when the transport says.
fn protocol_line(info: &RunInfo) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(c) = info.connections {
        parts.push(format!("HTTP/{}", c.http_version));
        let s = if c.opened == 1 { "" } else { "s" };
        parts.push(format!("{} connection{s} opened", thousands(c.opened)));
        if let Some(n) = c.streams_per_connection.filter(|&n| n > 1) {
            parts.push(format!("up to {n} users per connection"));
        }
        if let Some(n) = c.graceful_closes.filter(|&n| n > 0) {
            parts.push(format!("{} closed by the server (GOAWAY)", thousands(n)));
        }
    }
    if let Some(proxy) = &info.proxy {
        parts.push(format!("via proxy {proxy}"));
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

/// Every threshold with the figure it read, ✓ or ✗, and the verdict.
fn threshold_lines(out: &mut String, info: &RunInfo) {
    if info.verdicts.is_empty() {
        return;
    }
    let failed = info.verdicts.iter().filter(|v| !v.passed).count();
    let verdict = if failed == 0 {
        "all passed".to_string()
    } else {
        format!("{failed} of {} FAILED", info.verdicts.len())
    };
    if info.shards.as_ref().is_some_and(|s| s.is_shard_run()) {
        let _ = writeln!(
            out,
            "thresholds on this shard's part of the load alone: {} (the run's verdict is \
             stampede merge's, on every shard's figures)",
            verdict.to_lowercase()
        );
    } else {
        let _ = writeln!(out, "thresholds {verdict}");
    }
    for v in &info.verdicts {
        let mark = if v.passed { "✓" } else { "✗" };
        let _ = writeln!(out, "  {mark} {}   observed {}", v.threshold, v.observed);
    }
}

/// Every check of every step: how many responses failed it (a soft check says so).
fn check_lines(out: &mut String, snap: &Snapshot) {
    let checks: Vec<(String, &crate::metrics::CheckStat)> = snap
        .steps
        .iter()
        .flat_map(|s| s.checks.iter().map(move |c| (s.label(), c)))
        .collect();
    if checks.is_empty() {
        return;
    }
    let _ = writeln!(out, "checks");
    for (step, c) in checks {
        let verdict = match (c.failed, c.evaluated) {
            (0, 0) => "NOT RUN",
            (0, _) => "ok",
            _ => "FAILED",
        };
        let soft = if c.soft { " (soft)" } else { "" };
        let _ = writeln!(
            out,
            "  {verdict:<7} {step} · {}{soft}: {} of {} failed",
            c.name,
            thousands(c.failed),
            thousands(c.evaluated)
        );
    }
}

fn change_line(out: &mut String, snap: &Snapshot) {
    if snap.live.events.is_empty() {
        return;
    }
    let changes: Vec<String> = snap.live.events.iter().map(ToString::to_string).collect();
    let _ = writeln!(
        out,
        "changes   {} (paused {:.1}s in all)",
        changes.join(" · "),
        snap.live.paused_for.as_secs_f64()
    );
}

fn describe_load(info: &RunInfo) -> String {
    let l = &info.load;
    let mut parts = vec![match l.model {
        Model::Closed { vus } => format!("closed model, {vus} VUs"),
        Model::Open { max_in_flight, .. } if l.capacity.is_some() => {
            format!("capacity search, open model (max {max_in_flight} in flight)")
        }
        Model::Open {
            rate,
            max_in_flight,
        } => format!("open model, {rate}/s (max {max_in_flight} in flight)"),
    }];
    if !l.stages.is_empty() {
        let unit = match l.model {
            Model::Closed { .. } => " VUs",
            Model::Open { .. } => "/s",
        };
        let stages: Vec<String> = l
            .stages
            .iter()
            .map(|s| {
                format!(
                    "{}{unit} over {}",
                    s.target,
                    humantime::format_duration(s.duration)
                )
            })
            .collect();
        parts[0] = format!("{}, then stages: {}", parts[0], stages.join(" → "));
    }
    if let Some(d) = l.duration {
        parts.push(format!("for {}", humantime::format_duration(d)));
    }
    if let Some(i) = l.iterations {
        parts.push(format!("{} iterations", thousands(i)));
    }
    parts.join(", ")
}

/// `--baseline`: what changed beyond noise, or that nothing did.
fn baseline_lines(out: &mut String, info: &RunInfo) {
    use super::compare::Verdict;
    let Some(b) = &info.baseline else {
        return;
    };
    let c = &b.comparison;
    let changed: Vec<_> = c
        .rows
        .iter()
        .filter(|r| r.verdict != Verdict::WithinNoise)
        .collect();
    let regressed = changed
        .iter()
        .filter(|r| r.verdict == Verdict::Regressed)
        .count();
    let _ = writeln!(
        out,
        "baseline  {} · tolerance {:.0}% · {} regressed · {} improved · {} within noise",
        b.name,
        c.tolerance * 100.0,
        regressed,
        changed.len() - regressed,
        c.rows.len() - changed.len()
    );
    for w in &c.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
    for r in changed {
        let mark = if r.verdict == Verdict::Regressed {
            "✗"
        } else {
            "✓"
        };
        let (base, new) = (r.base.unwrap_or(0.0), r.new.unwrap_or(0.0));
        let _ = writeln!(
            out,
            "  {mark} {} {}: {} → {} ({}, {})",
            r.step,
            r.metric.name(),
            r.metric.show(base),
            r.metric.show(new),
            r.change_text(),
            r.verdict.as_str()
        );
    }
    for step in &c.only_in_base {
        let _ = writeln!(out, "  only in the baseline: {step}");
    }
}

/// The change of a step's p99 against the baseline: `+12.0% ✗`, `-8.1% ✓`, `+1.2%`.
fn p99_delta(baseline: &super::Baseline, step: &str) -> String {
    use super::compare::{Metric, Verdict};
    match baseline.comparison.row(step, Metric::P99) {
        Some(r) => {
            let mark = match r.verdict {
                Verdict::Regressed => " ✗",
                Verdict::Improved => " ✓",
                Verdict::WithinNoise => "",
            };
            format!("{}{mark}", r.change_text())
        }
        None => "new".to_string(),
    }
}

/// Each step followed by its tag values' rows.
fn with_tags(steps: &[StepStats]) -> impl Iterator<Item = &StepStats> {
    steps
        .iter()
        .flat_map(|s| std::iter::once(s).chain(s.tags.iter()))
}

/// A row's name in the tables: `flow / step`, or `  [key=value]` under its step for a tag
/// value, escaped so that a name with control characters keeps the columns aligned.
fn label(s: &StepStats) -> String {
    match &s.tag {
        Some(tag) => printable(&format!("  [{}={}]", tag.key, tag.value)).into_owned(),
        None => printable(&s.label()).into_owned(),
    }
}

/// The width of the tables' name column: the longest name, 5 to 48 characters.
fn label_width(snap: &Snapshot) -> usize {
    with_tags(&snap.steps)
        .map(|s| label(s).chars().count())
        .max()
        .unwrap_or(5)
        .clamp(5, 48)
}

fn step_table(out: &mut String, snap: &Snapshot, baseline: Option<&super::Baseline>) {
    // Escaped before measuring, so a name with control characters keeps the columns aligned.
    let width = label_width(snap);
    let _ = write!(
        out,
        "{:<width$}  {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "step", "requests", "rps", "p50", "p90", "p99", "p99.9", "max", "errors"
    );
    if baseline.is_some() {
        let _ = write!(out, "  {:>10}", "p99 vs base");
    }
    out.push('\n');
    for s in with_tags(&snap.steps).chain(std::iter::once(&snap.total)) {
        let mut name = label(s);
        if name.chars().count() > width {
            name = name.chars().take(width - 1).collect::<String>() + "…";
        }
        let l = &s.latency;
        let lat = |us: u64| latency_or_dash(l.count, us);
        let _ = write!(
            out,
            "{name:<width$}  {:>10} {:>9.1} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7.2}%",
            thousands(s.requests),
            s.rps,
            lat(l.p50),
            lat(l.p90),
            lat(l.p99),
            lat(l.p999),
            lat(l.max),
            s.error_rate() * 100.0,
        );
        if let Some(b) = baseline
            && s.tag.is_none()
        {
            let _ = write!(out, "  {:>11}", p99_delta(b, &label(s)));
        }
        out.push('\n');
    }
}

/// Where each step's time went, for the steps whose responses said the server's time:
/// the server's own time against the overhead around it (service time − server time).
fn server_time_table(out: &mut String, snap: &Snapshot) {
    let said = |s: &StepStats| s.server_time.count > 0 || s.server_time_invalid > 0;
    if !snap.steps.iter().any(said) {
        return;
    }
    let width = label_width(snap);
    let _ = writeln!(
        out,
        "{:<width$}  {:>10} {:>10} {:>10} {:>12} {:>12} {:>8}",
        "server time",
        "said",
        "server p50",
        "server p99",
        "overhead p50",
        "overhead p99",
        "invalid"
    );
    for s in with_tags(&snap.steps)
        .filter(|s| said(s))
        .chain([&snap.total])
    {
        let mut name = label(s);
        if name.chars().count() > width {
            name = name.chars().take(width - 1).collect::<String>() + "…";
        }
        let (server, overhead) = (&s.server_time, &s.overhead);
        let at = |p: &Percentiles, us: u64| latency_or_dash(p.count, us);
        let _ = writeln!(
            out,
            "{name:<width$}  {:>10} {:>10} {:>10} {:>12} {:>12} {:>8}",
            thousands(server.count),
            at(server, server.p50),
            at(server, server.p99),
            at(overhead, overhead.p50),
            at(overhead, overhead.p99),
            thousands(s.server_time_invalid),
        );
    }
    let _ = writeln!(
        out,
        "(server: its X-Process-Time or Server-Timing · overhead = service time − server \
         time: network, queueing, parsing, framework)\n"
    );
}

/// `--phases`: each step's connections (new, reused, remade after the server closed one)
/// and the p50 / p99 of each phase some step saw.
fn phases_table(out: &mut String, snap: &Snapshot) {
    let rows: Vec<&StepStats> = snap.steps.iter().chain([&snap.total]).collect();
    let seen: Vec<usize> = (0..6)
        .filter(|&i| rows.iter().any(|s| s.phases.named()[i].1.count > 0))
        .collect();
    let counted = |s: &StepStats| s.connections.new + s.connections.reused > 0;
    if seen.is_empty() && !rows.iter().any(|s| counted(s)) {
        let _ = writeln!(
            out,
            "phases    none seen (the transport does not time them)\n"
        );
        return;
    }
    let width = name_width(snap);
    let names = PhaseStats::default().named().map(|(name, _)| name);
    let _ = write!(
        out,
        "{:<width$}  {:>8} {:>8} {:>10}",
        "phases", "new", "reused", "reconnects"
    );
    for &i in &seen {
        let _ = write!(out, " {:>19}", names[i]);
    }
    out.push('\n');
    for s in rows {
        let c = &s.connections;
        let _ = write!(
            out,
            "{:<width$}  {:>8} {:>8} {:>10}",
            cut(s, width),
            thousands(c.new),
            thousands(c.reused),
            thousands(c.reconnects)
        );
        let phases = s.phases.named();
        for &i in &seen {
            let p = phases[i].1;
            let cell = match p.count {
                0 => "—".to_string(),
                _ => format!("{} / {}", format_latency(p.p50), format_latency(p.p99)),
            };
            let _ = write!(out, " {cell:>19}");
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "(p50 / p99 · dns, connect, tls: once per new connection · write: to the request sent \
         · ttfb: to the first byte · download: to the body's end)\n"
    );
}

/// The width of the step column: the longest step name, within 5 ..= 48.
fn name_width(snap: &Snapshot) -> usize {
    snap.steps
        .iter()
        .map(|s| printable(&s.label()).chars().count())
        .max()
        .unwrap_or(5)
        .clamp(5, 48)
}

/// A step's name, escaped, cut with `…` to `width`.
fn cut(s: &StepStats, width: usize) -> String {
    let name = printable(&s.label()).into_owned();
    if name.chars().count() > width {
        name.chars().take(width - 1).collect::<String>() + "…"
    } else {
        name
    }
}

fn latency_lines(out: &mut String, latency: &Percentiles, service: &Percentiles, info: &RunInfo) {
    let line = |p: &Percentiles| {
        format!(
            "min {} · mean {} · p50 {} · p90 {} · p95 {} · p99 {} · p99.9 {} · max {}",
            format_latency(p.min),
            format_latency(p.mean.round() as u64),
            format_latency(p.p50),
            format_latency(p.p90),
            format_latency(p.p95),
            format_latency(p.p99),
            format_latency(p.p999),
            format_latency(p.max),
        )
    };
    if latency.count == 0 {
        let _ = writeln!(out, "latency   no responses");
        return;
    }
    let _ = writeln!(out, "latency   {}", line(latency));
    // In the open model the two differ: latency counts from the planned arrival.
    if matches!(info.load.model, Model::Open { .. }) {
        let _ = writeln!(out, "service   {}", line(service));
    }
}

/// Open model: how late the generator sent each iteration's first request.
fn send_lag_line(out: &mut String, lag: &Percentiles, info: &RunInfo) {
    if !matches!(info.load.model, Model::Open { .. }) || lag.count == 0 {
        return;
    }
    let _ = writeln!(
        out,
        "send lag  p50 {} · p99 {} · max {} (actual send − planned start; counted in latency)",
        format_latency(lag.p50),
        format_latency(lag.p99),
        format_latency(lag.max),
    );
}

fn status_line(out: &mut String, t: &StepStats) {
    if t.statuses.is_empty() {
        let _ = writeln!(out, "statuses  none");
        return;
    }
    let codes: Vec<String> = t
        .statuses
        .iter()
        .map(|(c, n)| format!("{c} × {}", thousands(*n)))
        .collect();
    let _ = writeln!(out, "statuses  {}", codes.join(" · "));
}

fn error_lines(out: &mut String, snap: &Snapshot) {
    if snap.total.errors_by_class.is_empty() {
        let _ = writeln!(out, "errors    none");
        return;
    }
    let _ = writeln!(out, "errors");
    for e in &snap.total.errors_by_class {
        let mut sample = e.sample.clone();
        if sample.chars().count() > 100 {
            sample = sample.chars().take(99).collect::<String>() + "…";
        }
        let _ = writeln!(
            out,
            "  {:<20} {:>10}  {sample}",
            e.class.as_str(),
            thousands(e.count)
        );
    }
}

/// A line per step with `retry:`: how its exchanges came out, never hidden in the counts
/// (each attempt is also a request above).
fn retry_lines(out: &mut String, snap: &Snapshot) {
    let steps: Vec<_> = snap
        .steps
        .iter()
        .filter_map(|s| s.retries.map(|r| (s, r)))
        .collect();
    if steps.is_empty() {
        return;
    }
    let _ = writeln!(out, "retries");
    let width = name_width(snap);
    for (s, r) in steps {
        let c = r.counts;
        let _ = writeln!(
            out,
            "  {:<width$}  {} succeeded after retry, {} gave up · {} retries ({:.1}% of its \
             requests) · {:.2} attempts per success · exchange p50 {} p99 {}",
            cut(s, width),
            thousands(c.succeeded_after_retry),
            thousands(c.gave_up),
            thousands(c.retries),
            r.retry_rate(s.requests) * 100.0,
            r.attempts_per_success,
            format_latency(r.exchange.p50),
            format_latency(r.exchange.p99),
        );
    }
}
