//! The screen: layout by terminal size, header, footer and help overlay. Panels themselves
//! live in `panels`. Drawing reads the `App` only: no clock, no computation over samples.
//!
//! Small terminals: the body's rows shrink in a fixed order of importance — the latency
//! table and steps stay longest, then the charts, then statuses and errors; below 80×24 a
//! short notice replaces everything, so nothing is clipped into a misleading figure. The
//! header gives up its least needed figures first: the error rate and the state are never
//! cut, and the target is shortened with `…` before anything else goes.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Gauge, Paragraph, Wrap};

use crate::tui::choices::Panel;
use crate::tui::panels;
use crate::tui::state::App;
use crate::tui::text::truncate;
use crate::tui::theme::Theme;
use crate::format::thousands;
use crate::metrics::Phase;

/// Smallest area the dashboard draws into: below 80×24 panels would be clipped and show
/// misleading figures, so a notice says what is needed instead.
pub const MIN_WIDTH: u16 = 80;
/// Smallest height the dashboard draws into.
pub const MIN_HEIGHT: u16 = 24;

/// Draws the whole dashboard.
pub fn draw(frame: &mut Frame, app: &App, theme: Theme) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = format!(
            "stampede: terminal too small ({}×{}); the dashboard needs {MIN_WIDTH}×{MIN_HEIGHT}. \
             The run goes on; enlarge the window, or q to stop",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    }
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(frame, header, app, theme);
    for (panel, rect) in body_layout(body, app) {
        panels::draw(frame, rect, panel, app, theme);
    }
    draw_footer(frame, footer, app, theme);
    if app.help {
        draw_help(frame, area, theme);
    }
}

/// Where each visible panel goes. With a focused panel expanded, it takes the whole body.
pub fn body_layout(body: Rect, app: &App) -> Vec<(Panel, Rect)> {
    if app.expanded {
        return vec![(app.focus, body)];
    }
    let h = body.height;
    // Row heights by content: latency+steps and statuses+errors get the rows their content
    // fills (within bounds), the charts the rest; a row never gets empty lines that a
    // neighbour needs (a one-bucket distribution beside 10 empty status rows).
    let snap = &app.snap;
    let buckets = snap.distribution.iter().filter(|b| b.count > 0).count() as u16;
    let latency_need = 2 + 8 + 1 + buckets;
    let steps_need = 3 + snap.steps.len() as u16;
    let middle_need = latency_need.max(steps_need).max(9);
    let errors_need = 2 + app
        .derived
        .errors
        .iter()
        .map(|g| 1 + g.rows.len() as u16)
        .sum::<u16>();
    let status_lines = (snap.total.statuses.len() as u16).div_ceil(2).max(1);
    let bottom_need = errors_need.max(2 + status_lines).max(4);
    let (charts, middle) = if h >= 19 {
        let bottom = bottom_need.min(h / 4);
        let middle = middle_need.min(h / 2);
        let charts = h - middle - bottom;
        if charts < 6 {
            // Charts keep six rows: the middle gives up its extra first.
            let short = 6 - charts;
            (6, middle.saturating_sub(short).max(9))
        } else {
            (charts, middle)
        }
    } else {
        match h {
            12..19 => (0, 9),
            _ => (0, h),
        }
    };
    let bottom = h.saturating_sub(charts + middle);
    let [r1, r2, r3] = Layout::vertical([
        Constraint::Length(charts),
        Constraint::Length(middle),
        Constraint::Length(bottom),
    ])
    .areas(body);
    let mut out = Vec::new();
    if charts > 0 {
        let [a, b] = Layout::horizontal([Constraint::Percentage(50); 2]).areas(r1);
        out.push((Panel::Throughput, a));
        out.push((Panel::LatencyChart, b));
    }
    let table_width = if body.width >= 120 { 46 } else { 34 };
    let [a, b] =
        Layout::horizontal([Constraint::Length(table_width), Constraint::Min(0)]).areas(r2);
    out.push((Panel::LatencyNow, a));
    out.push((Panel::Steps, b));
    if bottom >= 3 {
        let status_width = if body.width >= 120 { 30 } else { 22 };
        // The checks panel, when the plan has checks, takes a share of the errors' room.
        let checks_width = if app.has_checks() {
            (body.width.saturating_sub(status_width) * 2 / 5).max(24)
        } else {
            0
        };
        let [a, b, c] = Layout::horizontal([
            Constraint::Length(status_width),
            Constraint::Min(0),
            Constraint::Length(checks_width),
        ])
        .areas(r3);
        out.push((Panel::Statuses, a));
        out.push((Panel::Errors, b));
        if checks_width > 0 {
            out.push((Panel::Checks, c));
        }
    }
    out
}

fn draw_header(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let s = &app.snap;
    let t = &s.total;
    let level = s
        .live
        .level
        .map_or_else(|| "—".to_string(), |l| l.to_string());
    let state = match (s.phase, s.live.paused) {
        (Phase::Finished, _) => Span::styled(" FINISHED — q to leave ", theme.warn()),
        (Phase::Stopping, _) => Span::styled(" STOPPING ", theme.warn()),
        (_, true) => Span::styled(" PAUSED ", theme.warn()),
        _ => Span::styled(" RUNNING ", theme.good()),
    };
    let width = usize::from(area.width);
    // The state is never cut: the scenario and target get what it leaves.
    let fixed = "stampede ".len() + 2 + state.content.chars().count();
    let room = width.saturating_sub(fixed);
    let title = Line::from(vec![
        Span::styled("stampede ", theme.strong()),
        Span::styled(run_name(&app.scenario, &app.target, room), theme.text()),
        Span::raw("  "),
        state,
    ]);
    let errors = vec![
        Span::styled("errors ", theme.dim()),
        Span::styled(
            format!("{:.2}%", t.error_rate() * 100.0),
            if t.errors > 0 {
                theme.bad()
            } else {
                theme.good()
            },
        ),
    ];
    // (spans, need): what does not fit is left out, least needed (highest) first.
    let mut groups = vec![
        (
            vec![
                Span::styled("load ", theme.dim()),
                Span::styled(level, theme.strong()),
            ],
            1,
        ),
        (
            vec![
                Span::styled("in flight ", theme.dim()),
                Span::raw(thousands(s.in_flight)),
            ],
            4,
        ),
        (
            vec![
                Span::styled("requests ", theme.dim()),
                Span::raw(thousands(t.requests)),
            ],
            3,
        ),
        // Once the run has ended, its last tick is only the drain of the final requests:
        // the header gives the run's rate alone.
        if app.finished() {
            (
                vec![
                    Span::styled("rps ", theme.dim()),
                    Span::styled(format!("{:.0}", t.rps), theme.strong()),
                ],
                2,
            )
        } else {
            (
                vec![
                    Span::styled("rps now ", theme.dim()),
                    Span::styled(format!("{:.0}", t.interval.rps()), theme.strong()),
                ],
                2,
            )
        },
        (errors, 0),
    ];
    if !app.finished() {
        let mean = vec![
            Span::styled("mean ", theme.dim()),
            Span::raw(format!("{:.0}", t.rps)),
        ];
        groups.insert(groups.len() - 1, (mean, 5));
    }
    let figures = fit_groups(groups, width);
    let [l1, l2, l3, l4] = Layout::vertical([Constraint::Length(1); 4]).areas(area);
    frame.render_widget(Paragraph::new(title), l1);
    frame.render_widget(Paragraph::new(figures), l2);
    frame.render_widget(progress(app, theme), l3);
    frame.render_widget(Paragraph::new(changes(app, theme)), l4);
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

fn draw_footer(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let line = if app.finished() {
        Line::from(vec![
            Span::styled("run ended: ", theme.strong()),
            Span::styled(
                "q leave · tab focus · enter expand · s sort · z zoom · ? help",
                theme.dim(),
            ),
        ])
    } else if app.snap.phase == Phase::Stopping && app.aborting {
        Line::from(Span::styled(
            "stopping: interrupting the requests in flight…",
            theme.warn(),
        ))
    } else if app.snap.phase == Phase::Stopping {
        let left = app
            .stopping_since
            .map(|since| app.graceful_stop.saturating_sub(since.elapsed()))
            .unwrap_or(app.graceful_stop);
        // After the user's own q, a second one interrupts; when the run stops itself, one.
        let key = if app.quitting {
            "q again: interrupt in-flight now"
        } else {
            "q: interrupt in-flight now"
        };
        Line::from(vec![
            Span::styled(
                format!(
                    "stopping: in-flight requests get {:.0}s more · ",
                    left.as_secs_f64().ceil()
                ),
                theme.warn(),
            ),
            Span::styled(key, theme.strong()),
        ])
    } else if let Some(notice) = &app.snap.live.notice {
        Line::from(Span::styled(notice.clone(), theme.warn()))
    } else {
        Line::from(Span::styled(
            fitting_keys(RUNNING_KEYS, usize::from(area.width)),
            theme.dim(),
        ))
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// The running footer's keys, each with its priority (0 first): what does not fit the
/// width is left out, least needed first, never cut in the middle.
const RUNNING_KEYS: &[(&str, u8)] = &[
    ("q stop", 0),
    ("p pause", 2),
    ("+/- load", 3),
    ("tab focus", 4),
    ("enter expand", 5),
    ("s sort", 6),
    ("z zoom", 7),
    ("? help", 1),
];

/// The keys that fit in `width` columns, in their order, joined by " · ".
fn fitting_keys(keys: &[(&str, u8)], width: usize) -> String {
    let mut by_need: Vec<&(&str, u8)> = keys.iter().collect();
    by_need.sort_by_key(|(_, need)| *need);
    let mut kept: Vec<&str> = Vec::new();
    let mut used = 0;
    for (text, _) in by_need {
        let cost = text.chars().count() + if kept.is_empty() { 0 } else { 3 };
        if used + cost <= width {
            used += cost;
            kept.push(text);
        }
    }
    keys.iter()
        .filter(|(text, _)| kept.contains(text))
        .map(|(text, _)| *text)
        .collect::<Vec<_>>()
        .join(" · ")
}

const HELP: &[(&str, &str)] = &[
    (
        "q, Ctrl-C",
        "stop gracefully (again: interrupt in-flight requests); after the run, leave",
    ),
    (
        "Esc",
        "close this help or an expanded panel (never stops the run)",
    ),
    (
        "p",
        "pause / resume sending (paused time is excluded from rates)",
    ),
    (
        "+ / -",
        "raise / lower the load by 10 % (VUs or rate), marked on the charts",
    ),
    ("tab, arrows", "move the focus between panels"),
    ("enter", "expand the focused panel / back"),
    ("s", "change the per-step sort: plan, requests, p99, errors"),
    ("z", "chart window: whole run, last 60 s, last 10 s"),
    ("?", "this help (any key closes it)"),
];

fn draw_help(frame: &mut Frame, area: Rect, theme: Theme) {
    let width = area.width.min(80);
    // Each description wraps under itself, not back to the first column.
    const KEYS: usize = 17;
    let room = usize::from(width.saturating_sub(2))
        .saturating_sub(KEYS)
        .max(10);
    let mut lines: Vec<Line> = Vec::new();
    for (k, what) in HELP {
        for (i, piece) in wrap_words(what, room).into_iter().enumerate() {
            let key = if i == 0 {
                format!("{k:>15}  ")
            } else {
                " ".repeat(KEYS)
            };
            lines.push(Line::from(vec![
                Span::styled(key, theme.strong()),
                Span::raw(piece),
            ]));
        }
    }
    let height = area.height.min(lines.len() as u16 + 2);
    let rect = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let block = Block::bordered()
        .title(" keys ")
        .border_style(theme.border(true));
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}

/// `text` cut into lines of at most `width` characters at spaces (a longer word is cut).
fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let fits = line.chars().count() + 1 + word.chars().count() <= width;
        if !line.is_empty() && !fits {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
        while line.chars().count() > width {
            let cut: String = line.chars().take(width).collect();
            line = line.chars().skip(width).collect();
            lines.push(cut);
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_footer_drops_whole_keys_least_needed_first() {
        let all = fitting_keys(RUNNING_KEYS, 200);
        assert_eq!(
            all,
            "q stop · p pause · +/- load · tab focus · enter expand · s sort · z zoom · ? help"
        );
        let narrow = fitting_keys(RUNNING_KEYS, 40);
        assert!(narrow.chars().count() <= 40, "{narrow}");
        assert!(
            narrow.starts_with("q stop") && narrow.ends_with("? help"),
            "{narrow}"
        );
        assert_eq!(fitting_keys(RUNNING_KEYS, 6), "q stop");
    }

    #[test]
    fn help_lines_wrap_at_spaces_within_their_width() {
        let lines = wrap_words("stop gracefully (again: interrupt in-flight requests)", 20);
        assert!(lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
        assert_eq!(
            lines.join(" "),
            "stop gracefully (again: interrupt in-flight requests)"
        );
        assert_eq!(wrap_words("abcdefghij", 4), ["abcd", "efgh", "ij"]);
    }
}
