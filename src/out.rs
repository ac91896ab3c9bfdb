//! Writing to the terminal without ever panicking: `print!` and `eprintln!` panic when the
//! stream is closed or full (`stampede … | head`, `> /dev/full`), which would lose the run's
//! reports. Here a closed pipe on stdout is quiet (the reader has gone, as ripgrep treats it),
//! any other failure is returned, and stderr's own failures are ignored (there is nowhere left
//! to say them).
//!
//! Depends on nothing else in the crate.

use std::io::Write;

/// Writes a line to stderr; a failure is ignored.
pub fn note(args: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{args}");
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
