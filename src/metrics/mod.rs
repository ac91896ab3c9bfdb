//! Measurement: workers record each request's outcome on the hot path; one tick merges what
//! they recorded into the immutable `Snapshot` that displays, reports, thresholds and the
//! Prometheus endpoint read.
//!
//! What lives here, from the hot path to the readers: `outcome` (how a request ended),
//! `recorder` (the handle workers record through) over `shard` (one thread's area) and
//! `interval` (one step's figures between two ticks) with `histograms` (the settings every
//! histogram shares, and a step's lazily made figures) and `phases` (a request's phases and
//! the use of its connection); `aggregate` (the tick), `history`
//! (the time series and whole-run histograms) and `snapshot` (the picture a tick gives);
//! `live` (load levels and their changes, as plain values); `ticker` (the task that ticks
//! once a second and streams each snapshot on, through the `Steering` and `Listener` traits
//! the run gives it); `connections` (a transport's connection counts); `samples` (failure
//! samples and the slowest exchanges, per step) and `tap` (`-v`: failure samples handed out
//! as they happen, a few a second).
//!
//! Depends on nothing else in the crate but `redact` (error and failure samples are redacted
//! when a snapshot is made, in `aggregate`), on tokio for the ticker's task and the tap's
//! channel, and on reqwest's request types (a sample keeps the wire's own method and
//! headers); the engine, `report`, `tui`, `progress`, `prom` and `scenario::threshold`
//! depend on it.
//!
//! Invariants: no lock or counter is shared by workers per request (see `recorder`; the
//! dropped-arrival count is shared, but touched once per dropped arrival, and with `-v` the
//! tap's counter once per failure); memory is bounded
//! by threads × steps in use (a step's state is made when it first records, its histograms
//! sized to its values); percentiles are computed once per tick, never by a reader.

mod aggregate;
mod capacity;
mod connections;
mod histograms;
/// The time series and whole-run histograms a run leaves (its limits are public).
pub mod history;
mod interval;
mod live;
mod outcome;
mod phases;
mod recorder;
mod retries;
pub mod run_state;
/// Failure samples and the slowest exchanges (their limits are public).
pub mod samples;
mod shard;
mod snapshot;
mod stalls;
mod tags;
mod tap;
pub mod ticker;
mod window;

pub use aggregate::{Aggregator, CheckName, snapshot_of};
pub use capacity::{CapacityHold, CapacityReport, HoldVerdict};
pub use connections::Connections;
pub use history::{History, TickState};
pub use interval::{IntervalState, StepInterval};
pub use live::{Change, Level, LoadEvent, MIN_LIVE_RATE};
pub use outcome::{ErrorClass, Outcome, ServerTime};
pub use phases::{ConnectionCounts, ConnectionUse, Dial, Phases};
pub use recorder::Recorder;
pub use retries::RetryCounts;
pub use samples::{BodyPreview, Exchange, Kept, Sample, Samples};
pub use snapshot::{
    BUCKET_BOUNDS, Bucket, CheckStat, ErrorStat, FlowStats, IntervalStats, LiveState, Percentiles,
    Phase, PhaseStats, RetryStats, Snapshot, StepStats, Tag, per_second,
};
pub use stalls::Stall;
pub use tags::{NONE as TAG_NONE, OTHER as TAG_OTHER};
pub use tap::{PER_SECOND as SAMPLES_PER_SECOND, Tap, Tapped, tap};
pub use window::Window;
