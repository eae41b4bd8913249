//! Files written whole or not at all, and a table with its manifest put in place together.
//!
//! Every output file (table, manifest, report, stored result, plan file) is written to a temporary file
//! beside its target, fsynced, then renamed over it, and the folder fsynced, so a reader never sees half a
//! file. The temporary file is created 0666 less the umask, like any file of the user's tools (tempfile's
//! own default, 0600, made every table private whatever the umask); nothing written here holds a
//! credential.
//!
//! A table and its manifest ([`place_pair`]) are both written completely before either replaces anything
//! (a full disk fails while writing, and leaves the old pair as it was). Then the old manifest steps aside,
//! the table is renamed into place, then the manifest: at no moment does a manifest sit beside a table it
//! does not describe (its `table.sha256` names the table's hash). A crash between the two renames leaves
//! the new table without a manifest, never with the old one.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A file that could not be written or put in place.
#[derive(Debug, thiserror::Error)]
#[error("cannot write `{}`: {source}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// A temporary file `<prefix>XXXXXX.tmp` in `dir`, created with mode 0666 less the umask.
pub fn temp_file_in(dir: &Path, prefix: &str) -> std::io::Result<tempfile::NamedTempFile> {
    let mut b = tempfile::Builder::new();
    b.prefix(prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o666));
    }
    b.tempfile_in(dir)
}

/// Creates the folder of `path` and a temporary file beside it.
pub(super) fn temp_beside(path: &Path) -> Result<(std::fs::File, tempfile::TempPath), WriteError> {
    let io = |source| WriteError { path: path.to_path_buf(), source };
    let dir = folder_of(path);
    std::fs::create_dir_all(&dir).map_err(io)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("table");
    let tmp = temp_file_in(&dir, &format!(".{name}.")).map_err(io)?;
    Ok(tmp.into_parts())
}

fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A complete, fsynced file waiting beside its target; dropped unplaced, it is deleted.
pub struct Unplaced {
    tmp: tempfile::TempPath,
    path: PathBuf,
}

impl Unplaced {
    pub(super) fn new(tmp: tempfile::TempPath, path: &Path) -> Unplaced {
        Unplaced { tmp, path: path.to_path_buf() }
    }

    /// Where it goes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames it over its target and fsyncs the folder (so the rename survives a power cut).
    pub fn place(self) -> Result<(), WriteError> {
        let Unplaced { tmp, path } = self;
        let io = |source| WriteError { path: path.clone(), source };
        tmp.persist(&path).map_err(|e| io(e.error))?;
        #[cfg(unix)]
        std::fs::File::open(folder_of(&path)).and_then(|d| d.sync_all()).map_err(io)?;
        Ok(())
    }
}

/// Writes `bytes` into a temporary file beside `path` and fsyncs it, without replacing `path` yet.
pub fn write_unplaced(path: &Path, bytes: &[u8]) -> Result<Unplaced, WriteError> {
    let io = |source| WriteError { path: path.to_path_buf(), source };
    let (mut f, tmp) = temp_beside(path)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(Unplaced::new(tmp, path))
}

/// Writes a whole file atomically: temporary file beside it, fsync, rename, fsync of the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    write_unplaced(path, bytes)?.place()
}

/// Puts a table and its manifest in place together (see the module doc): the old manifest is moved aside
/// first and put back if the table cannot be renamed; it is deleted once both are in place.
pub fn place_pair(table: Unplaced, manifest: Unplaced) -> Result<(), WriteError> {
    let io = |path: PathBuf| move |source| WriteError { path, source };
    let mpath = manifest.path().to_path_buf();
    let name = mpath.file_name().and_then(|n| n.to_str()).unwrap_or("manifest");
    let aside = folder_of(&mpath).join(format!(".{name}.old"));
    let moved = match std::fs::rename(&mpath, &aside) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(io(mpath)(e)),
    };
    if let Err(e) = table.place() {
        if moved {
            let _ = std::fs::rename(&aside, &mpath);
        }
        return Err(e);
    }
    manifest.place()?;
    if moved {
        std::fs::remove_file(&aside).map_err(io(aside.clone()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_replaces_the_old_pair_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let (t, m) = (dir.path().join("t.csv"), dir.path().join("t.manifest.json"));
        write_atomic(&t, b"old table").unwrap();
        write_atomic(&m, b"old manifest").unwrap();
        let (nt, nm) = (write_unplaced(&t, b"new table").unwrap(), write_unplaced(&m, b"new manifest").unwrap());
        assert_eq!(std::fs::read_to_string(&t).unwrap(), "old table", "nothing replaced before placing");
        place_pair(nt, nm).unwrap();
        assert_eq!(std::fs::read_to_string(&t).unwrap(), "new table");
        assert_eq!(std::fs::read_to_string(&m).unwrap(), "new manifest");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "a temporary or set-aside file is left");
        // Dropped unplaced: deleted, the pair untouched.
        drop(write_unplaced(&t, b"never").unwrap());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_table_that_cannot_be_placed_keeps_the_old_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let (t, m) = (dir.path().join("t.csv"), dir.path().join("t.manifest.json"));
        write_atomic(&m, b"old manifest").unwrap();
        let nt = write_unplaced(&t, b"new table").unwrap();
        let nm = write_unplaced(&m, b"new manifest").unwrap();
        // A folder where the table goes: the rename fails.
        std::fs::create_dir_all(t.join("x")).unwrap();
        assert!(place_pair(nt, nm).is_err());
        assert_eq!(std::fs::read_to_string(&m).unwrap(), "old manifest");
    }
}
