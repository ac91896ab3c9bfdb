//! Output files written whole or not at all. Each is written to a hidden temporary file
//! beside its destination (`.NAME.stampede-PID.tmp`, same directory, so the rename cannot
//! cross file systems) and renamed over the destination only once it is fully written,
//! flushed and synced. A write that fails (a full disk), a run refused before its end, or a
//! process that aborts never leaves a truncated or empty report: the destination is the
//! previous file or the new one. The next run that writes the same destination keeps what
//! the temporary file of a dead process holds as `NAME.partial-PID` (removing it if empty).
//!
//! Also here: which paths name the same file (`same_file`), so that two outputs, or an
//! output and the input it is made from, are refused before they overwrite each other.
//! Depends on nothing else in the crate.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The prefix and suffix around `NAME.stampede-PID` in a temporary file's name.
const TEMP_PREFIX: &str = ".";
const TEMP_SUFFIX: &str = ".tmp";
const TEMP_MARK: &str = ".stampede-";

/// A file being written to its temporary path; `commit` puts it in place, dropping it
/// uncommitted removes it.
#[derive(Debug)]
pub struct Staged {
    dest: PathBuf,
    temp: PathBuf,
    file: File,
    committed: bool,
}

impl Staged {
    /// Creates the temporary file for `dest` (a resolved path, see `resolve`), after
    /// clearing away those that dead processes left for the same destination. Creating it is
    /// what proves, before any load, that the directory can be written.
    pub fn create(dest: &Path) -> io::Result<Self> {
        remove_stale(dest);
        let temp = temp_path(dest, std::process::id())?;
        let file = match create_new(&temp) {
            // Only this process uses its PID: what is there is a leftover (or a stranger's
            // link), which is removed, never written through.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                fs::remove_file(&temp)?;
                create_new(&temp)?
            }
            other => other?,
        };
        // Held until the process ends (abort included): the mark of a live writer.
        let _ = file.try_lock();
        Ok(Self {
            dest: dest.to_path_buf(),
            temp,
            file,
            committed: false,
        })
    }

    /// Adds `bytes` to the temporary file.
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)
    }

    /// Syncs the temporary file and renames it over the destination, which takes the
    /// previous file's permissions. Until this succeeds the destination is untouched.
    pub fn commit(&mut self) -> io::Result<()> {
        self.file.flush()?;
        if let Ok(previous) = fs::metadata(&self.dest) {
            self.keep_owner_and_mode(&previous);
        }
        self.file.sync_all()?;
        fs::rename(&self.temp, &self.dest)?;
        self.committed = true;
        // The rename itself is durable once the directory is synced; not every file system
        // can sync a directory, and the report is in place either way.
        if let Some(dir) = self.dest.parent()
            && let Ok(dir) = File::open(dir)
        {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// The replaced file's mode (and, where allowed, owner) carry over to the new one.
    fn keep_owner_and_mode(&self, previous: &fs::Metadata) {
        let _ = self.file.set_permissions(previous.permissions());
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            let _ =
                std::os::unix::fs::fchown(&self.file, Some(previous.uid()), Some(previous.gid()));
        }
    }

    /// The temporary file's path (for tests and messages).
    pub fn temp(&self) -> &Path {
        &self.temp
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

fn create_new(path: &Path) -> io::Result<File> {
    // `create_new` refuses a symlink at the path instead of following it.
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// `.NAME.stampede-PID.tmp` beside `dest`.
fn temp_path(dest: &Path, pid: u32) -> io::Result<PathBuf> {
    let name = dest.file_name().ok_or_else(|| not_a_file(dest))?;
    let mut temp = OsString::from(TEMP_PREFIX);
    temp.push(name);
    temp.push(format!("{TEMP_MARK}{pid}{TEMP_SUFFIX}"));
    Ok(dest.with_file_name(temp))
}

/// Clears away the temporary files for `dest` whose process is gone (`keep_or_remove`): an
/// abort (out of memory, a kill) leaves one behind, and each run would otherwise add another.
fn remove_stale(dest: &Path) {
    let (Some(dir), Some(name)) = (dest.parent(), dest.file_name()) else {
        return;
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut prefix = OsString::from(TEMP_PREFIX);
    prefix.push(name);
    prefix.push(TEMP_MARK);
    let prefix = prefix.to_string_lossy().into_owned();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        let pid = file_name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(TEMP_SUFFIX))
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = pid
            && is_stale(&entry.path(), pid)
        {
            keep_or_remove(&entry.path(), dest, pid);
        }
    }
}

/// What a dead run had written is kept where the user can see it, as `NAME.partial-PID`
/// (a CSV or HDR log streamed for hours is worth keeping, cut short as it is); an empty one
/// is removed.
fn keep_or_remove(stale: &Path, dest: &Path, pid: u32) {
    let empty = fs::metadata(stale).map_or(true, |m| m.len() == 0);
    let mut kept = dest.as_os_str().to_owned();
    kept.push(format!(".partial-{pid}"));
    if empty || fs::rename(stale, &kept).is_err() {
        let _ = fs::remove_file(stale);
    }
}

/// A temporary file is stale when its process is gone and nobody holds its lock (the lock
/// covers a writer whose PID this process cannot see, in another PID namespace).
fn is_stale(path: &Path, pid: u32) -> bool {
    let regular = fs::symlink_metadata(path).is_ok_and(|m| m.is_file());
    if !regular || pid == std::process::id() || process_alive(pid) {
        return false;
    }
    File::open(path).is_ok_and(|f| f.try_lock().is_ok())
}

/// Whether process `pid` runs, where `/proc` can tell; elsewhere it is assumed alive, so
/// nothing is removed that might still be written.
fn process_alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    Path::new("/proc").join(pid.to_string()).exists()
}

fn not_a_file(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{} does not name a file", path.display()),
    )
}

/// Where `path` really is: symbolic links at the file itself followed (a link is written
/// through, not replaced), and the directory made canonical (the file may not exist yet).
pub fn resolve(path: &Path) -> io::Result<PathBuf> {
    let mut path = path.to_path_buf();
    // As many links as Linux follows before giving up with ELOOP.
    for _ in 0..40 {
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::read_link(&path)?;
                // An absolute target replaces the base; a relative one is from the link's
                // directory.
                path = path
                    .parent()
                    .map_or(target.clone(), |dir| dir.join(&target));
            }
            _ => {
                let name = path.file_name().ok_or_else(|| not_a_file(&path))?;
                let dir = match path.parent() {
                    Some(dir) if !dir.as_os_str().is_empty() => dir,
                    _ => Path::new("."),
                };
                return Ok(fs::canonicalize(dir)?.join(name));
            }
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

/// The first two of `paths` that name the same file (through `./`, `..`, symbolic links
/// or hard links), with the file's resolved path. `-` (stdout) and devices or pipes
/// (`/dev/null`), which are written to, never replaced, are not files here.
pub fn same_file(paths: &[&Path]) -> Option<(usize, usize, PathBuf)> {
    let files: Vec<(usize, PathBuf)> = paths
        .iter()
        .enumerate()
        .filter(|(_, p)| **p != Path::new("-") && !is_device(p))
        .map(|(i, p)| (i, resolve(p).unwrap_or_else(|_| p.to_path_buf())))
        .collect();
    for (n, (i, a)) in files.iter().enumerate() {
        for (j, b) in &files[n + 1..] {
            if a == b || same_inode(a, b) {
                return Some((*i, *j, a.clone()));
            }
        }
    }
    None
}

/// Whether `path` is under `/dev/` or `/proc/`, or exists and is something other than a
/// regular file or a directory (a device, a pipe, a socket): written to in place (appended
/// to), never replaced by a rename.
pub fn is_device(path: &Path) -> bool {
    // `/dev/stdout` and `/proc/self/fd/1` lead to whatever the shell gave: a terminal, a
    // pipe, or a file (`>> runs.log`) that must be written through, never replaced.
    let special = path.starts_with("/dev/") || path.starts_with("/proc/");
    special || fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

#[cfg(unix)]
fn same_inode(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_inode(_: &Path, _: &Path) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().expect("temp dir")
    }

    fn temps(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("read dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(TEMP_SUFFIX))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_destination_changes_only_at_commit() {
        let d = dir();
        let dest = d.path().join("r.json");
        fs::write(&dest, "earlier").expect("write");
        let mut staged = Staged::create(&dest).expect("create");
        assert_eq!(
            staged.temp().file_name().and_then(|n| n.to_str()),
            Some(format!(".r.json.stampede-{}.tmp", std::process::id()).as_str())
        );
        staged.write_all(b"new ").expect("write");
        staged.write_all(b"report").expect("write");
        assert_eq!(fs::read_to_string(&dest).expect("read"), "earlier");
        staged.commit().expect("commit");
        drop(staged);
        assert_eq!(fs::read_to_string(&dest).expect("read"), "new report");
        assert!(temps(d.path()).is_empty());
    }

    /// A write that fails midway (ENOSPC, for real: the rest goes to `/dev/full`) leaves the
    /// previous file whole and no temporary file.
    #[test]
    fn a_write_that_fails_midway_keeps_the_previous_file() {
        let d = dir();
        let dest = d.path().join("series.csv");
        fs::write(&dest, "the previous report").expect("write");
        let mut staged = Staged::create(&dest).expect("create");
        staged
            .write_all(b"t_s,length_s\n0.250,0.250\n")
            .expect("first tick");
        staged.file = fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let failed = staged
            .write_all(b"0.500,0.250\n")
            .and_then(|()| staged.commit());
        assert_eq!(
            failed.expect_err("the disk is full").raw_os_error(),
            Some(28), // ENOSPC
        );
        drop(staged);
        assert_eq!(
            fs::read_to_string(&dest).expect("read"),
            "the previous report"
        );
        assert!(temps(d.path()).is_empty(), "{:?}", temps(d.path()));
    }

    #[test]
    fn a_file_never_committed_is_never_created() {
        let d = dir();
        let dest = d.path().join("new.json");
        let staged = Staged::create(&dest).expect("create");
        drop(staged);
        assert!(!dest.exists());
        assert!(temps(d.path()).is_empty());
    }

    #[test]
    fn temporary_files_of_dead_processes_are_removed_and_live_ones_kept() {
        let d = dir();
        let dest = d.path().join("r.json");
        // No process has this PID (Linux PIDs stay below 2^22).
        let dead = temp_path(&dest, 4_000_000_000).expect("name");
        let live = temp_path(&dest, 1).expect("name");
        let other = d.path().join(".other.json.stampede-4000000000.tmp");
        for p in [&dead, &live, &other] {
            fs::write(p, "left behind").expect("write");
        }
        let empty = temp_path(&dest, 4_000_000_001).expect("name");
        fs::write(&empty, "").expect("write");
        let staged = Staged::create(&dest).expect("create");
        assert!(
            !dead.exists(),
            "a dead process's temporary file is taken away"
        );
        assert_eq!(
            fs::read_to_string(d.path().join("r.json.partial-4000000000")).expect("kept"),
            "left behind",
            "what it had written is kept, in sight"
        );
        assert!(!empty.exists(), "an empty one is removed");
        assert!(!d.path().join("r.json.partial-4000000001").exists());
        assert!(live.exists(), "PID 1 runs: its file may still be written");
        assert!(
            other.exists(),
            "another destination's files are not ours to remove"
        );
        drop(staged);
    }

    #[test]
    fn a_stale_file_still_locked_is_kept() {
        let d = dir();
        let dest = d.path().join("r.json");
        let dead = temp_path(&dest, 4_000_000_000).expect("name");
        fs::write(&dead, "a writer in another PID namespace").expect("write");
        let held = File::open(&dead).expect("open");
        held.lock().expect("lock");
        drop(Staged::create(&dest).expect("create"));
        assert!(dead.exists());
    }

    #[test]
    fn a_link_is_written_through_not_replaced() {
        let d = dir();
        fs::write(d.path().join("real.json"), "earlier").expect("write");
        let link = d.path().join("link.json");
        std::os::unix::fs::symlink("real.json", &link).expect("symlink");
        let mut staged = Staged::create(&resolve(&link).expect("resolve")).expect("create");
        staged.write_all(b"new").expect("write");
        staged.commit().expect("commit");
        assert!(fs::symlink_metadata(&link).expect("link").is_symlink());
        assert_eq!(fs::read_to_string(&link).expect("read"), "new");
    }

    #[test]
    fn same_file_sees_through_dots_links_and_hard_links() {
        let d = dir();
        let p = d.path();
        fs::create_dir(p.join("sub")).expect("dir");
        fs::write(p.join("x"), "").expect("write");
        std::os::unix::fs::symlink(p.join("x"), p.join("abs")).expect("symlink");
        std::os::unix::fs::symlink("y", p.join("dangling")).expect("symlink");
        fs::hard_link(p.join("x"), p.join("hard")).expect("hard link");
        let same = |a: &Path, b: &Path| same_file(&[a, b]).is_some();
        assert!(same(&p.join("x"), &p.join("sub/../x")));
        assert!(same(&p.join("x"), &p.join("abs")));
        assert!(same(&p.join("x"), &p.join("hard")));
        assert!(
            same(&p.join("y"), &p.join("dangling")),
            "the link's target, not yet made"
        );
        assert!(same(&p.join("new"), &p.join("./sub/../new")));
        assert!(!same(&p.join("x"), &p.join("y")));
        assert!(
            !same(Path::new("-"), Path::new("-")),
            "stdout is checked apart"
        );
        assert!(!same(Path::new("/dev/null"), Path::new("/dev/null")));
        let (i, j, file) = same_file(&[&p.join("a"), &p.join("x"), &p.join("abs")]).expect("same");
        assert_eq!((i, j), (1, 2));
        assert_eq!(file, fs::canonicalize(p).expect("dir").join("x"));
    }
}
