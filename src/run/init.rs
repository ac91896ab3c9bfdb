//! `stampede init --from-openapi FILE|URL` or `--from-har FILE`: reads the document (a URL
//! through the engine's `fetch`), has `convert` write the scenario, checks that the scenario loads as `run` would
//! load it, and writes it (a file, or stdout).

use std::time::Duration;

use crate::cli::{FlowPer, InitArgs};
use crate::convert::har;
use crate::convert::openapi::{self, Options};
use crate::report::exit;

/// The most a document may weigh.
const MAX_DOCUMENT: u64 = 64 << 20;
/// The longest a document's URL may take to answer.
const FETCH_LIMIT: Duration = Duration::from_secs(30);

pub fn init(args: &InitArgs) -> u8 {
    match made(args) {
        Ok(()) => exit::OK,
        Err(e) => {
            crate::note!("error: {e}");
            exit::USAGE
        }
    }
}

fn made(args: &InitArgs) -> Result<(), String> {
    let yaml = match (&args.from_openapi, &args.from_har) {
        (Some(source), _) => from_openapi(args, source)?,
        (None, Some(path)) => from_har(args, path)?,
        (None, None) => return Err("give --from-openapi FILE|URL or --from-har FILE".into()),
    };
    check(&yaml)?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, &yaml)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            let p = path.display();
            crate::note!("wrote {p}: `stampede validate {p}` checks it, `stampede {p}` runs it");
            Ok(())
        }
        None => crate::out::text(&yaml).map_err(|e| format!("cannot write to stdout: {e}")),
    }
}

/// A HAR recording's scenario; what could not be correlated is said on stderr.
fn from_har(args: &InitArgs, path: &std::path::Path) -> Result<String, String> {
    let limit = crate::files::Limit {
        bytes: MAX_DOCUMENT * 4,
        what: "a HAR file",
        fix: "record a shorter session",
    };
    let text = crate::files::read_text(path, limit).map_err(|e| e.to_string())?;
    let think = match args.think.trim() {
        "recorded" => har::Think::Recorded,
        "none" => har::Think::None,
        fixed => {
            for part in fixed.split("..") {
                crate::scenario::parse_duration(part.trim()).map_err(|e| {
                    format!("--think \"{fixed}\": {e}; write recorded, none, 500ms or 1s..3s")
                })?;
            }
            har::Think::Fixed(fixed.to_string())
        }
    };
    let opts = har::Options {
        think,
        keep_static: args.keep_static,
        origin: args.origin.clone(),
        target: args.target.clone(),
    };
    let made = har::convert(&text, &path.display().to_string(), &opts)?;
    for warning in &made.warnings {
        crate::note!("warning: {warning}");
    }
    Ok(made.yaml)
}

/// An OpenAPI document's scenario.
fn from_openapi(args: &InitArgs, source: &str) -> Result<String, String> {
    let (text, origin) = read(source)?;
    let opts = Options {
        include: args.include.clone(),
        exclude: args.exclude.clone(),
        flow_per: match args.flow_per {
            FlowPer::Tag => openapi::FlowPer::Tag,
            FlowPer::Path => openapi::FlowPer::Path,
            FlowPer::Single => openapi::FlowPer::Single,
        },
        target: args.target.clone(),
    };
    openapi::convert(&text, source, origin.as_deref(), &opts)
}

/// The document's text, and the origin (scheme and host) of a URL it came from.
fn read(source: &str) -> Result<(String, Option<String>), String> {
    if source.starts_with("http://") || source.starts_with("https://") {
        let url =
            url::Url::parse(source).map_err(|e| format!("\"{source}\" is not a URL ({e})"))?;
        let origin = url[..url::Position::BeforePath].to_string();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
        let text = runtime.block_on(crate::engine::fetch(source, FETCH_LIMIT, MAX_DOCUMENT))?;
        return Ok((text, Some(origin)));
    }
    let limit = crate::files::Limit {
        bytes: MAX_DOCUMENT,
        what: "an OpenAPI document",
        fix: "name the document itself",
    };
    let text =
        crate::files::read_text(std::path::Path::new(source), limit).map_err(|e| e.to_string())?;
    Ok((text, None))
}

/// The written scenario loads as `run` loads it; a converter's mistake is said here, not
/// when the user runs the file.
fn check(yaml: &str) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("stampede-init-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join("scenario.yaml");
    std::fs::write(&path, yaml).map_err(|e| e.to_string())?;
    let env = |name: &str| std::env::var(name).ok();
    let loaded = crate::scenario::load(&path, &env, &crate::scenario::Overrides::default());
    let _ = std::fs::remove_dir_all(&dir);
    loaded.map(|_| ()).map_err(|e| {
        format!("the scenario made from the document does not load (a bug in stampede init; please report it with the document):\n{e}")
    })
}
