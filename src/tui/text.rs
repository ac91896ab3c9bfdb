//! How the dashboard writes names and figures into cells: cut to a width with `…`, a
//! latency or a dash when there is none, a decade's label.
//!
//! Depends on `format` and `metrics` (the percentiles' type). Shared by the panels and the
//! header, below both.

use crate::format::format_latency;
use crate::metrics::Percentiles;

/// A latency in ms as an axis or bucket label: `500µs`, `20ms`, `3s`.
pub fn ms_label(ms: f64) -> String {
    match ms {
        m if m < 1.0 => format!("{:.0}µs", m * 1000.0),
        m if m < 1000.0 => format!("{m:.0}ms"),
        m => format!("{:.0}s", m / 1000.0),
    }
}

/// A latency cell: the value, or `—` when the percentiles have no sample.
pub fn cell(p: &Percentiles, us: u64) -> String {
    if p.count == 0 {
        "—".into()
    } else {
        format_latency(us)
    }
}

/// `text` cut to `width` characters, the last one `…` when it was cut.
pub fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}
