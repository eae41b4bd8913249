//! One fetch per pipeline at a time: `geepipe fetch` (and the fetch at the end of `geepipe run`) holds an
//! exclusive lock on `<journal folder>/downloads/<pipeline name>.lock` while it downloads and writes the
//! table, so two fetches of the same pipeline never write the same files at once. The second one waits,
//! saying for whom, then finds the files already downloaded.
//!
//! An advisory `flock(2)` lock (through `libc`; `std::fs::File::lock` is newer than the crate's minimum
//! Rust): the kernel releases it when the process ends, even by SIGKILL, so a stale lock file never
//! blocks anyone. The holder's pid is written into the file for the waiting one's message. Elsewhere than
//! Unix there is no lock.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file of `download_dir` (`…/downloads/<name>` → `…/downloads/<name>.lock`).
pub fn path_for(download_dir: &Path) -> PathBuf {
    let mut s = download_dir.as_os_str().to_os_string();
    s.push(".lock");
    PathBuf::from(s)
}

/// A held fetch lock (released when dropped or when the process ends).
pub struct FetchLock {
    _file: std::fs::File,
}

impl FetchLock {
    /// Takes the lock at `path`; when another process holds it, calls `waiting` with that process's pid
    /// (when known) and waits for it.
    pub fn acquire(path: &Path, waiting: impl FnOnce(Option<u32>)) -> std::io::Result<FetchLock> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            let fd = file.as_raw_fd();
            // SAFETY: flock on a descriptor this function owns.
            if unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
                    return Err(e);
                }
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                waiting(text.trim().parse().ok());
                // SAFETY: as above; retried when a signal interrupts the wait.
                while unsafe { libc::flock(fd, libc::LOCK_EX) } != 0 {
                    let e = std::io::Error::last_os_error();
                    if e.kind() != std::io::ErrorKind::Interrupted {
                        return Err(e);
                    }
                }
            }
        }
        #[cfg(not(unix))]
        let _ = waiting;
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(std::process::id().to_string().as_bytes())?;
        Ok(FetchLock { _file: file })
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_for(&dir.path().join("downloads/p"));
        assert!(path.ends_with("downloads/p.lock"));
        let first = FetchLock::acquire(&path, |_| panic!("nobody holds it yet")).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let p = path.clone();
        let second = std::thread::spawn(move || {
            let lock = FetchLock::acquire(&p, |pid| tx.send(pid).unwrap()).unwrap();
            drop(lock);
        });
        let pid = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("the second one waits");
        assert_eq!(pid, Some(std::process::id()));
        drop(first);
        second.join().unwrap();
        // Free again.
        FetchLock::acquire(&path, |_| panic!("released")).unwrap();
    }
}
