//! The phases of a request's exchange and the use of its connection: what a transport saw
//! (`Phases`, with `ConnectionUse` and its `Dial`), the per-step counts of new, reused and
//! remade connections (`ConnectionCounts`), and their recording into a step's figures.
//!
//! A phase is recorded only where the transport saw it: DNS, connect and TLS once per new
//! connection, with the request that made it (no DNS for an IP address, no TLS for
//! `http://`); write, time to first byte and download per response. So a step whose
//! connections are all kept pays nothing for the connection's phases, and a failed connect
//! records none. Depends on `histograms`.

use std::time::Duration;

use super::histograms::{Figure, Figures, micros};

/// What making a new connection took: each phase that happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dial {
    /// Resolving the host's name (`None` for an IP address).
    pub dns: Option<Duration>,
    /// The TCP connection (to a proxy, with its tunnel, when one is used).
    pub connect: Duration,
    /// The TLS handshake (`None` for `http://`).
    pub tls: Option<Duration>,
}

/// How a request had its connection, as its transport tells.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConnectionUse {
    /// Not told: the transport does not say (`--transport reqwest`), or no connection was
    /// had (a connect that failed).
    #[default]
    Unknown,
    /// A connection kept from an earlier request carried it.
    Reused,
    /// It made a new connection, which took `dial`. `reconnect`: the server had closed the
    /// connection this one replaces (it said `connection: close`, or closed it while idle).
    New {
        /// What making it took.
        dial: Dial,
        /// It replaces a connection the server closed.
        reconnect: bool,
    },
}

/// The phases of one request's exchange, each as far as its transport saw it (`None`: not
/// seen, so not recorded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Phases {
    /// Its connection: kept, or new with what making it took.
    pub connection: ConnectionUse,
    /// From the connection ready (or the send, on a kept one) to the request written.
    pub write: Option<Duration>,
    /// From the request written (or handed to the connection) to the response's first byte.
    pub ttfb: Option<Duration>,
    /// From the first byte to the end of the body.
    pub download: Option<Duration>,
}

/// A step's connections: made new, kept from an earlier request, and of the new ones, those
/// that replaced a connection the server had closed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConnectionCounts {
    /// Requests that made a new connection.
    pub new: u64,
    /// Requests carried by a connection kept from an earlier one.
    pub reused: u64,
    /// New connections made because the server closed the one before.
    pub reconnects: u64,
}

impl ConnectionCounts {
    /// Counts one request's connection.
    pub(super) fn count(&mut self, connection: ConnectionUse) {
        match connection {
            ConnectionUse::Unknown => {}
            ConnectionUse::Reused => self.reused += 1,
            ConnectionUse::New { reconnect, .. } => {
                self.new += 1;
                self.reconnects += u64::from(reconnect);
            }
        }
    }

    /// Adds `other`'s counts.
    pub(super) fn add(&mut self, other: &ConnectionCounts) {
        self.new += other.new;
        self.reused += other.reused;
        self.reconnects += other.reconnects;
    }
}

/// The figures of the phases, in the order reports show them.
pub(super) const FIGURES: [Figure; 6] = [
    Figure::Dns,
    Figure::Connect,
    Figure::Tls,
    Figure::Write,
    Figure::Ttfb,
    Figure::Download,
];

/// Records a request's connection (counted, and a new one's phases) into `counts` and
/// `figures`, values clamped to `high_us`.
pub(super) fn record_connection(
    counts: &mut ConnectionCounts,
    figures: &mut Figures,
    connection: ConnectionUse,
    high_us: u64,
) {
    counts.count(connection);
    if let ConnectionUse::New { dial, .. } = connection {
        let clamp = |d: Duration| micros(d).min(high_us);
        if let Some(dns) = dial.dns {
            figures.record(Figure::Dns, clamp(dns));
        }
        figures.record(Figure::Connect, clamp(dial.connect));
        if let Some(tls) = dial.tls {
            figures.record(Figure::Tls, clamp(tls));
        }
    }
}

/// Records a response's phases: its connection, then each phase it saw.
pub(super) fn record(
    counts: &mut ConnectionCounts,
    figures: &mut Figures,
    phases: &Phases,
    high_us: u64,
) {
    record_connection(counts, figures, phases.connection, high_us);
    let seen = [
        (Figure::Write, phases.write),
        (Figure::Ttfb, phases.ttfb),
        (Figure::Download, phases.download),
    ];
    for (figure, took) in seen {
        if let Some(took) = took {
            figures.record(figure, micros(took).min(high_us));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(dns: Option<u64>, connect: u64, tls: Option<u64>, reconnect: bool) -> ConnectionUse {
        let ms = Duration::from_millis;
        ConnectionUse::New {
            dial: Dial {
                dns: dns.map(ms),
                connect: ms(connect),
                tls: tls.map(ms),
            },
            reconnect,
        }
    }

    #[test]
    fn a_kept_connection_records_no_connection_phase_and_a_new_one_only_what_happened() {
        let (mut counts, mut figures) = (ConnectionCounts::default(), Figures::default());
        let kept = Phases {
            connection: ConnectionUse::Reused,
            write: Some(Duration::from_micros(40)),
            ttfb: Some(Duration::from_millis(30)),
            download: Some(Duration::from_micros(5)),
        };
        record(&mut counts, &mut figures, &kept, 60_000_000);
        for figure in [Figure::Dns, Figure::Connect, Figure::Tls] {
            assert!(figures.get(figure).is_none(), "{figure:?} made for nothing");
        }
        let ttfb = figures.get(Figure::Ttfb).expect("ttfb").to_histogram();
        assert!(ttfb.equivalent(ttfb.value_at_quantile(0.5), 30_000));
        // An IP address over plain TCP: connect only.
        let plain = Phases {
            connection: new(None, 2, None, true),
            ..Phases::default()
        };
        record(&mut counts, &mut figures, &plain, 60_000_000);
        assert!(figures.get(Figure::Dns).is_none() && figures.get(Figure::Tls).is_none());
        assert_eq!(figures.get(Figure::Connect).map(|h| h.len()), Some(1));
        // A failed request's connection, made by name over TLS, is counted too.
        record_connection(
            &mut counts,
            &mut figures,
            new(Some(1), 2, Some(3), false),
            60_000_000,
        );
        record_connection(
            &mut counts,
            &mut figures,
            ConnectionUse::Unknown,
            60_000_000,
        );
        assert_eq!(figures.get(Figure::Dns).map(|h| h.len()), Some(1));
        assert_eq!(figures.get(Figure::Tls).map(|h| h.len()), Some(1));
        let want = ConnectionCounts {
            new: 2,
            reused: 1,
            reconnects: 1,
        };
        assert_eq!(counts, want);
        let mut sum = ConnectionCounts::default();
        sum.add(&counts);
        sum.add(&counts);
        assert_eq!((sum.new, sum.reused, sum.reconnects), (4, 2, 2));
    }
}
