//! One daemon per data directory: an exclusive OS lock on
//! `DATA_DIR/supportprobe.lock`, held for the life of the process that
//! changes things at vendors (`run`, `once`). A second one started by
//! mistake — systemd plus a shell — exits at once and names the holder.
//! Read-only commands (`probes`, `check`, `report`) and `record` take no lock:
//! the store's own transactions keep them safe beside a running daemon.
//!
//! The lock is the OS's (`flock`), so a killed process releases it; the
//! file's text (pid, host, since) only says who holds it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "supportprobe.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another supportprobe is already running on the data directory {dir} ({holder}); \
         stop it first, or give this one its own data_dir"
    )]
    Held { dir: PathBuf, holder: String },
    #[error("cannot lock the data directory {dir}: {source}")]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Held for as long as it lives; dropping it releases the directory.
#[derive(Debug)]
pub struct DataDirLock {
    file: File,
    pub path: PathBuf,
    /// `pid N on HOST since T`: what a second process is told.
    holder: String,
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown host".into())
}

impl DataDirLock {
    /// Takes the data directory's lock, or says who holds it.
    pub fn acquire(dir: &Path) -> Result<DataDirLock, LockError> {
        let io = |source| LockError::Io { dir: dir.to_path_buf(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        let path = dir.join(LOCK_FILE);
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let holder = text.trim();
                let holder = if holder.is_empty() { "holder unknown".to_string() } else { holder.to_string() };
                return Err(LockError::Held { dir: dir.to_path_buf(), holder });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let holder = format!("pid {} on {} since {since}", std::process::id(), host());
        rewrite(&mut file, &holder).map_err(io)?;
        Ok(DataDirLock { file, path, holder })
    }

    /// Adds where the holder serves HTTP (`…, listening on 127.0.0.1:9897`),
    /// so a `once` beside it can tell it about a new probe even when the
    /// config says port 0.
    pub fn announce_listen(&mut self, addr: std::net::SocketAddr) -> std::io::Result<()> {
        rewrite(&mut self.file, &format!("{}, listening on {addr}", self.holder))
    }
}

/// Replaces the lock file's text (what a second process is told) with `holder`.
fn rewrite(file: &mut File, holder: &str) -> std::io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(format!("{holder}\n").as_bytes())?;
    file.sync_data()
}

/// The address a lock holder announced (`listening on ADDR`), if any.
pub fn announced_listen(holder: &str) -> Option<std::net::SocketAddr> {
    holder.split("listening on ").nth(1)?.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_told_who_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path()).unwrap();
        let e = DataDirLock::acquire(dir.path()).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, LockError::Held { .. }), "{msg}");
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
        assert!(msg.contains(&format!("pid {}", std::process::id())) && msg.contains(" since "), "{msg}");
        drop(first);
        DataDirLock::acquire(dir.path()).expect("released when the holder is gone");
        let mut again = DataDirLock::acquire(dir.path()).unwrap();
        again.announce_listen("127.0.0.1:4567".parse().unwrap()).unwrap();
        let LockError::Held { holder, .. } = DataDirLock::acquire(dir.path()).unwrap_err() else { panic!() };
        assert_eq!(announced_listen(&holder), Some("127.0.0.1:4567".parse().unwrap()), "{holder}");
        assert!(holder.starts_with(&format!("pid {}", std::process::id())), "{holder}");
    }
}
