//! The screen: layout by terminal size, then the header, the body's panels, the footer and
//! the help overlay. Panels live in `panels`; the header, footer and help here, a file
//! each. Drawing reads the `App` only: no clock (but the stopping footer's countdown), no
//! computation over samples.
//!
//! This file depends on `state`, `choices`, `panels` and `theme`; its parts also on `text`,
//! `format`, `metrics` and `report::warnings` (the header's health warnings).
//!
//! Small terminals: the body's rows shrink in a fixed order of importance — the latency
//! table and steps stay longest, then the charts, then statuses and errors; below 80×24 a
//! short notice replaces everything, so nothing is clipped into a misleading figure. The
//! header gives up its least needed figures first: the error rate and the state are never
//! cut, and the target is shortened with `…` before anything else goes.

mod footer;
mod header;
mod help;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Paragraph, Wrap};

use crate::tui::choices::Panel;
use crate::tui::panels;
use crate::tui::state::App;
use crate::tui::theme::Theme;

/// Smallest area the dashboard draws into: below 80×24 panels would be clipped and show
/// misleading figures, so a notice says what is needed instead.
pub const MIN_WIDTH: u16 = 80;
/// Smallest height the dashboard draws into.
pub const MIN_HEIGHT: u16 = 24;

/// Draws the whole dashboard.
pub fn draw(frame: &mut Frame, app: &App, theme: Theme) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = format!(
            "stampede: terminal too small ({}×{}); the dashboard needs {MIN_WIDTH}×{MIN_HEIGHT}. \
             The run goes on; enlarge the window, or q to stop",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    }
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    header::draw(frame, header, app, theme);
    if app.sample.is_some() {
        panels::draw_sample(frame, body, app, theme);
    } else {
        for (panel, rect) in body_layout(body, app) {
            panels::draw(frame, rect, panel, app, theme);
        }
    }
    footer::draw(frame, footer, app, theme);
    if app.help {
        help::draw(frame, area, theme);
    }
}

/// Where each visible panel goes. With a focused panel expanded, it takes the whole body.
pub fn body_layout(body: Rect, app: &App) -> Vec<(Panel, Rect)> {
    if app.expanded {
        return vec![(app.focus, body)];
    }
    let h = body.height;
    let (charts, middle) = row_heights(h, app);
    let bottom = h.saturating_sub(charts + middle);
    let [r1, r2, r3] = Layout::vertical([
        Constraint::Length(charts),
        Constraint::Length(middle),
        Constraint::Length(bottom),
    ])
    .areas(body);
    let mut out = Vec::new();
    if charts > 0 {
        let [a, b] = Layout::horizontal([Constraint::Percentage(50); 2]).areas(r1);
        out.push((Panel::Throughput, a));
        out.push((Panel::LatencyChart, b));
    }
    let table_width = if body.width >= 120 { 46 } else { 34 };
    let [a, b] =
        Layout::horizontal([Constraint::Length(table_width), Constraint::Min(0)]).areas(r2);
    out.push((Panel::LatencyNow, a));
    out.push((Panel::Steps, b));
    if bottom >= 3 {
        out.extend(bottom_row(r3, body.width, app));
    }
    out
}

/// The heights of the charts' row and the middle row (latency and steps) in a body `h`
/// rows high; the bottom row (statuses and errors) gets the rest.
///
/// Row heights by content: latency+steps and statuses+errors get the rows their content
/// fills (within bounds), the charts the rest; a row never gets empty lines that a
/// neighbour needs (a one-bucket distribution beside 10 empty status rows).
fn row_heights(h: u16, app: &App) -> (u16, u16) {
    let snap = &app.snap;
    let buckets = snap.distribution.iter().filter(|b| b.count > 0).count() as u16;
    let latency_need = 2 + 8 + 1 + buckets;
    let steps_need = 3 + snap.steps.len() as u16;
    let middle_need = latency_need.max(steps_need).max(9);
    let errors_need = 2 + app
        .derived
        .errors
        .iter()
        .map(|g| 1 + g.rows.len() as u16)
        .sum::<u16>();
    let status_lines = (snap.total.statuses.len() as u16).div_ceil(2).max(1);
    let bottom_need = errors_need.max(2 + status_lines).max(4);
    if h >= 19 {
        let bottom = bottom_need.min(h / 4);
        let middle = middle_need.min(h / 2);
        let charts = h - middle - bottom;
        if charts < 6 {
            // Charts keep six rows: the middle gives up its extra first.
            let short = 6 - charts;
            (6, middle.saturating_sub(short).max(9))
        } else {
            (charts, middle)
        }
    } else {
        match h {
            12..19 => (0, 9),
            _ => (0, h),
        }
    }
}

/// The bottom row: statuses, errors and, when the plan has checks, the checks panel,
/// which takes a share of the errors' room.
fn bottom_row(row: Rect, width: u16, app: &App) -> Vec<(Panel, Rect)> {
    let status_width = if width >= 120 { 30 } else { 22 };
    let checks_width = if app.has_checks() {
        (width.saturating_sub(status_width) * 2 / 5).max(24)
    } else {
        0
    };
    let [a, b, c] = Layout::horizontal([
        Constraint::Length(status_width),
        Constraint::Min(0),
        Constraint::Length(checks_width),
    ])
    .areas(row);
    let mut out = vec![(Panel::Statuses, a), (Panel::Errors, b)];
    if checks_width > 0 {
        out.push((Panel::Checks, c));
    }
    out
}
