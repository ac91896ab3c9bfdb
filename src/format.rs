//! Number formatting shared by the summary, the progress line and the dashboard.

/// Formats a latency in µs with a unit that keeps three significant figures.
pub fn format_latency(us: u64) -> String {
    match us {
        0..=999 => format!("{us}µs"),
        1_000..=999_999 => format!("{:.2}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}

/// A latency from a histogram of `count` samples: `—` when it has none, never a `0µs` that
/// reads as fast.
pub fn latency_or_dash(count: u64, us: u64) -> String {
    if count == 0 {
        "—".to_string()
    } else {
        format_latency(us)
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A byte count with a unit (B, kB, MB).
pub fn bytes(n: u64) -> String {
    match n {
        0..=9_999 => format!("{n} B"),
        10_000..=9_999_999 => format!("{:.1} kB", n as f64 / 1e3),
        _ => format!("{:.1} MB", n as f64 / 1e6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_units() {
        assert_eq!(format_latency(850), "850µs");
        assert_eq!(format_latency(20_480), "20.48ms");
        assert_eq!(format_latency(1_250_000), "1.25s");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
