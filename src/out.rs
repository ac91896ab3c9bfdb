//! Writing to the terminal without ever panicking: `print!` and `eprintln!` panic when the
//! stream is closed or full (`stampede … | head`, `> /dev/full`), which would lose the run's
//! reports. Here a closed pipe on stdout is quiet (the reader has gone, as ripgrep treats it),
//! any other failure is returned, and stderr's own failures are ignored (there is nowhere left
//! to say them). Text for people (`note`, `text`) goes through `format::printable`, so a
//! name holding control characters cannot drive the terminal; `stdout` writes data (a
//! report on `-`, a completion script) as it is.
//!
//! Depends on `format` only.

use std::io::Write;

use crate::format::printable;

/// Writes a line to stderr, its control characters escaped; a failure is ignored.
pub fn note(args: std::fmt::Arguments<'_>) {
    let line = args.to_string();
    let _ = writeln!(std::io::stderr().lock(), "{}", printable(&line));
}

/// Writes text for people (the summary, a table) to stdout, its control characters
/// escaped; as `stdout` otherwise.
pub fn text(text: &str) -> std::io::Result<()> {
    stdout(&printable(text))
}

/// Writes `text` to stdout and flushes it. A reader that went away (EPIPE) is not an error.
pub fn stdout(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// `eprintln!` that never panics.
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => { $crate::out::note(format_args!($($arg)*)) };
}
