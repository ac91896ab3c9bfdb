//! The steps panel: one row per step in the chosen order, red when it has errors. Laid out
//! with the others it shows the main figures; expanded, every percentile of the run, the
//! checks and the error classes of each step, and below them (`phases`) each step's
//! connections and the phases of its exchanges.
//!
//! Depends on `state` (the `App`, whose `derived.step_order` gives the order), `border`,
//! `phases`, `theme`, `text`, `format` and `metrics`. A new figure is one entry in `COLUMNS`,
//! saying where it shows. A tagged step's values (`tag_by`) follow it as rows of their own,
//! which `t` hides and shows. The server's time (`srv`) and the overhead around it (`ovh`) show only
//! when some step's responses say it, the retries when some step retried, the corrected
//! p99 (`p99 corr`, closed model) when the run stalled. Invariant: each header says what its figure covers (the rate is the last
//! tick's while the run goes on, the run's once it has ended; the rest the run's).

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::{Block, Row, Table};

use super::border::Border;
use crate::format::thousands;
use crate::metrics::StepStats;
use crate::tui::state::App;
use crate::tui::text::{cell, truncate};
use crate::tui::theme::Theme;

/// Whether a column shows in a layout of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Show {
    /// At every width.
    Always,
    /// When the table is wide (the panel: 72 columns; expanded: 140).
    Wide,
    /// When the table has room to spare (100 columns), so the step names keep theirs.
    Roomy,
    /// Never in this layout.
    Never,
}

/// A figure column of the steps tables, between the step's name and (expanded) its error
/// classes.
struct Column {
    /// Its header.
    header: fn(&App) -> &'static str,
    /// Its width in characters.
    width: u16,
    /// Whether it shows in the panel laid out with the others.
    panel: Show,
    /// Whether it shows in the expanded panel.
    expanded: Show,
    /// Its cell for a step.
    value: fn(&App, &StepStats) -> String,
    /// When it shows at all.
    only: Only,
}

/// Columns that show only when some step has their figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Only {
    /// Always.
    Any,
    /// When some step's responses said the server's time.
    ServerTime,
    /// When some step retried (`retry:`).
    Retries,
    /// When the run stalled (closed model): the corrected view matters then.
    Stalled,
}

/// The figure columns, in their order. When the table narrows, the columns that show only
/// when it is wide go first: in the panel the rate and the median, expanded the rate and
/// p99.9.
const COLUMNS: [Column; 13] = [
    Column {
        header: |_| "requests",
        width: 10,
        panel: Show::Always,
        expanded: Show::Always,
        value: |_, s| thousands(s.requests),
        only: Only::Any,
    },
    Column {
        header: rate_header,
        width: 9,
        panel: Show::Wide,
        expanded: Show::Wide,
        value: |app, s| format!("{:.0}", step_rate(app, s)),
        only: Only::Any,
    },
    Column {
        header: |_| "p50 run",
        width: 9,
        panel: Show::Wide,
        expanded: Show::Always,
        value: |_, s| cell(&s.latency, s.latency.p50),
        only: Only::Any,
    },
    Column {
        header: |_| "p90 run",
        width: 9,
        panel: Show::Never,
        expanded: Show::Always,
        value: |_, s| cell(&s.latency, s.latency.p90),
        only: Only::Any,
    },
    Column {
        header: |_| "p99 run",
        width: 9,
        panel: Show::Always,
        expanded: Show::Always,
        value: |_, s| cell(&s.latency, s.latency.p99),
        only: Only::Any,
    },
    Column {
        header: |_| "p99.9 run",
        width: 10,
        panel: Show::Never,
        expanded: Show::Wide,
        value: |_, s| cell(&s.latency, s.latency.p999),
        only: Only::Any,
    },
    Column {
        header: |_| "max run",
        width: 9,
        panel: Show::Never,
        expanded: Show::Always,
        value: |_, s| cell(&s.latency, s.latency.max),
        only: Only::Any,
    },
    Column {
        // The corrected view (closed model), labelled as such: never the raw figure.
        header: |_| "p99 corr",
        width: 9,
        panel: Show::Never,
        expanded: Show::Always,
        value: |_, s| cell(&s.corrected, s.corrected.p99),
        only: Only::Stalled,
    },
    Column {
        header: |_| "srv p99",
        width: 9,
        panel: Show::Wide,
        expanded: Show::Wide,
        value: |_, s| cell(&s.server_time, s.server_time.p99),
        only: Only::ServerTime,
    },
    Column {
        header: |_| "ovh p99",
        width: 9,
        panel: Show::Never,
        expanded: Show::Wide,
        value: |_, s| cell(&s.overhead, s.overhead.p99),
        only: Only::ServerTime,
    },
    Column {
        header: |_| "err run",
        width: 7,
        panel: Show::Always,
        expanded: Show::Always,
        value: |_, s| format!("{:.1}%", s.error_rate() * 100.0),
        only: Only::Any,
    },
    Column {
        header: |_| "retries",
        width: 8,
        panel: Show::Roomy,
        expanded: Show::Always,
        value: |_, s| {
            s.retries
                .map_or_else(|| "—".into(), |r| thousands(r.counts.retries))
        },
        only: Only::Retries,
    },
    Column {
        header: |_| "checks",
        width: 12,
        panel: Show::Never,
        expanded: Show::Always,
        value: |_, s| checks(s),
        only: Only::Any,
    },
];

/// The columns a layout shows (`show` picks the layout's rule) at this width; the server's
/// time only when some step's responses said it.
fn shown(
    app: &App,
    show: fn(&Column) -> Show,
    (wide, roomy): (bool, bool),
) -> Vec<&'static Column> {
    let steps = &app.snap.steps;
    let said = steps.iter().any(|s| s.server_time.count > 0);
    let retried = steps.iter().any(|s| s.retries.is_some());
    let stalled = !app.snap.stalls.is_empty();
    COLUMNS
        .iter()
        .filter(|c| match c.only {
            Only::Any => true,
            Only::ServerTime => said,
            Only::Retries => retried,
            Only::Stalled => stalled,
        })
        .filter(|c| match show(c) {
            Show::Always => true,
            Show::Wide => wide,
            Show::Roomy => roomy,
            Show::Never => false,
        })
        .collect()
}

/// Draws the panel: the main figures, or every figure when expanded and wide enough, with
/// the phases table below when expanded.
pub fn draw(frame: &mut Frame, area: Rect, app: &App, border: Border) {
    let mut area = area;
    if app.expanded {
        let rows = sorted_steps(app);
        let (above, below) = super::phases::split(area, app, rows.len());
        if let Some(below) = below {
            // The phases of each step (a tag value's are in the JSON, not on this screen).
            let steps: Vec<&StepStats> = rows.into_iter().filter(|s| s.tag.is_none()).collect();
            super::phases::draw(frame, below, app, &steps, border);
        }
        area = above;
    }
    let block = border.titled(format!(" steps · by {} ", app.sort.label()));
    if app.expanded && area.width >= 100 {
        return in_full(frame, area, app, border.theme, block);
    }
    // Narrow panels keep the step name readable and drop the rate and median columns.
    let shown = shown(app, |c| c.panel, (area.width >= 72, area.width >= 100));
    let fixed: u16 = shown.iter().map(|c| c.width).sum();
    // The name gets what the figures leave (borders and one space between columns), and
    // is cut with `…` rather than at a column's edge.
    let name_width = usize::from(area.width.saturating_sub(2 + fixed + shown.len() as u16)).max(4);
    let rows: Vec<Row> = sorted_steps(app)
        .into_iter()
        .map(|s| {
            let mut cells = vec![truncate(&row_label(s), name_width)];
            cells.extend(shown.iter().map(|c| (c.value)(app, s)));
            step_row(cells, s, border.theme)
        })
        .collect();
    let mut header = vec!["step"];
    header.extend(shown.iter().map(|c| (c.header)(app)));
    let mut widths = vec![Constraint::Min(4)];
    widths.extend(shown.iter().map(|c| Constraint::Length(c.width)));
    let table = table(rows, header, widths, border.theme);
    frame.render_widget(table.block(block), area);
}

/// The expanded table: every percentile of the run, the checks and the error classes of
/// each step. The name gets up to its longest (at most 40), the classes at least 12 of
/// what the figures leave.
fn in_full(frame: &mut Frame, area: Rect, app: &App, theme: Theme, block: Block) {
    let shown = shown(app, |c| c.expanded, (area.width >= 140, true));
    let fixed: u16 = shown.iter().map(|c| c.width).sum::<u16>() + shown.len() as u16 + 1;
    let left = area.width.saturating_sub(2).saturating_sub(fixed);
    let longest = sorted_steps(app)
        .iter()
        .map(|s| row_label(s).chars().count())
        .max()
        .unwrap_or(4) as u16;
    let name_width = longest.min(40).min(left.saturating_sub(12)).max(8);
    let classes_width = left.saturating_sub(name_width).max(8);
    let rows: Vec<Row> = sorted_steps(app)
        .into_iter()
        .map(|s| {
            let mut cells = vec![truncate(&row_label(s), usize::from(name_width))];
            cells.extend(shown.iter().map(|c| (c.value)(app, s)));
            cells.push(truncate(&error_classes(s), usize::from(classes_width)));
            step_row(cells, s, theme)
        })
        .collect();
    let mut header = vec!["step"];
    header.extend(shown.iter().map(|c| (c.header)(app)));
    header.push(if classes_width >= 13 {
        "error classes"
    } else {
        "classes"
    });
    let mut widths = vec![Constraint::Length(name_width)];
    widths.extend(shown.iter().map(|c| Constraint::Length(c.width)));
    widths.push(Constraint::Length(classes_width));
    frame.render_widget(table(rows, header, widths, theme).block(block), area);
}

/// A steps table with its header dimmed.
fn table(
    rows: Vec<Row<'static>>,
    header: Vec<&'static str>,
    widths: Vec<Constraint>,
    theme: Theme,
) -> Table<'static> {
    Table::new(rows, widths).header(Row::new(header).style(theme.dim()))
}

/// A step's checks: `failed ✗/evaluated` over all of them, or `—` without checks.
fn checks(s: &StepStats) -> String {
    if s.checks.is_empty() {
        return "—".to_string();
    }
    let (failed, evaluated) = s
        .checks
        .iter()
        .fold((0, 0), |(f, e), c| (f + c.failed, e + c.evaluated));
    format!("{} ✗/{}", thousands(failed), thousands(evaluated))
}

/// A step's error classes, most frequent first: `timeout 31, status_not_expected 12`.
fn error_classes(s: &StepStats) -> String {
    let mut classes: Vec<&crate::metrics::ErrorStat> = s.errors_by_class.iter().collect();
    classes.sort_by_key(|e| std::cmp::Reverse(e.count));
    classes
        .iter()
        .map(|e| format!("{} {}", e.class.as_str(), thousands(e.count)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A step's row, red when it has errors; a tag value's row dimmed unless it has errors.
fn step_row(cells: Vec<String>, s: &StepStats, theme: Theme) -> Row<'static> {
    let style = if s.errors > 0 {
        theme.bad()
    } else if s.tag.is_some() {
        theme.dim()
    } else {
        theme.text()
    };
    Row::new(cells).style(style)
}

/// The steps in the chosen order, each followed by its tag values' rows unless `t` hid them.
fn sorted_steps(app: &App) -> Vec<&StepStats> {
    let shown = if app.show_tags { usize::MAX } else { 0 };
    app.derived
        .step_order
        .iter()
        .filter_map(|&i| app.snap.steps.get(i))
        .flat_map(|s| std::iter::once(s).chain(s.tags.iter().take(shown)))
        .collect()
}

/// A row's name: `flow / step`, or ` value · key` under its step for a tag value (the
/// value first: a narrow column cuts the key, not the value).
fn row_label(s: &StepStats) -> String {
    match &s.tag {
        Some(tag) => format!(" {} · {}", tag.value, tag.key),
        None => s.label(),
    }
}

/// A step's rate in the steps tables: the last tick's while the run goes on; once it has
/// ended, the run's (the last tick is then only the drain of the final requests).
fn step_rate(app: &App, s: &StepStats) -> f64 {
    if app.finished() {
        s.rps
    } else {
        s.interval.rps()
    }
}

/// The header of `step_rate`'s column.
fn rate_header(app: &App) -> &'static str {
    if app.finished() {
        "rps run"
    } else {
        "rps tick"
    }
}
