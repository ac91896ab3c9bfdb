//! Splitting a step's figures by a value its responses say (`tag_by:`): `get user
//! [from_cache=true]` against `[from_cache=false]`, each value with its own counts, latency,
//! server time and statuses.
//!
//! A step's distinct values are numbered once for the whole run by its `TagRegistry`, shared
//! by every thread: the first `max_values` values get a number of their own, any later one
//! is `other`. Each interval keeps its own copy of the numbered values and its figures per
//! number (`interval::Tagged`), so adding two intervals is adding by number, and a value
//! never splits between its own row and `other`. Depends on nothing else in the crate (its
//! tests on `interval`).
//!
//! Invariants: a thread takes the registry's lock only on a value it has not seen (once per
//! value and thread, and never once the step has all its values), so the hot path takes no
//! shared lock; memory per step is bounded by `max_values` + 1 intervals.

use std::sync::{Arc, Mutex};

/// The value of a response that did not say it, or of a request that got no response.
pub const NONE: &str = "(none)";

/// Where the values past a step's `max_values` go.
pub const OTHER: &str = "other";

/// A step's tag for the whole run: its key, and its values in the order first seen.
#[derive(Debug)]
pub struct TagRegistry {
    key: String,
    max: usize,
    values: Mutex<Vec<Arc<str>>>,
}

impl TagRegistry {
    /// A tag named `key` with at most `max` values of its own (at least 1).
    pub fn new(key: String, max: usize) -> Self {
        Self {
            key,
            max: max.max(1),
            values: Mutex::new(Vec::new()),
        }
    }

    /// The tag's name (`from_cache`).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The number of `value`: its place among the values (a new value takes the next while
    /// there is room), or `max` for `other`. `known` is the caller's copy of the values (a
    /// prefix of the registry's), brought up to date on a miss.
    pub fn index(&self, known: &mut Vec<Arc<str>>, value: &str) -> usize {
        if let Some(i) = known.iter().position(|v| **v == *value) {
            return i;
        }
        if known.len() >= self.max {
            return self.max;
        }
        let mut values = self.values.lock().unwrap_or_else(|p| p.into_inner());
        known.extend(values[known.len()..].iter().cloned());
        if let Some(i) = known.iter().position(|v| **v == *value) {
            return i;
        }
        if values.len() >= self.max {
            return self.max;
        }
        values.push(Arc::from(value));
        known.push(Arc::clone(&values[values.len() - 1]));
        known.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::interval::Tagged;

    #[test]
    fn values_past_the_limit_are_other_and_a_value_keeps_its_number_on_every_thread() {
        let registry = TagRegistry::new("id".into(), 20);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for n in 0..1000 {
            let i = registry.index(&mut a, &n.to_string());
            assert_eq!(i, if n < 20 { n } else { 20 }, "value {n}");
        }
        // Another thread sees the same numbers, and the 21st value is other there too.
        assert_eq!(registry.index(&mut b, "7"), 7);
        assert_eq!(registry.index(&mut b, "999"), 20);
        assert_eq!(registry.index(&mut b, "19"), 19);
        assert_eq!(b.len(), 20);
    }

    #[test]
    fn adding_is_by_number_and_names_come_with_the_values() {
        let registry = TagRegistry::new("hit".into(), 1);
        let mut one = Tagged::default();
        let i = registry.index(&mut one.values, "true");
        one.slot(i, 1_000_000).bytes = 5;
        let mut two = Tagged::default();
        let other = registry.index(&mut two.values, "false");
        assert_eq!(other, 1);
        two.slot(other, 1_000_000).bytes = 7;
        let mut sum = Tagged::default();
        sum.add(&two, 1_000_000);
        sum.add(&one, 1_000_000);
        let rows: Vec<(&str, u64)> = sum.each().map(|(i, s)| (sum.name(i), s.bytes)).collect();
        assert_eq!(rows, vec![("true", 5), (OTHER, 7)]);
    }
}
