//! Durable files, as the spool and recorded pushes keep them: JSON written and synced before it is
//! renamed into place, directories synced, and errors that name the path.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::queue::QueueError;

/// `r`, its error naming what failed and at which path.
pub(super) fn ctx<T>(
    what: &'static str,
    path: &Path,
    r: std::io::Result<T>,
) -> Result<T, QueueError> {
    r.map_err(|source| QueueError {
        what,
        place: path.display().to_string(),
        source: source.into(),
    })
}

/// The `.json` files of a directory, sorted by name.
pub(super) fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Writes `value` as JSON to `tmp` and syncs it to disk (`dest` names it in errors): the first half
/// of a durable write, before the rename into place.
pub(super) fn write_synced(
    tmp: &Path,
    value: &impl serde::Serialize,
    dest: &Path,
) -> Result<(), QueueError> {
    let bytes = serde_json::to_vec(value).map_err(|e| QueueError {
        what: "cannot encode",
        place: dest.display().to_string(),
        source: e.into(),
    })?;
    let mut file = ctx("cannot create", tmp, File::create(tmp))?;
    ctx(
        "cannot write",
        tmp,
        file.write_all(&bytes).and_then(|()| file.sync_all()),
    )
}

/// Syncs a directory, so that the renames into it last.
pub(super) fn fsync_dir(dir: &Path) -> Result<(), QueueError> {
    ctx(
        "cannot sync directory",
        dir,
        File::open(dir).and_then(|d| d.sync_all()),
    )
}
