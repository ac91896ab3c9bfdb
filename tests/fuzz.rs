//! Property-based fuzzing of the entry points that read untrusted text: scenario loading
//! (YAML in, a plan or located problems out), the template compiler and renderer, the
//! redactor that every output passes through, and the capped file reader. The property is
//! mostly the same: no input makes them panic (or hang); the reader also never reads past
//! its cap. cargo-fuzz needs a nightly toolchain, which this project's
//! machines do not have; proptest runs on stable, in CI, for a bounded number of cases.
//!
//! Seeds: every shipped scenario, every invalid fixture and `tests/fuzz_seeds/templates.txt`
//! are mutated (bytes inserted, deleted, replaced, lines duplicated or swapped). Cases per
//! property: `PROPTEST_CASES` (default 2,000; the README gives the counts of a long run).

use std::path::Path;

use proptest::prelude::*;

use stampede::files;
use stampede::redact::Redactor;
use stampede::scenario::{self, Overrides, Scope, Template};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000)
}

/// The committed seed corpus of scenario files.
fn scenario_seeds() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seeds = Vec::new();
    for dir in ["scenarios", "tests/fixtures/invalid"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .expect("seed dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        files.sort();
        seeds.extend(files.iter().filter_map(|p| std::fs::read_to_string(p).ok()));
    }
    assert!(seeds.len() > 10, "the seed corpus is there");
    seeds
}

/// The OpenAPI documents of the fixtures, and the demo's own.
fn openapi_seeds() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        "tests/fixtures/openapi/fastapi.json",
        "tests/fixtures/openapi/petstore.yaml",
        "src/demo/openapi.json",
    ]
    .iter()
    .map(|p| std::fs::read_to_string(root.join(p)).expect("an OpenAPI seed"))
    .collect()
}

fn template_seeds() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_seeds/templates.txt");
    std::fs::read_to_string(path)
        .expect("template seeds")
        .lines()
        .map(str::to_string)
        .collect()
}

/// One mutation of a text: where (a fraction of its length) and what.
#[derive(Debug, Clone)]
enum Edit {
    Insert(f64, String),
    Delete(f64, usize),
    Replace(f64, char),
    DuplicateLine(f64),
    SwapLines(f64, f64),
}

/// Fragments that reach deep into the parsers: YAML structure, anchors and aliases,
/// template syntax, units, odd characters.
const FRAGMENTS: [&str; 24] = [
    "\n",
    "  ",
    ": ",
    "- ",
    "{",
    "}",
    "[",
    "]",
    "&a ",
    "*a",
    "---\n",
    "{{",
    "}}",
    "{{ x }}",
    "\"",
    "'",
    "\\",
    "\r",
    "\u{0}",
    "é",
    "9999999999999999999999",
    "-1",
    "1e309",
    "/s",
];

fn edit() -> impl Strategy<Value = Edit> {
    let fragment = prop_oneof![
        prop::sample::select(FRAGMENTS.to_vec()).prop_map(str::to_string),
        "\\PC{0,12}",
    ];
    prop_oneof![
        (0.0..1.0f64, fragment).prop_map(|(at, s)| Edit::Insert(at, s)),
        (0.0..1.0f64, 1..40usize).prop_map(|(at, n)| Edit::Delete(at, n)),
        (0.0..1.0f64, any::<char>()).prop_map(|(at, c)| Edit::Replace(at, c)),
        (0.0..1.0f64).prop_map(Edit::DuplicateLine),
        (0.0..1.0f64, 0.0..1.0f64).prop_map(|(a, b)| Edit::SwapLines(a, b)),
    ]
}

/// The char boundary nearest below `at` × the text's length.
fn boundary(text: &str, at: f64) -> usize {
    let mut i = ((text.len() as f64) * at) as usize;
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i.min(text.len())
}

fn apply(mut text: String, edits: &[Edit]) -> String {
    for e in edits {
        match e {
            Edit::Insert(at, s) => text.insert_str(boundary(&text, *at), s),
            Edit::Delete(at, n) => {
                let from = boundary(&text, *at);
                let to = text[from..]
                    .char_indices()
                    .nth(*n)
                    .map_or(text.len(), |(i, _)| from + i);
                text.replace_range(from..to, "");
            }
            Edit::Replace(at, c) => {
                let from = boundary(&text, *at);
                if let Some(old) = text[from..].chars().next() {
                    text.replace_range(from..from + old.len_utf8(), &c.to_string());
                }
            }
            Edit::DuplicateLine(at) | Edit::SwapLines(at, _) => {
                let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
                if lines.is_empty() {
                    continue;
                }
                let i = ((lines.len() as f64) * at) as usize % lines.len();
                match e {
                    Edit::SwapLines(_, b) => {
                        let j = ((lines.len() as f64) * b) as usize % lines.len();
                        lines.swap(i, j);
                    }
                    _ => lines.insert(i, lines[i].clone()),
                }
                text = lines.join("\n");
            }
        }
    }
    text
}

fn env(name: &str) -> Option<String> {
    (name == "TOKEN").then(|| "t0ken".to_string())
}

/// A scope where every name has a value, so rendering runs every part it compiled.
struct Everything(fastrand::Rng);

impl Scope for Everything {
    fn var(&self, _: &str) -> Option<&str> {
        Some("v")
    }
    fn data(&self, _: &str, _: &str) -> Option<&str> {
        Some("d")
    }
    fn vu(&self) -> u64 {
        7
    }
    fn iteration(&self) -> u64 {
        3
    }
    fn rng(&mut self) -> &mut fastrand::Rng {
        &mut self.0
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn scenario_loading_never_panics(
        seed in prop::sample::select(scenario_seeds()),
        edits in prop::collection::vec(edit(), 0..8),
    ) {
        let text = apply(seed, &edits);
        let _ = scenario::parse(&text, "fuzz.yaml", "fuzz", &env, &Overrides::default());
    }

    /// A document, mangled: the converter never panics, and what it writes always loads.
    #[test]
    fn openapi_conversion_never_panics_and_its_scenarios_load(
        seed in prop::sample::select(openapi_seeds()),
        edits in prop::collection::vec(edit(), 0..6),
    ) {
        let text = apply(seed, &edits);
        let opts = stampede::convert::openapi::Options::default();
        if let Ok(yaml) = stampede::convert::openapi::convert(&text, "fuzz.json", None, &opts) {
            let loaded = scenario::parse(&yaml, "made.yaml", "made", &env, &Overrides::default());
            prop_assert!(loaded.is_ok(), "{:?}\n{yaml}", loaded.err());
        }
    }

    /// A recording, mangled: the HAR converter never panics, and what it writes loads.
    #[test]
    fn har_conversion_never_panics_and_its_scenarios_load(
        seed in prop::sample::select(vec!["session.har", "firefox.har"]),
        edits in prop::collection::vec(edit(), 0..6),
    ) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/har");
        let seed = std::fs::read_to_string(root.join(seed)).expect("seed");
        let text = apply(seed, &edits);
        let opts = stampede::convert::har::Options::default();
        if let Ok(made) = stampede::convert::har::convert(&text, "fuzz.har", &opts) {
            let loaded = scenario::parse(&made.yaml, "made.yaml", "made", &env, &Overrides::default());
            prop_assert!(loaded.is_ok(), "{:?}\n{}", loaded.err(), made.yaml);
        }
    }

    #[test]
    fn arbitrary_text_as_a_scenario_never_panics(text in "\\PC{0,400}") {
        let _ = scenario::parse(&text, "fuzz.yaml", "fuzz", &env, &Overrides::default());
    }

    #[test]
    fn templates_compile_and_render_without_panicking(
        seed in prop::sample::select(template_seeds()),
        edits in prop::collection::vec(edit(), 0..6),
        rng in any::<u64>(),
    ) {
        let text = apply(seed, &edits);
        if let Ok(template) = Template::compile(&text, &env) {
            let mut out = String::new();
            let _ = template.render_into(&mut Everything(fastrand::Rng::with_seed(rng)), &mut out);
        }
    }

    #[test]
    fn redaction_never_panics_and_leaves_no_password(
        text in "\\PC{0,200}",
        password in "[a-zA-Z0-9]{4,12}",
    ) {
        let r = Redactor::new(&["x-key".to_string()], vec![password.clone()]);
        let _ = r.text(&text);
        let url = format!("{text} http://u:{password}@h/?token={password}");
        prop_assert!(!r.text(&url).contains(&password));
    }

    /// The file reader's cap (issue 18, item 9): for a file of any size around the cap, and
    /// a source that hands its bytes over in chunks of any size, the result is the whole
    /// file when it fits, the clean "larger than" error when it does not, and never more
    /// than cap + 1 bytes are pulled from the source.
    #[test]
    fn the_file_reader_never_reads_past_its_cap(
        cap in 0u64..5_000,
        over in -3i64..=3,
        chunk in 1usize..700,
    ) {
        let size = cap.saturating_add_signed(over);
        let mut source = Chunked { left: size, chunk, pulled: 0 };
        let got = files::read_capped(&mut source, cap, 0);
        prop_assert!(source.pulled <= cap + 1, "pulled {} of cap {cap}", source.pulled);
        match got {
            Ok(bytes) => prop_assert!(size <= cap && bytes.len() as u64 == size),
            Err(files::Capped::TooLarge) => prop_assert!(size > cap),
            Err(files::Capped::Io(e)) => prop_assert!(false, "{e}"),
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, vec![b'x'; size as usize]).expect("write");
        let limit = files::Limit { bytes: cap, what: "a test file", fix: "use a smaller one" };
        match files::read(&path, limit) {
            Ok(bytes) => prop_assert!(size <= cap && bytes.len() as u64 == size),
            Err(e) => prop_assert!(size > cap && e.reason.contains("larger than"), "{e}"),
        }
    }
}

/// An endless-looking source of `left` bytes, handed over `chunk` at a time, that counts
/// what was pulled from it.
struct Chunked {
    left: u64,
    chunk: usize,
    pulled: u64,
}

impl std::io::Read for Chunked {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len().min(self.chunk) as u64).min(self.left) as usize;
        buf[..n].fill(b'x');
        self.left -= n as u64;
        self.pulled += n as u64;
        Ok(n)
    }
}
