//! The signals that stop a run: Ctrl-C (SIGINT), SIGTERM and SIGHUP (a closed terminal or
//! ssh session), all treated alike. They are registered once, before anything slow (the
//! demo service, the setup flow) begins, so that none of them can fall through to the
//! default action, which ends the process without a summary or a JSON report.
//!
//! Depends on nothing else in the crate.

#[cfg(unix)]
use tokio::signal::unix::{Signal, SignalKind, signal};

/// The registered stop signals of one run.
#[derive(Debug)]
pub struct StopSignals {
    #[cfg(unix)]
    streams: Vec<Signal>,
}

/// The signals this process was started with set to "ignore", as a mask (bit n − 1 for
/// signal n), read from `/proc/self/status` (Linux; elsewhere none is known to be ignored).
#[cfg(unix)]
pub fn ignored_signals() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("SigIgn:"))?;
            u64::from_str_radix(line.trim_start_matches("SigIgn:").trim(), 16).ok()
        })
        .unwrap_or(0)
}

/// Whether signal `number` (1 to 64) is set to "ignore" in this process (see
/// `ignored_signals`).
#[cfg(unix)]
pub fn is_ignored(number: u32) -> bool {
    (1..=64).contains(&number) && ignored_signals() & (1 << (number - 1)) != 0
}

impl StopSignals {
    /// Registers SIGINT, SIGTERM and SIGHUP (Ctrl-C elsewhere). Must be called inside the
    /// runtime. A signal that cannot be registered keeps its default action.
    pub fn register() -> Self {
        #[cfg(unix)]
        {
            // A signal the caller set to be ignored stays ignored: `nohup stampede …` must
            // survive the terminal closing, and `stampede … &` in a script Ctrl-C.
            let ignored = ignored_signals();
            let kinds = [
                (SignalKind::interrupt(), 2),
                (SignalKind::terminate(), 15),
                (SignalKind::hangup(), 1),
            ];
            Self {
                streams: kinds
                    .into_iter()
                    .filter(|&(_, number)| ignored & (1u64 << (number - 1)) == 0)
                    .filter_map(|(kind, _)| signal(kind).ok())
                    .collect(),
            }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// Waits for the next stop signal.
    pub async fn recv(&mut self) {
        #[cfg(unix)]
        {
            if self.streams.is_empty() {
                return std::future::pending().await;
            }
            let waits = self.streams.iter_mut().map(|s| Box::pin(s.recv()));
            let _ = futures_util::future::select_all(waits).await;
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
