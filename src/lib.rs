//! stampede: a terminal load tester. Scenario files (or a URL) drive open- or closed-model
//! load over real HTTP/1.1 and HTTP/2; per-step HDR histograms give exact percentiles. A run
//! is shown live (a dashboard, or progress lines) and reported as a text summary and, as
//! asked, JSON, JUnit, HTML, a CSV time series, an HDR interval log and live Prometheus
//! metrics; its exit code says whether its thresholds held.
//!
//! Data flows one way: `scenario` → `Plan` → `engine` (workers record into `metrics`) →
//! a `Snapshot` each tick (`metrics::ticker`) → `tui` or `progress`, the streaming exporters
//! and `prom` → the final snapshot → `report` (verdicts, files, summary, exit code). Keys,
//! signals and `abort_on_fail` reach the engine only through `engine::Control`.
//!
//! The composition root is `run` (the commands: a command line to options and an exit code)
//! over `session` (the order of one run); only they know every module, and nothing below
//! them imports them. `main` alone ends the process.

pub mod cli;
pub mod convert;
pub mod demo;
pub mod engine;
pub mod fdlimit;
pub mod files;
pub mod format;
pub mod metrics;
pub mod out;
pub mod progress;
pub mod prom;
pub mod redact;
pub mod report;
pub mod run;
pub mod scenario;
pub mod session;
pub mod signals;
pub mod tui;
pub mod yaml_text;
