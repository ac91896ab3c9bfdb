//! The histograms of a run: the settings every one of them shares (so any two can be added),
//! `Tally` (an interval's values of one figure: kept as they came while they are few, then a
//! histogram), and a step's lazily made figures beyond latency and service time.
//!
//! Also the encoding results carry histograms in (`encode`, `decode`). Depends on nothing in
//! the crate. Invariant: every histogram here is made by
//! `latency_histogram`, records µs and auto-resizes, so recording a clamped value and adding
//! two histograms cannot fail.

use std::cell::RefCell;
use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer as _, V2DeflateSerializer};

/// An empty histogram of values in µs to 3 significant figures, from 1 µs. It starts small
/// (1 ..= 2,047 µs exact to the µs, 16 KiB) and grows as larger values arrive, so a step costs
/// what its latencies need, not the full range of the request timeout (139 KiB for 60 s).
/// Every histogram of a run has these settings, so any two can be added.
pub fn latency_histogram() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, 2, 3).expect("bounds 1..=2 with 3 figures are valid");
    h.auto(true);
    h
}

/// The most values a `Tally` keeps as they came: 512 in 2 KiB, against the 16 KiB a histogram
/// takes at least. A step that records fewer per interval on a thread (a scenario of many
/// steps, a tag value, a phase of a few new connections) never pays for a histogram there.
const FEW: usize = 512;

/// The values of one figure (µs): kept as they came while they are few, then a histogram of
/// the run's settings, kept (reset, not dropped) from then on, so a busy step makes its
/// histogram once. Whatever is read of a tally is read through `view`, from a histogram of
/// exactly its values, so a figure is the same to the last digit whichever form held it.
#[derive(Debug, Clone)]
pub enum Tally {
    /// At most `FEW` values, in the order they came.
    Few(Vec<u32>),
    /// More than that, once.
    Many(Histogram<u64>),
}

impl Default for Tally {
    fn default() -> Self {
        Tally::Few(Vec::new())
    }
}

thread_local! {
    /// The histogram a few values are summarised in, reused (reset) for each `view`.
    static SCRATCH: RefCell<Histogram<u64>> = RefCell::new(latency_histogram());
}

impl Tally {
    /// Records `us` (already clamped to the run's highest value).
    #[inline]
    pub fn record(&mut self, us: u64) {
        match self {
            Tally::Many(h) => {
                let _ = h.record(us);
            }
            Tally::Few(values) => match u32::try_from(us) {
                Ok(v) if values.len() < FEW => values.push(v),
                _ => {
                    let mut h = histogram_of(values);
                    let _ = h.record(us);
                    *self = Tally::Many(h);
                }
            },
        }
    }

    /// Adds every value of `other` (an empty one changes nothing, not even the form: a
    /// thread's reset histogram must not make a few values a histogram).
    pub fn add(&mut self, other: &Tally) {
        if other.is_empty() {
            return;
        }
        match (&mut *self, other) {
            (Tally::Many(h), Tally::Many(theirs)) => add_into(h, theirs),
            (Tally::Many(h), Tally::Few(theirs)) => record_all(h, theirs),
            (Tally::Few(mine), Tally::Few(theirs)) if mine.len() + theirs.len() <= FEW => {
                mine.extend_from_slice(theirs);
            }
            (Tally::Few(mine), theirs) => {
                let mut h = histogram_of(mine);
                match theirs {
                    Tally::Many(theirs) => add_into(&mut h, theirs),
                    Tally::Few(theirs) => record_all(&mut h, theirs),
                }
                *self = Tally::Many(h);
            }
        }
    }

    /// Forgets every value, keeping the allocation (and the form: a histogram stays one).
    pub fn reset(&mut self) {
        match self {
            Tally::Few(values) => values.clear(),
            Tally::Many(h) => h.reset(),
        }
    }

    /// How many values it holds.
    pub fn len(&self) -> u64 {
        match self {
            Tally::Few(values) => values.len() as u64,
            Tally::Many(h) => h.len(),
        }
    }

    /// Whether it holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `read` of a histogram of exactly its values: its own, or for a few values a
    /// thread's scratch histogram filled with them (a fresh one if `read` itself views).
    pub fn view<R>(&self, read: impl FnOnce(&Histogram<u64>) -> R) -> R {
        let values = match self {
            Tally::Many(h) => return read(h),
            Tally::Few(values) => values,
        };
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut h) => {
                h.reset();
                record_all(&mut h, values);
                read(&h)
            }
            Err(_) => read(&histogram_of(values)),
        })
    }

    /// `view` for an encoding, whose bytes also say the histogram's range: a few values are
    /// read from a histogram made for them (the range they need, as a histogram that
    /// recorded them would have), not from the scratch one, whose range its past uses set.
    pub fn encode_with<R>(&self, encode: impl FnOnce(&Histogram<u64>) -> R) -> R {
        match self {
            Tally::Many(h) => encode(h),
            Tally::Few(values) => encode(&histogram_of(values)),
        }
    }

    /// A histogram of its values (a copy), for tests that read one.
    #[cfg(test)]
    pub fn to_histogram(&self) -> Histogram<u64> {
        match self {
            Tally::Many(h) => h.clone(),
            Tally::Few(values) => histogram_of(values),
        }
    }
}

/// A histogram of the run's settings holding `values`.
fn histogram_of(values: &[u32]) -> Histogram<u64> {
    let mut h = latency_histogram();
    record_all(&mut h, values);
    h
}

fn record_all(h: &mut Histogram<u64>, values: &[u32]) {
    for &v in values {
        let _ = h.record(u64::from(v));
    }
}

/// Adds `from` into `into`; both auto-resize, so adding cannot fail.
pub(super) fn add_into(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    let _ = into.add(from);
}

/// A duration in whole µs, at least 1 (the histograms' lowest value).
pub(super) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// A per-step figure with a histogram of its own, beyond the latency and the service time
/// (which `StepInterval` keeps, the service time sharing the latency's until they differ).
///
/// A new per-step histogram (a server time, an overhead, a phase of the exchange) is a
/// variant here, a recording method and an accessor on `StepInterval`, and its summary in
/// the aggregator's `step_stats`: adding, clearing and the memory budget come with `Figures`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Figure {
    /// Open model, first step of an iteration: its actual send minus its planned start.
    SendLag,
    /// The time the server says it spent (`X-Process-Time`, `Server-Timing`).
    ServerTime,
    /// The service time minus the server's time: the network, queueing, parsing and the
    /// framework's work outside the server's own timer.
    Overhead,
    /// A new connection's name resolution (see `phases`).
    Dns,
    /// A new connection's TCP connect.
    Connect,
    /// A new connection's TLS handshake.
    Tls,
    /// Writing the request.
    Write,
    /// From the request written to the response's first byte.
    Ttfb,
    /// From the first byte to the end of the body.
    Download,
    /// A step with `retry:`: its exchange, first attempt's start to last attempt's end.
    Exchange,
    /// Closed model: what the corrected view adds to the latency's values (see
    /// `StepInterval::record_corrected`), never mixed with the raw figures.
    Corrected,
}

impl Figure {
    /// Every figure, in index order.
    pub(super) const ALL: [Figure; 11] = [
        Figure::SendLag,
        Figure::ServerTime,
        Figure::Overhead,
        Figure::Dns,
        Figure::Connect,
        Figure::Tls,
        Figure::Write,
        Figure::Ttfb,
        Figure::Download,
        Figure::Exchange,
        Figure::Corrected,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// One `Tally` per `Figure`, each made when its figure is first recorded (a step that never
/// records one pays a pointer for it) and kept, reset, from then on.
#[derive(Debug, Clone, Default)]
pub(super) struct Figures([Option<Tally>; Figure::ALL.len()]);

impl Figures {
    /// Records `us` (already clamped to the run's highest value) as `figure`.
    pub(super) fn record(&mut self, figure: Figure, us: u64) {
        self.0[figure.index()]
            .get_or_insert_with(Tally::default)
            .record(us);
    }

    /// Makes `figure` exist, empty if it has no value yet (a figure whose absence means
    /// something: the corrected view's extras are empty in a closed run without stalls).
    pub(super) fn touch(&mut self, figure: Figure) {
        self.0[figure.index()].get_or_insert_with(Tally::default);
    }

    /// Sets `figure`'s values (a shard's, read back from its result).
    pub(super) fn set(&mut self, figure: Figure, values: Tally) {
        self.0[figure.index()] = Some(values);
    }

    /// The values of `figure`, if it was ever recorded.
    pub(super) fn get(&self, figure: Figure) -> Option<&Tally> {
        self.0[figure.index()].as_ref()
    }

    /// Adds every figure of `other` into this one's.
    pub(super) fn add(&mut self, other: &Figures) {
        for (mine, theirs) in self.0.iter_mut().zip(&other.0) {
            if let Some(theirs) = theirs {
                mine.get_or_insert_with(Tally::default).add(theirs);
            }
        }
    }

    /// Adds the values of each of `figures` into both of `into`, and empties its own.
    pub(super) fn pass(&mut self, figures: &[Figure], mut into: [&mut Figures; 2]) {
        for &figure in figures {
            let Some(mine) = self.0[figure.index()].as_mut().filter(|t| !t.is_empty()) else {
                continue;
            };
            for theirs in into.iter_mut() {
                theirs.0[figure.index()]
                    .get_or_insert_with(Tally::default)
                    .add(mine);
            }
            mine.reset();
        }
    }

    /// Empties every figure, keeping its allocation.
    pub(super) fn reset(&mut self) {
        for t in self.0.iter_mut().flatten() {
            t.reset();
        }
    }
}

/// A histogram as HdrHistogram's own tools exchange it: the V2 encoding, deflated, in
/// base64 (what `HistogramLogProcessor` and the Python `hdrhistogram` package decode).
pub fn encode(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    match V2DeflateSerializer::new().serialize(h, &mut bytes) {
        Ok(_) => base64::engine::general_purpose::STANDARD.encode(&bytes),
        // Writing to a Vec fails only on an impossible histogram; say so rather than panic.
        Err(_) => String::new(),
    }
}

/// The most a histogram read from a result may inflate to. Ours are a few kB; the cap
/// keeps a crafted file from making the reader allocate gigabytes.
const MAX_INFLATED: u64 = 16 << 20;

/// Reads back what `encode` wrote (or another HdrHistogram tool's V2+deflate histogram).
/// The result may come from anywhere, so its sizes are checked before hdrhistogram's
/// deserializer trusts them: it allocates a buffer of the length the header claims.
pub fn decode(text: &str) -> Option<Histogram<u64>> {
    use std::io::Read as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()?;
    // V2 compressed: cookie, compressed length, zlib stream of [cookie, payload length,
    // normalizing offset, significant digits, lowest, highest, ratio (40 bytes), payload].
    let word = |b: &[u8], at: usize| -> Option<usize> {
        let four: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        usize::try_from(u32::from_be_bytes(four)).ok()
    };
    let compressed = bytes.get(8..8 + word(&bytes, 4)?)?;
    let mut inflated = Vec::new();
    flate2::read::ZlibDecoder::new(compressed)
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut inflated)
        .ok()?;
    let payload = word(&inflated, 4)?;
    let digits = word(&inflated, 12)?;
    if inflated.len() as u64 > MAX_INFLATED || payload > inflated.len().saturating_sub(40) {
        return None;
    }
    // More significant digits than HdrHistogram allows (5) would also mean a huge array.
    if digits > 5 {
        return None;
    }
    let mut h: Histogram<u64> = hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .ok()?;
    // A decoded histogram tracks only the range its encoder had: it must grow as larger
    // values are added into it (another shard's), as every histogram of a run does.
    h.auto(true);
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A histogram of `values`, recorded one by one: the ground truth a tally must match.
    fn truth(values: &[u64]) -> Histogram<u64> {
        let mut h = latency_histogram();
        for &v in values {
            h.record(v).expect("records");
        }
        h
    }

    fn same(t: &Tally, want: &Histogram<u64>) {
        t.view(|h| {
            assert_eq!(
                (h.len(), h.min(), h.max()),
                (want.len(), want.min(), want.max())
            );
            assert_eq!(h.mean(), want.mean());
            for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
                assert_eq!(h.value_at_quantile(q), want.value_at_quantile(q), "q {q}");
            }
        });
    }

    fn tally(values: &[u64]) -> Tally {
        let mut t = Tally::default();
        for &v in values {
            t.record(v);
        }
        t
    }

    #[test]
    fn a_tally_reads_as_the_histogram_of_its_values_in_either_form() {
        let values: Vec<u64> = (1..=2_000).map(|i| i * 37 % 90_001 + 1).collect();
        let few = tally(&values[..FEW]);
        assert!(matches!(few, Tally::Few(_)));
        same(&few, &truth(&values[..FEW]));
        let many = tally(&values);
        assert!(
            matches!(many, Tally::Many(_)),
            "past {FEW} values it is a histogram"
        );
        same(&many, &truth(&values));
        // A value past what a few can hold makes the histogram at once.
        let huge = tally(&[3, u64::from(u32::MAX) + 10]);
        assert!(matches!(huge, Tally::Many(_)));
        same(&huge, &truth(&[3, u64::from(u32::MAX) + 10]));
    }

    #[test]
    fn adding_tallies_of_any_forms_gives_the_histogram_of_all_their_values() {
        let a: Vec<u64> = (1..=300).map(|i| i * 13).collect();
        let b: Vec<u64> = (1..=300).map(|i| i * 7 + 5_000).collect();
        let c: Vec<u64> = (1..=900).map(|i| i * 3).collect();
        for (x, y) in [
            (&a, &b),
            (&a, &c),
            (&c, &a),
            (&c, &c),
            (&a, &a[..10].to_vec()),
        ] {
            let mut sum = tally(x);
            sum.add(&tally(y));
            let all: Vec<u64> = x.iter().chain(y.iter()).copied().collect();
            same(&sum, &truth(&all));
            assert_eq!(sum.to_histogram().len(), all.len() as u64);
        }
    }

    #[test]
    fn a_reset_tally_keeps_its_form_and_a_view_inside_a_view_still_reads_right() {
        let mut many = tally(&(1..=1_000).collect::<Vec<u64>>());
        many.reset();
        assert!(matches!(many, Tally::Many(_)) && many.is_empty());
        let mut few = tally(&[5, 6, 7]);
        few.add(&many);
        assert!(
            matches!(few, Tally::Few(_)),
            "an empty histogram adds nothing"
        );
        let (a, b) = (few, tally(&[100, 200]));
        let maxes = a.view(|ha| (ha.max(), b.view(|hb| hb.max())));
        assert_eq!(maxes, (7, 200));
    }
}
