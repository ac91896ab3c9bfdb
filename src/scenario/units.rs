//! Parsers for the small value languages inside a scenario file: durations (`1m30s`),
//! rates (`500/s`) and expected status codes (`200`, `[200, 404]`, `2xx`).
//!
//! Each parser returns a user-facing message on failure (what is wrong and how to write it);
//! the caller adds the file location and field path. Depends on nothing else in the crate.

use std::time::Duration;

/// Parses a duration such as `250ms`, `10s`, `1.5s`, `2m`, `1h30m` or `1m30s`.
///
/// Parses a size: a whole number of bytes, or a number and a unit: `512KiB`, `1MiB`,
/// `20MB`, `1GiB` (KiB, MiB, GiB are powers of 1024; kB, MB, GB powers of 1000).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let s = text.trim();
    let fail = || format!("\"{text}\" is not a size; write e.g. 64KiB, 1MiB or 20MB");
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number.parse().map_err(|_| fail())?;
    let scale: u64 = match unit.trim() {
        "" | "B" | "b" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return Err(fail()),
    };
    n.checked_mul(scale).ok_or_else(fail)
}

/// Bare numbers are rejected on purpose: `timeout: 5` would be ambiguous (seconds or
/// milliseconds?) and a load tester that guesses wrong measures the wrong thing.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    let fail = || format!("\"{text}\" is not a duration; write e.g. 500ms, 10s, 2m or 1m30s");
    if s.is_empty() {
        return Err(fail());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(fail)?;
        if num_len == 0 {
            return Err(fail());
        }
        let number: f64 = rest[..num_len].parse().map_err(|_| fail())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match rest[..unit_len].trim() {
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(fail()),
        };
        total += number * seconds_per_unit;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > 365.0 * 86400.0 {
        return Err(format!(
            "\"{text}\" is too long; the longest duration is one year"
        ));
    }
    Ok(Duration::from_secs_f64(total))
}

/// Parses an arrival rate into arrivals per second: `500/s`, `30/m`, `2/h`, `100/1s`, or a
/// bare number meaning per second.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let s = text.trim();
    let fail = || format!("\"{text}\" is not a rate; write e.g. 200/s or 30/m");
    let (count, per) = match s.split_once('/') {
        Some((c, p)) => (c.trim(), p.trim()),
        None => (s, "s"),
    };
    let count: f64 = count.parse().map_err(|_| fail())?;
    let per_seconds = match per {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        other => parse_duration(other).map_err(|_| fail())?.as_secs_f64(),
    };
    let rate = count / per_seconds;
    if !rate.is_finite() || rate <= 0.0 {
        return Err(format!("\"{text}\" must be a rate above zero, e.g. 200/s"));
    }
    if rate < 1.0 / 3600.0 {
        return Err(format!("\"{text}\" is below the slowest rate, 1/h"));
    }
    if rate > 10_000_000.0 {
        return Err(format!(
            "\"{text}\" is above 10,000,000 arrivals per second"
        ));
    }
    Ok(rate)
}

/// Which response statuses a step accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet {
    /// Accepted ranges, inclusive.
    ranges: Vec<(u16, u16)>,
    /// How the user wrote it, for messages ("expected 2xx, got 500").
    label: String,
}

impl StatusSet {
    /// The default when a step says nothing: any status below 400 (redirects are not
    /// followed, so a 3xx is a response like any other).
    pub fn default_ok() -> Self {
        Self {
            ranges: vec![(100, 399)],
            label: "<400".to_string(),
        }
    }

    /// Parses a list of items, each a code (`200`) or a class (`2xx`).
    pub fn parse(items: &[String]) -> Result<Self, String> {
        if items.is_empty() {
            return Err("the list of statuses is empty; write e.g. 200 or [200, 404]".into());
        }
        let mut ranges = Vec::new();
        for item in items {
            ranges.push(parse_status_item(item)?);
        }
        Ok(Self {
            ranges,
            label: items.join(","),
        })
    }

    /// Whether `status` is accepted.
    pub fn accepts(&self, status: u16) -> bool {
        self.ranges
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&status))
    }

    /// The set as the user wrote it.
    pub fn label(&self) -> &str {
        &self.label
    }
}

fn parse_status_item(item: &str) -> Result<(u16, u16), String> {
    let s = item.trim().to_ascii_lowercase();
    let fail = || format!("\"{item}\" is not a status; write a code like 200 or a class like 2xx");
    if let Some(first) = s.strip_suffix("xx") {
        let d: u16 = first.parse().map_err(|_| fail())?;
        if !(1..=5).contains(&d) {
            return Err(fail());
        }
        return Ok((d * 100, d * 100 + 99));
    }
    let code: u16 = s.parse().map_err(|_| fail())?;
    if !(100..=599).contains(&code) {
        return Err(format!(
            "{code} is not an HTTP status; codes run from 100 to 599"
        ));
    }
    Ok((code, code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_binary_and_decimal_units() {
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("64 KiB"), Ok(64 << 10));
        assert_eq!(parse_size("20MB"), Ok(20_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("1.5MiB").is_err());
        assert!(parse_size("lots").is_err());
        assert!(parse_size("99999999999GiB").is_err());
    }

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("500us"), Ok(Duration::from_micros(500)));
    }

    #[test]
    fn durations_reject_bare_numbers_and_junk() {
        for bad in ["5", "", "fast", "s", "10x", "1..5s", "-3s"] {
            let err = parse_duration(bad).expect_err(bad);
            assert!(err.contains("write e.g."), "{bad}: {err}");
        }
    }

    #[test]
    fn rates_per_unit() {
        assert_eq!(parse_rate("500/s"), Ok(500.0));
        assert_eq!(parse_rate("30/m"), Ok(0.5));
        assert_eq!(parse_rate("100"), Ok(100.0));
        assert_eq!(parse_rate("10/500ms"), Ok(20.0));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("0/s").is_err());
        assert!(parse_rate("-5/s").is_err());
        assert!(parse_rate("1e-20").is_err());
    }

    #[test]
    fn status_sets() {
        let set = StatusSet::parse(&["2xx".into(), "404".into()]).expect("valid");
        assert!(set.accepts(200) && set.accepts(299) && set.accepts(404));
        assert!(!set.accepts(300) && !set.accepts(500));
        assert!(StatusSet::parse(&["6xx".into()]).is_err());
        assert!(StatusSet::parse(&["700".into()]).is_err());
        assert!(StatusSet::parse(&["ok".into()]).is_err());
        assert!(StatusSet::default_ok().accepts(302));
        assert!(!StatusSet::default_ok().accepts(404));
    }
}
