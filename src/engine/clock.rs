//! The engine's clock. Every instant the engine reads comes from here: tokio's clock, which
//! is the system's monotonic clock in a build for use, and a clock tests may pause and move
//! by hand (`#[tokio::test(start_paused = true)]`), so that pacing, stages and timeouts are
//! tested exactly instead of against real sleeps. Depends on nothing else in the crate.

use std::time::Instant;

/// Now, on the engine's clock.
#[inline]
pub fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}
