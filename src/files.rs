//! Reading the files a scenario or the command line names (the scenario itself, bodies,
//! multipart parts, PEM files, data sets, saved results): only regular files, and never more
//! than a cap per kind of file. A device (`/dev/zero`) would otherwise be read until memory
//! runs out, and opening a FIFO for reading blocks until a writer comes, so `validate` would
//! hang. Every site reads through `read`; depends on nothing else in the crate.
//!
//! The metadata is checked before opening (opening a FIFO is what blocks) and again on the
//! opened file; the read itself stops at cap + 1 bytes, so the cap holds even for a file
//! that grows between the check and the read.

use std::io::Read;
use std::path::{Path, PathBuf};

const MIB: u64 = 1024 * 1024;

/// A kind of file and the most of it stampede reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The cap in bytes.
    pub bytes: u64,
    /// What the file is, for messages ("a request body file").
    pub what: &'static str,
    /// What to do about a file above the cap.
    pub fix: &'static str,
}

/// A scenario file: 16 MiB. A scenario of 10,000 steps is about 1 MiB; bodies belong in
/// `body_file`.
pub const SCENARIO: Limit = Limit {
    bytes: 16 * MIB,
    what: "a scenario file",
    fix: "move large bodies into body_file, or split the scenario",
};

/// A request body (`body_file`, a multipart `file:`, `--body-file`): 64 MiB. It is held in
/// memory for the whole run and sent whole with every request.
pub const BODY: Limit = Limit {
    bytes: 64 * MIB,
    what: "a request body file",
    fix: "send a smaller file",
};

/// A PEM file (`tls.ca`, `tls.cert`, `tls.key` and their flags): 1 MiB. The whole Mozilla
/// CA bundle is about 0.2 MiB.
pub const PEM: Limit = Limit {
    bytes: MIB,
    what: "a PEM file",
    fix: "name the certificate, authority or key file itself",
};

/// A data set (`data:`, CSV or JSON lines): 256 MiB. Its rows are held in memory for the
/// whole run (about twice the file's size).
pub const DATA: Limit = Limit {
    bytes: 256 * MIB,
    what: "a data file",
    fix: "split the rows into smaller data sets",
};

/// A saved result (`compare`, `report`, `--baseline`): 256 MiB. A result holds a few KiB
/// of histograms per step and per series point; 10,000 steps stay far below it.
pub const RESULT: Limit = Limit {
    bytes: 256 * MIB,
    what: "a result file",
    fix: "name a result that stampede wrote with --json",
};

/// Why a file was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read {}: {reason}", path.display())]
pub struct FileError {
    /// The path as given.
    pub path: PathBuf,
    /// What is wrong and what to do, without the path.
    pub reason: String,
}

/// The whole of the regular file at `path`, at most `limit.bytes` long.
pub fn read(path: &Path, limit: Limit) -> Result<Vec<u8>, FileError> {
    let fail = |reason: String| FileError {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    regular(&meta).map_err(fail)?;
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    // The same check on what was opened: the path may name another file by now.
    let meta = file.metadata().map_err(|e| fail(e.to_string()))?;
    regular(&meta).map_err(fail)?;
    if meta.len() > limit.bytes {
        return Err(fail(too_large(limit)));
    }
    let expected = usize::try_from(meta.len()).unwrap_or(0);
    read_capped(file, limit.bytes, expected).map_err(|e| match e {
        Capped::TooLarge => fail(too_large(limit)),
        Capped::Io(e) => fail(e.to_string()),
    })
}

/// `read` as UTF-8 text.
pub fn read_text(path: &Path, limit: Limit) -> Result<String, FileError> {
    let bytes = read(path, limit)?;
    String::from_utf8(bytes).map_err(|e| FileError {
        path: path.to_path_buf(),
        reason: format!(
            "it is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ),
    })
}

/// Why `read_capped` stopped.
#[derive(Debug)]
pub enum Capped {
    /// The source holds more than the cap.
    TooLarge,
    /// The source failed.
    Io(std::io::Error),
}

/// Everything `source` holds when that is at most `cap` bytes; it reads at most `cap + 1`
/// bytes from `source` whatever its length (`expected` only sizes the buffer).
pub fn read_capped(source: impl Read, cap: u64, expected: usize) -> Result<Vec<u8>, Capped> {
    let mut bytes = Vec::with_capacity(expected.min(usize::try_from(cap).unwrap_or(usize::MAX)));
    source
        .take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(Capped::Io)?;
    if bytes.len() as u64 > cap {
        return Err(Capped::TooLarge);
    }
    Ok(bytes)
}

/// Ok for a regular file; otherwise what it is and the fix.
fn regular(meta: &std::fs::Metadata) -> Result<(), String> {
    if meta.is_file() {
        return Ok(());
    }
    let kind = kind(meta);
    Err(format!(
        "it is {kind}, not a regular file (it could be read forever, or block); name a regular file"
    ))
}

/// What a file that is not regular is, in words.
fn kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

/// The message for a file above its cap.
fn too_large(limit: Limit) -> String {
    let cap = match limit.bytes % MIB {
        0 => format!("{} MiB", limit.bytes / MIB),
        _ => format!("{} bytes", limit.bytes),
    };
    format!(
        "it is larger than {cap}, the most stampede reads of {}; {}",
        limit.what, limit.fix
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Limit = Limit {
        bytes: 10,
        what: "a test file",
        fix: "use a smaller one",
    };

    #[test]
    fn a_regular_file_within_the_cap_is_read_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").expect("write");
        assert_eq!(read(&path, SMALL).expect("read"), b"0123456789");
        std::fs::write(&path, b"0123456789x").expect("write");
        let e = read(&path, SMALL).expect_err("too large");
        assert!(
            e.reason.contains(
                "larger than 10 bytes, the most stampede reads of a test file; use a smaller one"
            ),
            "{e}"
        );
        assert!(e.to_string().starts_with("cannot read "), "{e}");
    }

    #[test]
    fn devices_and_directories_are_refused_without_reading() {
        let e = read(Path::new("/dev/zero"), BODY).expect_err("a device");
        assert!(e.reason.contains("a character device"), "{e}");
        let e = read(Path::new("/"), BODY).expect_err("a directory");
        assert!(e.reason.contains("a directory"), "{e}");
    }

    #[test]
    fn an_endless_source_is_read_to_cap_plus_one_only() {
        let mut zero = std::io::repeat(0).take(u64::MAX);
        let got = read_capped(&mut zero, 1000, 0);
        assert!(matches!(got, Err(Capped::TooLarge)));
        assert_eq!(u64::MAX - zero.limit(), 1001);
    }
}
