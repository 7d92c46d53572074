//! A one-node Slurm cluster on loopback for tests: slurmctld and slurmd from Debian
//! (`make deps` installs them), configured in a temporary folder, on free ports, with
//! `auth/none` (Slurm 22.05 still has it; nothing leaves 127.0.0.1). Stopped on drop.
//! Included by tests/batch.rs with `#[path]`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on loopback (bound, then released for Slurm to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Slurm {
    pub dir: PathBuf,
    pub conf: PathBuf,
    daemons: Vec<Child>,
}

/// One array task's end, from `scontrol show job`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub id: u32,
    pub state: String,
    pub exit_code: String,
}

impl Slurm {
    /// Starts slurmctld and slurmd with state, spool and logs under `dir`, and waits for
    /// the node to be idle.
    pub fn start(dir: &Path) -> Slurm {
        for tool in ["slurmctld", "slurmd", "sbatch", "squeue", "scontrol"] {
            assert!(
                Command::new("sh")
                    .args(["-c", &format!("command -v {tool}")])
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success()),
                "{tool} missing: run `make deps` (Debian packages slurmctld slurmd slurm-client)"
            );
        }
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
        let d = dir.display();
        for sub in ["state", "spool"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let conf = dir.join("slurm.conf");
        std::fs::write(
            &conf,
            format!(
                "ClusterName=rajoints-test
SlurmctldHost=localhost
SlurmctldPort={ctld}
SlurmdPort={slurmd}
AuthType=auth/none
CredType=cred/none
SlurmUser={user}
SlurmdUser={user}
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
MinJobAge=3600
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=8192 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
",
                ctld = free_port(),
                slurmd = free_port(),
            ),
        )
        .unwrap();
        let daemon = |prog: &str, extra: &[&str], log: &str| {
            let log = std::fs::File::create(dir.join(log)).unwrap();
            Command::new(prog)
                .arg("-D")
                .arg("-f")
                .arg(&conf)
                .args(extra)
                .env("SLURM_CONF", &conf)
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("start {prog}: {e}"))
        };
        // -i: ignore state left by an earlier run (there is none, but be sure).
        let ctld = daemon("slurmctld", &["-i"], "slurmctld.out");
        let slurmd = daemon("slurmd", &["-N", "localhost"], "slurmd.out");
        let slurm = Slurm {
            dir: dir.to_path_buf(),
            conf,
            daemons: vec![ctld, slurmd],
        };
        let t = Instant::now();
        loop {
            let out = slurm
                .cmd("sinfo")
                .args(["-h", "-o", "%T"])
                .output()
                .unwrap();
            let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if state == "idle" {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "Slurm node not idle after 60 s (sinfo: `{state}`); logs:\n{}",
                slurm.logs()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        slurm
    }

    /// A Slurm client command pointed at this cluster.
    pub fn cmd(&self, prog: &str) -> Command {
        let mut c = Command::new(prog);
        c.env("SLURM_CONF", &self.conf);
        c
    }

    pub fn logs(&self) -> String {
        ["slurmctld.log", "slurmd.log", "slurmctld.out", "slurmd.out"]
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(self.dir.join(f)).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                format!(
                    "--- {f}\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Submits with `sbatch --parsable` (`cmd` holds its options, script and arguments)
    /// and returns the job id.
    pub fn submit(&self, mut cmd: Command) -> String {
        cmd.env("SLURM_CONF", &self.conf);
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "sbatch failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        id.split(';').next().unwrap_or_default().to_string()
    }

    /// Waits until no task of `job` is queued or running, then returns each array
    /// task's end state.
    pub fn wait(&self, job: &str, timeout: Duration) -> Vec<Task> {
        let t = Instant::now();
        loop {
            let out = self
                .cmd("squeue")
                .args(["-h", "-j", job, "-o", "%i %T"])
                .output()
                .unwrap();
            let left = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && left.is_empty() {
                break;
            }
            assert!(
                t.elapsed() < timeout,
                "job {job} still queued or running after {timeout:?}: {left}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        let out = self
            .cmd("scontrol")
            .args(["show", "job", "-o", job])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let mut tasks: Vec<Task> = text
            .lines()
            .filter_map(|line| {
                let field = |k: &str| {
                    line.split_whitespace()
                        .find_map(|f| f.strip_prefix(k))
                        .map(str::to_string)
                };
                Some(Task {
                    id: field("ArrayTaskId=")?.parse().ok()?,
                    state: field("JobState=")?,
                    exit_code: field("ExitCode=")?,
                })
            })
            .collect();
        tasks.sort_by_key(|t| t.id);
        tasks
    }
}

impl Drop for Slurm {
    fn drop(&mut self) {
        let _ = self
            .cmd("scancel")
            .arg("--user")
            .arg(
                String::from_utf8_lossy(
                    &Command::new("id")
                        .arg("-un")
                        .output()
                        .map(|o| o.stdout)
                        .unwrap_or_default(),
                )
                .trim(),
            )
            .status();
        for d in self.daemons.iter_mut().rev() {
            // SIGTERM first: slurmd and slurmctld shut down cleanly and remove their pid files.
            let _ = Command::new("kill").arg(d.id().to_string()).status();
        }
        let t = Instant::now();
        for d in &mut self.daemons {
            while t.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = d.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}
