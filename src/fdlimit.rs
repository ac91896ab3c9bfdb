//! The open-file limit: every virtual user (or open-model slot) holds a connection, and each
//! connection is a file descriptor. Most systems give a process 1,024 by default, far fewer
//! than a run of a few thousand users needs; the hard limit is usually much higher, and a
//! process may raise its own soft limit up to it, as wrk and oha users otherwise do by hand.
//! A closed-model run that would still not fit is refused before it starts: its users hold
//! their connections all run long, and connections failing one by one mid-run would read as
//! the target's errors. The open model's `max_in_flight` is a cap, not a plan (a fast target
//! keeps far fewer in flight), so there it is only a warning.
//!
//! Depends on nothing else in the crate.

/// Descriptors kept aside for the runtime, stdio, the scenario's files and the listener.
pub const SPARE: u64 = 64;

/// Raises the soft open-file limit so that `files` fit (up to the hard limit). `Err` says,
/// when they still do not fit, what the limit is and how to raise it.
pub fn make_room(files: u64, connections: u64) -> Result<(), String> {
    let needed = files.saturating_add(SPARE);
    match rlimit::increase_nofile_limit(needed) {
        Ok(limit) if limit >= needed => Ok(()),
        Ok(limit) => Err(format!(
            "{connections} connections need about {needed} open files, but this process may \
             open at most {limit} (its hard limit, `ulimit -Hn`). Raise the limit before the \
             run (`ulimit -n {needed}`; as root, or through LimitNOFILE= or \
             /etc/security/limits.conf), or plan fewer connections (vus, or the open model's \
             max_in_flight)"
        )),
        // Where the limit cannot be read (not a Unix), there is nothing to raise or check.
        Err(_) => Ok(()),
    }
}

/// The most connections that fit in the hard open-file limit, at `per_connection`
/// descriptors each besides `besides` (and `SPARE`); `None` where the limit cannot be read.
pub fn most_connections(per_connection: u64, besides: u64) -> Option<u64> {
    let (_, hard) = rlimit::Resource::NOFILE.get().ok()?;
    Some(hard.saturating_sub(SPARE + besides) / per_connection.max(1))
}
