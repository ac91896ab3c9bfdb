//! What the charts share: series styles and markers, the legend in the title, the marks
//! of live changes, and a chart over run time.
//!
//! Depends on `theme` only. Invariant: without colour every series differs by its marker
//! (the errors' and the baseline's too), so no line is told apart by colour alone.

use ratatui::symbols::Marker;
use ratatui::text::Span;
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType};

use crate::tui::theme::Theme;

/// `━ p50 ━ p90 …`: each name after its series' swatch, in its colour (`compact`: no
/// space between them).
pub fn legend(names: &[&str], theme: Theme, compact: bool) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (swatch, style) = if name.starts_with("base") {
            ("▀", theme.dim())
        } else {
            (theme.swatch(i), theme.series(i))
        };
        let gap = if compact { "" } else { " " };
        spans.push(Span::styled(format!("{swatch}{gap}"), style));
        spans.push(Span::styled(format!("{name} "), theme.text()));
    }
    spans
}

/// The time axis's two labels, its ends in whole seconds.
fn chart_labels(x: [f64; 2]) -> Vec<Span<'static>> {
    vec![
        Span::raw(format!("{:.0}s", x[0])),
        Span::raw(format!("{:.0}s", x[1])),
    ]
}

/// Series `rank` of a chart: its colour, or its marker without colour.
pub fn line<'a>(rank: usize, theme: Theme, data: &'a [(f64, f64)]) -> Dataset<'a> {
    Dataset::default()
        .marker(theme.marker(rank))
        .graph_type(GraphType::Line)
        .style(theme.series(rank))
        .data(data)
}

/// Vertical marks where the load was changed live.
pub fn marks(times: &[f64], y: [f64; 2]) -> Vec<[(f64, f64); 2]> {
    times.iter().map(|&t| [(t, y[0]), (t, y[1])]).collect()
}

/// The dataset of one live-change mark.
pub fn mark<'a>(theme: Theme, data: &'a [(f64, f64)]) -> Dataset<'a> {
    Dataset::default()
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(theme.warn())
        .data(data)
}

/// The errors series: red, or (without colour) a marker no other series uses.
pub fn errors_line<'a>(theme: Theme, data: &'a [(f64, f64)]) -> Dataset<'a> {
    let marker = if theme.colored() {
        Marker::Braille
    } else {
        Marker::Bar
    };
    Dataset::default()
        .marker(marker)
        .graph_type(GraphType::Line)
        .style(theme.bad())
        .data(data)
}

/// The errors series' legend entry: its swatch in red, then `name`.
pub fn error_swatch(theme: Theme, name: &str) -> Vec<Span<'static>> {
    let swatch = if theme.colored() { "━" } else { "▄" };
    vec![
        Span::styled(format!("{swatch} "), theme.bad()),
        Span::styled(format!("{name} "), theme.text()),
    ]
}

/// A chart over run time with the given y axis.
pub fn timeline<'a>(
    sets: Vec<Dataset<'a>>,
    block: Block<'a>,
    x: [f64; 2],
    y: [f64; 2],
    y_labels: Vec<Span<'a>>,
    theme: Theme,
) -> Chart<'a> {
    let x_axis = Axis::default()
        .bounds(x)
        .labels(chart_labels(x))
        .style(theme.dim());
    let y_axis = Axis::default()
        .bounds(y)
        .labels(y_labels)
        .style(theme.dim());
    Chart::new(sets).block(block).x_axis(x_axis).y_axis(y_axis)
}
