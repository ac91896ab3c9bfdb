//! The HTML report: one self-contained file that opens offline. The page
//! (`assets/report.html`) draws everything from the JSON result embedded in it, with uPlot
//! (vendored under `assets/vendor/uplot`, MIT) inlined: so a report made at the end of a run
//! (`--html`) and one made later from a saved result (`stampede report R.json --html`) are
//! the same page, and no figure is computed twice. Nothing is fetched from the network.
//!
//! The template has three markers, each replaced once, in a single pass over the template
//! (so text in the result can never be taken for a marker). The result goes inside a
//! `<script type="application/json">`, with every `<` written `\u003c`: a step named
//! `</script>` stays data. The page sets every string with `textContent`.

use super::RunInfo;
use super::export::{Exporter, Sink};
use crate::metrics::Snapshot;

const TEMPLATE: &str = include_str!("../../assets/report.html");
const UPLOT_JS: &str = include_str!("../../assets/vendor/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../../assets/vendor/uplot/uPlot.min.css");

const MARK_CSS: &str = "/*@UPLOT_CSS@*/";
const MARK_JS: &str = "/*@UPLOT_JS@*/";
const MARK_JSON: &str = "/*@RESULT_JSON@*/";

/// The report page for a result given as JSON text (already known to be a result).
pub fn render(result_json: &str) -> String {
    let data = result_json.trim().replace('<', "\\u003c");
    let mut out = String::with_capacity(TEMPLATE.len() + UPLOT_JS.len() + data.len());
    let mut rest = TEMPLATE;
    // Each marker appears once in the template (a unit test holds it to that); replace them
    // in the order they appear, copying the text between.
    let mut marks = [
        (MARK_CSS, UPLOT_CSS),
        (MARK_JS, UPLOT_JS),
        (MARK_JSON, data.as_str()),
    ];
    marks.sort_by_key(|(mark, _)| TEMPLATE.find(mark));
    for (mark, value) in marks {
        if let Some((before, after)) = rest.split_once(mark) {
            out.push_str(before);
            out.push_str(value);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Checks that `text` is a result this version can draw; the error names it (`name`) and
/// says what it is instead.
pub fn check_result(text: &str, name: &str) -> Result<(), String> {
    let doc: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("{name}: not JSON: {e}"))?;
    super::saved::check(&doc, name)
}

/// `--html`: the report page, written at the end of the run.
pub struct Html(pub Sink);

impl Exporter for Html {
    fn describe(&self) -> String {
        format!("the HTML report to {}", self.0.place())
    }

    fn finish(&mut self, info: &RunInfo, snap: &Snapshot) -> std::io::Result<()> {
        self.0.write(&render(&super::to_json(info, snap)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_marker_is_in_the_template_once_and_the_vendored_code_cannot_end_its_element() {
        for mark in [MARK_CSS, MARK_JS, MARK_JSON] {
            assert_eq!(TEMPLATE.matches(mark).count(), 1, "{mark}");
        }
        assert!(!UPLOT_JS.contains("</script"));
        assert!(!UPLOT_CSS.contains("</style"));
    }

    #[test]
    fn hostile_text_in_the_result_stays_data() {
        let json = r#"{"name": "</script><script>alert(1)</script> /*@UPLOT_JS@*/"}"#;
        let page = render(json);
        assert!(!page.contains("</script><script>alert(1)"));
        assert!(page.contains(r"\u003c/script>"));
        // The marker text inside the data was not replaced by the library.
        assert_eq!(page.matches("/*@UPLOT_JS@*/").count(), 1);
        assert_eq!(page.matches(UPLOT_JS).count(), 1);
    }

    #[test]
    fn nothing_is_fetched_from_the_network() {
        let page = render("{}");
        for needle in [
            "<link",
            "src=\"http",
            "src='http",
            "@import",
            "fetch(",
            "XMLHttpRequest",
        ] {
            assert!(!page.contains(needle), "the page contains {needle}");
        }
    }

    #[test]
    fn only_results_of_this_schema_are_drawn() {
        let check_result = |text| check_result(text, "r.json");
        assert!(
            check_result(r#"{"schema_version": 1}"#)
                .expect_err("refused")
                .contains("not a whole stampede result")
        );
        assert!(
            check_result(r#"{"schema_version": 9}"#)
                .expect_err("refused")
                .contains("version 9")
        );
        assert!(
            check_result("[1")
                .expect_err("refused")
                .starts_with("r.json: not JSON")
        );
        assert!(
            check_result("{}")
                .expect_err("refused")
                .contains("no schema_version")
        );
    }
}
