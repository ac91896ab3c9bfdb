//! Measurement: per-thread recording on the hot path, a tick that merges it, and the
//! immutable `Snapshot` that displays and reports read.
//!
//! Invariants: no lock or counter is shared by workers per request (see `recorder`); memory is
//! bounded by threads × steps in use (a step's state is made when it first records, its
//! histograms sized to its values); percentiles are computed once per tick. Depends on nothing
//! else in the crate but `redact` (error samples are redacted once per tick).

mod aggregate;
mod histograms;
pub mod history;
mod interval;
mod live;
mod outcome;
mod recorder;
mod shard;
mod snapshot;

pub use aggregate::{Aggregator, CheckName};
pub use history::{History, TickState};
pub use interval::StepInterval;
pub use live::{Change, Level, LoadEvent, MIN_LIVE_RATE};
pub use outcome::{ErrorClass, Outcome};
pub use recorder::Recorder;
pub use snapshot::{
    BUCKET_BOUNDS, Bucket, CheckStat, ErrorStat, FlowStats, IntervalStats, LiveState, Percentiles,
    Phase, Snapshot, StepStats, per_second,
};
