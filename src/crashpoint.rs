//! Crash points: a test hook that kills the process at a named step of the receive,
//! spool, analyse, outbox and send path, to prove that every acknowledged instance
//! survives a crash at any of them (tests/reliability.rs, docs/reliability.md).
//!
//! Set `RAJOINTS_CRASH_POINT=<name>` and the process sends itself SIGKILL the first time
//! it reaches `<name>`: no destructor, flush or fsync runs, as in a power cut of the
//! process. Unset (always, in service), [`hit`] costs one comparison with a cached `None`.

use std::sync::OnceLock;

/// The environment variable naming the point.
pub const ENV: &str = "RAJOINTS_CRASH_POINT";

/// Every point, in the order an instance passes them.
pub const POINTS: [&str; 23] = [
    // Receive (src/node/scp.rs)
    "scp.associated",
    "scp.command",
    "scp.data_started",
    "scp.data_received",
    "scp.parsed",
    // Durable commit into the inbox (src/spool.rs)
    "spool.commit_synced",
    "spool.commit_renamed",
    "spool.committed",
    // Acknowledgement (src/node/scp.rs)
    "scp.acknowledged",
    "scp.released",
    // Analysis (src/node/worker.rs)
    "worker.claimed",
    "worker.decoded",
    "worker.analysed",
    // Results into the outbox (src/spool.rs, src/node/worker.rs)
    "spool.result_synced",
    "spool.result_renamed",
    "worker.first_result_queued",
    "worker.results_queued",
    "worker.inbox_released",
    // Delivery (src/node/sender.rs)
    "sender.associated",
    "sender.sent",
    "sender.acknowledged",
    "sender.removed",
    "sender.released",
];

fn armed() -> Option<&'static str> {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    ARMED
        .get_or_init(|| std::env::var(ENV).ok().filter(|v| !v.is_empty()))
        .as_deref()
}

/// Kills the process with SIGKILL when `point` is the armed crash point.
pub fn hit(point: &'static str) {
    if armed() == Some(point) {
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
        // SIGKILL cannot be caught; should delivery be delayed, do not go on.
        std::process::abort();
    }
}
