//! Accounts, logins and sessions of the review UI.
//!
//! Accounts live in `DATA/users.json` (`rajoints-users/1`), passwords as Argon2id PHC
//! strings; the file is read at each login, so `rajoints users add` takes effect on a
//! running node. Sessions live in memory (a restart logs everyone out): a random token in
//! an HttpOnly, SameSite=Strict cookie, and a second random token that every change must
//! carry in the `X-CSRF-Token` header.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};
use snafu::{ResultExt, Snafu, ensure};

use crate::review::check_user_name;
use crate::spool;

/// The value of the users file's `format` field.
pub const FORMAT: &str = "rajoints-users/1";

/// The session cookie's name.
pub const COOKIE: &str = "rajoints_session";

/// Shortest password accepted (NIST SP 800-63B asks for at least 8).
pub const MIN_PASSWORD: usize = 8;

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("could not read {}", path.display()))]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[snafu(display("{} is not a valid users file", path.display()))]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[snafu(display("{}: format is `{found}`, expected `{FORMAT}`", path.display()))]
    Format { path: PathBuf, found: String },
    #[snafu(display("could not write the users file"))]
    Write { source: spool::Error },
    #[snafu(display("invalid user name"))]
    Name { source: crate::review::Error },
    #[snafu(display("user {name} exists already"))]
    Exists { name: String },
    #[snafu(display("no user {name}"))]
    NoUser { name: String },
    #[snafu(display("the password must have at least {MIN_PASSWORD} characters"))]
    ShortPassword,
    #[snafu(display("could not hash the password: {message}"))]
    Hash { message: String },
}

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Saves annotations (drafts).
    Annotator,
    /// Also sees other annotators' work and signs off (VERIFIED SR).
    Reviewer,
    /// Also reads the audit log.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Annotator => "annotator",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }

    /// May sign off and see others' annotations.
    pub fn reviews(self) -> bool {
        matches!(self, Role::Reviewer | Role::Admin)
    }
}

/// One account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub role: Role,
    /// The person's name as a DICOM PN (`Family^Given`), used as Verifying Observer Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    /// Argon2id PHC string.
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct UsersFile {
    format: String,
    users: Vec<User>,
}

/// The accounts file.
#[derive(Debug, Clone)]
pub struct Users {
    path: PathBuf,
}

fn hash(password: &str) -> Result<String, Error> {
    ensure!(password.chars().count() >= MIN_PASSWORD, ShortPasswordSnafu);
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).map_err(|e| Error::Hash {
        message: e.to_string(),
    })?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Hash {
        message: e.to_string(),
    })?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Hash {
            message: e.to_string(),
        })
}

impl Users {
    pub fn new(data_dir: &Path) -> Users {
        Users {
            path: data_dir.join("users.json"),
        }
    }

    /// All accounts; none when the file does not exist yet.
    pub fn load(&self) -> Result<Vec<User>, Error> {
        let text = match std::fs::read(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).context(ReadSnafu { path: &self.path }),
        };
        let f: UsersFile =
            serde_json::from_slice(&text).context(ParseSnafu { path: &self.path })?;
        ensure!(
            f.format == FORMAT,
            FormatSnafu {
                path: &self.path,
                found: f.format
            }
        );
        Ok(f.users)
    }

    fn store(&self, users: Vec<User>) -> Result<(), Error> {
        if let Some(dir) = self.path.parent() {
            spool::mkdir(dir).context(WriteSnafu)?;
        }
        let f = UsersFile {
            format: FORMAT.to_string(),
            users,
        };
        let mut bytes = serde_json::to_vec_pretty(&f).context(ParseSnafu { path: &self.path })?;
        bytes.push(b'\n');
        spool::write_durably(&self.path, &bytes, None).context(WriteSnafu)
    }

    /// Adds an account.
    pub fn add(
        &self,
        name: &str,
        role: Role,
        full_name: Option<&str>,
        password: &str,
    ) -> Result<(), Error> {
        check_user_name(name).context(NameSnafu)?;
        let mut users = self.load()?;
        ensure!(!users.iter().any(|u| u.name == name), ExistsSnafu { name });
        users.push(User {
            name: name.to_string(),
            role,
            full_name: full_name.map(str::to_string),
            password: hash(password)?,
        });
        self.store(users)
    }

    /// Sets a new password.
    pub fn set_password(&self, name: &str, password: &str) -> Result<(), Error> {
        let mut users = self.load()?;
        let u = users
            .iter_mut()
            .find(|u| u.name == name)
            .ok_or_else(|| Error::NoUser { name: name.into() })?;
        u.password = hash(password)?;
        self.store(users)
    }

    /// Removes an account.
    pub fn remove(&self, name: &str) -> Result<(), Error> {
        let mut users = self.load()?;
        let n = users.len();
        users.retain(|u| u.name != name);
        ensure!(users.len() < n, NoUserSnafu { name });
        self.store(users)
    }

    /// The account when `password` is its password. Slow on purpose (Argon2id); a missing
    /// account costs the same as a wrong password, so names cannot be probed by timing.
    pub fn verify(&self, name: &str, password: &str) -> Result<Option<User>, Error> {
        let users = self.load()?;
        let user = users.into_iter().find(|u| u.name == name);
        // A hash to check against when there is no such user, made once.
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let dummy = DUMMY.get_or_init(|| hash("no such user here").unwrap_or_default());
        let phc = user
            .as_ref()
            .map_or(dummy.as_str(), |u| u.password.as_str());
        let ok = PasswordHash::new(phc).is_ok_and(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        });
        Ok(if ok { user } else { None })
    }
}

/// A random token, 32 bytes as hex.
pub fn token() -> String {
    let mut b = [0u8; 32];
    // The OS generator does not fail on Linux once booted; a zero token would be guessable,
    // so fall back to something unique per process and time rather than panic.
    if getrandom::getrandom(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        use sha2::Digest;
        b = sha2::Sha256::digest(format!("{t}{}", std::process::id()).as_bytes()).into();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Compares two tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A logged-in user.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub role: Role,
    pub full_name: Option<String>,
    pub csrf: String,
    /// The account's password hash at login: a new password, a new role or a removed
    /// account ends the session at its next request.
    password: String,
    last_seen: Instant,
}

impl Session {
    /// Whether the account still is as it was at login.
    pub fn still_valid(&self, users: &[User]) -> bool {
        users
            .iter()
            .any(|u| u.name == self.user && u.password == self.password && u.role == self.role)
    }
}

/// Failed logins per user name in the last window: after `MAX_FAILURES`, that name is
/// locked for the rest of the window (online guessing gets 5 tries per 5 minutes).
const MAX_FAILURES: usize = 5;
const FAILURE_WINDOW: Duration = Duration::from_secs(300);

/// The sessions of a running node.
#[derive(Debug)]
pub struct Sessions {
    ttl: Duration,
    map: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl Sessions {
    pub fn new(ttl: Duration) -> Sessions {
        Sessions {
            ttl,
            map: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Starts a session; returns its token.
    pub fn start(&self, user: &User) -> String {
        let t = token();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let ttl = self.ttl;
        map.retain(|_, s| s.last_seen.elapsed() < ttl);
        map.insert(
            t.clone(),
            Session {
                user: user.name.clone(),
                role: user.role,
                full_name: user.full_name.clone(),
                csrf: token(),
                password: user.password.clone(),
                last_seen: Instant::now(),
            },
        );
        t
    }

    /// The live session of `token`, refreshed.
    pub fn get(&self, token: &str) -> Option<Session> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let s = map.get_mut(token)?;
        if s.last_seen.elapsed() >= self.ttl {
            map.remove(token);
            return None;
        }
        s.last_seen = Instant::now();
        Some(s.clone())
    }

    pub fn end(&self, token: &str) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(token);
    }

    /// Whether `name` may try to log in now.
    pub fn may_try(&self, name: &str) -> bool {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let v = f.entry(name.to_string()).or_default();
        v.retain(|t| t.elapsed() < FAILURE_WINDOW);
        v.len() < MAX_FAILURES
    }

    pub fn failed(&self, name: &str) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        f.entry(name.to_string()).or_default().push(Instant::now());
    }

    pub fn succeeded(&self, name: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }
}

/// The value of cookie `name` in a Cookie header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_verify_only_their_own_password() {
        let dir = tempfile::tempdir().unwrap();
        let users = Users::new(dir.path());
        users
            .add("alice", Role::Reviewer, Some("Doe^Alice"), "correct horse")
            .unwrap();
        assert!(matches!(
            users.add("alice", Role::Admin, None, "another one"),
            Err(Error::Exists { .. })
        ));
        assert!(matches!(
            users.add("bob", Role::Admin, None, "short"),
            Err(Error::ShortPassword)
        ));
        let text = std::fs::read_to_string(dir.path().join("users.json")).unwrap();
        assert!(text.contains("$argon2id$") && !text.contains("correct horse"));
        let u = users.verify("alice", "correct horse").unwrap().unwrap();
        assert_eq!(
            (u.role, u.full_name.as_deref()),
            (Role::Reviewer, Some("Doe^Alice"))
        );
        assert!(users.verify("alice", "correct horsE").unwrap().is_none());
        assert!(users.verify("nobody", "correct horse").unwrap().is_none());
        users.set_password("alice", "battery staple").unwrap();
        assert!(users.verify("alice", "correct horse").unwrap().is_none());
        assert!(users.verify("alice", "battery staple").unwrap().is_some());
        users.remove("alice").unwrap();
        assert!(users.verify("alice", "battery staple").unwrap().is_none());
        std::fs::write(
            dir.path().join("users.json"),
            r#"{"format": "rajoints-users/9", "users": []}"#,
        )
        .unwrap();
        assert!(matches!(users.load(), Err(Error::Format { .. })));
    }

    #[test]
    fn sessions_expire_and_logins_lock_after_five_failures() {
        let s = Sessions::new(Duration::from_millis(50));
        let u = User {
            name: "a".into(),
            role: Role::Annotator,
            full_name: None,
            password: String::new(),
        };
        let t = s.start(&u);
        assert_eq!(t.len(), 64);
        let got = s.get(&t).unwrap();
        assert_eq!(got.csrf.len(), 64);
        assert_ne!(got.csrf, t);
        std::thread::sleep(Duration::from_millis(60));
        assert!(s.get(&t).is_none());
        for _ in 0..5 {
            assert!(s.may_try("a"));
            s.failed("a");
        }
        assert!(!s.may_try("a"));
        assert!(s.may_try("b"));
        assert!(same_token("abc", "abc") && !same_token("abc", "abd") && !same_token("a", "ab"));
        assert_eq!(
            cookie("x=1; rajoints_session=tok; y=2", COOKIE),
            Some("tok")
        );
        assert_eq!(cookie("x=1", COOKIE), None);
    }
}
