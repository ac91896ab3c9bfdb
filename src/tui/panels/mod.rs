//! The dashboard's body panels, one file each: the throughput and latency charts over time,
//! the latency table with its distribution, the per-step table (expanded, with the phases
//! table below it), status codes, errors and checks; and the sample view (`enter` on the
//! errors). Each draws from the `App` alone (its snapshot and what `derived` computed from
//! it), never from a clock or a sample.
//!
//! The panels depend on `state` (the `App`), `theme`, `text`, `derived`, `format` and
//! `metrics`; this file on `choices` (which panel), `state` and `theme`, and on its panels.
//! A new panel gets a file here with a `draw` of the same shape, a `Panel` variant, and an
//! arm below; `view::body_layout` gives it its place.

mod border;
mod chart;
mod checks;
mod errors;
mod latency_chart;
mod latency_now;
mod phases;
mod sample;
mod statuses;
mod steps;
mod throughput;

use ratatui::Frame;
use ratatui::layout::Rect;

use super::choices::Panel;
use super::state::App;
use super::theme::Theme;
use border::Border;

/// Draws one panel into `area`, its border brighter when it has the focus.
pub fn draw(frame: &mut Frame, area: Rect, panel: Panel, app: &App, theme: Theme) {
    let border = Border {
        theme,
        focused: app.focus == panel,
    };
    match panel {
        Panel::Throughput => throughput::draw(frame, area, app, border),
        Panel::LatencyChart => latency_chart::draw(frame, area, app, border),
        Panel::LatencyNow => latency_now::draw(frame, area, app, border),
        Panel::Steps => steps::draw(frame, area, app, border),
        Panel::Statuses => statuses::draw(frame, area, app, border),
        Panel::Errors => errors::draw(frame, area, app, border),
        Panel::Checks => checks::draw(frame, area, app, border),
    }
}

/// Draws the open failure sample (`App::sample`) into `area`, the body.
pub fn draw_sample(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let border = Border {
        theme,
        focused: true,
    };
    sample::draw(frame, area, app, border);
}
