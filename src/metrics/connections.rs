//! The connection counts a transport reports for the result: the HTTP version, how many
//! connections were made, and, for HTTP/2, how they were shared and ended.
//!
//! A plain value, read once at the end of a run: the engine's transports make it, the
//! reports (`report`) print it. Depends on nothing.

/// A transport's connections over the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connections {
    /// The HTTP version spoken: "1.1" or "2".
    pub http_version: &'static str,
    /// Connections made, reconnections included.
    pub opened: u64,
    /// HTTP/2: how many users share one connection.
    pub streams_per_connection: Option<u32>,
    /// HTTP/2: connections the server ended with GOAWAY(NO_ERROR) (e.g. nginx after
    /// `keepalive_requests`); the requests it refused were sent again, not counted as errors.
    pub graceful_closes: Option<u64>,
}
