//! The exit codes, and how a run's ending maps to one: 0 completed and every threshold held,
//! 1 a threshold failed (or `compare` found a regression), 2 bad input or an error before or
//! after the load, 130 interrupted. The README's exit-code table is the contract.
//!
//! Lives in `report` because the result decides the code; both the command layer (`run`) and
//! the wiring of a run (`session`) read it from here, so neither needs the other. Depends on
//! the report's own `Ending` and `Verdict` only. Invariant: an interrupted run is 130 and a
//! failed threshold 1 whatever else went wrong; a file that could not be written turns only a
//! clean 0 into 2.

use super::{Ending, Verdict};

/// Everything ran and held.
pub const OK: u8 = 0;
/// Bad usage, bad scenario, or an error before the run (or an output lost after it).
pub const USAGE: u8 = 2;
/// The run completed and a threshold failed.
pub const THRESHOLDS: u8 = 1;
/// `compare`: a figure regressed.
pub const REGRESSED: u8 = 1;
/// Stopped by Ctrl-C, SIGTERM or SIGHUP (or the dashboard's `q`).
pub const INTERRUPTED: u8 = 130;

/// Whether every output of a run (its files and its summary) was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// All of them.
    All,
    /// At least one could not be written (each was named on stderr).
    NotAll,
}

/// The exit code of a run that ended as `ending`, judged by `verdicts`, its outputs `written`.
pub fn of_run(ending: Ending, verdicts: &[Verdict], written: Written) -> u8 {
    let code = match ending {
        Ending::Interrupted => INTERRUPTED,
        Ending::Completed if verdicts.iter().any(|v| !v.passed) => THRESHOLDS,
        Ending::Completed => OK,
    };
    // A missing file or summary is the caller's to fix; an interrupted run, or one whose
    // thresholds failed, still says so by its code.
    match written {
        Written::NotAll if code == OK => USAGE,
        _ => code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(passed: bool) -> Verdict {
        Verdict {
            threshold: "p99 < 200ms".into(),
            value: Some(1.0),
            observed: "1.00ms".into(),
            passed,
        }
    }

    #[test]
    fn every_ending_maps_to_the_readmes_code() {
        let held = [verdict(true), verdict(true)];
        let broke = [verdict(true), verdict(false)];
        let cases: [(Ending, &[Verdict], Written, u8); 10] = [
            (Ending::Completed, &[], Written::All, 0),
            (Ending::Completed, &held, Written::All, 0),
            (Ending::Completed, &broke, Written::All, 1),
            (Ending::Interrupted, &[], Written::All, 130),
            (Ending::Interrupted, &broke, Written::All, 130),
            (Ending::Completed, &[], Written::NotAll, 2),
            (Ending::Completed, &held, Written::NotAll, 2),
            (Ending::Completed, &broke, Written::NotAll, 1),
            (Ending::Interrupted, &[], Written::NotAll, 130),
            (Ending::Interrupted, &held, Written::NotAll, 130),
        ];
        for (ending, verdicts, written, code) in cases {
            assert_eq!(
                of_run(ending, verdicts, written),
                code,
                "{ending:?}, {} failed, {written:?}",
                verdicts.iter().filter(|v| !v.passed).count()
            );
        }
    }

    #[test]
    fn the_codes_are_those_the_readme_promises() {
        assert_eq!((OK, THRESHOLDS, USAGE, INTERRUPTED), (0, 1, 2, 130));
        assert_eq!(
            REGRESSED, THRESHOLDS,
            "compare's regression is a failed check too"
        );
    }
}
