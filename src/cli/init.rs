//! The arguments of `stampede init`: where the scenario comes from (an OpenAPI document or a
//! HAR recording) and how it is made.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// Arguments of `stampede init`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("from").required(true).args(["from_openapi", "from_har"])))]
pub struct InitArgs {
    /// An OpenAPI 3.0 or 3.1 document (JSON or YAML): a file, or a URL such as
    /// http://127.0.0.1:8000/openapi.json.
    #[arg(long, value_name = "FILE|URL")]
    pub from_openapi: Option<String>,

    /// A browser's recording of a session (HAR 1.2: Chromium's or Firefox's "Save all as
    /// HAR"), as one flow in the recorded order.
    #[arg(long, value_name = "FILE")]
    pub from_har: Option<PathBuf>,

    /// HAR: the pause after each step: `recorded` (the gap before the next request),
    /// `none`, or a duration or range such as 500ms or 1s..3s.
    #[arg(long, value_name = "HOW", default_value = "recorded")]
    pub think: String,

    /// HAR: keep scripts, styles, images and fonts.
    #[arg(long)]
    pub keep_static: bool,

    /// HAR: keep the requests to this origin (default: the first page's).
    #[arg(long, value_name = "URL")]
    pub origin: Option<String>,

    /// Write the scenario to this file (default: stdout).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Keep only operations whose path matches this glob (`*` for any text) or that have
    /// this tag (repeatable).
    #[arg(long, value_name = "GLOB|TAG")]
    pub include: Vec<String>,

    /// Leave out operations whose path matches this glob or that have this tag
    /// (repeatable), e.g. --exclude '/_internal*'.
    #[arg(long, value_name = "GLOB|TAG")]
    pub exclude: Vec<String>,

    /// How operations are grouped into flows: a flow per tag, per path group (the first
    /// segment), or one.
    #[arg(long, value_name = "BY", value_enum, default_value_t = FlowPer::Tag)]
    pub flow_per: FlowPer,

    /// The target to write, instead of the document's server (or the URL it came from).
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,
}

/// How `init` groups operations into flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FlowPer {
    /// A flow per tag (an operation's first).
    Tag,
    /// A flow per path group (the first segment of the path).
    Path,
    /// One flow for every operation.
    Single,
}
