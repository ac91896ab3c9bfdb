//! Number formatting shared by the summary, the progress line and the dashboard, and
//! `printable`, which every text meant for a terminal goes through.

use std::borrow::Cow;

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

/// `text` safe to show on a terminal: control characters (C0 but the line break, DEL, C1),
/// which a name may hold and a terminal would obey (clear the screen, set the window title,
/// move the cursor), are shown as escapes instead: `\e`, `\a`, `\r`, `\t`, `\x7f`,
/// `\u{9b}`. Files keep names as they are; each format escapes them its own way.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push(c),
            '\u{1b}' => out.push_str("\\e"),
            '\u{7}' => out.push_str("\\a"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 && c.is_control() => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_shown_never_sent() {
        assert!(matches!(printable("café · 5ms\n"), Cow::Borrowed(_)));
        assert_eq!(
            printable("\u{1b}]0;title\u{7}\u{1b}[2J\rx\ty\u{0}\u{7f}\u{9b}31m\nz"),
            "\\e]0;title\\a\\e[2J\\rx\\ty\\x00\\x7f\\u{9b}31m\nz"
        );
        let shown = printable("\u{1b}\u{85}\u{8}");
        assert!(!shown.chars().any(char::is_control), "{shown}");
    }

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
