//! Stalls in the closed model: stretches in which requests were in flight and none ended
//! for more than `MEDIANS` × the recent median latency (and at least `FLOOR_US`). A closed
//! model's users wait through a stall instead of sending, so its percentiles barely show
//! one (a route that freezes 1 s every 5 s: p99 4.8 ms, max 1 s); the stalls list says when.
//!
//! Each thread notes its own gaps (`Shard::note_done`: a stretch of `FLOOR_US` or more in
//! which no request ended on it); a silence is where every thread's gaps overlap, so the
//! detector (`Stalls`, run by the tick) intersects the threads' gaps, the open one of each
//! (from its last end to now) included. A silence is judged once it has ended (one thread's
//! gap closed), and is a stall when the ticks saw requests in flight in it.
//!
//! Depends on `shard`. Invariant: a stall is reported once, when it has ended; stalls come
//! in time order; at most `MOST` are kept (the rest are counted).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::shard::Shard;

/// The shortest stall (and the shortest gap a thread keeps), µs.
pub const FLOOR_US: u64 = 50_000;

/// A stall lasts more than this many times the recent median latency.
pub const MEDIANS: u64 = 10;

/// The most stalls a run keeps.
pub const MOST: usize = 1_000;

/// How many recent ticks' medians and in-flight counts are kept.
const RECENT: usize = 40;

/// One stall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    /// When it began, from the start of the run.
    pub at: Duration,
    /// How long no request ended.
    pub length: Duration,
    /// Requests in flight during it (the most a tick saw).
    pub in_flight: u64,
}

/// The detector: each thread's gaps not yet judged, recent medians and in-flight counts.
#[derive(Debug)]
pub struct Stalls {
    /// When the run started, and the instant the threads count from.
    started: Instant,
    epoch: Instant,
    /// Per thread (in the recorder's order): its gaps not yet judged, oldest first.
    gaps: Vec<Vec<(u64, u64)>>,
    /// Stretches up to this instant (µs from the epoch) are judged.
    judged: u64,
    /// Recent ticks: their median latency (µs; ticks with responses) and (end, in flight).
    medians: VecDeque<u64>,
    in_flight: VecDeque<(u64, u64)>,
    found: Vec<Stall>,
    /// Stalls past `MOST`.
    more: u64,
}

impl Stalls {
    /// A detector for a run that started at `started`, whose threads count from `epoch`.
    pub fn new(started: Instant, epoch: Instant) -> Self {
        Self {
            started,
            epoch,
            gaps: Vec::new(),
            judged: 0,
            medians: VecDeque::new(),
            in_flight: VecDeque::new(),
            found: Vec::new(),
            more: 0,
        }
    }

    /// The stalls found so far, oldest first, and how many more there were past `MOST`.
    pub fn found(&self) -> (&[Stall], u64) {
        (&self.found, self.more)
    }

    /// A tick at `now`: its median latency (`None`: no response in it) and requests in
    /// flight; reads every thread's gaps and reports the stalls that have ended. `true`
    /// when a stall was found.
    pub fn tick(
        &mut self,
        shards: &[Arc<Shard>],
        now: Instant,
        median_us: Option<u64>,
        in_flight: u64,
    ) -> bool {
        let now_us = self.us(now);
        push_recent(&mut self.in_flight, (now_us, in_flight));
        let mut open = Vec::with_capacity(shards.len());
        self.gaps
            .resize_with(shards.len().max(self.gaps.len()), Vec::new);
        let (mut first_end, mut settled) = (u64::MAX, u64::MAX);
        for (i, shard) in shards.iter().enumerate() {
            let ((first, last), closed) = shard.take_gaps();
            self.gaps[i].extend(closed);
            // A thread says nothing before its first end (it had no users yet): its time
            // until then counts as silent, so that it cannot hide a stall.
            open.push((last != 0).then(|| {
                let open = (now_us >= last + FLOOR_US).then_some((last, now_us));
                ((0, first), open)
            }));
            if last != 0 {
                first_end = first_end.min(first);
                settled = settled.min(last);
            }
        }
        if self.judged == 0 && first_end != u64::MAX {
            // Before the run's first end, the first requests were being answered: no stall.
            self.judged = first_end;
        }
        let shortest = FLOOR_US.max(MEDIANS * median(&self.medians).unwrap_or(0));
        let mut found = false;
        for (from, to) in self.overlaps(&open) {
            // Judged once it has ended (it stops before now) and never twice.
            if to >= now_us || to <= self.judged {
                continue;
            }
            let from = from.max(self.judged);
            self.judged = to;
            if to - from > shortest {
                found |= self.report(from, to);
            }
        }
        // Every thread's silences before its last end are known: what came before the
        // earliest of those instants is judged (a silence still open began after every
        // thread's last end), so the gaps kept stay few even when no overlap closes.
        if settled != u64::MAX {
            self.judged = self.judged.max(settled);
        }
        for gaps in &mut self.gaps {
            gaps.retain(|&(_, to)| to > self.judged);
        }
        if let Some(m) = median_us {
            push_recent(&mut self.medians, m);
        }
        found
    }

    /// Where every thread that has ended requests has a gap (its time before its first end
    /// and its open gap included).
    fn overlaps(&self, open: &[Option<ThreadEnds>]) -> Vec<(u64, u64)> {
        let mut common: Option<Vec<(u64, u64)>> = None;
        for (gaps, open) in self.gaps.iter().zip(open) {
            let Some((before, open)) = open else { continue };
            let mut mine: Vec<(u64, u64)> = vec![*before];
            mine.extend(gaps.iter().filter(|g| g.0 >= before.1));
            mine.extend(*open);
            common = Some(match common {
                None => mine,
                Some(c) => intersect(&c, &mine),
            });
        }
        common.unwrap_or_default()
    }

    /// A silence from `from` to `to`: a stall if requests were in flight in it, as the ticks
    /// during it saw (or, for one shorter than a tick, the ticks on either side).
    fn report(&mut self, from: u64, to: u64) -> bool {
        let near = (self.in_flight.iter())
            .filter(|(at, _)| *at >= from && *at <= to)
            .map(|(_, n)| *n)
            .max();
        let around = || {
            let before = self.in_flight.iter().rev().find(|(at, _)| *at < from);
            let after = self.in_flight.iter().find(|(at, _)| *at > to);
            Some(before?.1.min(after?.1))
        };
        let in_flight = near.or_else(around).unwrap_or(0);
        if in_flight == 0 {
            return false;
        }
        if self.found.len() >= MOST {
            self.more += 1;
            return true;
        }
        let at = (self.epoch + Duration::from_micros(from)).saturating_duration_since(self.started);
        self.found.push(Stall {
            at,
            length: Duration::from_micros(to - from),
            in_flight,
        });
        true
    }

    fn us(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_micros()).unwrap_or(u64::MAX)
    }
}

/// A thread's time before its first end, and its open gap (from its last end to now, when
/// that is long enough).
type ThreadEnds = ((u64, u64), Option<(u64, u64)>);

fn push_recent<T>(q: &mut VecDeque<T>, v: T) {
    if q.len() == RECENT {
        q.pop_front();
    }
    q.push_back(v);
}

fn median(q: &VecDeque<u64>) -> Option<u64> {
    let mut v: Vec<u64> = q.iter().copied().collect();
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

/// The overlaps of two lists of intervals, each sorted and disjoint.
fn intersect(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let from = a[i].0.max(b[j].0);
        let to = a[i].1.min(b[j].1);
        if from < to {
            out.push((from, to));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shards(n: usize) -> (Vec<Arc<Shard>>, Arc<()>) {
        let owner = Arc::new(());
        let list = (0..n)
            .map(|_| Arc::new(Shard::new(1, 0, 1_000_000, Arc::downgrade(&owner))))
            .collect();
        (list, owner)
    }

    /// A request ends on `shard` at `ms`.
    fn end(shard: &Shard, ms: u64) {
        shard.note_done(ms * 1000, FLOOR_US);
    }

    #[test]
    fn a_stall_is_where_every_threads_gaps_overlap_and_is_reported_once() {
        let (shards, _owner) = shards(2);
        let epoch = Instant::now();
        let mut stalls = Stalls::new(epoch, epoch);
        // Both threads end requests every 5 ms to 100 ms; then thread 1 nothing until
        // 1,050 ms, thread 0 until 1,100 ms; both every 5 ms after.
        for ms in (5..=100).step_by(5) {
            end(&shards[0], ms);
            end(&shards[1], ms);
        }
        let at = |ms: u64| epoch + Duration::from_millis(ms);
        assert!(!stalls.tick(&shards, at(250), Some(5_000), 40));
        assert!(
            !stalls.tick(&shards, at(500), Some(5_000), 40),
            "still going: not yet"
        );
        end(&shards[1], 1_050);
        end(&shards[0], 1_100);
        assert!(stalls.tick(&shards, at(1_250), Some(5_000), 40));
        let (found, more) = stalls.found();
        assert_eq!(more, 0);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].at, Duration::from_millis(100));
        assert_eq!(found[0].length, Duration::from_millis(950));
        assert_eq!(found[0].in_flight, 40);
        // Nothing new: nothing reported again.
        for ms in (1_105..=1_400).step_by(5) {
            end(&shards[0], ms);
            end(&shards[1], ms);
        }
        assert!(!stalls.tick(&shards, at(1_500), Some(5_000), 40));
        assert_eq!(stalls.found().0.len(), 1);
    }

    #[test]
    fn one_busy_thread_a_short_silence_or_nothing_in_flight_is_no_stall() {
        let (shards, _owner) = shards(2);
        let epoch = Instant::now();
        let mut stalls = Stalls::new(epoch, epoch);
        let at = |ms: u64| epoch + Duration::from_millis(ms);
        // Thread 0 pauses 500 ms while thread 1 goes on: no stall.
        end(&shards[0], 10);
        for ms in (10..=700).step_by(5) {
            end(&shards[1], ms);
        }
        end(&shards[0], 510);
        end(&shards[0], 700);
        assert!(!stalls.tick(&shards, at(710), Some(20_000), 10));
        // Both pause 60 ms, but the median latency is 20 ms: 60 < 10 × 20.
        end(&shards[0], 760);
        end(&shards[1], 760);
        assert!(!stalls.tick(&shards, at(770), Some(20_000), 10));
        assert!(stalls.found().0.is_empty());
        // Both silent 600 ms, but the ticks saw nothing in flight (every user thinking).
        let (shards, _owner) = self::shards(2);
        let mut stalls = Stalls::new(epoch, epoch);
        for s in &shards {
            end(s, 1_010);
        }
        assert!(!stalls.tick(&shards, at(1_250), Some(1_000), 0));
        assert!(!stalls.tick(&shards, at(1_500), Some(1_000), 0));
        for s in &shards {
            end(s, 1_610);
        }
        assert!(!stalls.tick(&shards, at(1_750), Some(1_000), 0));
        assert!(stalls.found().0.is_empty());
    }

    #[test]
    fn a_thread_that_never_ended_a_request_does_not_hide_a_stall() {
        let (shards, _owner) = shards(3);
        let epoch = Instant::now();
        let mut stalls = Stalls::new(epoch, epoch);
        let at = |ms: u64| epoch + Duration::from_millis(ms);
        end(&shards[0], 10);
        end(&shards[1], 10);
        assert!(!stalls.tick(&shards, at(250), None, 20), "still going");
        end(&shards[0], 400);
        end(&shards[1], 400);
        assert!(stalls.tick(&shards, at(500), Some(1_000), 20));
        assert_eq!(stalls.found().0[0].length, Duration::from_millis(390));
    }

    #[test]
    fn a_threads_first_end_after_a_stall_does_not_hide_it_and_gaps_stay_few() {
        let (shards, _owner) = shards(2);
        let epoch = Instant::now();
        let mut stalls = Stalls::new(epoch, epoch);
        let at = |ms: u64| epoch + Duration::from_millis(ms);
        for ms in (10..=100).step_by(10) {
            end(&shards[0], ms);
        }
        assert!(!stalls.tick(&shards, at(250), None, 20), "still going");
        // Thread 1 ends its first request just after the stall.
        end(&shards[0], 700);
        end(&shards[1], 710);
        assert!(stalls.tick(&shards, at(750), Some(1_000), 20));
        assert_eq!(stalls.found().0[0].length, Duration::from_millis(600));
        // A thread that leaves a gap at every end, beside one that never does: no overlap
        // ever closes, and the gaps kept do not pile up.
        for round in 0..40u64 {
            let base = 750 + round * 250;
            for ms in (base..base + 250).step_by(5) {
                end(&shards[1], ms);
            }
            for ms in (base..base + 250).step_by(60) {
                end(&shards[0], ms);
            }
            stalls.tick(&shards, at(base + 250), Some(1_000), 20);
        }
        assert!(stalls.gaps[0].len() <= 6, "{:?}", stalls.gaps[0]);
        assert_eq!(stalls.found().0.len(), 1);
    }
}
