//! The sample view, filling the body (`enter` on the errors panel): the latest failure
//! sample of one error group over every step — what failed where and when, the request,
//! the response's headers and the first bytes of its body — worded as `-v` words it
//! (`report::sample_lines`), each line made safe for the terminal.
//!
//! Depends on `state` (the `App`: which group), `derived` (the groups), `border`, `theme`,
//! `format`, `metrics` and `report`. Invariant: it shows only what the snapshot holds,
//! redacted there.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::border::Border;
use crate::format::printable;
use crate::metrics::{ErrorClass, Sample, Snapshot, StepStats};
use crate::report::sample_lines;
use crate::tui::state::App;

/// Draws the latest sample of the open error group into `area`.
pub fn draw(frame: &mut Frame, area: Rect, app: &App, border: Border) {
    let theme = border.theme;
    let groups = &app.derived.errors;
    let at = app.sample.unwrap_or(0);
    let class = (groups.get(at)).and_then(|g| app.snap.total.errors_by_class.get(g.class));
    let title = match class {
        Some(c) => format!(
            " latest sample · {} · class {} of {} · ↑/↓ class · esc close ",
            c.class,
            at + 1,
            groups.len()
        ),
        None => " latest sample · esc close ".to_string(),
    };
    let block = border.titled(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(class) = class.map(|c| c.class) else {
        frame.render_widget(
            Paragraph::new(Line::styled("no errors", theme.good())),
            inner,
        );
        return;
    };
    let Some((step, sample)) = latest(&app.snap, class) else {
        let none = format!("no sample of {class} kept yet");
        frame.render_widget(Paragraph::new(Line::styled(none, theme.dim())), inner);
        return;
    };
    let mut lines: Vec<Line> = sample_lines(&step.label(), sample)
        .into_iter()
        .enumerate()
        .map(|(i, text)| {
            let text = printable(&text).into_owned();
            match i {
                // The title already says it is a sample.
                0 => Line::styled(text.replacen("sample: ", "", 1), theme.bad()),
                _ if text.starts_with("  > ") => Line::styled(text, theme.dim()),
                _ => Line::raw(text),
            }
        })
        .collect();
    let kept = kept(&app.snap, class);
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        format!("the latest of {kept} kept for {class}: every one is in --json and --html"),
        theme.dim(),
    ));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

/// The latest sample of `class` over the steps, with its step.
fn latest(snap: &Snapshot, class: ErrorClass) -> Option<(&StepStats, &Sample)> {
    snap.steps
        .iter()
        .filter_map(|s| Some((s, s.samples.latest(class)?)))
        .max_by_key(|(_, sample)| sample.at)
}

/// How many samples of `class` the steps keep.
fn kept(snap: &Snapshot, class: ErrorClass) -> usize {
    let failures = snap.steps.iter().flat_map(|s| &s.samples.failures);
    failures.filter(|s| s.class == Some(class)).count()
}
