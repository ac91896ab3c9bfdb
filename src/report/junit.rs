//! The JUnit XML report (`--junit`): the run as a test suite for CI systems, one test case
//! per threshold and per check. A threshold fails with the figure it read; a check fails
//! when any response failed it, except a soft check (an observation, never an error), whose
//! count is its test case's output (gate on it with a `checks` threshold). Scenario, step
//! and check names are the user's and may hold anything: every attribute and text goes
//! through `escape`.

use std::fmt::Write as _;

use super::RunInfo;
use crate::metrics::{CheckStat, Snapshot};

/// One test case: its class, its name, and what it says besides.
type Case = (String, String, Said);

/// What a test case says besides its name.
enum Said {
    /// It passed.
    Nothing,
    /// It failed, and why.
    Failure(String),
    /// A soft check's count: output, not a failure.
    Output(String),
}

/// The report as a JUnit XML document.
pub fn to_junit(info: &RunInfo, snap: &Snapshot) -> String {
    let mut cases: Vec<Case> = Vec::new();
    for v in &info.verdicts {
        let said = if v.passed {
            Said::Nothing
        } else {
            Said::Failure(format!("observed {}", v.observed))
        };
        cases.push(("thresholds".into(), v.threshold.clone(), said));
    }
    for step in &snap.steps {
        for c in &step.checks {
            let (name, said) = check_case(c);
            cases.push((format!("checks.{}", step.label()), name, said));
        }
    }
    let failures = cases
        .iter()
        .filter(|c| matches!(c.2, Said::Failure(_)))
        .count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"stampede\" tests=\"{}\" failures=\"{failures}\" time=\"{:.3}\">",
        cases.len(),
        info.duration.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{:.3}\" timestamp=\"{}\">",
        escape(&info.scenario),
        cases.len(),
        info.duration.as_secs_f64(),
        humantime::format_rfc3339_seconds(info.started_at)
    );
    for case in &cases {
        write_case(&mut out, case);
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// A check's test case name and what it says: a hard check fails when any response failed
/// it (or none reached it); a soft one (named `(soft)`) only says its count.
fn check_case(c: &CheckStat) -> (String, Said) {
    let why = match (c.failed, c.evaluated) {
        (0, 0) => Some("never evaluated: no response reached it".to_string()),
        (0, _) => None,
        (failed, of) => Some(format!("{failed} of {of} responses failed it")),
    };
    match (why, c.soft) {
        (None, false) => (c.name.clone(), Said::Nothing),
        (Some(why), false) => (c.name.clone(), Said::Failure(why)),
        (why, true) => {
            let count = why.unwrap_or_else(|| format!("0 of {} responses failed it", c.evaluated));
            (format!("{} (soft)", c.name), Said::Output(count))
        }
    }
}

/// One `<testcase>` element.
fn write_case(out: &mut String, (class, name, said): &Case) {
    let (class, name) = (escape(class), escape(name));
    let inner = match said {
        Said::Nothing => {
            let _ = writeln!(out, "    <testcase classname=\"{class}\" name=\"{name}\"/>");
            return;
        }
        Said::Failure(why) => {
            let why = escape(why);
            format!("<failure message=\"{why}\">{why}</failure>")
        }
        Said::Output(text) => format!("<system-out>{}</system-out>", escape(text)),
    };
    let _ = writeln!(out, "    <testcase classname=\"{class}\" name=\"{name}\">");
    let _ = writeln!(out, "      {inner}");
    let _ = writeln!(out, "    </testcase>");
}

/// Text made safe for XML attributes and content: the five markup characters as entities,
/// other control characters (not allowed in XML 1.0 at all) as U+FFFD.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => {
                let _ = write!(out, "&#{};", c as u32);
            }
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_cannot_break_out_of_the_markup() {
        let name = "a\"b'c<d>e&f\u{1}g\nh]]>";
        let escaped = escape(name);
        assert_eq!(
            escaped,
            "a&quot;b&apos;c&lt;d&gt;e&amp;f\u{FFFD}g&#10;h]]&gt;"
        );
        for bad in ['"', '<', '>', '\u{1}'] {
            assert!(!escaped.contains(bad), "{bad:?} in {escaped}");
        }
    }
}
