//! The one place exports touch the filesystem: write a new file whole or
//! not at all (a temporary file beside it, renamed into place), never
//! overwriting one unless asked, with errors that name the path.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("{0}: already exists (use --force to overwrite it)")]
    Exists(PathBuf),
    #[error("{0}: is a directory, not a file to write")]
    Directory(PathBuf),
    #[error("{0}: cannot write: {1}")]
    Io(PathBuf, String),
}

/// Fails before writing anything if a path is a directory, or exists and
/// `force` is off.
pub fn check_new(paths: &[PathBuf], force: bool) -> Result<(), SaveError> {
    for p in paths {
        if p.is_dir() {
            return Err(SaveError::Directory(p.clone()));
        }
        if p.exists() && !force {
            return Err(SaveError::Exists(p.clone()));
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` whole or not at all: into a temporary file
/// beside it, put in place only once complete (renamed over an old one
/// with `force`; linked, which fails if one appeared meanwhile, without).
/// On any failure nothing is left behind, and an old file is untouched.
pub fn write(path: &Path, bytes: &[u8], force: bool) -> Result<(), SaveError> {
    write_with(path, force, |f| f.write_all(bytes))
}

/// [`write`], the content made by `fill` straight into the temporary file.
pub fn write_with(
    path: &Path,
    force: bool,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<(), SaveError> {
    let io = |e: std::io::Error| SaveError::Io(path.to_path_buf(), e.to_string().to_lowercase());
    if path.is_dir() {
        return Err(SaveError::Directory(path.to_path_buf()));
    }
    if !force && path.exists() {
        return Err(SaveError::Exists(path.to_path_buf()));
    }
    let temp = temp_beside(path);
    let made = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        fill(&mut f)?;
        f.flush()?;
        f.sync_all()
    })();
    let placed = made.and_then(|()| {
        if force {
            std::fs::rename(&temp, path)
        } else {
            match std::fs::hard_link(&temp, path) {
                Ok(()) => std::fs::remove_file(&temp),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
                // A filesystem without links: checked, then renamed.
                Err(_) if path.exists() => Err(std::io::ErrorKind::AlreadyExists.into()),
                Err(_) => std::fs::rename(&temp, path),
            }
        }
    });
    placed.map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            SaveError::Exists(path.to_path_buf())
        } else {
            io(e)
        }
    })
}

/// A name beside `path` no one else uses: `.NAME.tcpladder-PID-N.tmp`.
fn temp_beside(path: &Path) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    path.with_file_name(format!(".{name}.tcpladder-{}-{n}.tmp", std::process::id()))
}

/// `out.svg` → `out-3.svg`, for one file per connection.
pub fn numbered(path: &Path, n: usize) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "connection".into());
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{n}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{n}"),
    };
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tl-save-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn names(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_failed_write_leaves_nothing_and_the_old_file_as_it_was() {
        let d = dir("fail");
        let p = d.join("out.svg");
        let broken = |f: &mut std::fs::File| {
            f.write_all(b"<svg half")?;
            Err(std::io::Error::other("disk full"))
        };
        let e = write_with(&p, false, broken).unwrap_err();
        assert!(e.to_string().contains("disk full"), "{e}");
        assert!(names(&d).is_empty(), "left behind: {:?}", names(&d));
        // Over an old file, with --force: the old one stays whole.
        write(&p, b"old", false).unwrap();
        assert!(write_with(&p, true, broken).is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(names(&d), vec!["out.svg".to_string()]);
        // And a good write replaces it whole.
        write(&p, b"new", true).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        assert_eq!(names(&d), vec!["out.svg".to_string()]);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_directory_is_said_to_be_one_and_an_existing_file_kept() {
        let d = dir("dir");
        let e = write(&d, b"x", false).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}: is a directory, not a file to write", d.display())
        );
        assert!(matches!(
            write(&d, b"x", true),
            Err(SaveError::Directory(_))
        ));
        assert!(matches!(
            check_new(std::slice::from_ref(&d), true),
            Err(SaveError::Directory(_))
        ));
        let p = d.join("a.txt");
        write(&p, b"first", false).unwrap();
        assert!(matches!(
            write(&p, b"second", false),
            Err(SaveError::Exists(_))
        ));
        assert_eq!(std::fs::read(&p).unwrap(), b"first");
        let _ = std::fs::remove_dir_all(&d);
    }
}
