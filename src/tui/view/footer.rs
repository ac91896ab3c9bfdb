//! The footer line: the keys that fit while the run goes on, a live change's refusal, the
//! stop's countdown and what `q` then does, or the final screen's keys.
//!
//! Depends on `state` (the `App`), `theme` and `metrics`. Invariant: a key is left out
//! whole, least needed first, never cut in the middle.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::metrics::Phase;
use crate::tui::state::App;
use crate::tui::theme::Theme;

/// Draws the footer line into `area`.
pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
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
    } else if app.sample.is_some() {
        Line::from(Span::styled(
            fitting_keys(SAMPLE_KEYS, usize::from(area.width)),
            theme.dim(),
        ))
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

/// The keys while a sample is open, as `RUNNING_KEYS`.
const SAMPLE_KEYS: &[(&str, u8)] = &[
    ("q stop", 0),
    ("↑/↓ another error class", 1),
    ("enter/esc close", 2),
    ("p pause", 4),
    ("+/- load", 5),
    ("? help", 3),
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
}
