//! The dashboard rendered from fixture snapshots into ratatui's `TestBackend`, pinned with
//! insta: whole screens at 80×24 and 160×48, each panel alone, 500 distinct error messages,
//! a run with no request yet, the help overlay, a terminal too small, no colour, and the
//! latest failure sample that `enter` on the errors opens.

use std::sync::Arc;
use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

use stampede::metrics::{
    BUCKET_BOUNDS, BodyPreview, Bucket, Change, CheckStat, ConnectionCounts, ErrorClass, ErrorStat,
    IntervalStats, Level, LiveState, LoadEvent, Percentiles, Phase, PhaseStats, RetryCounts,
    RetryStats, Sample, Samples, Snapshot, StepStats, Tag,
};
use stampede::tui::{App, Panel, Theme, draw};

fn percentiles(base_us: u64) -> Percentiles {
    Percentiles {
        count: 1000,
        min: base_us / 4,
        mean: base_us as f64 * 1.2,
        p50: base_us,
        p90: base_us * 2,
        p95: base_us * 3,
        p99: base_us * 5,
        p999: base_us * 9,
        max: base_us * 12,
    }
}

fn step(flow: &str, name: &str, requests: u64, base_us: u64, errors: Vec<ErrorStat>) -> StepStats {
    let error_count = errors.iter().map(|e| e.count).sum();
    StepStats {
        flow: flow.into(),
        name: name.into(),
        requests,
        errors: error_count,
        interrupted: 0,
        rps: requests as f64 / 20.0,
        bytes: requests * 120,
        latency: percentiles(base_us),
        service: percentiles(base_us),
        send_lag: Percentiles::default(),
        corrected: Percentiles::default(),
        // The server says its time (as the demo does): most of the latency is its own.
        server_time: percentiles(base_us * 7 / 10),
        overhead: percentiles(base_us * 3 / 10),
        server_time_invalid: 0,
        // https by IP address: connect and TLS per new connection, no DNS; most of the
        // time waiting for the first byte.
        phases: PhaseStats {
            dns: Percentiles::default(),
            connect: percentiles(base_us / 20 + 40),
            tls: percentiles(base_us / 10 + 900),
            write: percentiles(base_us / 100 + 10),
            ttfb: percentiles(base_us * 8 / 10),
            download: percentiles(base_us / 10),
        },
        connections: ConnectionCounts {
            new: 22 + error_count,
            reused: requests - 22 - error_count,
            reconnects: error_count,
        },
        retries: None,
        statuses: vec![(200, requests - error_count), (500, error_count)],
        errors_by_class: errors,
        checks: Vec::new(),
        distribution: Vec::new(),
        interval: IntervalStats {
            length: Duration::from_millis(250),
            requests: requests / 80,
            errors: error_count / 80,
            latency: percentiles(base_us + 300),
            server_time: percentiles(base_us * 7 / 10),
        },
        tag: None,
        tags: Vec::new(),
        samples: Arc::default(),
    }
}

fn error(class: ErrorClass, count: u64, sample: &str, last_seen_s: u64) -> ErrorStat {
    ErrorStat {
        class,
        count,
        sample: sample.into(),
        last_seen: Duration::from_secs(last_seen_s),
    }
}

/// A failing exchange kept as a sample: `status` with `body`, `at_ms` into the run.
fn failure_sample(status: u16, at_ms: u64, body: &str) -> Sample {
    Sample {
        class: Some(ErrorClass::StatusNotExpected),
        status: Some(status),
        message: format!("expected 2xx, got {status}"),
        method: "POST".into(),
        url: Some("http://127.0.0.1:8000/users?source=tui".into()),
        request_headers: vec![
            ("authorization".into(), "***".into()),
            ("content-type".into(), "application/json".into()),
        ],
        response_headers: Some(vec![
            ("content-type".into(), "application/json".into()),
            ("x-request-id".into(), "r-4242".into()),
        ]),
        body: Some(BodyPreview {
            text: body.into(),
            hex: false,
            bytes: body.len() as u64,
            cut: false,
        }),
        server_time: Some(Duration::from_micros(9_870)),
        latency: Duration::from_micros(11_460),
        at: Duration::from_millis(at_ms),
        phases: Vec::new(),
    }
}

/// A timeout kept as a sample: no response, so no headers nor body.
fn timeout_sample() -> Sample {
    Sample {
        class: Some(ErrorClass::Timeout),
        status: None,
        message: "operation timed out".into(),
        response_headers: None,
        body: None,
        server_time: None,
        latency: Duration::from_secs(5),
        ..failure_sample(0, 18_100, "")
    }
}

/// A run 20 s in: four steps, errors of two classes, a live change and a pause.
fn busy_snapshot(seq: u64, elapsed: Duration) -> Snapshot {
    let steps = vec![
        step("browse", "get user", 40_000, 900, vec![]),
        step("browse", "list users", 39_500, 7_200, vec![]),
        step(
            "signup",
            "create user",
            9_800,
            11_500,
            vec![error(
                ErrorClass::StatusNotExpected,
                120,
                "expected 201, got 500",
                19,
            )],
        ),
        step(
            "checkout",
            "pay",
            4_100,
            48_000,
            vec![
                error(ErrorClass::Timeout, 31, "operation timed out", 18),
                error(
                    ErrorClass::StatusNotExpected,
                    12,
                    "expected 2xx, got 503",
                    12,
                ),
            ],
        ),
    ];
    let mut steps = steps;
    let check = |name: &str, evaluated: u64, failed: u64| CheckStat {
        name: name.into(),
        evaluated,
        failed,
        soft: false,
    };
    steps[0].checks = vec![check("body.id == 42", 40_000, 0)];
    // The first step is split by its cache: hits fast, misses slow.
    steps[0].tags = [("true", 39_000, 300), ("false", 1_000, 6_000)]
        .map(|(value, requests, base_us)| StepStats {
            tag: Some(Tag {
                key: "from_cache".into(),
                value: value.into(),
            }),
            ..step("browse", "get user", requests, base_us, vec![])
        })
        .to_vec();
    steps[3].checks = vec![
        check("latency <= 200ms", 4_100, 205),
        check("body.paid exists", 4_100, 0),
    ];
    steps[2].samples = Arc::new(Samples {
        failures: vec![failure_sample(500, 19_200, "{\"error\":\"email taken\"}")],
        slowest: Vec::new(),
    });
    steps[3].samples = Arc::new(Samples {
        failures: vec![
            timeout_sample(),
            failure_sample(503, 12_400, "{\"error\":\"db down\",\"retry_in\":5}"),
        ],
        slowest: Vec::new(),
    });
    let mut total = step("", "total", 93_400, 6_500, vec![]);
    total.errors = 163;
    total.statuses = vec![(200, 93_237), (201, 0), (404, 0), (500, 132), (503, 31)];
    total.errors_by_class = vec![
        error(
            ErrorClass::StatusNotExpected,
            132,
            "expected 2xx, got 503",
            19,
        ),
        error(ErrorClass::Timeout, 31, "operation timed out", 18),
    ];
    let counts = [
        5_000, 30_000, 20_000, 25_000, 10_000, 3_000, 400, 0, 0, 0, 0, 0, 0, 0,
    ];
    let mut bounds = BUCKET_BOUNDS.to_vec();
    bounds.push(u64::MAX);
    Snapshot {
        seq,
        elapsed,
        live: LiveState {
            level: Some(Level::Vus(22)),
            planned: Some(Duration::from_secs(60)),
            paused: false,
            paused_for: Duration::from_secs(2),
            stop_reason: None,
            notice: None,
            capacity: None,
            events: vec![
                LoadEvent {
                    at: Duration::from_secs(8),
                    change: Change::Level {
                        from: Level::Vus(20),
                        to: Level::Vus(22),
                    },
                },
                LoadEvent {
                    at: Duration::from_secs(12),
                    change: Change::Pause,
                },
                LoadEvent {
                    at: Duration::from_secs(14),
                    change: Change::Resume,
                },
            ],
        },
        distribution: bounds
            .iter()
            .zip(counts)
            .map(|(&upper_us, count)| Bucket { upper_us, count })
            .collect(),
        phase: Phase::Running,
        in_flight: 22,
        dropped: 0,
        stalls: Arc::default(),
        total,
        steps,
        flows: Vec::new(),
        history: None,
    }
}

/// An app that has seen 80 ticks (20 s) with a throughput ramp and a latency spike.
fn busy_app() -> App {
    let names = [("f".to_string(), "s".to_string())];
    let mut app = App::new(
        "checkout".into(),
        "http://127.0.0.1:8000".into(),
        Arc::new(Snapshot::empty(&names)),
    );
    for seq in 1..=80u64 {
        let mut snap = busy_snapshot(seq, Duration::from_millis(250 * seq));
        let ramp = 1_000 + seq * 12;
        snap.total.interval.requests = ramp;
        snap.total.interval.errors = if (40..48).contains(&seq) {
            ramp / 10
        } else {
            0
        };
        let spike = if (48..56).contains(&seq) { 40 } else { 1 };
        snap.total.interval.latency = percentiles(4_000 * spike + seq * 10);
        app.absorb(Arc::new(snap));
    }
    app
}

fn render(app: &App, width: u16, height: u16, color: bool) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    terminal
        .draw(|f| draw(f, app, Theme::new(color)))
        .expect("draw");
    terminal
}

#[test]
fn full_screen_80x24() {
    insta::assert_snapshot!(render(&busy_app(), 80, 24, true).backend());
}

#[test]
fn full_screen_160x48() {
    insta::assert_snapshot!(render(&busy_app(), 160, 48, true).backend());
}

#[test]
fn each_panel_alone() {
    for panel in Panel::ALL {
        let mut app = busy_app();
        app.focus = panel;
        app.expanded = true;
        let name = format!("panel_{panel:?}").to_lowercase();
        insta::assert_snapshot!(name, render(&app, 100, 24, true).backend());
    }
}

#[test]
fn errors_panel_stays_readable_with_500_distinct_messages() {
    let mut app = busy_app();
    let mut snap = busy_snapshot(81, Duration::from_secs(21));
    snap.steps = (0..500)
        .map(|i| {
            let sample = format!("expected 200, got 500 from shard {i} with a long diagnostic message that goes on and on");
            let class = if i % 5 == 0 { ErrorClass::Timeout } else { ErrorClass::StatusNotExpected };
            step("flow", &format!("step {i}"), 100, 1_000, vec![error(class, 1 + i % 7, &sample, i % 20)])
        })
        .collect();
    snap.total.errors_by_class = vec![
        error(
            ErrorClass::StatusNotExpected,
            1600,
            "expected 200, got 500",
            20,
        ),
        error(ErrorClass::Timeout, 400, "operation timed out", 19),
    ];
    app.absorb(Arc::new(snap));
    app.focus = Panel::Errors;
    app.expanded = true;
    let terminal = render(&app, 80, 24, true);
    let screen = terminal.backend().to_string();
    assert!(screen.contains("… and"), "{screen}");
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn zero_requests_yet() {
    let names = [
        ("browse".to_string(), "get user".to_string()),
        ("browse".to_string(), "list".to_string()),
    ];
    let app = App::new(
        "empty".into(),
        "http://127.0.0.1:8000".into(),
        Arc::new(Snapshot::empty(&names)),
    );
    insta::assert_snapshot!(render(&app, 80, 24, true).backend());
}

#[test]
fn help_overlay() {
    let mut app = busy_app();
    app.help = true;
    insta::assert_snapshot!(render(&app, 80, 24, true).backend());
}

#[test]
fn finished_screen_says_so() {
    let mut app = busy_app();
    let mut last = busy_snapshot(81, Duration::from_secs(60));
    last.phase = Phase::Finished;
    app.absorb(Arc::new(last));
    let screen = render(&app, 80, 24, true).backend().to_string();
    assert!(screen.contains("FINISHED — q to leave"), "{screen}");
    assert!(screen.contains("run ended: q leave"), "{screen}");
}

#[test]
fn the_final_screen_gives_the_runs_figures_not_the_drain() {
    let mut app = busy_app();
    let mut last = busy_snapshot(81, Duration::from_secs(60));
    last.phase = Phase::Finished;
    // The draining tick: a sliver with almost nothing in it.
    last.total.interval.requests = 0;
    last.total.rps = 4321.0;
    for s in &mut last.steps {
        s.interval.requests = 0;
        s.rps = 4321.0;
    }
    app.absorb(Arc::new(last));
    let screen = render(&app, 160, 48, false).backend().to_string();
    assert!(screen.contains("rps 4321"), "{screen}");
    assert!(!screen.contains("rps now"), "{screen}");
    assert!(!screen.contains("last tick"), "{screen}");
    assert!(!screen.contains("rps tick"), "{screen}");
    assert!(screen.contains("rps run"), "{screen}");
}

#[test]
fn a_refused_live_change_shows_in_the_footer() {
    let mut app = busy_app();
    let mut snap = busy_snapshot(81, Duration::from_secs(21));
    snap.live.notice = Some("+ refused: 1000000 VUs is stampede's limit".into());
    app.absorb(Arc::new(snap));
    let screen = render(&app, 120, 40, false).backend().to_string();
    let footer = screen.lines().last().unwrap_or_default().to_string();
    assert!(
        footer.contains("+ refused: 1000000 VUs is stampede's limit"),
        "{footer}"
    );
    // Once the notice has faded, the keys come back.
    app.absorb(Arc::new(busy_snapshot(82, Duration::from_secs(22))));
    let screen = render(&app, 120, 40, false).backend().to_string();
    let footer = screen.lines().last().unwrap_or_default().to_string();
    assert!(footer.contains("q stop"), "{footer}");
}

#[test]
fn the_stopping_footer_counts_down_and_says_what_q_does() {
    let mut app = busy_app();
    app.graceful_stop = Duration::from_secs(30);
    let mut stopping = busy_snapshot(81, Duration::from_secs(60));
    stopping.phase = Phase::Stopping;
    app.absorb(Arc::new(stopping));
    let screen = render(&app, 120, 40, false).backend().to_string();
    let footer = screen.lines().last().unwrap_or_default().to_string();
    assert!(
        footer.contains("stopping: in-flight requests get 30s more")
            && footer.contains("q: interrupt in-flight now"),
        "{footer}"
    );
}

/// The screen's rows as text, trailing spaces trimmed.
fn rows(terminal: &Terminal<TestBackend>) -> Vec<String> {
    let buffer = terminal.backend().buffer();
    buffer
        .content()
        .chunks(usize::from(buffer.area.width))
        .map(|row| {
            let text: String = row.iter().map(|c| c.symbol()).collect();
            text.trim_end().to_string()
        })
        .collect()
}

/// What a `w`×`h` terminal below 80×24 must show: the notice, wrapped into the rows there
/// are and cut where they end. Compared without whitespace, as wrapping moves it; a tiny
/// terminal (even 1×1) shows the notice's beginning, and one with rows to spare all of it.
fn assert_notice(w: u16, h: u16) {
    let notice = format!(
        "stampede: terminal too small ({w}×{h}); the dashboard needs 80×24. \
         The run goes on; enlarge the window, or q to stop"
    );
    let squeeze = |s: &str| s.split_whitespace().collect::<String>();
    let rows = rows(&render(&busy_app(), w, h, true));
    let shown = squeeze(&rows.join(" "));
    assert!(!shown.is_empty(), "{w}x{h}: nothing drawn");
    assert!(
        squeeze(&notice).starts_with(&shown),
        "{w}x{h}: not the notice's beginning: {rows:?}"
    );
    if rows.last().is_some_and(String::is_empty) {
        // A row was left over: nothing was cut.
        assert_eq!(shown, squeeze(&notice), "{w}x{h}: {rows:?}");
    }
}

#[test]
fn tiny_terminal_gets_a_notice_not_a_panic() {
    // Between the old minimum and 80×24 panels were clipped into misleading figures.
    for (w, h) in [
        (30, 8),
        (1, 1),
        (5, 3),
        (9, 40),
        (80, 5),
        (39, 40),
        (60, 18),
        (79, 40),
        (120, 23),
    ] {
        assert_notice(w, h);
    }
    // The whole notice where it fits, its words whole where they fit the width.
    let small = rows(&render(&busy_app(), 30, 8, true));
    assert!(
        small.join(" ").contains("terminal too small (30×8);"),
        "{small:?}"
    );
    // Every size from tiny to large draws: the notice below 80×24, the dashboard from it.
    for w in (20..=170).step_by(7) {
        for h in (6..=50).step_by(5) {
            if w < 80 || h < 24 {
                assert_notice(w, h);
            } else {
                let screen = rows(&render(&busy_app(), w, h, true));
                assert!(
                    screen[0].starts_with("stampede checkout → "),
                    "{w}x{h}: {screen:?}"
                );
                assert!(!screen.join("\n").contains("too small"), "{w}x{h}");
            }
        }
    }
}

#[test]
fn no_color_means_no_colour_at_all() {
    let terminal = render(&busy_app(), 100, 30, false);
    let buffer = terminal.backend().buffer();
    for cell in buffer.content() {
        assert_eq!(cell.fg, Color::Reset, "coloured cell {cell:?}");
        assert_eq!(cell.bg, Color::Reset, "coloured cell {cell:?}");
    }
    let coloured = render(&busy_app(), 100, 30, true);
    assert!(
        coloured
            .backend()
            .buffer()
            .content()
            .iter()
            .any(|c| c.fg != Color::Reset)
    );
}

/// `--baseline`: the saved run's p50 and p99 are level lines on the latency chart, named in
/// its legend, and the axis widens to show a baseline far below the run.
#[test]
fn baseline_levels_on_the_latency_chart() {
    let mut app = busy_app();
    app.baseline = Some([0.02, 0.05]);
    let mut expanded = app;
    expanded.focus = Panel::LatencyChart;
    expanded.expanded = true;
    let screen = render(&expanded, 200, 60, true).backend().to_string();
    assert!(screen.contains("base p50/p99"), "{screen}");
    assert!(
        screen.contains("10µs"),
        "the axis reaches the baseline's decade: {screen}"
    );
    insta::assert_snapshot!(screen);
}

/// The summary's health warnings show in the header, in a few words, while the run goes.
#[test]
fn health_warnings_show_in_the_header() {
    let mut snap = busy_snapshot(80, Duration::from_secs(20));
    snap.total.errors = snap.total.requests;
    snap.dropped = snap.total.requests / 10;
    let app = App::new(
        "checkout".into(),
        "http://127.0.0.1:8000".into(),
        Arc::new(snap),
    );
    let screen = render(&app, 160, 48, false).backend().to_string();
    let header: Vec<&str> = screen.lines().take(4).collect();
    let line = header.join("\n");
    assert!(
        line.contains("⚠ every request failed · 9.1% of arrivals dropped"),
        "{line}"
    );
}

#[test]
fn an_unverified_tls_run_says_so_in_the_header() {
    let mut app = busy_app();
    let screen = render(&app, 120, 40, false).backend().to_string();
    assert!(!screen.contains("TLS not verified"), "{screen}");
    app.insecure = true;
    let screen = render(&app, 120, 40, false).backend().to_string();
    let header: Vec<&str> = screen.lines().take(4).collect();
    assert!(
        header
            .join("\n")
            .contains("⚠ TLS not verified (--insecure)"),
        "{screen}"
    );
}

/// No size from 80×24 to 200×60 cuts the error rate or the state out of the header, even
/// with a long target; the target is what gets shortened, with `…`.
#[test]
fn the_header_never_loses_the_error_rate_or_the_state() {
    let mut app = busy_app();
    app.target = "https://api.staging.example.com/v2/very/long/base/path/for/this/service".into();
    for w in (80..=200).step_by(3) {
        for h in [24, 40, 60] {
            let screen = render(&app, w, h, false).backend().to_string();
            let header: Vec<&str> = screen.lines().take(2).collect();
            let title = header[0];
            let figures = header[1];
            assert!(title.contains(" RUNNING "), "{w}x{h}: {title}");
            assert!(
                figures.contains("errors ") && figures.contains('%'),
                "{w}x{h}: {figures}"
            );
            let whole = format!("stampede checkout → {}   RUNNING ", app.target);
            if usize::from(w) < whole.chars().count() {
                assert!(
                    title.contains('…'),
                    "{w}x{h}: the target is shortened: {title}"
                );
            } else {
                assert!(title.contains(&app.target), "{w}x{h}: {title}");
            }
        }
    }
}

/// A status code and its count stay on one line, at every width of the panel.
#[test]
fn status_codes_never_wrap_apart_from_their_counts() {
    let app = busy_app();
    for w in 80..=140 {
        let screen = render(&app, w, 24, false).backend().to_string();
        for line in screen.lines().filter(|l| l.starts_with('│')) {
            let cell = line.split('│').nth(1).unwrap_or_default().trim_end();
            // A code alone at the end of a line would be followed by its count below.
            for code in ["200", "500", "503", "201", "404"] {
                assert!(
                    !cell.ends_with(code) || cell.contains("ms") || cell.contains('%'),
                    "{w}: {cell:?} in\n{screen}"
                );
            }
        }
    }
}

/// Every chart has a legend at every size; without colour the series differ by marker, and
/// the legend shows each one's.
#[test]
fn charts_have_legends_and_no_color_series_differ_by_marker() {
    for (w, h) in [(80, 24), (120, 40), (160, 48)] {
        let screen = render(&busy_app(), w, h, true).backend().to_string();
        for name in ["req/s", "p50", "p90", "p99", "max"] {
            assert!(
                screen.contains(name),
                "{w}x{h}: no legend for {name}:\n{screen}"
            );
        }
    }
    let screen = render(&busy_app(), 160, 48, false).backend().to_string();
    for (swatch, name) in [
        ("⣀", "req/s"),
        ("⣀", "p50"),
        ("•", "p90"),
        ("▄", "p99"),
        ("█", "max"),
    ] {
        assert!(
            screen.contains(&format!("{swatch} {name}")),
            "no {swatch} {name} in\n{screen}"
        );
    }
    // The plots use those markers: the half-block and block series are drawn.
    let body: String = screen.lines().skip(4).collect();
    assert!(body.contains('▀') || body.contains('▄'), "{screen}");
    assert!(body.contains('•'), "{screen}");
}

/// Errors have their own chart (in %), so a few % at high throughput is not a flat line
/// at zero on the requests' axis.
#[test]
fn errors_have_their_own_chart_in_percent() {
    let screen = render(&busy_app(), 160, 48, false).backend().to_string();
    assert!(screen.contains("errors · now"), "{screen}");
    assert!(screen.contains("% of requests"), "{screen}");
    assert!(
        screen.contains("12%"),
        "the axis reaches the 10 % burst: {screen}"
    );
    // Where the panel is too short for two charts, the errors keep their own scale (% of
    // requests), named in the legend, not errors/s on the requests' axis.
    for (w, h) in [(80, 24), (120, 40)] {
        let screen = render(&busy_app(), w, h, false).backend().to_string();
        assert!(
            screen.contains("err% ≤12%") || screen.contains("errors · now"),
            "{w}x{h}:\n{screen}"
        );
        assert!(!screen.contains("errors/s"), "{w}x{h}:\n{screen}");
    }
}

/// Panels get height by content: at 120×40 the distribution shows every non-empty bucket
/// (it showed one, while the status and error panels below kept ten empty rows).
#[test]
fn the_distribution_shows_every_non_empty_bucket() {
    let app = busy_app();
    let buckets = app.snap.distribution.iter().filter(|b| b.count > 0).count();
    assert!(buckets >= 5, "the fixture has a spread: {buckets}");
    for (w, h) in [(120, 40), (160, 48)] {
        let screen = render(&app, w, h, false).backend().to_string();
        let bars = screen
            .lines()
            .filter(|l| l.contains("ms █") || l.contains("<1%") || l.contains("s █"))
            .count();
        assert_eq!(bars, buckets, "{w}x{h}:\n{screen}");
    }
}

#[test]
fn full_screen_120x40() {
    insta::assert_snapshot!(render(&busy_app(), 120, 40, true).backend());
}

/// The checks panel: every check's pass rate, the failing ones first.
#[test]
fn checks_panel_puts_failures_first() {
    for (w, h) in [(80, 24), (120, 40), (160, 48)] {
        let screen = render(&busy_app(), w, h, false).backend().to_string();
        let at = |text: &str| screen.find(text);
        assert!(screen.contains(" checks "), "{w}x{h}:\n{screen}");
        let failing = at("✗  95.0%").unwrap_or_else(|| panic!("{w}x{h}:\n{screen}"));
        let passing = at("✓ 100.0%").unwrap_or_else(|| panic!("{w}x{h}:\n{screen}"));
        assert!(failing < passing, "{w}x{h}: failures first:\n{screen}");
    }
    let mut app = busy_app();
    app.focus = Panel::Checks;
    app.expanded = true;
    insta::assert_snapshot!(render(&app, 120, 40, true).backend());
}

/// A soft check says so after its name, and is ordered by its pass rate like any check.
#[test]
fn a_soft_check_says_so_in_the_checks_panel() {
    let mut app = busy_app();
    let mut snap = (*app.snap).clone();
    snap.seq += 1;
    snap.steps[0].checks.push(CheckStat {
        name: r"header x-process-time matches /^0\.00[0-4]/".into(),
        evaluated: 40_000,
        failed: 12_800,
        soft: true,
    });
    app.absorb(Arc::new(snap));
    app.focus = Panel::Checks;
    app.expanded = true;
    let screen = render(&app, 120, 40, false).backend().to_string();
    let line = "✗  68.0% browse / get user · header x-process-time matches /^0\\.00[0-4]/ (soft)  \
                12,800 of 40,000 failed";
    assert!(screen.contains(line), "{screen}");
    assert!(screen.find(line) < screen.find("✗  95.0%"), "{screen}");
    app.expanded = false;
    let screen = render(&app, 160, 48, false).backend().to_string();
    assert!(screen.contains("✗  68.0% browse …"), "{screen}");
    assert!(
        screen.contains(" (soft)  12,800 of 40,000 faile"),
        "{screen}"
    );
}

/// The open model: service time beside latency, and the send lag's p99 flagged over 1 ms.
#[test]
fn open_model_shows_service_time_and_send_lag() {
    let mut app = busy_app();
    let mut snap = (*app.snap).clone();
    snap.seq += 1;
    snap.live.level = Some(Level::Rate(500.0));
    snap.total.service = percentiles(3_000);
    snap.total.send_lag = Percentiles {
        count: 1000,
        p99: 2_000,
        ..Percentiles::default()
    };
    snap.dropped = 120;
    app.absorb(Arc::new(snap));
    let screen = render(&app, 120, 40, false).backend().to_string();
    assert!(screen.contains("service"), "{screen}");
    assert!(
        screen.contains("send lag p99 2.00ms ⚠ over 1ms"),
        "{screen}"
    );
    assert!(screen.contains("dropped 120 ("), "{screen}");
    assert!(screen.contains("/s, max_in_flight reached"), "{screen}");
    app.focus = Panel::LatencyNow;
    app.expanded = true;
    insta::assert_snapshot!(render(&app, 80, 24, true).backend());
}

/// Expanded, the steps panel has each step's connections and phases below its table: at
/// 80×24 the counts and the connect, TLS, first-byte and download p99s; from 120 columns
/// the reconnects, the write and the first byte's p50 too. A phase no step saw has no
/// column (DNS: the fixture's connections are made to IP addresses), and a run with none
/// seen leaves the whole panel to the steps.
#[test]
fn expanded_steps_show_connections_and_phases() {
    let mut app = busy_app();
    app.focus = Panel::Steps;
    app.expanded = true;
    let narrow = render(&app, 80, 24, false).backend().to_string();
    for text in [
        "connections and phases",
        "reused",
        "conn p99",
        "tls p99",
        "ttfb p99",
        "dl p99",
        "39,978",
        "192.00ms",
    ] {
        assert!(narrow.contains(text), "80 columns: no {text}:\n{narrow}");
    }
    for text in ["dns p99", "write p99", "reconn"] {
        assert!(!narrow.contains(text), "80 columns: {text}:\n{narrow}");
    }
    insta::assert_snapshot!("expanded_steps_80x24", render(&app, 80, 24, true).backend());
    let wide = render(&app, 160, 48, false).backend().to_string();
    for text in ["reconn", "write p99", "ttfb p50", "p99.9 run"] {
        assert!(wide.contains(text), "160 columns: no {text}:\n{wide}");
    }
    assert!(!wide.contains("dns p99"), "{wide}");
    let snap = Arc::make_mut(&mut app.snap);
    for step in &mut snap.steps {
        step.phases = PhaseStats::default();
        step.connections = ConnectionCounts::default();
    }
    let unseen = render(&app, 80, 24, false).backend().to_string();
    assert!(!unseen.contains("connections and phases"), "{unseen}");
    assert!(unseen.contains("checkout / pay"), "{unseen}");
}

/// Expanded, the steps table has every percentile, the checks and the error classes, and
/// the errors panel the full messages and the steps they came from.
#[test]
fn expanded_steps_and_errors_say_everything() {
    let mut app = busy_app();
    app.focus = Panel::Steps;
    app.expanded = true;
    let screen = render(&app, 160, 48, false).backend().to_string();
    for text in [
        "p90 run",
        "p99.9 run",
        "max run",
        "205 ✗/8,200",
        "timeout 31",
    ] {
        assert!(screen.contains(text), "no {text}:\n{screen}");
    }
    insta::assert_snapshot!(
        "expanded_steps_160x48",
        render(&app, 160, 48, true).backend()
    );
    let narrow = render(&app, 100, 30, false).backend().to_string();
    for text in ["p90 run", "max run", "checks", "classes", "205 ✗/8,200"] {
        assert!(narrow.contains(text), "100 columns: no {text}:\n{narrow}");
    }
    app.focus = Panel::Errors;
    let screen = render(&app, 120, 40, false).backend().to_string();
    assert!(screen.contains("operation timed out"), "{screen}");
    assert!(screen.contains("checkout / pay: 31"), "{screen}");
    insta::assert_snapshot!(
        "expanded_errors_120x40",
        render(&app, 120, 40, true).backend()
    );
}

/// `enter` on the errors panel: the latest sample of the class, over every step (the 503 of
/// checkout / pay at 12.4 s is older than signup's 500 at 19.2 s), with its request, the
/// response's headers and its body; up and down go to the next class (a timeout: no
/// response, so no headers nor body).
#[test]
fn enter_on_the_errors_shows_the_latest_sample() {
    let mut app = busy_app();
    app.focus = Panel::Errors;
    app.on_key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Enter,
    ));
    assert_eq!(app.sample, Some(0));
    let screen = render(&app, 160, 48, false).backend().to_string();
    for text in [
        "latest sample · status_not_expected · class 1 of 2",
        "signup / create user: status_not_expected (500) at 19.20s after 11.46ms, server 9.87ms",
        "POST http://127.0.0.1:8000/users?source=tui",
        "> authorization: ***",
        "< x-request-id: r-4242",
        "{\"error\":\"email taken\"}",
        "the latest of 2 kept for status_not_expected",
    ] {
        assert!(screen.contains(text), "no {text}:\n{screen}");
    }
    insta::assert_snapshot!("sample_160x48", render(&app, 160, 48, true).backend());
    insta::assert_snapshot!("sample_80x24", render(&app, 80, 24, true).backend());
    app.on_key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Down,
    ));
    let screen = render(&app, 160, 48, false).backend().to_string();
    assert!(
        screen.contains("checkout / pay: timeout at 18.10s after 5.00s"),
        "{screen}"
    );
    assert!(
        !screen.contains("body ("),
        "a timeout has no body:\n{screen}"
    );
    app.on_key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Esc,
    ));
    assert_eq!(app.sample, None);
}

/// A step with `retry:` gives the steps table a retries column (the retries it sent); a
/// run where no step retries has none.
#[test]
fn retried_steps_show_their_retries() {
    let mut app = busy_app();
    let plain = render(&app, 160, 48, false).backend().to_string();
    assert!(!plain.contains("retries"), "{plain}");
    let snap = Arc::make_mut(&mut app.snap);
    let counts = RetryCounts {
        exchanges: 900,
        retried: 40,
        retries: 4_321,
        succeeded_after_retry: 38,
        gave_up: 2,
        successes: 898,
        success_attempts: 900 + 4_000,
    };
    snap.steps[0].retries = Some(RetryStats {
        counts,
        attempts_per_success: 5.46,
        exchange: percentiles(9_000),
    });
    let wide = render(&app, 160, 48, false).backend().to_string();
    assert!(wide.contains("retries") && wide.contains("4,321"), "{wide}");
    insta::assert_snapshot!("retries_160x48", render(&app, 160, 48, true).backend());
    // At 80 columns the panel keeps its room for the step names; expanded, it has it.
    let narrow = render(&app, 80, 24, false).backend().to_string();
    assert!(!narrow.contains("4,321"), "{narrow}");
    app.focus = Panel::Steps;
    app.expanded = true;
    let expanded = render(&app, 120, 40, false).backend().to_string();
    assert!(expanded.contains("4,321"), "{expanded}");
    insta::assert_snapshot!(
        "retries_expanded_120x40",
        render(&app, 120, 40, true).backend()
    );
}

#[test]
fn the_header_shows_a_capacity_searchs_stage() {
    let mut app = busy_app();
    let mut snap = busy_snapshot(81, Duration::from_millis(250 * 81));
    let hold = |at: u64, rate: f64, verdict| stampede::metrics::CapacityHold {
        stage: "raising",
        rate,
        achieved_rate: rate,
        requests: 0,
        p50_us: 0,
        p99_us: 0,
        error_rate: 0.0,
        verdict,
        why: None,
        at: Duration::from_secs(at),
        length: Duration::from_secs(4),
    };
    use stampede::metrics::HoldVerdict::{Broke, Held};
    // The chart marks each hold where it began (4, 8, 12 s and the running one at 16 s),
    // not the search's level changes.
    snap.live.capacity = Some(stampede::metrics::CapacityReport {
        stage: "bisecting",
        rate: 1_200.0,
        began: Duration::from_secs(16),
        holds: vec![
            hold(4, 400.0, Held),
            hold(8, 800.0, Held),
            hold(12, 1_600.0, Broke),
        ],
        max_held_rate: Some(800.0),
        broke_at_rate: Some(1_600.0),
        ..Default::default()
    });
    app.absorb(Arc::new(snap));
    let screen = render(&app, 120, 24, false);
    insta::assert_snapshot!(screen.backend());
}

#[test]
fn a_stalled_run_marks_its_stalls_and_shows_the_corrected_p99_expanded() {
    let mut app = busy_app();
    let mut snap = busy_snapshot(81, Duration::from_millis(250 * 81));
    snap.stalls = Arc::new(vec![stampede::metrics::Stall {
        at: Duration::from_secs(10),
        length: Duration::from_millis(1_000),
        in_flight: 22,
    }]);
    for s in &mut snap.steps {
        s.corrected = percentiles(s.latency.p50 * 40);
    }
    app.absorb(Arc::new(snap));
    insta::assert_snapshot!("stalled_dashboard", render(&app, 120, 32, false).backend());
    app.focus = Panel::Steps;
    app.expanded = true;
    let screen = render(&app, 160, 24, false).backend().to_string();
    assert!(screen.contains("p99 corr"), "{screen}");
    insta::assert_snapshot!("stalled_expanded", screen);
}
