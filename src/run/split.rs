//! A plan split over several processes, from the command line: which shard this run is
//! (`--shard`, or a Kubernetes Indexed Job's environment), how it starts with the others
//! (`--start-at`, setup's hand-over), and `stampede merge`.

use std::path::Path;

use crate::cli::{MergeArgs, RunArgs};
use crate::report::merge::{self, Input};
use crate::report::{OutputPaths, exit};
use crate::scenario::{Plan, Shard};
use crate::session::Distributed;

/// The environment a Kubernetes Indexed Job gives each pod: its index.
const JOB_INDEX: &str = "JOB_COMPLETION_INDEX";
/// How many shards, beside it.
const SHARDS: &str = "STAMPEDE_SHARDS";
/// The common start, as --start-at.
const START_AT: &str = "STAMPEDE_START_AT";
/// Which run, as --run-id.
const RUN_ID: &str = "STAMPEDE_RUN_ID";

/// The shard this run is: `--shard`, else `JOB_COMPLETION_INDEX` of `STAMPEDE_SHARDS`.
fn shard_of(args: &RunArgs, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Shard>, String> {
    if let Some(shard) = args.split.shard {
        return Ok(Some(shard));
    }
    let Some(count) = env(SHARDS) else {
        return Ok(None); // an index alone belongs to some other indexed job
    };
    let count: u64 = count
        .trim()
        .parse()
        .map_err(|_| format!("{SHARDS}=\"{count}\" is not a number of shards"))?;
    let index = env(JOB_INDEX).ok_or_else(|| {
        format!(
            "{SHARDS} is set but {JOB_INDEX} is not: a Kubernetes Indexed Job sets it in each \
             pod; elsewhere give --shard I/N"
        )
    })?;
    let index: u64 = (index.trim().parse())
        .map_err(|_| format!("{JOB_INDEX}=\"{index}\" is not a shard index"))?;
    Shard::new(index, count)
        .map(Some)
        .map_err(|e| format!("{JOB_INDEX} and {SHARDS}: {e}"))
}

/// The plan as this process runs it: its shard's share, when it is one.
pub fn sharded(
    plan: Plan,
    args: &RunArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan, String> {
    match shard_of(args, env)? {
        Some(shard) => plan.into_shard(shard),
        None => Ok(plan),
    }
}

/// The run's part in a split run, from the flags and the environment.
pub fn distributed(
    args: &RunArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Distributed, String> {
    let start_at = match (args.split.start_at, env(START_AT)) {
        (Some(at), _) => Some(at),
        (None, Some(text)) if !text.trim().is_empty() => {
            Some(crate::cli::parse_instant(&text).map_err(|e| format!("{START_AT}: {e}"))?)
        }
        (None, _) => None,
    };
    Ok(Distributed {
        start_at,
        setup_out: args.split.setup_out.clone(),
        setup_in: args.split.setup_in.clone(),
        setup_wait: args.split.setup_wait,
        log_result: args.split.log_result,
        run_id: (args.split.run_id.clone())
            .or_else(|| env(RUN_ID))
            .filter(|id| !id.trim().is_empty()),
    })
}

/// `stampede merge RESULT...`: the merged result's summary and files; exit 1 when a
/// threshold fails on the merged figures, 2 when the results cannot be merged.
pub fn merge(args: &MergeArgs) -> u8 {
    let merged = inputs(args).and_then(|inputs| merge::merge(&inputs, args.partial));
    let (info, snap) = match merged {
        Ok(m) => m,
        Err(e) => {
            crate::note!("error: {e}");
            return exit::USAGE;
        }
    };
    let paths = OutputPaths {
        json: args.json.clone(),
        junit: args.junit.clone(),
        html: args.html.clone(),
        ..OutputPaths::default()
    };
    match paths.open(args.quiet) {
        Ok(outputs) => outputs.finish(&info, &snap),
        Err(e) => {
            crate::note!("error: {e}");
            exit::USAGE
        }
    }
}

/// Every result given: a file each, or (`--from-log`) every result printed in each log.
fn inputs(args: &MergeArgs) -> Result<Vec<Input>, String> {
    let mut all = Vec::new();
    for path in &args.results {
        let text =
            crate::files::read_text(path, crate::files::RESULT).map_err(|e| e.to_string())?;
        let name = path.display().to_string();
        if args.from_log {
            all.extend(merge::from_log(&text, &name)?);
        } else {
            all.push(Input {
                doc: parsed(&text, path)?,
                name,
            });
        }
    }
    Ok(all)
}

fn parsed(text: &str, path: &Path) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| {
        format!(
            "{}: not a stampede result (not JSON: {e}); merge the files that stampede run \
             --shard I/N --json PATH wrote, or logs with --from-log",
            path.display()
        )
    })
}
