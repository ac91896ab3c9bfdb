//! The throughput panel: requests per second over time and, below them, errors in % on
//! their own axis (a few % of errors are a flat line at zero on the requests' axis). A
//! short panel keeps one chart with both rates.
//!
//! Depends on `state` (the `App`, whose `derived.charts` holds the series), `chart` and
//! `border`. Invariant: errors are never drawn as errors/s on the requests' axis.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Span;

use super::border::Border;
use super::chart::{error_swatch, errors_line, legend, line, mark, marks, timeline};
use crate::tui::state::App;

/// Draws the panel: two charts, or one when the panel is short.
pub fn draw(frame: &mut Frame, area: Rect, app: &App, border: Border) {
    if area.height < 12 {
        return both_in_one(frame, area, app, border);
    }
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(62), Constraint::Percentage(38)]).areas(area);
    requests(frame, top, app, border);
    errors(frame, bottom, app, border);
}

/// `0` and the top, the requests' axis labels.
fn y_labels(top: f64) -> Vec<Span<'static>> {
    vec![Span::raw("0"), Span::raw(format!("{top:.0}"))]
}

/// Too short for two charts: the errors share the plot on their own scale (their % of
/// requests, the legend naming the top), never as errors/s on the requests' axis, where a
/// few % at high throughput would be a flat line at zero.
fn both_in_one(frame: &mut Frame, area: Rect, app: &App, border: Border) {
    let (c, theme) = (&app.derived.charts, border.theme);
    let marks = marks(&c.marks, [0.0, c.rps_top]);
    let mut sets = vec![line(0, theme, &c.rps), errors_line(theme, &c.error_scaled)];
    sets.extend(marks.iter().map(|m| mark(theme, m)));
    let compact = area.width < 60;
    let mut legend = legend(&["req/s"], theme, compact);
    let mut errors = error_swatch(theme, &format!("err% ≤{:.0}%", c.error_top));
    if compact {
        errors[0].content = errors[0].content.trim_end().to_string().into();
    }
    legend.extend(errors);
    let block = border.chart(format!(" throughput · {} ", app.zoom.label()), legend);
    let chart = timeline(
        sets,
        block,
        c.x,
        [0.0, c.rps_top],
        y_labels(c.rps_top),
        theme,
    );
    frame.render_widget(chart, area);
}

/// The requests per second, with the marks of live changes.
fn requests(frame: &mut Frame, area: Rect, app: &App, border: Border) {
    let (c, theme) = (&app.derived.charts, border.theme);
    let rps_top = c.rps_top;
    let marks_top = marks(&c.marks, [0.0, rps_top]);
    let mut sets = vec![line(0, theme, &c.rps)];
    sets.extend(marks_top.iter().map(|m| mark(theme, m)));
    let block = border.chart(
        format!(" throughput · {} ", app.zoom.label()),
        legend(&["req/s"], theme, false),
    );
    let chart = timeline(sets, block, c.x, [0.0, rps_top], y_labels(rps_top), theme);
    frame.render_widget(chart, area);
}

/// The errors as a % of requests, the title giving the rates now and over the run.
fn errors(frame: &mut Frame, area: Rect, app: &App, border: Border) {
    let (c, theme) = (&app.derived.charts, border.theme);
    let t = &app.snap.total;
    let now = format!(
        " errors · now {:.2}% · {:.0}/s · run {:.2}% ",
        t.interval.error_rate() * 100.0,
        t.interval.eps(),
        t.error_rate() * 100.0
    );
    let marks_bottom = marks(&c.marks, [0.0, c.error_top]);
    let mut sets = vec![errors_line(theme, &c.error_pct)];
    sets.extend(marks_bottom.iter().map(|m| mark(theme, m)));
    let block = border.chart(now, error_swatch(theme, "% of requests"));
    let labels = vec![Span::raw("0%"), Span::raw(format!("{:.0}%", c.error_top))];
    let chart = timeline(sets, block, c.x, [0.0, c.error_top], labels, theme);
    frame.render_widget(chart, area);
}
