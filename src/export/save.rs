//! The one place exports touch the filesystem: write a new file, never
//! overwriting one unless asked, with errors that name the path.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("{0}: already exists (use --force to overwrite it)")]
    Exists(PathBuf),
    #[error("{0}: cannot write: {1}")]
    Io(PathBuf, String),
}

/// Fails before writing anything if a path exists and `force` is off.
pub fn check_new(paths: &[PathBuf], force: bool) -> Result<(), SaveError> {
    match paths.iter().find(|p| p.exists()) {
        Some(p) if !force => Err(SaveError::Exists(p.clone())),
        _ => Ok(()),
    }
}

pub fn write(path: &Path, bytes: &[u8], force: bool) -> Result<(), SaveError> {
    let io = |e: std::io::Error| SaveError::Io(path.to_path_buf(), e.to_string().to_lowercase());
    let mut f = if force {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
    } else {
        OpenOptions::new().write(true).create_new(true).open(path)
    }
    .map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            SaveError::Exists(path.to_path_buf())
        } else {
            io(e)
        }
    })?;
    f.write_all(bytes).map_err(io)?;
    f.flush().map_err(io)
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
