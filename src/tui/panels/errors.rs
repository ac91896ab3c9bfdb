//! The errors panel: error classes, most frequent first, each with its latest message and
//! the steps it came from; expanded, every step with its own latest message, wrapped.
//!
//! Depends on `state` (the `App`), `derived` (its `ErrorGroup`s, the classes grouped),
//! `border`, `theme`, `text`, `format` and `metrics`. Invariant: every class gets its line before
//! any class gets detail rows.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::border::Border;
use crate::format::thousands;
use crate::metrics::{ErrorClass, Snapshot, StepStats};
use crate::tui::derived::ErrorGroup;
use crate::tui::state::App;
use crate::tui::text::truncate;
use crate::tui::theme::Theme;

/// Draws the panel: `none`, the classes in the lines there are, or (expanded) in full.
pub fn draw(frame: &mut Frame, area: Rect, app: &App, border: Border) {
    let theme = border.theme;
    let block = border.titled(" errors ".into());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if app.snap.total.errors_by_class.is_empty() {
        frame.render_widget(Paragraph::new(Line::styled("none", theme.good())), inner);
        return;
    }
    if app.expanded {
        return in_full(frame, inner, app, theme);
    }
    let budget = inner.height as usize;
    // Grouped by class, most frequent first: every class gets its line before any class gets
    // detail rows (the steps with most errors, then "… and N more").
    let mut spare = budget.saturating_sub(app.snap.total.errors_by_class.len());
    let mut lines: Vec<Line> = Vec::new();
    for group in &app.derived.errors {
        let width = usize::from(inner.width);
        lines.extend(group_lines(&app.snap, group, width, &mut spare, theme));
    }
    lines.truncate(budget);
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The latest message of `class` in step `step` (empty when it has none).
fn sample_of(snap: &Snapshot, step: usize, class: ErrorClass) -> &str {
    snap.steps
        .get(step)
        .and_then(|s| s.errors_by_class.iter().find(|e| e.class == class))
        .map_or("", |e| e.sample.as_str())
}

/// A class's line in `width` columns, and the detail rows of its steps that `spare` (the
/// lines no class needs) leaves room for; takes the lines it uses from `spare`.
fn group_lines(
    snap: &Snapshot,
    group: &ErrorGroup,
    width: usize,
    spare: &mut usize,
    theme: Theme,
) -> Vec<Line<'static>> {
    let Some(class) = snap.total.errors_by_class.get(group.class) else {
        return Vec::new();
    };
    let ago = snap.elapsed.saturating_sub(class.last_seen).as_secs_f64();
    let head = format!(
        "  {} in {} step(s) · last {ago:.0}s ago · {}",
        thousands(class.count),
        group.rows.len(),
        class.sample
    );
    let name = class.class.as_str();
    let mut lines = vec![Line::from(vec![
        Span::styled(name.to_string(), theme.bad()),
        Span::raw(truncate(&head, width.saturating_sub(name.len()))),
    ])];
    // Detail rows only when they say more than the class line, and fit.
    let single_same =
        group.rows.len() == 1 && sample_of(snap, group.rows[0].step, class.class) == class.sample;
    let detail = if single_same { 0 } else { group.rows.len() };
    let room = if detail > *spare {
        spare.saturating_sub(1)
    } else {
        detail
    };
    for r in group.rows.iter().take(room) {
        let label = snap
            .steps
            .get(r.step)
            .map(StepStats::label)
            .unwrap_or_default();
        let text = format!(
            "  {:>8}  {:>4.0}s  {label}: {}",
            thousands(r.count),
            r.ago,
            sample_of(snap, r.step, class.class)
        );
        lines.push(Line::raw(truncate(&text, width)));
    }
    *spare -= room;
    if detail > room && *spare > 0 {
        lines.push(Line::styled(
            format!("  … and {} more", detail - room),
            theme.dim(),
        ));
        *spare -= 1;
    }
    lines
}

/// The expanded errors panel: each class with its full message, wrapped, and every step it
/// came from with that step's own latest message.
fn in_full(frame: &mut Frame, inner: Rect, app: &App, theme: Theme) {
    let snap = &app.snap;
    let classes = &snap.total.errors_by_class;
    let mut lines: Vec<Line> = Vec::new();
    for group in &app.derived.errors {
        let Some(class) = classes.get(group.class) else {
            continue;
        };
        let ago = snap.elapsed.saturating_sub(class.last_seen).as_secs_f64();
        lines.push(Line::from(vec![
            Span::styled(class.class.as_str().to_string(), theme.bad()),
            Span::raw(format!(
                "  {} in {} step(s) · last {ago:.0}s ago",
                thousands(class.count),
                group.rows.len()
            )),
        ]));
        lines.push(Line::raw(format!("  {}", class.sample)));
        // Each class gets its share of the rows; the rest of its steps are summed up.
        let share = usize::from(inner.height) / app.derived.errors.len().max(1);
        let room = share.saturating_sub(4).max(1);
        for r in group.rows.iter().take(room) {
            let Some(step) = snap.steps.get(r.step) else {
                continue;
            };
            let sample = sample_of(snap, r.step, class.class);
            lines.push(Line::styled(
                format!(
                    "    {}: {} · last {:.0}s ago · {sample}",
                    step.label(),
                    thousands(r.count),
                    r.ago
                ),
                theme.dim(),
            ));
        }
        if group.rows.len() > room {
            lines.push(Line::styled(
                format!("    … and {} more steps", group.rows.len() - room),
                theme.dim(),
            ));
        }
        lines.push(Line::raw(""));
    }
    let text = Paragraph::new(lines).wrap(Wrap { trim: false });
    frame.render_widget(text, inner);
}
