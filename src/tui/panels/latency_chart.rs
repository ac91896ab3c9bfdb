//! The latency chart: each of `derived::LATENCY_LINES` (p50, p90, p99, max, the server's p99) per tick over time, on a log axis in whole
//! decades, with the marks of live changes and, with `--baseline`, the saved run's p50 and
//! p99 as faint level lines.
//!
//! Depends on `state` (the `App`, whose `derived.charts` holds the series in log10(ms)),
//! `derived` (the lines' names), `chart`, `border` and `text`. Invariant: the axis always shows the baseline's levels.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::symbols::Marker;
use ratatui::text::Span;
use ratatui::widgets::{Dataset, GraphType};

use super::border::Border;
use super::chart::{legend, line, mark, marks, timeline};
use crate::tui::derived::LATENCY_LINES;
use crate::tui::state::App;
use crate::tui::text::ms_label;

/// Draws the panel, its title compact where the chart is narrow (an 80-column terminal's
/// half).
pub fn draw(frame: &mut Frame, area: Rect, app: &App, border: Border) {
    let theme = border.theme;
    let c = &app.derived.charts;
    // A line drawn only sometimes is in the legend only when it has points.
    let mut names: Vec<&str> = LATENCY_LINES
        .iter()
        .zip(&c.latency)
        .filter(|(line, points)| !line.sometimes || !points.is_empty())
        .map(|(line, _)| line.name)
        .collect();
    if app.baseline.is_some() {
        names.extend(["base p50/p99"]);
    }
    let narrow = area.width < 60;
    // Narrow, a fifth line's name takes the zoom's place (the throughput chart beside it
    // says the zoom too).
    let title = if narrow && names.len() > 4 {
        " latency ".to_string()
    } else if narrow {
        format!(" latency · {} ", app.zoom.label())
    } else {
        format!(" latency over time (log) · {} ", app.zoom.label())
    };
    let block = border.chart(title, legend(&names, theme, narrow));
    let [mut lo, mut hi] = c.decades;
    // `--baseline`: the saved run's p50 and p99 as faint level lines across the chart; the
    // axis widens to keep them in view.
    let base: Vec<[(f64, f64); 2]> = app
        .baseline
        .iter()
        .flatten()
        .filter(|ms| **ms > 0.0)
        .map(|ms| {
            let y = ms.log10();
            lo = lo.min(y.floor());
            hi = hi.max(y.ceil());
            [(c.x[0], y), (c.x[1], y)]
        })
        .collect();
    let marks = marks(&c.marks, [lo, hi]);
    let mut sets: Vec<Dataset> = c
        .latency
        .iter()
        .enumerate()
        .map(|(i, d)| line(i, theme, d))
        .collect();
    sets.extend(marks.iter().map(|m| mark(theme, m)));
    // The baseline's own marker (no series uses half blocks), so it differs without colour.
    for points in &base {
        sets.push(
            Dataset::default()
                .marker(Marker::HalfBlock)
                .graph_type(GraphType::Line)
                .style(theme.dim())
                .data(points),
        );
    }
    let labels = decade_labels(lo, hi, area.height);
    frame.render_widget(timeline(sets, block, c.x, [lo, hi], labels, theme), area);
}

/// One label per decade when they fit the plot's height, else the two ends only.
fn decade_labels(lo: f64, hi: f64, height: u16) -> Vec<Span<'static>> {
    let decades: Vec<i32> = (lo as i32..=hi as i32).collect();
    let rows = usize::from(height.saturating_sub(4));
    let shown: Vec<i32> = if decades.len() <= rows.div_ceil(2).max(2) {
        decades
    } else {
        vec![lo as i32, hi as i32]
    };
    shown
        .iter()
        .map(|&e| Span::raw(ms_label(10f64.powi(e))))
        .collect()
}
