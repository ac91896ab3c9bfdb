//! The dashboard's panels: two charts over time, the latency table with its distribution,
//! the per-step table, status codes and errors. Each draws from the `App` alone.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph, Row, Table};

use super::choices::Panel;
use super::state::App;
use super::theme::Theme;
use crate::format::{format_latency, thousands};
use crate::metrics::{Bucket, Percentiles, StepStats};

/// Draws one panel into `area`.
pub fn draw(frame: &mut Frame, area: Rect, panel: Panel, app: &App, theme: Theme) {
    let focused = app.focus == panel;
    let block = |title: String| {
        Block::bordered()
            .title(Span::styled(title, theme.strong()))
            .border_style(theme.border(focused))
    };
    // A chart's title carries its legend, so every size has one (ratatui's own legend
    // hides itself in all but the largest charts).
    let chart_block = |title: String, legend: Vec<Span<'static>>| {
        let mut spans = vec![Span::styled(title, theme.strong())];
        spans.extend(legend);
        Block::bordered()
            .title(Line::from(spans))
            .border_style(theme.border(focused))
    };
    match panel {
        Panel::Throughput => throughput(frame, area, app, theme, &chart_block),
        Panel::LatencyChart => {
            let mut names = vec!["p50", "p90", "p99", "max"];
            if app.baseline.is_some() {
                names.extend(["base p50/p99"]);
            }
            // Compact where the chart is narrow (an 80-column terminal's half).
            let narrow = area.width < 60;
            let title = if narrow {
                format!(" latency · {} ", app.zoom.label())
            } else {
                format!(" latency over time (log) · {} ", app.zoom.label())
            };
            let b = chart_block(title, legend(&names, theme, narrow));
            latency_chart(frame, area, app, theme, b)
        }
        Panel::LatencyNow => latency_now(frame, area, app, theme, block(" latency ".into())),
        Panel::Steps => steps(
            frame,
            area,
            app,
            theme,
            block(format!(" steps · by {} ", app.sort.label())),
        ),
        Panel::Statuses => statuses(frame, area, app, theme, block(" status codes ".into())),
        Panel::Errors => errors(frame, area, app, theme, block(" errors ".into())),
        Panel::Checks => checks(frame, area, app, theme, block(" checks ".into())),
    }
}

/// Each check's pass rate, the most failed first: `✗ 92.0%  checkout / pay · body.id ==
/// 42  80 of 1,000 failed`.
fn checks(frame: &mut Frame, area: Rect, app: &App, theme: Theme, block: Block) {
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut rows: Vec<(&StepStats, &crate::metrics::CheckStat)> = app
        .snap
        .steps
        .iter()
        .flat_map(|s| s.checks.iter().map(move |c| (s, c)))
        .collect();
    if rows.is_empty() {
        let none = Paragraph::new(Line::styled("no checks in this plan", theme.dim()));
        frame.render_widget(none, inner);
        return;
    }
    let failed_share = |c: &crate::metrics::CheckStat| {
        if c.evaluated == 0 {
            0.0
        } else {
            c.failed as f64 / c.evaluated as f64
        }
    };
    rows.sort_by(|a, b| failed_share(b.1).total_cmp(&failed_share(a.1)));
    let width = usize::from(inner.width);
    let lines: Vec<Line> = rows
        .iter()
        .map(|(step, c)| {
            let pass = if c.evaluated == 0 {
                "    —".to_string()
            } else {
                format!("{:5.1}%", 100.0 - failed_share(c) * 100.0)
            };
            let (mark, style) = if c.evaluated == 0 {
                ("·", theme.dim())
            } else if c.failed > 0 {
                ("✗", theme.bad())
            } else {
                ("✓", theme.good())
            };
            // Narrow: the failures only (the rate says the rest).
            let tail = if width < 44 {
                format!(" {}✗", thousands(c.failed))
            } else {
                format!(
                    "  {} of {} failed",
                    thousands(c.failed),
                    thousands(c.evaluated)
                )
            };
            let room = width.saturating_sub(pass.chars().count() + 4 + tail.chars().count());
            let name = truncate(&format!("{} · {}", step.label(), c.name), room.max(8));
            Line::from(vec![
                Span::styled(format!("{mark} {pass} "), style),
                Span::raw(name),
                Span::styled(tail, theme.dim()),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// `━ p50 ━ p90 …`: each name after its series' swatch, in its colour (`compact`: no
/// space between them).
fn legend(names: &[&str], theme: Theme, compact: bool) -> Vec<Span<'static>> {
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

fn chart_labels(x: [f64; 2]) -> Vec<Span<'static>> {
    vec![
        Span::raw(format!("{:.0}s", x[0])),
        Span::raw(format!("{:.0}s", x[1])),
    ]
}

/// Series `rank` of a chart: its colour, or its marker without colour.
fn line<'a>(rank: usize, theme: Theme, data: &'a [(f64, f64)]) -> Dataset<'a> {
    Dataset::default()
        .marker(theme.marker(rank))
        .graph_type(GraphType::Line)
        .style(theme.series(rank))
        .data(data)
}

/// Vertical marks where the load was changed live.
fn marks(times: &[f64], y: [f64; 2]) -> Vec<[(f64, f64); 2]> {
    times.iter().map(|&t| [(t, y[0]), (t, y[1])]).collect()
}

fn mark<'a>(theme: Theme, data: &'a [(f64, f64)]) -> Dataset<'a> {
    Dataset::default()
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(theme.warn())
        .data(data)
}

/// Requests per second over time and, below them, errors in % on their own axis (a few
/// % of errors are a flat line at zero on the requests' axis). A short panel keeps one
/// chart with both rates.
fn throughput(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    theme: Theme,
    chart_block: &dyn Fn(String, Vec<Span<'static>>) -> Block<'static>,
) {
    let c = &app.derived.charts;
    let zoom = app.zoom.label();
    let y_labels = |top: f64| vec![Span::raw("0"), Span::raw(format!("{top:.0}"))];
    if area.height < 12 {
        // Too short for two charts: the errors share the plot on their own scale (their %
        // of requests, the legend naming the top), never as errors/s on the requests' axis,
        // where a few % at high throughput would be a flat line at zero.
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
        let block = chart_block(format!(" throughput · {zoom} "), legend);
        let chart = timeline(
            sets,
            block,
            c.x,
            [0.0, c.rps_top],
            y_labels(c.rps_top),
            theme,
        );
        frame.render_widget(chart, area);
        return;
    }
    let [top, bottom] =
        Layout::vertical([Constraint::Percentage(62), Constraint::Percentage(38)]).areas(area);
    let rps_top = c.rps_top;
    let marks_top = marks(&c.marks, [0.0, rps_top]);
    let mut sets = vec![line(0, theme, &c.rps)];
    sets.extend(marks_top.iter().map(|m| mark(theme, m)));
    let block = chart_block(
        format!(" throughput · {zoom} "),
        legend(&["req/s"], theme, false),
    );
    let chart = timeline(sets, block, c.x, [0.0, rps_top], y_labels(rps_top), theme);
    frame.render_widget(chart, top);
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
    let block = chart_block(now, error_swatch(theme, "% of requests"));
    let labels = vec![Span::raw("0%"), Span::raw(format!("{:.0}%", c.error_top))];
    let chart = timeline(sets, block, c.x, [0.0, c.error_top], labels, theme);
    frame.render_widget(chart, bottom);
}

/// The errors series: red, or (without colour) a marker no other series uses.
fn errors_line<'a>(theme: Theme, data: &'a [(f64, f64)]) -> Dataset<'a> {
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

fn error_swatch(theme: Theme, name: &str) -> Vec<Span<'static>> {
    let swatch = if theme.colored() { "━" } else { "▄" };
    vec![
        Span::styled(format!("{swatch} "), theme.bad()),
        Span::styled(format!("{name} "), theme.text()),
    ]
}

/// A chart over run time with the given y axis.
fn timeline<'a>(
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

fn latency_chart(frame: &mut Frame, area: Rect, app: &App, theme: Theme, block: Block) {
    let c = &app.derived.charts;
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
    let names = ["p50", "p90", "p99", "max"];
    let mut sets: Vec<Dataset> = c
        .latency
        .iter()
        .zip(names)
        .enumerate()
        .map(|(i, (d, _))| line(i, theme, d))
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
    // One label per decade when they fit the plot's height, else the two ends only.
    let decades: Vec<i32> = (lo as i32..=hi as i32).collect();
    let rows = usize::from(area.height.saturating_sub(4));
    let shown: Vec<i32> = if decades.len() <= rows.div_ceil(2).max(2) {
        decades
    } else {
        vec![lo as i32, hi as i32]
    };
    let labels: Vec<Span> = shown
        .iter()
        .map(|&e| Span::raw(ms_label(10f64.powi(e))))
        .collect();
    frame.render_widget(timeline(sets, block, c.x, [lo, hi], labels, theme), area);
}

fn ms_label(ms: f64) -> String {
    match ms {
        m if m < 1.0 => format!("{:.0}µs", m * 1000.0),
        m if m < 1000.0 => format!("{m:.0}ms"),
        m => format!("{:.0}s", m / 1000.0),
    }
}

fn latency_now(frame: &mut Frame, area: Rect, app: &App, theme: Theme, block: Block) {
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let t = &app.snap.total;
    let (run, now, service) = (&t.latency, &t.interval.latency, &t.service);
    // The open model's latency counts from the planned start: beside it, the service time
    // (from the actual send) shows how much of it the generator's own delay added.
    let open = matches!(app.snap.live.level, Some(crate::metrics::Level::Rate(_)));
    let pick = |p: &Percentiles, i: usize| [p.p50, p.p90, p.p95, p.p99, p.p999, p.max, p.min][i];
    // The tail first: when the panel is short, `min` is the row to lose.
    let rows: Vec<Row> = ["p50", "p90", "p95", "p99", "p99.9", "max", "min"]
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
        .collect();
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
        // The generator's own lateness: over 1 ms at p99 it is part of what is measured.
        let p99 = t.send_lag.p99;
        let style = if p99 > 1_000 {
            theme.bad()
        } else {
            theme.dim()
        };
        let flag = if p99 > 1_000 { " ⚠ over 1ms" } else { "" };
        let text = format!("send lag p99 {}{flag}", format_latency(p99));
        frame.render_widget(Paragraph::new(Line::styled(text, style)), lag_area);
    }
    if bars_area.height > 0 {
        distribution(frame, bars_area, &app.snap.distribution, theme);
    }
}

fn cell(p: &Percentiles, us: u64) -> String {
    if p.count == 0 {
        "—".into()
    } else {
        format_latency(us)
    }
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

/// A step's row, red when it has errors.
fn step_row(cells: Vec<String>, s: &StepStats, theme: Theme) -> Row<'static> {
    let style = if s.errors > 0 {
        theme.bad()
    } else {
        theme.text()
    };
    Row::new(cells).style(style)
}

/// The steps in the chosen order.
fn sorted_steps(app: &App) -> Vec<&StepStats> {
    app.derived
        .step_order
        .iter()
        .filter_map(|&i| app.snap.steps.get(i))
        .collect()
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

fn steps(frame: &mut Frame, area: Rect, app: &App, theme: Theme, block: Block) {
    if app.expanded && area.width >= 100 {
        return steps_in_full(frame, area, app, theme, block);
    }
    // Narrow panels keep the step name readable and drop the rate and median columns.
    let wide = area.width >= 72;
    let fixed: u16 = if wide { 10 + 9 + 9 + 9 + 7 } else { 10 + 9 + 7 };
    let columns: u16 = if wide { 6 } else { 4 };
    // The name gets what the figures leave (borders and one space between columns), and
    // is cut with `…` rather than at a column's edge.
    let name_width = usize::from(area.width.saturating_sub(2 + fixed + columns - 1)).max(4);
    let rows: Vec<Row> = sorted_steps(app)
        .into_iter()
        .map(|s| {
            let mut cells = vec![truncate(&s.label(), name_width), thousands(s.requests)];
            if wide {
                cells.push(format!("{:.0}", step_rate(app, s)));
                cells.push(cell(&s.latency, s.latency.p50));
            }
            cells.push(cell(&s.latency, s.latency.p99));
            cells.push(format!("{:.1}%", s.error_rate() * 100.0));
            step_row(cells, s, theme)
        })
        .collect();
    // Each figure says what it covers: the rate is the last tick's (the run's once it has
    // ended), the rest the run's.
    let (header, widths): (Vec<&str>, Vec<Constraint>) = if wide {
        let w = [10, 9, 9, 9, 7].map(Constraint::Length);
        (
            vec![
                "step",
                "requests",
                rate_header(app),
                "p50 run",
                "p99 run",
                "err run",
            ],
            [&[Constraint::Min(4)][..], &w].concat(),
        )
    } else {
        let w = [10, 9, 7].map(Constraint::Length);
        (
            vec!["step", "requests", "p99 run", "err run"],
            [&[Constraint::Min(4)][..], &w].concat(),
        )
    };
    let header = Row::new(header).style(theme.dim());
    frame.render_widget(Table::new(rows, widths).header(header).block(block), area);
}

/// The expanded errors panel: each class with its full message, wrapped, and every step it
/// came from with that step's own latest message.
fn errors_in_full(frame: &mut Frame, inner: Rect, app: &App, theme: Theme) {
    let snap = &app.snap;
    let classes = &snap.total.errors_by_class;
    let mut lines: Vec<Line> = Vec::new();
    for group in &app.derived.errors {
        let Some(class) = classes.get(group.class) else {
            continue;
        };
        let ago = snap.elapsed.saturating_sub(class.last_seen).as_secs_f64();
        lines.push(Line::from(vec![
            Span::styled(class.class.as_str().to_string(), theme.bad()),
            Span::raw(format!(
                "  {} in {} step(s) · last {ago:.0}s ago",
                thousands(class.count),
                group.rows.len()
            )),
        ]));
        lines.push(Line::raw(format!("  {}", class.sample)));
        // Each class gets its share of the rows; the rest of its steps are summed up.
        let share = usize::from(inner.height) / app.derived.errors.len().max(1);
        let room = share.saturating_sub(4).max(1);
        for r in group.rows.iter().take(room) {
            let Some(step) = snap.steps.get(r.step) else {
                continue;
            };
            let sample = step
                .errors_by_class
                .iter()
                .find(|e| e.class == class.class)
                .map_or("", |e| e.sample.as_str());
            lines.push(Line::styled(
                format!(
                    "    {}: {} · last {:.0}s ago · {sample}",
                    step.label(),
                    thousands(r.count),
                    r.ago
                ),
                theme.dim(),
            ));
        }
        if group.rows.len() > room {
            lines.push(Line::styled(
                format!("    … and {} more steps", group.rows.len() - room),
                theme.dim(),
            ));
        }
        lines.push(Line::raw(""));
    }
    let text = Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false });
    frame.render_widget(text, inner);
}

/// The expanded steps table: every percentile of the run, the checks and the error classes
/// of each step.
fn steps_in_full(frame: &mut Frame, area: Rect, app: &App, theme: Theme, block: Block) {
    // (header, width, always): the rate and p99.9 go first when the panel is narrow; the
    // error classes take what is left after the name.
    let columns: [(&str, u16, bool); 9] = [
        ("requests", 10, true),
        ("rps tick", 9, false),
        ("p50 run", 9, true),
        ("p90 run", 9, true),
        ("p99 run", 9, true),
        ("p99.9 run", 10, false),
        ("max run", 9, true),
        ("err run", 7, true),
        ("checks", 12, true),
    ];
    let all = area.width >= 140;
    let shown: Vec<usize> = (0..columns.len())
        .filter(|&i| all || columns[i].2)
        .collect();
    let fixed: u16 = shown.iter().map(|&i| columns[i].1).sum::<u16>() + shown.len() as u16 + 1;
    let inner = area.width.saturating_sub(2);
    let left = inner.saturating_sub(fixed);
    let longest = sorted_steps(app)
        .iter()
        .map(|s| s.label().chars().count())
        .max()
        .unwrap_or(4) as u16;
    // The name gets up to its longest (at most 40), the classes at least 12 of the rest.
    let name_width = longest.min(40).min(left.saturating_sub(12)).max(8);
    let classes_width = left.saturating_sub(name_width).max(8);
    let rows: Vec<Row> = sorted_steps(app)
        .into_iter()
        .map(|s| {
            let l = &s.latency;
            let (failed, evaluated) = s
                .checks
                .iter()
                .fold((0, 0), |(f, e), c| (f + c.failed, e + c.evaluated));
            let checks = if s.checks.is_empty() {
                "—".to_string()
            } else {
                format!("{} ✗/{}", thousands(failed), thousands(evaluated))
            };
            let mut classes: Vec<&crate::metrics::ErrorStat> = s.errors_by_class.iter().collect();
            classes.sort_by_key(|e| std::cmp::Reverse(e.count));
            let classes = classes
                .iter()
                .map(|e| format!("{} {}", e.class.as_str(), thousands(e.count)))
                .collect::<Vec<_>>()
                .join(", ");
            let figures = [
                thousands(s.requests),
                format!("{:.0}", step_rate(app, s)),
                cell(l, l.p50),
                cell(l, l.p90),
                cell(l, l.p99),
                cell(l, l.p999),
                cell(l, l.max),
                format!("{:.1}%", s.error_rate() * 100.0),
                checks,
            ];
            let mut cells = vec![truncate(&s.label(), usize::from(name_width))];
            cells.extend(shown.iter().map(|&i| figures[i].clone()));
            cells.push(truncate(&classes, usize::from(classes_width)));
            step_row(cells, s, theme)
        })
        .collect();
    let mut header = vec!["step"];
    header.extend(shown.iter().map(|&i| match columns[i].0 {
        "rps tick" => rate_header(app),
        name => name,
    }));
    header.push(if classes_width >= 13 {
        "error classes"
    } else {
        "classes"
    });
    let mut widths = vec![Constraint::Length(name_width)];
    widths.extend(shown.iter().map(|&i| Constraint::Length(columns[i].1)));
    widths.push(Constraint::Length(classes_width));
    let header = Row::new(header).style(theme.dim());
    frame.render_widget(Table::new(rows, widths).header(header).block(block), area);
}

fn statuses(frame: &mut Frame, area: Rect, app: &App, theme: Theme, block: Block) {
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

fn errors(frame: &mut Frame, area: Rect, app: &App, theme: Theme, block: Block) {
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let snap = &app.snap;
    let classes = &snap.total.errors_by_class;
    if classes.is_empty() {
        frame.render_widget(Paragraph::new(Line::styled("none", theme.good())), inner);
        return;
    }
    let width = inner.width as usize;
    if app.expanded {
        return errors_in_full(frame, inner, app, theme);
    }
    let budget = inner.height as usize;
    // Grouped by class, most frequent first: every class gets its line before any class gets
    // detail rows (the steps with most errors, then "… and N more").
    let mut spare = budget.saturating_sub(classes.len());
    let mut lines: Vec<Line> = Vec::new();
    for group in &app.derived.errors {
        let Some(class) = classes.get(group.class) else {
            continue;
        };
        let ago = snap.elapsed.saturating_sub(class.last_seen).as_secs_f64();
        let head = format!(
            "  {} in {} step(s) · last {ago:.0}s ago · {}",
            thousands(class.count),
            group.rows.len(),
            class.sample
        );
        let name = class.class.as_str();
        lines.push(Line::from(vec![
            Span::styled(name.to_string(), theme.bad()),
            Span::raw(truncate(&head, width.saturating_sub(name.len()))),
        ]));
        let sample_of = |step: usize| {
            snap.steps
                .get(step)
                .and_then(|s| s.errors_by_class.iter().find(|e| e.class == class.class))
                .map_or("", |e| e.sample.as_str())
        };
        // Detail rows only when they say more than the class line, and fit.
        let single_same = group.rows.len() == 1 && sample_of(group.rows[0].step) == class.sample;
        let detail = if single_same { 0 } else { group.rows.len() };
        let room = if detail > spare {
            spare.saturating_sub(1)
        } else {
            detail
        };
        for r in group.rows.iter().take(room) {
            let label = snap
                .steps
                .get(r.step)
                .map(StepStats::label)
                .unwrap_or_default();
            let text = format!(
                "  {:>8}  {:>4.0}s  {label}: {}",
                thousands(r.count),
                r.ago,
                sample_of(r.step)
            );
            lines.push(Line::raw(truncate(&text, width)));
        }
        spare -= room;
        if detail > room && spare > 0 {
            lines.push(Line::styled(
                format!("  … and {} more", detail - room),
                theme.dim(),
            ));
            spare -= 1;
        }
    }
    lines.truncate(budget);
    frame.render_widget(Paragraph::new(lines), inner);
}

/// `text` cut to `width` characters, the last one `…` when it was cut.
pub(super) fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}
