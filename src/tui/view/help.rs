//! The help overlay: every key and what it does, each description wrapped under itself.
//!
//! Depends on `theme` only. Invariant: it fits the screen (at most 80 columns, centred)
//! and clears what is under it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use crate::tui::theme::Theme;

/// Each key and what it does.
const HELP: &[(&str, &str)] = &[
    (
        "q, Ctrl-C",
        "stop gracefully (again: interrupt in-flight requests); after the run, leave",
    ),
    (
        "Esc",
        "close help, sample or expanded panel (never stops the run)",
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
    (
        "enter",
        "expand the focused panel / back; on the errors panel: an error class's latest \
         sample (up/down: another class)",
    ),
    ("s", "change the per-step sort: plan, requests, p99, errors"),
    ("z", "chart window: whole run, last 60 s, last 10 s"),
    (
        "t",
        "steps table: show or hide each tagged step's values (tag_by)",
    ),
    ("?", "this help (any key closes it)"),
];

/// Draws the help overlay centred in `area`.
pub fn draw(frame: &mut Frame, area: Rect, theme: Theme) {
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
