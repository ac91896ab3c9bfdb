//! The phases table, under the expanded steps table: each step's connections (new, reused,
//! remade after the server closed one) and the p99 of each phase of its exchanges (DNS,
//! connect, TLS, write, time to first byte, download), where the transport saw them.
//!
//! Depends on `state` (the `App`: the snapshot, the steps' order), `border`, `theme`, `text`,
//! `format` and `metrics`. A phase no step saw has no column (no DNS for an IP address, no
//! TLS for `http://`, no write over HTTP/2); the rest show as the width allows, the counts
//! and the connect, TLS, first-byte and download columns first. Invariant: nothing is
//! drawn (and the steps table keeps the whole area) when no step has a phase or a
//! connection counted, or when the area is too short for both tables.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Row, Table};

use super::border::Border;
use crate::format::thousands;
use crate::metrics::{Percentiles, PhaseStats, StepStats};
use crate::tui::state::App;
use crate::tui::text::{cell, truncate};

/// A column of the phases table.
struct Column {
    /// Its header.
    header: &'static str,
    /// Its width in characters.
    width: u16,
    /// Whether it shows only when the table is wide (120 columns or more).
    wide: bool,
    /// The phase it shows, whose column is left out when no step saw it (`None`: a count,
    /// always shown).
    phase: Option<fn(&PhaseStats) -> &Percentiles>,
    /// Its cell for a step.
    value: fn(&StepStats) -> String,
}

/// The columns, in their order.
const COLUMNS: [Column; 10] = [
    Column {
        header: "new",
        width: 8,
        wide: false,
        phase: None,
        value: |s| thousands(s.connections.new),
    },
    Column {
        header: "reused",
        width: 10,
        wide: false,
        phase: None,
        value: |s| thousands(s.connections.reused),
    },
    Column {
        header: "reconn",
        width: 7,
        wide: true,
        phase: None,
        value: |s| thousands(s.connections.reconnects),
    },
    Column {
        header: "dns p99",
        width: 9,
        wide: true,
        phase: Some(|p| &p.dns),
        value: |s| cell(&s.phases.dns, s.phases.dns.p99),
    },
    Column {
        header: "conn p99",
        width: 9,
        wide: false,
        phase: Some(|p| &p.connect),
        value: |s| cell(&s.phases.connect, s.phases.connect.p99),
    },
    Column {
        header: "tls p99",
        width: 9,
        wide: false,
        phase: Some(|p| &p.tls),
        value: |s| cell(&s.phases.tls, s.phases.tls.p99),
    },
    Column {
        header: "write p99",
        width: 10,
        wide: true,
        phase: Some(|p| &p.write),
        value: |s| cell(&s.phases.write, s.phases.write.p99),
    },
    Column {
        header: "ttfb p50",
        width: 9,
        wide: true,
        phase: Some(|p| &p.ttfb),
        value: |s| cell(&s.phases.ttfb, s.phases.ttfb.p50),
    },
    Column {
        header: "ttfb p99",
        width: 9,
        wide: false,
        phase: Some(|p| &p.ttfb),
        value: |s| cell(&s.phases.ttfb, s.phases.ttfb.p99),
    },
    Column {
        header: "dl p99",
        width: 9,
        wide: false,
        phase: Some(|p| &p.download),
        value: |s| cell(&s.phases.download, s.phases.download.p99),
    },
];

/// Whether some step had a phase timed or a connection counted.
fn any(app: &App) -> bool {
    app.snap
        .steps
        .iter()
        .any(|s| s.phases.any() || s.connections.new + s.connections.reused > 0)
}

/// Splits the expanded steps panel's `area`: the steps table above (as tall as its rows,
/// or half when both do not fit), the phases table below. `None` below when there is
/// nothing to show or no room for both (at least a row each).
pub fn split(area: Rect, app: &App, rows: usize) -> (Rect, Option<Rect>) {
    // Borders and a header around the steps table's rows (its steps and their tag values).
    let rows = u16::try_from(rows).unwrap_or(u16::MAX).saturating_add(3);
    if !any(app) || area.height < 8 {
        return (area, None);
    }
    let top = if area.height >= rows * 2 {
        rows
    } else {
        area.height / 2
    };
    let [above, below] =
        Layout::vertical([Constraint::Length(top), Constraint::Min(4)]).areas(area);
    (above, Some(below))
}

/// Draws the phases table into `area`, the steps in the steps table's order.
pub fn draw(frame: &mut Frame, area: Rect, app: &App, steps: &[&StepStats], border: Border) {
    let wide = area.width >= 120;
    let shown: Vec<&Column> = COLUMNS
        .iter()
        .filter(|c| wide || !c.wide)
        .filter(|c| {
            c.phase
                .is_none_or(|phase| app.snap.steps.iter().any(|s| phase(&s.phases).count > 0))
        })
        .collect();
    // The name gets up to its longest (at most 40) of what the figures leave, cut with `…`.
    let fixed: u16 = shown.iter().map(|c| c.width + 1).sum();
    let longest = steps.iter().map(|s| s.label().chars().count()).max();
    let left = usize::from(area.width.saturating_sub(2 + fixed));
    let name_width = longest.unwrap_or(4).min(40).min(left).max(4);
    let rows: Vec<Row> = steps
        .iter()
        .map(|s| {
            let mut cells = vec![truncate(&s.label(), name_width)];
            cells.extend(shown.iter().map(|c| (c.value)(s)));
            Row::new(cells).style(border.theme.text())
        })
        .collect();
    let mut header = vec!["step"];
    header.extend(shown.iter().map(|c| c.header));
    let mut widths = vec![Constraint::Length(name_width as u16)];
    widths.extend(shown.iter().map(|c| Constraint::Length(c.width)));
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(border.theme.dim()))
        .block(border.titled(" connections and phases of the run ".into()));
    frame.render_widget(table, area);
}
