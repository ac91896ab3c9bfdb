//! What a report says about a run besides its figures (`RunInfo`), gathered from the plan,
//! the target and the run's end: the redacted target, the verdicts, whether `--insecure`
//! applied, the proxy as the summary names it.
//!
//! Depends on `scenario` (the plan) and `metrics` (the final snapshot, and the transport's
//! connection count, a plain value). Invariant: nothing here shows a secret — the
//! target goes through the plan's redactor and a proxy is named without its credentials.

use std::time::{Duration, SystemTime};

use super::{Ending, RunInfo};
use crate::metrics::{Connections, Snapshot};
use crate::scenario::{Plan, Proxies, Target};

impl RunInfo {
    /// The run of `plan` against `base`, started at `started_at` and lasting `duration`,
    /// judged on its final snapshot `snap` (no baseline yet).
    pub fn of(
        plan: &Plan,
        base: &str,
        snap: &Snapshot,
        started_at: SystemTime,
        duration: Duration,
        ending: Ending,
        connections: Option<Connections>,
    ) -> Self {
        RunInfo {
            scenario: plan.name.clone(),
            source: plan.source.clone(),
            target: plan.redactor.owned(base),
            demo: plan.target == Target::Demo,
            load: plan.load.clone(),
            started_at,
            duration,
            ending,
            verdicts: verdicts(plan, snap),
            baseline: None,
            insecure: insecure_applies(plan, base),
            connections,
            proxy: plan.http.proxy.as_ref().map(proxy_summary),
            phases: false,
            shards: None,
        }
    }
}

/// The thresholds' verdicts, or a capacity search's (a search has no thresholds).
fn verdicts(plan: &Plan, snap: &Snapshot) -> Vec<super::Verdict> {
    let mut all = super::verdicts(&plan.thresholds, snap);
    if plan.load.capacity.is_some() {
        all.push(super::capacity::verdict(snap.live.capacity.as_ref()));
    }
    all
}

/// `--insecure` is said only where it applies: an https target (or a step with an https
/// URL).
pub fn insecure_applies(plan: &Plan, base: &str) -> bool {
    plan.tls.insecure
        && (base.starts_with("https://")
            || plan
                .steps()
                .any(|(_, s)| s.url.absolute && s.url.text.starts_with("https://")))
}

/// The proxies as the summary names them (never their credentials).
fn proxy_summary(p: &Proxies) -> String {
    let mut text = match (&p.http, &p.https) {
        (Some(a), Some(b)) if a == b => a.shown(),
        (Some(a), Some(b)) => format!("{} (http), {} (https)", a.shown(), b.shown()),
        (Some(a), None) => format!("{} (http only)", a.shown()),
        (None, Some(b)) => format!("{} (https only)", b.shown()),
        (None, None) => String::new(),
    };
    text.push_str(&format!(" from {}", p.source));
    if !p.bypass.is_empty() {
        text.push_str(&format!(", except {}", p.bypass.join(", ")));
    }
    text
}
