//! A step's retries (`retry:`): how its exchanges' attempts came out, counted per interval
//! (`RetryCounts`; a snapshot's `RetryStats` summarises them with the whole exchange's time).
//!
//! Depends on nothing. Every attempt is also a request of the step, counted where every
//! request is; these counts say how the exchanges came out.

/// How a step's exchanges' attempts came out, in one interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RetryCounts {
    /// Exchanges of the step (each one or more attempts).
    pub exchanges: u64,
    /// Exchanges that took more than one attempt.
    pub retried: u64,
    /// Attempts after the first (each a request of the step).
    pub retries: u64,
    /// Exchanges that succeeded on a later attempt.
    pub succeeded_after_retry: u64,
    /// Exchanges whose last attempt ended as the policy retries, with none left.
    pub gave_up: u64,
    /// Exchanges that succeeded, and their attempts in all.
    pub successes: u64,
    pub success_attempts: u64,
}

impl RetryCounts {
    /// Counts one exchange of `made` attempts that `succeeded` or `gave_up`.
    pub(crate) fn count(&mut self, made: u32, succeeded: bool, gave_up: bool) {
        let made = u64::from(made.max(1));
        self.exchanges += 1;
        self.retries += made - 1;
        self.retried += u64::from(made > 1);
        self.succeeded_after_retry += u64::from(succeeded && made > 1);
        self.gave_up += u64::from(gave_up);
        if succeeded {
            self.successes += 1;
            self.success_attempts += made;
        }
    }

    /// Adds `other`'s counts.
    pub(super) fn add(&mut self, other: &RetryCounts) {
        self.exchanges += other.exchanges;
        self.retried += other.retried;
        self.retries += other.retries;
        self.succeeded_after_retry += other.succeeded_after_retry;
        self.gave_up += other.gave_up;
        self.successes += other.successes;
        self.success_attempts += other.success_attempts;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchanges_count_their_attempts_once_each() {
        let mut c = RetryCounts::default();
        c.count(1, true, false);
        c.count(3, true, false);
        c.count(3, false, true);
        c.count(2, false, false);
        let want = RetryCounts {
            exchanges: 4,
            retried: 3,
            retries: 5,
            succeeded_after_retry: 1,
            gave_up: 1,
            successes: 2,
            success_attempts: 4,
        };
        assert_eq!(c, want);
        let mut sum = RetryCounts::default();
        sum.add(&c);
        sum.add(&c);
        assert_eq!(sum.success_attempts, 8);
    }
}
