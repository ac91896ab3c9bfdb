//! The latency panel: the run's percentiles beside the last tick's (and, in the open model,
//! the service time and the generator's send lag), then the distribution as bars.
//!
//! Depends on `state` (the `App`), `border`, `theme`, `text`, `format` and `metrics`.
//! Invariant: once the run has ended the last tick's column goes (it is only the drain of
//! the final requests); when the panel is short, `min` is the first row to go.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table};

use super::border::Border;
use crate::format::format_latency;
use crate::metrics::{Bucket, Percentiles};
use crate::tui::state::App;
use crate::tui::text::{cell, ms_label};
use crate::tui::theme::Theme;

/// Draws the panel: the table, the send lag's line when there is one, the bars below.
pub fn draw(frame: &mut Frame, area: Rect, app: &App, border: Border) {
    let theme = border.theme;
    let block = border.titled(" latency ".into());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let t = &app.snap.total;
    // The open model's latency counts from the planned start: beside it, the service time
    // (from the actual send) shows how much of it the generator's own delay added.
    let open = matches!(app.snap.live.level, Some(crate::metrics::Level::Rate(_)));
    let rows = rows(app, open);
    let lag = open && t.send_lag.count > 0;
    let table_height = (rows.len() as u16 + 1).min(inner.height);
    let [table_area, lag_area, bars_area] = Layout::vertical([
        Constraint::Length(table_height),
        Constraint::Length(u16::from(lag)),
        Constraint::Min(0),
    ])
    .areas(inner);
    let mut header = vec!["", "run"];
    if open {
        header.push("service");
    }
    if !app.finished() {
        header.push("last tick");
    }
    let widths: Vec<Constraint> = std::iter::once(Constraint::Length(6))
        .chain(header[1..].iter().map(|_| Constraint::Fill(1)))
        .collect();
    let header = Row::new(header).style(theme.dim());
    frame.render_widget(Table::new(rows, widths).header(header), table_area);
    if lag {
        frame.render_widget(send_lag(t.send_lag.p99, theme), lag_area);
    }
    if bars_area.height > 0 {
        distribution(frame, bars_area, &app.snap.distribution, theme);
    }
}

/// A row per percentile, the tail first (when the panel is short, `min` is the row to
/// lose): the run's, the service time's in the open model, the last tick's while it runs.
fn rows(app: &App, open: bool) -> Vec<Row<'static>> {
    let t = &app.snap.total;
    let (run, now, service) = (&t.latency, &t.interval.latency, &t.service);
    let pick = |p: &Percentiles, i: usize| [p.p50, p.p90, p.p95, p.p99, p.p999, p.max, p.min][i];
    ["p50", "p90", "p95", "p99", "p99.9", "max", "min"]
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let mut cells = vec![name.to_string(), cell(run, pick(run, i))];
            if open {
                cells.push(cell(service, pick(service, i)));
            }
            // Once the run has ended, its last tick is only the drain of the final requests.
            if !app.finished() {
                cells.push(cell(now, pick(now, i)));
            }
            Row::new(cells)
        })
        .collect()
}

/// The generator's own lateness: over 1 ms at p99 it is part of what is measured.
fn send_lag(p99: u64, theme: Theme) -> Paragraph<'static> {
    let style = if p99 > 1_000 {
        theme.bad()
    } else {
        theme.dim()
    };
    let flag = if p99 > 1_000 { " ⚠ over 1ms" } else { "" };
    let text = format!("send lag p99 {}{flag}", format_latency(p99));
    Paragraph::new(Line::styled(text, style))
}

/// Horizontal bars of the latency distribution: every non-empty bucket (empty ones between
/// them are left out), its share of all responses; a share that rounds to 0 % has no bar.
fn distribution(frame: &mut Frame, area: Rect, buckets: &[Bucket], theme: Theme) {
    let shown: Vec<&Bucket> = buckets.iter().filter(|b| b.count > 0).collect();
    if shown.is_empty() {
        return;
    }
    let most = shown.iter().map(|b| b.count).max().unwrap_or(1).max(1);
    let total: u64 = shown.iter().map(|b| b.count).sum();
    let bar_width = area.width.saturating_sub(16) as u64;
    let lines: Vec<Line> = shown
        .iter()
        .map(|b| {
            let label = if b.upper_us == u64::MAX {
                ">10s".to_string()
            } else {
                format!("≤{}", ms_label(b.upper_us as f64 / 1000.0))
            };
            let pct = b.count as f64 * 100.0 / total.max(1) as f64;
            let len = if pct < 0.5 {
                0
            } else {
                (b.count.saturating_mul(bar_width) / most).max(1) as usize
            };
            let share = if pct < 0.5 {
                " <1%".to_string()
            } else {
                format!(" {pct:.0}%")
            };
            Line::from(vec![
                Span::styled(format!("{label:>6} "), theme.dim()),
                Span::styled("█".repeat(len), theme.series(0)),
                Span::raw(share),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}
