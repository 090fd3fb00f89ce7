//! Writing an export to disk: each file atomically (a temporary file renamed into place), never
//! through a symbolic link, and never into someone else's directory unless told to.
use std::collections::BTreeSet;
use std::fs;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

use serde_json::json;

use super::{File, Format};
use crate::error::{Error, Result};

/// Marks a directory as an export and lists its files, so a rerun may replace them and remove
/// the ones it no longer writes.
pub const MANIFEST: &str = ".skyecr-export.json";

/// What `write` did, paths relative to the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub files: Vec<String>,
    /// Files of the earlier export that this one no longer has.
    pub removed: Vec<String>,
}

fn io(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::Io(format!("cannot {what} {}: {e}", path.display()))
}

/// Whether `path` is a directory to write into (`false`: missing); a symbolic link or a file is
/// refused, so that nothing lands where a link points.
fn directory(path: &Path) -> Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(Error::Usage(format!(
            "{} is a symbolic link; export writes only into a real directory, so that nothing lands where the link points.\n  Pass the directory the link points to, or another --out.",
            path.display()
        ))),
        Ok(m) if !m.is_dir() => Err(Error::Usage(format!(
            "{} exists and is not a directory; choose another --out.",
            path.display()
        ))),
        Ok(_) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io("read", path, e)),
    }
}

/// A directory to write into, created when missing.
fn real_directory(path: &Path) -> Result<()> {
    if !directory(path)? {
        fs::create_dir_all(path).map_err(|e| io("create", path, e))?;
    }
    Ok(())
}

/// Refuses a directory the export may not write into: a link, a file, or one with other
/// content and no earlier export (unless `force`). Run before anything is read, and again
/// before writing.
pub fn check(dir: &Path, force: bool) -> Result<()> {
    if !directory(dir)? || force || previous(dir).is_some() {
        return Ok(());
    }
    let empty = fs::read_dir(dir)
        .map_err(|e| io("read", dir, e))?
        .next()
        .is_none();
    if empty {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "{} is not empty and holds no earlier export (no {MANIFEST}); nothing was written.\n  Choose a new or empty directory, or pass --force to write into it (files with the export's names are replaced, others are left alone).",
        dir.display()
    )))
}

/// A path of an earlier manifest, kept only when it stays inside the directory.
fn inside(relative: &str) -> Option<PathBuf> {
    let path = PathBuf::from(relative);
    path.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then_some(path)
}

/// The files an earlier export wrote, when `dir` holds one.
fn previous(dir: &Path) -> Option<Vec<String>> {
    let manifest = dir.join(MANIFEST);
    let meta = fs::symlink_metadata(&manifest).ok()?;
    if !meta.is_file() {
        return None;
    }
    let parsed: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(manifest).ok()?).ok()?;
    if parsed["tool"] != "skyecr-bootstrap" {
        return None;
    }
    Some(
        parsed["files"]
            .as_array()?
            .iter()
            .filter_map(|f| f.as_str().map(str::to_string))
            .collect(),
    )
}

/// Writes the export's files into `dir`, then the manifest. A directory with other content and
/// no earlier export is refused unless `force`.
pub fn write(dir: &Path, format: Format, files: &[File], force: bool) -> Result<Written> {
    check(dir, force)?;
    real_directory(dir)?;
    let earlier = previous(dir);
    let mut names = Vec::new();
    for file in files {
        let relative = inside(&file.path).ok_or_else(|| {
            Error::Io(format!(
                "refusing to write outside {}: {}",
                dir.display(),
                file.path
            ))
        })?;
        // Each directory on the way must be a real one, or the file could land elsewhere.
        let mut parent = dir.to_path_buf();
        if let Some(sub) = relative.parent() {
            for part in sub.components() {
                parent.push(part);
                real_directory(&parent)?;
            }
        }
        crate::files::replace_atomically(&dir.join(&relative), &file.contents)?;
        names.push(file.path.clone());
    }
    let kept: BTreeSet<&String> = names.iter().collect();
    let mut removed = Vec::new();
    for old in earlier.unwrap_or_default() {
        if kept.contains(&old) || old == MANIFEST {
            continue;
        }
        let Some(relative) = inside(&old) else {
            continue;
        };
        let path = dir.join(relative);
        // Only files: a directory there is not one the export wrote. `remove_file` on a symbolic
        // link removes the link, never what it points to.
        if fs::symlink_metadata(&path).is_ok_and(|m| !m.is_dir()) {
            fs::remove_file(&path).map_err(|e| io("remove", &path, e))?;
            removed.push(old);
        }
    }
    let manifest = json!({
        "tool": "skyecr-bootstrap",
        "format": format.as_str(),
        "files": names,
    });
    crate::files::replace_atomically(&dir.join(MANIFEST), &format!("{manifest:#}\n"))?;
    names.push(MANIFEST.to_string());
    Ok(Written {
        files: names,
        removed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(names: &[&str]) -> Vec<File> {
        names
            .iter()
            .map(|n| File {
                path: n.to_string(),
                contents: format!("contents of {n}\n"),
            })
            .collect()
    }

    #[test]
    fn a_new_directory_gets_the_files_and_a_manifest() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        let done = write(
            &dir,
            Format::Terraform,
            &files(&["main.tf", "policies/push.json"]),
            false,
        )
        .unwrap();
        assert_eq!(done.files, ["main.tf", "policies/push.json", MANIFEST]);
        assert_eq!(
            fs::read_to_string(dir.join("policies/push.json")).unwrap(),
            "contents of policies/push.json\n"
        );
        // No temporary file is left behind.
        let left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(left.iter().all(|n| !n.ends_with(".tmp")), "{left:?}");
    }

    #[test]
    fn someone_elses_directory_needs_force_and_keeps_its_files() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
        let refused =
            write(tmp.path(), Format::Terraform, &files(&["main.tf"]), false).unwrap_err();
        assert!(refused.to_string().contains("--force"), "{refused}");
        assert!(!tmp.path().join("main.tf").exists());
        write(tmp.path(), Format::Terraform, &files(&["main.tf"]), true).unwrap();
        assert_eq!(
            fs::read_to_string(tmp.path().join("notes.txt")).unwrap(),
            "mine"
        );
    }

    #[test]
    fn a_rerun_replaces_its_files_and_removes_the_ones_it_no_longer_writes() {
        let tmp = tempfile::tempdir().unwrap();
        write(
            tmp.path(),
            Format::Terraform,
            &files(&["main.tf", "README.md"]),
            false,
        )
        .unwrap();
        let again = write(
            tmp.path(),
            Format::Cloudformation,
            &files(&["template.yaml", "README.md"]),
            false,
        )
        .unwrap();
        assert_eq!(again.removed, ["main.tf"]);
        assert!(!tmp.path().join("main.tf").exists());
    }

    #[test]
    fn symbolic_links_are_never_written_through() {
        let tmp = tempfile::tempdir().unwrap();
        let elsewhere = tmp.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        fs::write(elsewhere.join("target"), "precious").unwrap();
        // The export directory itself.
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
        assert!(write(&link, Format::Terraform, &files(&["main.tf"]), true).is_err());
        // A subdirectory on the way.
        let out = tmp.path().join("out");
        fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(&elsewhere, out.join("policies")).unwrap();
        assert!(
            write(
                &out,
                Format::Terraform,
                &files(&["policies/push.json"]),
                true
            )
            .is_err()
        );
        assert!(!elsewhere.join("push.json").exists());
        // A file: the link is replaced, its target untouched.
        std::os::unix::fs::symlink(elsewhere.join("target"), out.join("main.tf")).unwrap();
        write(&out, Format::Terraform, &files(&["main.tf"]), true).unwrap();
        assert_eq!(
            fs::read_to_string(elsewhere.join("target")).unwrap(),
            "precious"
        );
        assert!(
            !fs::symlink_metadata(out.join("main.tf"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn a_manifest_cannot_point_outside() {
        assert!(inside("../etc/passwd").is_none());
        assert!(inside("/etc/passwd").is_none());
        assert_eq!(
            inside("policies/push.json"),
            Some(PathBuf::from("policies/push.json"))
        );
    }
}
