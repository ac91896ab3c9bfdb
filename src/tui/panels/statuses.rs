//! The status codes panel: responses per code, most frequent first, packed so that a
//! small panel still shows the 5xx.
//!
//! Depends on `state` (the `App`), `border`, `theme` and `format`. Invariant: a code and
//! its count stay on one line.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::border::Border;
use crate::format::thousands;
use crate::tui::state::App;

/// Draws the panel: `200 93,237  500 132 …`, most frequent first, as many per line as fit.
pub fn draw(frame: &mut Frame, area: Rect, app: &App, border: Border) {
    let theme = border.theme;
    let block = border.titled(" status codes ".into());
    let t = &app.snap.total;
    if t.statuses.is_empty() {
        let empty = Paragraph::new(Line::styled("no responses yet", theme.dim()));
        frame.render_widget(empty.block(block), area);
        return;
    }
    // Most frequent first, as many per line as fit, so a small panel still shows the 5xx.
    let mut codes = t.statuses.clone();
    codes.sort_by_key(|&(code, n)| (std::cmp::Reverse(n), code));
    // Packed by hand, a code and its count as one item: a wrapping paragraph could put the
    // count on the next line, away from its code.
    let room = usize::from(area.width.saturating_sub(2)).max(1);
    let mut lines: Vec<Line> = Vec::new();
    let mut line: Vec<Span> = Vec::new();
    let mut used = 0;
    for (code, n) in &codes {
        let count = thousands(*n);
        let item = format!("{code} {count}").chars().count();
        let gap = if line.is_empty() { 0 } else { 2 };
        if !line.is_empty() && used + gap + item > room {
            lines.push(Line::from(std::mem::take(&mut line)));
            used = 0;
        }
        if !line.is_empty() {
            line.push(Span::raw("  "));
            used += 2;
        }
        line.push(Span::styled(format!("{code} "), theme.status(*code)));
        line.push(Span::raw(count));
        used += item;
    }
    if !line.is_empty() {
        lines.push(Line::from(line));
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
