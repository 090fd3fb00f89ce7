//! The files the tool writes (the settings file, the workflow): atomically, and never through
//! a symbolic link, so a link planted in a cloned repository cannot redirect a write.
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// A link is refused before it is read too: comparing with its target could print a file the
/// link points at (a key, say).
pub fn refuse_link(path: &Path) -> Result<()> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Error::Io(format!(
            "{} is a symbolic link; skyecr-bootstrap never writes through one.\n  Remove the link (or give a path that is not one) and rerun.",
            path.display()
        )));
    }
    Ok(())
}

/// Writes `contents` to `path` through a new temporary file beside it, then renames it into
/// place: an interruption never leaves half a file, and a link at `path` is refused, not followed.
pub fn write_atomically(path: &Path, contents: &str) -> Result<()> {
    refuse_link(path)?;
    replace_atomically(path, contents)
}

/// As `write_atomically`, but a link at `path` is replaced by the file (its target untouched):
/// for a directory the tool owns, such as an export's.
pub fn replace_atomically(path: &Path, contents: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let temp = dir.join(format!(".{name}.{}-{nanos}.partial", std::process::id()));
    let cannot = |e: std::io::Error| Error::Io(format!("cannot write {}: {e}", path.display()));
    // `create_new` refuses an existing file or link at the temporary name instead of following it.
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .and_then(|mut f| {
            f.write_all(contents.as_bytes())?;
            f.sync_all()
        });
    if let Err(e) = written.and_then(|()| std::fs::rename(&temp, path)) {
        let _ = std::fs::remove_file(&temp);
        return Err(cannot(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_replaced_whole_and_a_link_is_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("skyecr.json");
        write_atomically(&path, "one\n").unwrap();
        write_atomically(&path, "two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");

        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "precious\n").unwrap();
        let link = dir.path().join("workflow.yaml");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let refused = write_atomically(&link, "evil\n").unwrap_err().to_string();
        assert!(refused.contains("symbolic link"), "{refused}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
