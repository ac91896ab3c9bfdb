//! stampede: a terminal load tester. Scenario files drive open- or closed-model load over real
//! HTTP; per-step HDR histograms give exact percentiles; reports come as text and JSON.
//!
//! Data flows one way: `scenario` → `Plan` → `engine` (workers record into `metrics`) →
//! `Snapshot` each tick → progress display and `report`. `run` is the composition root.

pub mod cli;
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
