//! The outputs of one run: which files it was asked for (`OutputPaths`), opening them all
//! before the load (`Outputs`), streaming ticks to those that stream, and at the end writing
//! each file, then the summary, and settling the exit code.
//!
//! Depends on the report's own exporters (`export`, `csv`, `hdrlog`, `html`), `exit`, on
//! `metrics` (the snapshot, and the ticker's `Listener`, which `Outputs` implements) and
//! `out` (stdout and notes).
//! Invariants: every file is opened, and duplicates refused, before the first request; files
//! are written before the summary is printed, so a summary that cannot be printed (a closed
//! pipe, a full disk) never loses the result; an exporter that failed while streaming is fed
//! no more ticks, and its error is reported once, at the end.

use std::path::{Path, PathBuf};

use super::exit::{self, Written};
use super::export::{self, Exporter, Sink};
use super::{RunInfo, csv::Csv, hdrlog::HdrLog, html::Html};
use crate::metrics::ticker::Listener;
use crate::metrics::{Aggregator, Snapshot};

/// The files a run was asked to write, by flag (`-`: standard output).
#[derive(Debug, Clone, Default)]
pub struct OutputPaths {
    /// `--json`: the JSON report.
    pub json: Option<PathBuf>,
    /// `--junit`: the JUnit report.
    pub junit: Option<PathBuf>,
    /// `--csv`: the time series, streamed.
    pub csv: Option<PathBuf>,
    /// `--hdr-log`: the HDR interval log, streamed.
    pub hdr_log: Option<PathBuf>,
    /// `--html`: the HTML report.
    pub html: Option<PathBuf>,
}

/// Makes one format's exporter on its sink.
type Make = fn(Sink) -> Box<dyn Exporter>;

/// Where the text summary goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SummaryTo {
    /// Standard output.
    Stdout,
    /// Standard error: standard output carries a report (`--json -`).
    Stderr,
    /// Nowhere (`--quiet`).
    Nowhere,
}

/// An exporter and the first error it met while streaming (it is then fed no more ticks).
struct Feed {
    exporter: Box<dyn Exporter>,
    failed: Option<std::io::Error>,
}

/// The opened outputs of a run, and where its summary goes.
pub struct Outputs {
    feeds: Vec<Feed>,
    summary: SummaryTo,
}

impl OutputPaths {
    /// Each asked-for output: its path, what it is (for messages), its flag, its exporter.
    fn table(&self) -> [(&Option<PathBuf>, &'static str, &'static str, Make); 5] {
        [
            (&self.json, "the JSON report", "--json", |s| {
                Box::new(export::Json(s))
            }),
            (&self.junit, "the JUnit report", "--junit", |s| {
                Box::new(export::Junit(s))
            }),
            (&self.csv, "the CSV time series", "--csv", |s| {
                Box::new(Csv::new(s))
            }),
            (&self.hdr_log, "the HDR interval log", "--hdr-log", |s| {
                Box::new(HdrLog::new(s))
            }),
            (&self.html, "the HTML report", "--html", |s| {
                Box::new(Html(s))
            }),
        ]
    }

    /// Opens every output asked for, in flag order, after refusing two on one place;
    /// `quiet`: no summary. `Err` names the output that cannot be written (exit 2).
    pub fn open(&self, quiet: bool) -> Result<Outputs, String> {
        let table = self.table();
        let named: Vec<(&str, &Path)> = table
            .iter()
            .filter_map(|(path, _, flag, _)| Some((*flag, path.as_deref()?)))
            .collect();
        export::check_places(&named)?;
        let mut feeds = Vec::new();
        let mut summary_to_stderr = false;
        for (path, what, _, make) in table {
            let Some(path) = path else { continue };
            let sink = Sink::open(path, what)?;
            summary_to_stderr |= sink.is_stdout();
            feeds.push(Feed {
                exporter: make(sink),
                failed: None,
            });
        }
        let summary = match (quiet, summary_to_stderr) {
            (true, _) => SummaryTo::Nowhere,
            (false, true) => SummaryTo::Stderr,
            (false, false) => SummaryTo::Stdout,
        };
        Ok(Outputs { feeds, summary })
    }
}

impl Outputs {
    /// Where the summary goes.
    pub fn summary_to(&self) -> SummaryTo {
        self.summary
    }

    /// What each opened output writes and where, in flag order.
    pub fn describe(&self) -> Vec<String> {
        self.feeds.iter().map(|f| f.exporter.describe()).collect()
    }

    /// Writes the files, then prints the summary; returns the run's exit code (see `exit`).
    pub fn finish(mut self, info: &RunInfo, snapshot: &Snapshot) -> u8 {
        let mut written = Written::All;
        let mut failed = |what: String| {
            crate::note!("error: {what}");
            written = Written::NotAll;
        };
        for feed in &mut self.feeds {
            let result = match feed.failed.take() {
                Some(e) => Err(e),
                None => feed.exporter.finish(info, snapshot),
            };
            if let Err(e) = result {
                failed(format!("cannot write {}: {e}", feed.exporter.describe()));
            }
        }
        let text = super::summary(info, snapshot);
        match self.summary {
            SummaryTo::Stdout => {
                if let Err(e) = crate::out::text(&text) {
                    failed(format!("cannot write the summary to stdout: {e}"));
                }
            }
            SummaryTo::Stderr => crate::note!("{}", text.trim_end()),
            SummaryTo::Nowhere => {}
        }
        // A shard's thresholds read its part of the load alone: the run's verdict, and its
        // exit code, are the merge's (`stampede merge`).
        let shard = info.shards.as_ref().is_some_and(|s| s.is_shard_run());
        let judged = if shard { &[][..] } else { &info.verdicts[..] };
        exit::of_run(info.ending, judged, written)
    }
}

impl Listener for Outputs {
    fn tick(&mut self, agg: &Aggregator, snap: &Snapshot) {
        let (steps, total) = agg.last_intervals();
        let tick = export::Tick {
            snap,
            steps: &steps,
            total,
        };
        for feed in self.feeds.iter_mut().filter(|f| f.failed.is_none()) {
            if let Err(e) = feed.exporter.tick(&tick) {
                feed.failed = Some(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_dir(dir: &tempfile::TempDir, name: &str) -> Option<PathBuf> {
        Some(dir.path().join(name))
    }

    #[test]
    fn a_run_opens_each_output_asked_for_in_flag_order() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let paths = OutputPaths {
            html: in_dir(&dir, "run.html"),
            json: in_dir(&dir, "run.json"),
            csv: in_dir(&dir, "run.csv"),
            ..OutputPaths::default()
        };
        let outputs = paths.open(false).expect("opened");
        let shown = outputs.describe();
        let at = |name: &str| dir.path().join(name).display().to_string();
        assert_eq!(
            shown,
            [
                format!("the JSON report to {}", at("run.json")),
                format!("the CSV time series to {}", at("run.csv")),
                format!("the HTML report to {}", at("run.html")),
            ]
        );
        assert_eq!(outputs.summary_to(), SummaryTo::Stdout);
        assert!(
            OutputPaths::default()
                .open(false)
                .expect("none")
                .describe()
                .is_empty()
        );
    }

    #[test]
    fn a_report_on_stdout_sends_the_summary_to_stderr_unless_quiet() {
        let json = OutputPaths {
            json: Some(PathBuf::from("-")),
            ..OutputPaths::default()
        };
        assert_eq!(
            json.open(false).expect("opened").summary_to(),
            SummaryTo::Stderr
        );
        assert_eq!(
            json.open(true).expect("opened").summary_to(),
            SummaryTo::Nowhere
        );
        let none = OutputPaths::default();
        assert_eq!(
            none.open(true).expect("opened").summary_to(),
            SummaryTo::Nowhere
        );
    }

    #[test]
    fn two_outputs_on_one_place_are_refused_before_any_is_opened() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let stdout = OutputPaths {
            junit: Some(PathBuf::from("-")),
            json: Some(PathBuf::from("-")),
            csv: in_dir(&dir, "series.csv"),
            ..OutputPaths::default()
        };
        let why = stdout.open(false).err().expect("refused");
        assert!(
            why.starts_with("--json and --junit cannot share stdout"),
            "{why}"
        );
        let same = OutputPaths {
            json: in_dir(&dir, "out"),
            html: in_dir(&dir, "out"),
            ..OutputPaths::default()
        };
        let why = same.open(false).err().expect("refused");
        assert!(why.contains("are the same file"), "{why}");
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("listed").collect();
        assert!(left.is_empty(), "nothing is created when refused: {left:?}");
    }

    #[test]
    fn an_output_that_cannot_be_written_is_named() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let paths = OutputPaths {
            junit: Some(dir.path().to_path_buf()),
            ..OutputPaths::default()
        };
        let why = paths.open(false).err().expect("refused");
        assert!(
            why.starts_with("cannot write the JUnit report to "),
            "{why}"
        );
    }
}
