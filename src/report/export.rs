//! The files a run writes, one exporter per format behind `Exporter`, so adding a format
//! touches one file (and the flag that asks for it).
//!
//! Every exporter opens its file when it is made, before any load: a path that cannot be
//! written, or two outputs on one file, is exit 2 before the first request, not a surprise
//! after a ten-minute run. At the end each is fed the final result, and a file appears
//! (or replaces the previous one) only once it is whole. `-` as a path means standard
//! output. Depends on the report's own formats (`json`, `junit`), `staged` and `out`.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::RunInfo;
use super::staged::{self, Staged};
use crate::metrics::{Snapshot, StepInterval};

/// One tick as streaming exporters see it: the snapshot, and the tick's own intervals
/// (each step's in plan order, then the whole run's) with their histograms.
pub struct Tick<'a> {
    pub snap: &'a Snapshot,
    pub steps: &'a [&'a StepInterval],
    pub total: &'a StepInterval,
}

/// A format the run's result is written in.
pub trait Exporter: Send {
    /// What it writes and where, for messages: `the JSON report to out.json`.
    fn describe(&self) -> String;
    /// Takes one tick, for formats that stream (the last one comes with the final
    /// snapshot, before `finish`). Most formats only need the end.
    fn tick(&mut self, _tick: &Tick<'_>) -> std::io::Result<()> {
        Ok(())
    }
    /// Writes the final result.
    fn finish(&mut self, info: &RunInfo, snap: &Snapshot) -> std::io::Result<()>;
}

/// Where an exporter writes: a file, standard output, or a device or pipe named by path
/// (`/dev/null`, a FIFO). A file is written beside its destination and put in place by
/// `commit` (see `staged`): a run that never comes to commit it (refused, interrupted in its
/// setup, failing to write, aborted) leaves an earlier file at that path as it was and
/// creates none, so no empty or truncated report is mistaken for a result.
pub enum Sink {
    /// A regular file (or a path where one will be).
    File {
        /// The path as the user gave it, for messages.
        path: PathBuf,
        /// The temporary file being written.
        staged: Staged,
    },
    /// Something that is written to in place, never replaced.
    Device {
        /// The path as the user gave it, for messages.
        path: PathBuf,
        /// Opened for writing, without truncating.
        file: File,
    },
    /// `-`.
    Stdout,
}

impl Sink {
    /// Prepares `path` to be written (its temporary file is created now, which proves the
    /// directory can be written), or takes standard output for `-`.
    pub fn open(path: &Path, what: &str) -> Result<Self, String> {
        if path == Path::new("-") {
            return Ok(Sink::Stdout);
        }
        let refused = |e: std::io::Error| format!("cannot write {what} to {}: {e}", path.display());
        if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
            return Err(refused(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "it is a directory; give a file name",
            )));
        }
        if staged::is_device(path) {
            // Appending: a file behind `/dev/stdout` (`>> runs.log`) keeps what it held.
            let file = std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .map_err(refused)?;
            let path = path.to_path_buf();
            return Ok(Sink::Device { path, file });
        }
        let staged = staged::resolve(path)
            .and_then(|dest| Staged::create(&dest))
            .map_err(refused)?;
        let path = path.to_path_buf();
        Ok(Sink::File { path, staged })
    }

    /// Adds `bytes` after what this run wrote before. For formats that stream a tick at a
    /// time; `commit` ends them.
    pub fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::File { staged, .. } => staged.write_all(bytes),
            Sink::Device { file, .. } => file.write_all(bytes).and_then(|()| file.flush()),
            Sink::Stdout => crate::out::stdout(&String::from_utf8_lossy(bytes)),
        }
    }

    /// Puts what was written in place of the destination.
    pub fn commit(&mut self) -> std::io::Result<()> {
        match self {
            Sink::File { staged, .. } => staged.commit(),
            Sink::Device { .. } | Sink::Stdout => Ok(()),
        }
    }

    /// Writes `text` as the whole content and puts it in place.
    pub fn write(&mut self, text: &str) -> std::io::Result<()> {
        self.append(text.as_bytes())?;
        self.commit()
    }

    /// Where it writes, for messages.
    pub fn place(&self) -> String {
        match self {
            Sink::File { path, .. } | Sink::Device { path, .. } => path.display().to_string(),
            Sink::Stdout => "stdout".to_string(),
        }
    }

    /// Whether this sink is standard output (the summary then goes to stderr).
    pub fn is_stdout(&self) -> bool {
        matches!(self, Sink::Stdout)
    }
}

/// Refuses outputs that would overwrite or mix with each other, before anything is opened:
/// two on stdout, or two naming the same file. `outputs`: each flag and its path.
pub fn check_places(outputs: &[(&str, &Path)]) -> Result<(), String> {
    let on_stdout: Vec<&str> = outputs
        .iter()
        .filter(|(_, p)| *p == Path::new("-"))
        .map(|(flag, _)| *flag)
        .collect();
    if on_stdout.len() > 1 {
        return Err(format!(
            "{} cannot share stdout (-), where they would mix: give all but one of them a file",
            on_stdout.join(" and ")
        ));
    }
    let paths: Vec<&Path> = outputs.iter().map(|(_, p)| *p).collect();
    if let Some((i, j, file)) = staged::same_file(&paths) {
        let ((a, pa), (b, pb)) = (outputs[i], outputs[j]);
        return Err(format!(
            "{a} {} and {b} {} are the same file ({}): one would overwrite the other; give \
             each output its own file",
            pa.display(),
            pb.display(),
            file.display()
        ));
    }
    Ok(())
}

/// `--json`: the full result (`json::to_json`).
pub struct Json(pub Sink);

impl Exporter for Json {
    fn describe(&self) -> String {
        format!("the JSON report to {}", self.0.place())
    }

    fn finish(&mut self, info: &RunInfo, snap: &Snapshot) -> std::io::Result<()> {
        let mut text = super::to_json(info, snap);
        text.push('\n');
        self.0.write(&text)
    }
}

/// `--junit`: one test case per threshold and per check, for CI systems.
pub struct Junit(pub Sink);

impl Exporter for Junit {
    fn describe(&self) -> String {
        format!("the JUnit report to {}", self.0.place())
    }

    fn finish(&mut self, info: &RunInfo, snap: &Snapshot) -> std::io::Result<()> {
        self.0.write(&super::junit::to_junit(info, snap))
    }
}
