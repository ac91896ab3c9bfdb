//! A run's share of a plan split over several processes (`--shard I/N`): which arrivals,
//! users, iterations and data rows are shard I's, and the plan's fingerprint, which every
//! shard of one plan shares and a merge checks.
//!
//! The split is pure arithmetic, the same in every shard, so the shards need no coordinator:
//! the open model's arrivals are numbered on the single-machine schedule and shard k takes
//! those ≡ k (mod N); a count (VUs at any moment, an iteration budget, `max_in_flight`) is
//! split as evenly as integers allow, the first `total mod N` shards taking one more, so the
//! shares always add up to the whole. Depends on nothing; `split` applies it to a plan.

use std::fmt;

/// Shard `index` of `count` (0-based). `Shard::WHOLE` is a run that is not split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, 0 ..= count - 1.
    pub index: u64,
    /// How many shards the plan is split into, at least 1.
    pub count: u64,
}

/// The most shards a plan may be split into (a sanity bound, far above any cluster's).
pub const MAX_SHARDS: u64 = 10_000;

impl Shard {
    /// One process runs the whole plan.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// `I/N`, 0-based: `0/4` is the first of four.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || {
            format!(
                "\"{text}\" is not a shard; write I/N with 0 <= I < N, e.g. 0/4 for the first of four"
            )
        };
        let (i, n) = text.trim().split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        Shard::new(index, count).map_err(|why| format!("\"{text}\": {why}"))
    }

    /// Shard `index` of `count`, checked.
    pub fn new(index: u64, count: u64) -> Result<Shard, String> {
        if count == 0 || count > MAX_SHARDS {
            return Err(format!(
                "the number of shards must be 1 to {MAX_SHARDS}, not {count}"
            ));
        }
        if index >= count {
            return Err(format!(
                "shard {index} does not exist among {count} (they are numbered 0 to {})",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }

    /// Whether the plan is split at all.
    pub fn is_split(self) -> bool {
        self.count > 1
    }

    /// This shard's part of `total` things: `total / N`, one more for the first
    /// `total mod N` shards. Over all shards the parts add up to `total`, and they are the
    /// counts of the numbers below `total` that each shard `owns`.
    pub fn share(self, total: u64) -> u64 {
        total / self.count + u64::from(self.index < total % self.count)
    }

    /// Whether thing number `n` (an arrival, a data row) of the whole plan is this shard's.
    pub fn owns(self, n: u64) -> bool {
        n % self.count == self.index
    }

    /// The whole plan's number of this shard's `local`-th thing (a virtual user), so that
    /// the shards' users are numbered 0, 1, 2, … without a gap or a repeat between them.
    pub fn global(self, local: u64) -> u64 {
        local.saturating_mul(self.count).saturating_add(self.index)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What a sharded plan carries besides its share: the shard, and the whole plan's
/// fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardOf {
    /// Which shard this plan is.
    pub shard: Shard,
    /// The whole plan's fingerprint (see `fingerprint`).
    pub fingerprint: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_as_i_of_n_and_refuse_the_impossible() {
        assert_eq!(Shard::parse("2/4"), Ok(Shard { index: 2, count: 4 }));
        assert_eq!(Shard::parse(" 0 / 1 "), Ok(Shard::WHOLE));
        for bad in ["4/4", "1/0", "x/2", "3", "-1/2", "0/10001"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let e = Shard::parse("4/4").expect_err("out of range");
        assert!(e.contains("numbered 0 to 3"), "{e}");
    }

    /// For every N and total, the shares add up to the total and each is the count of the
    /// numbers below the total that the shard owns.
    #[test]
    fn shares_add_up_and_match_the_numbers_each_shard_owns() {
        for count in 1..=8 {
            for total in 0..=100 {
                let mut sum = 0;
                for index in 0..count {
                    let shard = Shard { index, count };
                    let owned = (0..total).filter(|&n| shard.owns(n)).count() as u64;
                    assert_eq!(shard.share(total), owned, "{shard} of {total}");
                    sum += shard.share(total);
                }
                assert_eq!(sum, total, "N={count} total={total}");
            }
        }
    }

    #[test]
    fn users_are_numbered_without_gaps_or_repeats_across_shards() {
        for count in 1..=8u64 {
            let total = 23;
            let mut seen: Vec<u64> = (0..count)
                .flat_map(|index| {
                    let shard = Shard { index, count };
                    (0..shard.share(total)).map(move |local| shard.global(local))
                })
                .collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..total).collect::<Vec<_>>(), "N={count}");
        }
    }
}
