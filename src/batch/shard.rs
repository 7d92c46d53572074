//! Which shard a film belongs to, and which shard this process is.
//!
//! A film goes to shard `h mod N`, where `h` is the first 8 bytes (big-endian) of the
//! SHA-256 of its SOP Instance UID: the same on every run, machine and Rust version
//! (unlike `std`'s `DefaultHasher`), so shard `I` of `N` is the same set whenever it is
//! rerun, and every film is in exactly one shard.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};
use snafu::{OptionExt, ResultExt, Snafu, ensure};

/// The variable that tells a Kubernetes Indexed Job's pods how many completions there
/// are: Kubernetes sets only `JOB_COMPLETION_INDEX`, so the manifest passes the count.
pub const SHARD_COUNT_ENV: &str = "RAJOINTS_SHARD_COUNT";

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("a shard is written I/N with 0 <= I < N, got `{text}`"))]
    Syntax { text: String },
    #[snafu(display("{var}=`{value}` is not a whole number"))]
    EnvNumber {
        var: &'static str,
        value: String,
        source: std::num::ParseIntError,
    },
    #[snafu(display(
        "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not: submit with sbatch --array"
    ))]
    SlurmCount,
    #[snafu(display(
        "Slurm array task {id} is not task MIN + k * STEP (min {min}, step {step}, count {count}): \
         use a plain range such as --array=0-{}, or pass --shard",
        count.saturating_sub(1)
    ))]
    SlurmLayout {
        id: u64,
        min: u64,
        step: u64,
        count: u64,
    },
    #[snafu(display(
        "JOB_COMPLETION_INDEX is set but {SHARD_COUNT_ENV} is not: set it to the Job's \
         completions (Kubernetes does not expose them), or pass --shard"
    ))]
    KubernetesCount,
}

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u64,
    count: u64,
}

impl Shard {
    /// The whole batch as one shard.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    pub fn new(index: u64, count: u64) -> Option<Shard> {
        (count > 0 && index < count).then_some(Shard { index, count })
    }

    pub fn index(self) -> u64 {
        self.index
    }

    pub fn count(self) -> u64 {
        self.count
    }

    /// Whether the film with this SOP Instance UID is in this shard.
    pub fn contains(self, sop_instance_uid: &str) -> bool {
        shard_of(sop_instance_uid, self.count) == self.index
    }

    /// The folder name of this shard's table and failures: `shard-I-of-N`.
    pub fn dir_name(self) -> String {
        format!("shard-{}-of-{}", self.index, self.count)
    }

    /// The shard a folder named by [`Shard::dir_name`] holds.
    pub fn from_dir_name(name: &str) -> Option<Shard> {
        let (i, n) = name.strip_prefix("shard-")?.split_once("-of-")?;
        Shard::new(i.parse().ok()?, n.parse().ok()?)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = Error;

    fn from_str(text: &str) -> Result<Shard, Error> {
        let parsed = text
            .split_once('/')
            .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
        parsed
            .and_then(|(i, n)| Shard::new(i, n))
            .context(SyntaxSnafu { text })
    }
}

/// The shard (0..count) of the film with this SOP Instance UID; `count` 0 counts as 1.
pub fn shard_of(sop_instance_uid: &str, count: u64) -> u64 {
    let digest = Sha256::digest(sop_instance_uid.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % count.max(1)
}

/// Where the shard of a run came from, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Flag,
    Slurm,
    Kubernetes,
    /// No flag and no scheduler: the whole batch.
    Whole,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Flag => "--shard",
            Source::Slurm => "Slurm array (SLURM_ARRAY_TASK_ID)",
            Source::Kubernetes => "Kubernetes Indexed Job (JOB_COMPLETION_INDEX)",
            Source::Whole => "no shard given: the whole batch",
        })
    }
}

/// This process's shard: `flag` when given, else a Slurm array task
/// (`SLURM_ARRAY_TASK_ID`, `_COUNT`, `_MIN`, `_STEP`), else a Kubernetes Indexed Job
/// (`JOB_COMPLETION_INDEX` and [`SHARD_COUNT_ENV`]), else the whole batch. `env` looks a
/// variable up (`std::env::var`, or a map in tests).
pub fn resolve(
    flag: Option<Shard>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(Shard, Source), Error> {
    if let Some(s) = flag {
        return Ok((s, Source::Flag));
    }
    let num = |var: &'static str| -> Result<Option<u64>, Error> {
        env(var)
            .map(|v| v.trim().parse().context(EnvNumberSnafu { var, value: v }))
            .transpose()
    };
    if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
        let count = num("SLURM_ARRAY_TASK_COUNT")?.context(SlurmCountSnafu)?;
        // Task ids run MIN, MIN + STEP, ... (`--array=1-3` starts at 1, `0-10:2` steps by 2).
        let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let step = num("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
        let layout = SlurmLayoutSnafu {
            id,
            min,
            step,
            count,
        };
        ensure!(id >= min && (id - min) % step == 0, layout);
        let shard = Shard::new((id - min) / step, count).context(layout)?;
        return Ok((shard, Source::Slurm));
    }
    if let Some(index) = num("JOB_COMPLETION_INDEX")? {
        let count = num(SHARD_COUNT_ENV)?.context(KubernetesCountSnafu)?;
        let shard = Shard::new(index, count).context(SyntaxSnafu {
            text: format!("{index}/{count}"),
        })?;
        return Ok((shard, Source::Kubernetes));
    }
    Ok((Shard::ALL, Source::Whole))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Worked by hand: `printf 1.2.3 | sha256sum` starts c47f5b18b8a430e6, which is
    /// 14159135915211239654; mod 3 is 2 and mod 4 is 2. `2.25.1` starts 49b1b035c2cf7aa7
    /// = 5310219180594657959; mod 3 is 2 and mod 4 is 3.
    #[test]
    fn shard_of_is_the_first_eight_digest_bytes_mod_n() {
        assert_eq!(shard_of("1.2.3", u64::MAX), 14159135915211239654);
        assert_eq!(shard_of("1.2.3", 3), 2);
        assert_eq!(shard_of("1.2.3", 4), 2);
        assert_eq!(shard_of("2.25.1", 3), 2);
        assert_eq!(shard_of("2.25.1", 4), 3);
        assert_eq!(shard_of("2.25.1", 1), 0);
        assert_eq!(shard_of("2.25.1", 0), 0);
    }

    /// Property-style: for many UIDs and shard counts, every UID is in exactly one shard,
    /// the same one each time, and the shards are roughly even.
    #[test]
    fn shards_are_disjoint_complete_stable_and_even() {
        let uids: Vec<String> = (0..20_000u64)
            .map(|i| format!("2.25.{}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 3))
            .collect();
        for n in [1u64, 2, 3, 5, 7, 16, 100] {
            let mut sizes = vec![0usize; n as usize];
            for uid in &uids {
                let members: Vec<u64> = (0..n)
                    .filter(|&i| Shard::new(i, n).is_some_and(|s| s.contains(uid)))
                    .collect();
                assert_eq!(members.len(), 1, "{uid} in {members:?} of {n}");
                assert_eq!(members[0], shard_of(uid, n), "stable");
                sizes[members[0] as usize] += 1;
            }
            let mean = uids.len() as f64 / n as f64;
            for s in sizes {
                assert!(
                    (s as f64 - mean).abs() < 5.0 * mean.sqrt() + 1.0,
                    "{n}: {s}"
                );
            }
        }
    }

    #[test]
    fn parses_and_names_shards() {
        assert_eq!("2/3".parse::<Shard>().ok(), Shard::new(2, 3));
        assert_eq!(" 0 / 1 ".parse::<Shard>().ok(), Some(Shard::ALL));
        for bad in ["3/3", "1/0", "x/2", "1", "-1/2", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let s = Shard::new(4, 12).unwrap();
        assert_eq!(s.dir_name(), "shard-4-of-12");
        assert_eq!(Shard::from_dir_name("shard-4-of-12"), Some(s));
        assert_eq!(Shard::from_dir_name("shard-12-of-12"), None);
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn resolves_the_shard_from_the_scheduler() {
        let flag = Shard::new(1, 2);
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ]);
        assert_eq!(
            resolve(flag, &slurm).unwrap(),
            (flag.unwrap(), Source::Flag)
        );
        assert_eq!(
            resolve(None, &slurm).unwrap(),
            (Shard::new(2, 3).unwrap(), Source::Slurm)
        );
        // --array=1-3: ids 1, 2, 3 are shards 0, 1, 2.
        let one_based = env(&[
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
        ]);
        assert_eq!(
            resolve(None, one_based).unwrap().0,
            Shard::new(2, 3).unwrap()
        );
        // --array=0-8:4: ids 0, 4, 8 are shards 0, 1, 2; id 5 is not a task of it.
        let stepped = |id: &str| {
            env(&[
                ("SLURM_ARRAY_TASK_ID", id),
                ("SLURM_ARRAY_TASK_COUNT", "3"),
                ("SLURM_ARRAY_TASK_MIN", "0"),
                ("SLURM_ARRAY_TASK_STEP", "4"),
            ])
        };
        assert_eq!(
            resolve(None, stepped("8")).unwrap().0,
            Shard::new(2, 3).unwrap()
        );
        assert!(resolve(None, stepped("5")).is_err());
        assert!(resolve(None, env(&[("SLURM_ARRAY_TASK_ID", "0")])).is_err());
        assert!(
            resolve(
                None,
                env(&[
                    ("SLURM_ARRAY_TASK_ID", "x"),
                    ("SLURM_ARRAY_TASK_COUNT", "3")
                ])
            )
            .is_err()
        );
        let k8s = env(&[("JOB_COMPLETION_INDEX", "4"), (SHARD_COUNT_ENV, "5")]);
        assert_eq!(
            resolve(None, k8s).unwrap(),
            (Shard::new(4, 5).unwrap(), Source::Kubernetes)
        );
        assert!(resolve(None, env(&[("JOB_COMPLETION_INDEX", "0")])).is_err());
        assert!(
            resolve(
                None,
                env(&[("JOB_COMPLETION_INDEX", "5"), (SHARD_COUNT_ENV, "5")])
            )
            .is_err()
        );
        assert_eq!(
            resolve(None, env(&[])).unwrap(),
            (Shard::ALL, Source::Whole)
        );
    }
}
