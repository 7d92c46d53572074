//! The audit log of the review UI: who did what, when, to which film. One JSON object per
//! line in `DATA/audit.log`, appended and fsynced before the change is answered. Films are
//! named by their key; no patient data is written.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use snafu::{ResultExt, Snafu};

#[derive(Debug, Snafu)]
#[snafu(display("could not append to the audit log {}", path.display()))]
pub struct Error {
    path: PathBuf,
    source: std::io::Error,
}

/// One line of the log.
#[derive(Debug, Serialize)]
pub struct Entry<'a> {
    pub time: String,
    pub user: &'a str,
    /// `login`, `login_failed`, `logout`, `save`, `sign_off`, `user_add`, ...
    pub action: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub film: Option<&'a str>,
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
}

/// `DATA/audit.log`.
#[derive(Debug)]
pub struct Audit {
    path: PathBuf,
    lock: Mutex<()>,
}

impl Audit {
    pub fn new(data_dir: &Path) -> Audit {
        Audit {
            path: data_dir.join("audit.log"),
            lock: Mutex::new(()),
        }
    }

    /// Appends `entry` durably.
    pub fn write(&self, entry: &Entry<'_>) -> Result<(), Error> {
        let mut line = serde_json::to_vec(entry).unwrap_or_default();
        line.push(b'\n');
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)
            .context(Snafu { path: &self.path })?;
        f.write_all(&line).context(Snafu { path: &self.path })?;
        f.sync_data().context(Snafu { path: &self.path })
    }

    /// The last `n` lines, oldest first.
    pub fn tail(&self, n: usize) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..]
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_append_as_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let a = Audit::new(dir.path());
        for action in ["login", "save"] {
            a.write(&Entry {
                time: "t".into(),
                user: "alice",
                action,
                film: Some("f"),
                detail: serde_json::Value::Null,
            })
            .unwrap();
        }
        let t = a.tail(10);
        assert_eq!(t.len(), 2);
        assert_eq!(t[1]["action"], "save");
        assert!(t[0].get("detail").is_none());
        assert_eq!(a.tail(1).len(), 1);
    }
}
