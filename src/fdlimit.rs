//! The open-file limit: every virtual user (or open-model slot) holds a connection, and each
//! connection is a file descriptor. Most systems give a process 1,024 by default, far fewer
//! than a run of a few thousand users needs; the hard limit is usually much higher, and a
//! process may raise its own soft limit up to it, as wrk and oha users otherwise do by hand.
//!
//! Depends on nothing else in the crate.

/// Descriptors kept aside for the runtime, stdio, the scenario's files and the listener.
const SPARE: u64 = 64;

/// Raises the soft open-file limit so that `connections` fit (up to the hard limit), and
/// returns a warning when they still do not: the run goes on, and the connections past the
/// limit fail as error class `connect` ("Too many open files"), counted like any other.
pub fn make_room(connections: u64) -> Option<String> {
    let needed = connections.saturating_add(SPARE);
    match rlimit::increase_nofile_limit(needed) {
        Ok(limit) if limit >= needed => None,
        Ok(limit) => Some(format!(
            "{connections} connections need about {needed} open files, but this process may \
             open {limit} (ulimit -n); connections past it fail as error class `connect`. \
             Raise the limit (ulimit -n {needed}) or lower the load"
        )),
        // Where the limit cannot be read (not a Unix), there is nothing to raise or report.
        Err(_) => None,
    }
}
