//! The node's durable folders: what was acknowledged survives a crash.
//!
//! ```text
//! DATA/incoming/   instances being received (temporary; cleared at start: never acknowledged)
//! DATA/inbox/      acknowledged instances waiting for analysis       <key>.dcm
//! DATA/outbox/D/   results waiting for delivery to destination D    <key>.<kind>.dcm
//! DATA/results/    results kept here when no destination is configured
//! DATA/dead/D/     results that destination D kept refusing
//! DATA/failed/     instances that could not be analysed
//! ```
//!
//! Every file enters a folder by write, fsync, rename, fsync of the folder, so a file
//! seen in a folder is complete. An instance leaves the inbox only after its results are
//! in the outbox; a result leaves the outbox only after the destination confirmed it. The
//! folders are created readable by their owner only: they hold patient data.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::crashpoint;
use snafu::{ResultExt, Snafu};

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("spool I/O on {}", path.display()))]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

const INCOMING: &str = "incoming";
const INBOX: &str = "inbox";
const OUTBOX: &str = "outbox";
const RESULTS: &str = "results";
const DEAD: &str = "dead";
const FAILED: &str = "failed";

/// The spool rooted at one data folder.
#[derive(Debug)]
pub struct Spool {
    root: PathBuf,
    counter: AtomicU64,
}

/// A key names one received instance in every folder: the first 32 hex digits of the
/// sha256 of its SOP Instance UID, so that file names carry no identifier of the patient
/// and a re-sent instance replaces itself.
pub fn key_for(sop_instance_uid: &str) -> String {
    crate::model::manifest::sha256_hex(sop_instance_uid.as_bytes())[..32].to_string()
}

pub(crate) fn mkdir(path: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .context(IoSnafu { path })
}

/// fsync a folder so that a rename into it survives a power cut.
fn sync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .context(IoSnafu { path })
}

/// Writes `bytes` to `path` through a temporary sibling: write, fsync, rename, fsync folder.
pub(crate) fn write_durably(path: &Path, bytes: &[u8], mtime: Option<SystemTime>) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.part",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .context(IoSnafu { path: &tmp })?;
    f.write_all(bytes).context(IoSnafu { path: &tmp })?;
    if let Some(t) = mtime {
        f.set_modified(t).context(IoSnafu { path: &tmp })?;
    }
    f.sync_all().context(IoSnafu { path: &tmp })?;
    drop(f);
    crashpoint::hit("spool.result_synced");
    fs::rename(&tmp, path).context(IoSnafu { path })?;
    crashpoint::hit("spool.result_renamed");
    sync_dir(dir)
}

/// An instance being received into `incoming/`.
#[derive(Debug)]
pub struct Incoming {
    file: File,
    path: PathBuf,
    written: u64,
}

impl Incoming {
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.written += bytes.len() as u64;
        self.file
            .write_all(bytes)
            .context(IoSnafu { path: &self.path })
    }

    pub fn len(&self) -> u64 {
        self.written
    }

    pub fn is_empty(&self) -> bool {
        self.written == 0
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes the file durable and moves it into the inbox as `<key>.dcm`. Only after this
    /// returns may the sender be told the instance is stored.
    pub fn commit(self, spool: &Spool, key: &str) -> Result<PathBuf> {
        self.file.sync_all().context(IoSnafu { path: &self.path })?;
        crashpoint::hit("spool.commit_synced");
        let dest = spool.inbox_path(key);
        fs::rename(&self.path, &dest).context(IoSnafu { path: &dest })?;
        crashpoint::hit("spool.commit_renamed");
        sync_dir(&spool.root.join(INBOX))?;
        crashpoint::hit("spool.committed");
        Ok(dest)
    }

    /// Drops a partial or refused instance.
    pub fn discard(self) {
        // Nothing was acknowledged; if removal fails the next start clears incoming/.
        let _ = fs::remove_file(&self.path);
    }
}

impl Spool {
    /// Opens (creating) the folders. Partial files left in `incoming/` by a crash were never
    /// acknowledged, so they are removed: the sender got no success and will send again.
    pub fn open(root: &Path) -> Result<Spool> {
        for d in [INCOMING, INBOX, OUTBOX, RESULTS, DEAD, FAILED] {
            mkdir(&root.join(d))?;
        }
        let incoming = root.join(INCOMING);
        for entry in fs::read_dir(&incoming)
            .context(IoSnafu { path: &incoming })?
            .flatten()
        {
            let _ = fs::remove_file(entry.path());
        }
        Ok(Spool {
            root: root.to_path_buf(),
            counter: AtomicU64::new(0),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A new file in `incoming/`.
    pub fn incoming(&self) -> Result<Incoming> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let path = self
            .root
            .join(INCOMING)
            .join(format!("{}-{n}.part", std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .context(IoSnafu { path: &path })?;
        Ok(Incoming {
            file,
            path,
            written: 0,
        })
    }

    pub fn inbox_path(&self, key: &str) -> PathBuf {
        self.root.join(INBOX).join(format!("{key}.dcm"))
    }

    /// Keys waiting in the inbox, oldest first.
    pub fn inbox_keys(&self) -> Result<Vec<String>> {
        let mut items = list(&self.root.join(INBOX), ".dcm")?;
        items.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
        Ok(items
            .into_iter()
            .filter_map(|(p, _)| p.file_stem().map(|s| s.to_string_lossy().to_string()))
            .collect())
    }

    /// Removes an analysed instance from the inbox (after its results are in the outbox).
    pub fn finish_inbox(&self, key: &str) -> Result<()> {
        let p = self.inbox_path(key);
        match fs::remove_file(&p) {
            Ok(()) => sync_dir(&self.root.join(INBOX)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).context(IoSnafu { path: p }),
        }
    }

    /// Moves an instance that could not be analysed to `failed/`, so it is kept for a
    /// person to look at and not retried forever.
    pub fn fail_inbox(&self, key: &str) -> Result<()> {
        let from = self.inbox_path(key);
        let to = self.root.join(FAILED).join(format!("{key}.dcm"));
        fs::rename(&from, &to).context(IoSnafu { path: &to })?;
        sync_dir(&self.root.join(INBOX))
    }

    fn outbox_dir(&self, destination: &str) -> PathBuf {
        self.root.join(OUTBOX).join(destination)
    }

    /// Puts a result for `destination` (None: the local results folder). Its modification
    /// time is set to `received`, when the source instance arrived, for latency metrics.
    pub fn put_result(
        &self,
        destination: Option<&str>,
        name: &str,
        bytes: &[u8],
        received: SystemTime,
    ) -> Result<PathBuf> {
        let dir = match destination {
            Some(d) => self.outbox_dir(d),
            None => self.root.join(RESULTS),
        };
        mkdir(&dir)?;
        let path = dir.join(name);
        write_durably(&path, bytes, Some(received))?;
        Ok(path)
    }

    /// Results waiting for `destination`, oldest first, with their receipt times.
    pub fn outbox(&self, destination: &str) -> Result<Vec<(PathBuf, SystemTime)>> {
        let dir = self.outbox_dir(destination);
        mkdir(&dir)?;
        let mut items = list(&dir, ".dcm")?;
        items.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
        Ok(items)
    }

    /// Bytes free for an unprivileged writer on the spool's file system.
    pub fn free_bytes(&self) -> Result<u64> {
        let st = rustix::fs::statvfs(&self.root)
            .map_err(std::io::Error::from)
            .context(IoSnafu { path: &self.root })?;
        Ok(st.f_bavail.saturating_mul(st.f_frsize))
    }

    /// Number of instances waiting in the inbox for analysis.
    pub fn inbox_len(&self) -> usize {
        list(&self.root.join(INBOX), ".dcm").map_or(0, |v| v.len())
    }

    /// Number of files waiting in the inbox and in all outboxes.
    pub fn depth(&self) -> (usize, usize) {
        let inbox = self.inbox_len();
        let outbox = fs::read_dir(self.root.join(OUTBOX))
            .map(|rd| {
                rd.flatten()
                    .map(|d| list(&d.path(), ".dcm").map_or(0, |v| v.len()))
                    .sum()
            })
            .unwrap_or(0);
        (inbox, outbox)
    }

    /// Removes a delivered result.
    pub fn delivered(&self, path: &Path) -> Result<()> {
        match fs::remove_file(path) {
            Ok(()) => sync_dir(path.parent().unwrap_or(Path::new("."))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).context(IoSnafu { path }),
        }
    }

    /// Moves a result that `destination` keeps refusing to `dead/<destination>/`.
    pub fn dead_letter(&self, destination: &str, path: &Path) -> Result<PathBuf> {
        let dir = self.root.join(DEAD).join(destination);
        mkdir(&dir)?;
        let to = dir.join(path.file_name().unwrap_or_default());
        fs::rename(path, &to).context(IoSnafu { path: &to })?;
        sync_dir(&dir)?;
        Ok(to)
    }
}

/// Files in `dir` ending in `suffix` (no temporary `.part` files), with modification times.
fn list(dir: &Path, suffix: &str) -> Result<Vec<(PathBuf, SystemTime)>> {
    let rd = fs::read_dir(dir).context(IoSnafu { path: dir })?;
    Ok(rd
        .flatten()
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.ends_with(suffix) && !n.starts_with('.')
        })
        .filter_map(|e| {
            let t = e.metadata().and_then(|m| m.modified()).ok()?;
            Some((e.path(), t))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn acknowledged_instances_survive_and_partials_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let mut a = spool.incoming().unwrap();
        a.write(b"complete").unwrap();
        a.commit(&spool, "k1").unwrap();
        let mut b = spool.incoming().unwrap();
        b.write(b"half").unwrap();
        std::mem::forget(b); // a crash mid-receive
        drop(spool);
        let spool = Spool::open(dir.path()).unwrap();
        assert_eq!(spool.inbox_keys().unwrap(), vec!["k1".to_string()]);
        assert_eq!(fs::read(spool.inbox_path("k1")).unwrap(), b"complete");
        assert_eq!(fs::read_dir(dir.path().join(INCOMING)).unwrap().count(), 0);
    }

    #[test]
    fn results_flow_through_outbox_to_delivered_or_dead() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        let p = spool
            .put_result(Some("PACS"), "k1.sr.dcm", b"sr", t)
            .unwrap();
        spool
            .put_result(Some("PACS"), "k1.pr.dcm", b"pr", t)
            .unwrap();
        let items = spool.outbox("PACS").unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].1, t, "receipt time kept as mtime");
        assert_eq!(spool.depth(), (0, 2));
        spool.delivered(&p).unwrap();
        let dead = spool
            .dead_letter("PACS", &items[0].0.with_file_name("k1.pr.dcm"))
            .unwrap();
        assert!(dead.starts_with(dir.path().join("dead/PACS")));
        assert_eq!(spool.depth(), (0, 0));
    }

    #[test]
    fn folders_are_private() {
        let dir = tempfile::tempdir().unwrap();
        Spool::open(&dir.path().join("data")).unwrap();
        for d in [INBOX, OUTBOX, INCOMING] {
            let mode = fs::metadata(dir.path().join("data").join(d))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{d} is {mode:o}");
        }
    }

    #[test]
    fn keys_hide_the_uid_and_are_stable() {
        let k = key_for("1.2.826.0.1.3680043.2.1125.1");
        assert_eq!(k.len(), 32);
        assert_eq!(k, key_for("1.2.826.0.1.3680043.2.1125.1"));
        assert!(!k.contains("1.2.826"));
    }
}
