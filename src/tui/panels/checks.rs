//! The checks panel (shown when the plan has checks): each check's pass rate, the most
//! failed first: `✗ 92.0%  checkout / pay · body.id == 42  80 of 1,000 failed`. A soft
//! check says `(soft)` after its name (where the line has room for its count), and its
//! failures are marked as a warning, not an error.
//!
//! Depends on `state` (the `App`), `border`, `theme`, `text`, `format` and `metrics`.
//! Invariant: a check never evaluated shows `—`, not a rate.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::border::Border;
use crate::format::thousands;
use crate::metrics::{CheckStat, StepStats};
use crate::tui::state::App;
use crate::tui::text::truncate;
use crate::tui::theme::Theme;

/// Draws the panel: a line per check of every step, the most failed first.
pub fn draw(frame: &mut Frame, area: Rect, app: &App, border: Border) {
    let theme = border.theme;
    let block = border.titled(" checks ".into());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut rows: Vec<(&StepStats, &CheckStat)> = app
        .snap
        .steps
        .iter()
        .flat_map(|s| s.checks.iter().map(move |c| (s, c)))
        .collect();
    if rows.is_empty() {
        let none = Paragraph::new(Line::styled("no checks in this plan", theme.dim()));
        frame.render_widget(none, inner);
        return;
    }
    rows.sort_by(|a, b| failed_share(b.1).total_cmp(&failed_share(a.1)));
    let width = usize::from(inner.width);
    let lines: Vec<Line> = rows
        .iter()
        .map(|(step, c)| check_line(step, c, width, theme))
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The share of a check's evaluations that failed (0 when it was never evaluated).
fn failed_share(c: &CheckStat) -> f64 {
    if c.evaluated == 0 {
        0.0
    } else {
        c.failed as f64 / c.evaluated as f64
    }
}

/// One check's line in `width` columns: its mark and pass rate, `step · check` (cut to
/// what is left), and its failures.
fn check_line(step: &StepStats, c: &CheckStat, width: usize, theme: Theme) -> Line<'static> {
    let pass = if c.evaluated == 0 {
        "    —".to_string()
    } else {
        format!("{:5.1}%", 100.0 - failed_share(c) * 100.0)
    };
    let (mark, style) = if c.evaluated == 0 {
        ("·", theme.dim())
    } else if c.failed > 0 && c.soft {
        ("✗", theme.warn())
    } else if c.failed > 0 {
        ("✗", theme.bad())
    } else {
        ("✓", theme.good())
    };
    // Narrow: the failures only (the rate says the rest; a soft check's mark its colour).
    let narrow = width < 44;
    let tail = if narrow {
        format!(" {}✗", thousands(c.failed))
    } else {
        format!(
            "  {} of {} failed",
            thousands(c.failed),
            thousands(c.evaluated)
        )
    };
    let soft = if c.soft && !narrow { " (soft)" } else { "" };
    let used = pass.chars().count() + 4 + soft.chars().count() + tail.chars().count();
    let name = truncate(
        &format!("{} · {}", step.label(), c.name),
        width.saturating_sub(used).max(8),
    );
    Line::from(vec![
        Span::styled(format!("{mark} {pass} "), style),
        Span::raw(name),
        Span::styled(format!("{soft}{tail}"), theme.dim()),
    ])
}
