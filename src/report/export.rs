//! The files a run writes, one exporter per format behind `Exporter`, so adding a format
//! touches one file (and the flag that asks for it).
//!
//! Every exporter opens its file when it is made, before any load: a path that cannot be
//! written is exit 2 before the first request, not a surprise after a ten-minute run. At
//! the end each is fed the final result. `-` as a path means standard output.
//! Depends on the report's own formats (`json`, `junit`) and `out`.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::RunInfo;
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

/// Where an exporter writes: a file opened at start, or standard output. The file is
/// opened without truncating it, and emptied only when the result is written: a run that
/// never comes to write it (refused, or interrupted in its setup) leaves an earlier file as
/// it was, and removes a file it created, so no empty report is mistaken for a result.
pub enum Sink {
    File {
        path: PathBuf,
        file: File,
        created: bool,
        written: bool,
    },
    Stdout,
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Sink::File {
            path,
            created: true,
            written: false,
            ..
        } = self
        {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Sink {
    /// Opens (creates or truncates) `path`, or takes standard output for `-`.
    pub fn open(path: &Path, what: &str) -> Result<Self, String> {
        if path == Path::new("-") {
            return Ok(Sink::Stdout);
        }
        let created = !path.exists();
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map(|file| Sink::File {
                path: path.to_path_buf(),
                file,
                created,
                written: false,
            })
            .map_err(|e| format!("cannot write {what} to {}: {e}", path.display()))
    }

    /// Adds `bytes` after what this run wrote before (the first call empties the file).
    /// For formats that stream a tick at a time.
    pub fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::File { file, written, .. } => {
                if !*written {
                    *written = true;
                    file.set_len(0)?;
                    file.seek(SeekFrom::Start(0))?;
                }
                file.write_all(bytes)?;
                file.flush()
            }
            Sink::Stdout => crate::out::stdout(&String::from_utf8_lossy(bytes)),
        }
    }

    /// Replaces the file's content with `text`.
    pub fn write(&mut self, text: &str) -> std::io::Result<()> {
        match self {
            Sink::File { file, written, .. } => {
                *written = true;
                file.set_len(0)?;
                file.seek(SeekFrom::Start(0))?;
                file.write_all(text.as_bytes())?;
                file.flush()
            }
            Sink::Stdout => crate::out::stdout(text),
        }
    }

    /// Where it writes, for messages.
    pub fn place(&self) -> String {
        match self {
            Sink::File { path, .. } => path.display().to_string(),
            Sink::Stdout => "stdout".to_string(),
        }
    }

    /// Whether this sink is standard output (the summary then goes to stderr).
    pub fn is_stdout(&self) -> bool {
        matches!(self, Sink::Stdout)
    }
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
