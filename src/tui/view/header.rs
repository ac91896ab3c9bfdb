//! The header's four lines: `stampede scenario → target` and the run's state; the key
//! figures (load, in flight, requests, rate, errors); the progress bar; the health
//! warnings, drops and the latest live changes.
//!
//! Depends on `state` (the `App`), `theme`, `text`, `format`, `metrics` and
//! `report::warnings` (the summary's health warnings, in a few words). Invariant: the error
//! rate and the state are never cut; the target is shortened with `…` before anything else
//! goes, and the other figures leave least needed first.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Gauge, Paragraph};

use crate::format::thousands;
use crate::metrics::Phase;
use crate::tui::state::App;
use crate::tui::text::truncate;
use crate::tui::theme::Theme;

/// Draws the header's four lines into `area`.
pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let width = usize::from(area.width);
    let figures = fit_groups(figures(app, theme), width);
    let [l1, l2, l3, l4] = Layout::vertical([Constraint::Length(1); 4]).areas(area);
    frame.render_widget(Paragraph::new(title(app, theme, width)), l1);
    frame.render_widget(Paragraph::new(figures), l2);
    frame.render_widget(progress(app, theme), l3);
    frame.render_widget(Paragraph::new(changes(app, theme)), l4);
}

/// `stampede scenario → target  RUNNING`: the state is never cut, the scenario and target
/// get what it leaves of `width`.
fn title(app: &App, theme: Theme, width: usize) -> Line<'static> {
    let s = &app.snap;
    let state = match (s.phase, s.live.paused) {
        (Phase::Finished, _) => Span::styled(" FINISHED — q to leave ", theme.warn()),
        (Phase::Stopping, _) => Span::styled(" STOPPING ", theme.warn()),
        (_, true) => Span::styled(" PAUSED ", theme.warn()),
        _ => Span::styled(" RUNNING ", theme.good()),
    };
    let fixed = "stampede ".len() + 2 + state.content.chars().count();
    let room = width.saturating_sub(fixed);
    Line::from(vec![
        Span::styled("stampede ", theme.strong()),
        Span::styled(run_name(&app.scenario, &app.target, room), theme.text()),
        Span::raw("  "),
        state,
    ])
}

/// A figure: its dimmed label, then its value.
fn figure(label: &'static str, value: String, style: Style, theme: Theme) -> Vec<Span<'static>> {
    vec![Span::styled(label, theme.dim()), Span::styled(value, style)]
}

/// The key figures in their order, each with its need (0 most needed): what does not fit
/// is left out, least needed (highest) first.
fn figures(app: &App, theme: Theme) -> Vec<(Vec<Span<'static>>, u8)> {
    let s = &app.snap;
    let t = &s.total;
    let level = s
        .live
        .level
        .map_or_else(|| "—".to_string(), |l| l.to_string());
    let error_style = if t.errors > 0 {
        theme.bad()
    } else {
        theme.good()
    };
    let errors = format!("{:.2}%", t.error_rate() * 100.0);
    // Once the run has ended, its last tick is only the drain of the final requests: the
    // header gives the run's rate alone.
    let rate = if app.finished() {
        figure("rps ", format!("{:.0}", t.rps), theme.strong(), theme)
    } else {
        let now = format!("{:.0}", t.interval.rps());
        figure("rps now ", now, theme.strong(), theme)
    };
    let mut groups = vec![
        (figure("load ", level, theme.strong(), theme), 1),
        (
            figure("in flight ", thousands(s.in_flight), theme.text(), theme),
            4,
        ),
        (
            figure("requests ", thousands(t.requests), theme.text(), theme),
            3,
        ),
        (rate, 2),
        (figure("errors ", errors, error_style, theme), 0),
    ];
    if !app.finished() {
        let mean = figure("mean ", format!("{:.0}", t.rps), theme.text(), theme);
        groups.insert(groups.len() - 1, (mean, 5));
    }
    if let Some(search) = &s.live.capacity {
        groups.insert(
            1,
            (
                figure("capacity ", search_state(search), theme.strong(), theme),
                1,
            ),
        );
    }
    groups
}

/// A capacity search in a few words: its stage while it runs (`bisecting · held 800/s`),
/// its answer once it ended.
fn search_state(search: &crate::metrics::CapacityReport) -> String {
    let held = search
        .max_held_rate
        .map_or(String::new(), |h| format!(" · held {h:.0}/s"));
    match search.outcome {
        Some(outcome) => format!("{outcome}{held}"),
        None => format!("{}{held}", search.stage),
    }
}

/// `scenario → target` in `room` characters: the target is shortened with `…` first (its
/// end, the path, goes), then the scenario's name.
fn run_name(scenario: &str, target: &str, room: usize) -> String {
    let whole = format!("{scenario} → {target}");
    if whole.chars().count() <= room {
        return whole;
    }
    let name = scenario.chars().count() + 3;
    if room > name + 8 {
        return format!("{scenario} → {}", truncate(target, room - name));
    }
    truncate(&whole, room)
}

/// The groups of spans that fit in `width`, two spaces apart, in their order; the most
/// needed (lowest number) are kept first.
fn fit_groups(groups: Vec<(Vec<Span<'static>>, u8)>, width: usize) -> Line<'static> {
    let len = |g: &Vec<Span>| g.iter().map(|s| s.content.chars().count()).sum::<usize>();
    let mut by_need: Vec<usize> = (0..groups.len()).collect();
    by_need.sort_by_key(|&i| groups[i].1);
    let mut kept = vec![false; groups.len()];
    let mut used = 0;
    for i in by_need {
        let cost = len(&groups[i].0) + if used == 0 { 0 } else { 2 };
        if used + cost <= width {
            used += cost;
            kept[i] = true;
        }
    }
    let mut spans = Vec::new();
    for (i, (group, _)) in groups.into_iter().enumerate() {
        if kept[i] {
            if !spans.is_empty() {
                spans.push(Span::raw("  "));
            }
            spans.extend(group);
        }
    }
    Line::from(spans)
}

/// The run's health warnings first (the summary's, in a few words), then open-model
/// shortfalls (in red: the planned load is not what the target got), then the latest live
/// changes (newest last), as marked on the charts.
fn changes(app: &App, theme: Theme) -> Line<'static> {
    let s = &app.snap;
    let mut spans = Vec::new();
    let mut text: Vec<String> = crate::report::warnings(s, std::time::Duration::ZERO)
        .into_iter()
        .map(|w| w.short)
        .collect();
    if app.insecure {
        text.push("TLS not verified (--insecure)".to_string());
    }
    if !text.is_empty() {
        spans.push(Span::styled(
            format!("⚠ {}  ", text.join(" · ")),
            theme.bad(),
        ));
    }
    if s.dropped > 0 || s.total.interrupted > 0 {
        // Per second of load, as every other rate: paused time excluded.
        let secs = s
            .elapsed
            .saturating_sub(s.live.paused_for)
            .as_secs_f64()
            .max(1e-9);
        let text = format!(
            "dropped {} ({:.1}/s, max_in_flight reached) · interrupted {}  ",
            thousands(s.dropped),
            s.dropped as f64 / secs,
            thousands(s.total.interrupted)
        );
        spans.push(Span::styled(text, theme.bad()));
    }
    let events = &s.live.events;
    if !events.is_empty() {
        let recent: Vec<String> = events
            .iter()
            .rev()
            .take(3)
            .rev()
            .map(ToString::to_string)
            .collect();
        spans.push(Span::styled("changes ", theme.dim()));
        spans.push(Span::styled(recent.join(" · "), theme.warn()));
    }
    Line::from(spans)
}

fn progress(app: &App, theme: Theme) -> Gauge<'static> {
    let s = &app.snap;
    let elapsed = s.elapsed.as_secs_f64();
    let paused = if s.live.paused_for.is_zero() {
        String::new()
    } else {
        format!(" · paused {:.0}s", s.live.paused_for.as_secs_f64())
    };
    let (ratio, label) = match s.live.planned {
        Some(p) if !p.is_zero() => {
            let ratio = (elapsed / p.as_secs_f64()).clamp(0.0, 1.0);
            (
                ratio,
                format!("{elapsed:.0}s / {:.0}s{paused}", p.as_secs_f64()),
            )
        }
        _ => (0.0, format!("{elapsed:.0}s{paused}")),
    };
    let ratio = if s.phase == Phase::Finished {
        1.0
    } else {
        ratio
    };
    Gauge::default()
        .ratio(ratio)
        .label(label)
        .gauge_style(theme.series(0))
}
