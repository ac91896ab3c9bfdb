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

impl StopSignals {
    /// Registers SIGINT, SIGTERM and SIGHUP (Ctrl-C elsewhere). Must be called inside the
    /// runtime. A signal that cannot be registered keeps its default action.
    pub fn register() -> Self {
        #[cfg(unix)]
        {
            let kinds = [
                SignalKind::interrupt(),
                SignalKind::terminate(),
                SignalKind::hangup(),
            ];
            Self {
                streams: kinds.into_iter().filter_map(|k| signal(k).ok()).collect(),
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
