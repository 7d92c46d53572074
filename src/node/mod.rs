//! The DICOM node (`rajoints serve`): receive by C-STORE, spool, analyse, report, send.
//!
//! Tasks: the listener accepts associations (at most `max_associations`, a semaphore
//! permit taken before accept); each association is served by [`scp`]; committed
//! instances are queued to the [`worker`] threads; results go to each destination's
//! outbox and a [`sender`] task per destination delivers them; [`http`] serves health and
//! metrics. The spool makes every step restartable: after a crash, the inbox and outboxes
//! are picked up again.

pub mod dimse;
pub mod filter;
pub mod http;
pub mod metrics;
pub mod scp;
pub mod sender;
pub mod worker;

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use snafu::{ResultExt, Snafu};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore};
use tracing::{error, info, warn};

use crate::config::Config;
use crate::spool::Spool;
use metrics::Metrics;

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("could not open the spool in {path}"))]
    OpenSpool {
        path: String,
        source: crate::spool::Error,
    },
    #[snafu(display("could not listen on {addr}"))]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[snafu(display("could not load the detectors"))]
    LoadPipeline { source: crate::pipeline::Error },
}

/// A place results are sent: `AE@HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub ae_title: String,
    pub address: String,
}

impl Destination {
    pub fn parse(s: &str) -> Result<Destination, String> {
        let (ae, addr) = s
            .split_once('@')
            .ok_or_else(|| format!("`{s}` is not AE@HOST:PORT"))?;
        let ae = ae.trim();
        if ae.is_empty() || ae.len() > 16 {
            return Err(format!("`{s}`: AE title must be 1 to 16 characters"));
        }
        let port_ok = addr
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if !port_ok {
            return Err(format!("`{s}`: expected HOST:PORT after @"));
        }
        Ok(Destination {
            ae_title: ae.to_string(),
            address: addr.trim().to_string(),
        })
    }

    /// Its outbox folder name: the AE title and address, with only safe characters.
    pub fn folder(&self) -> String {
        format!("{}@{}", self.ae_title, self.address)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.@".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.ae_title, self.address)
    }
}

/// A short, non-reversible tag of a SOP Instance UID for logs: logs carry no identifiers.
pub fn instance_tag(uid: &str) -> String {
    crate::spool::key_for(uid)[..12].to_string()
}

/// State shared by all parts of a running node.
pub struct Node {
    pub config: Config,
    pub spool: Spool,
    pub metrics: Metrics,
    pub destinations: Vec<Destination>,
    work: Mutex<Option<mpsc::Sender<String>>>,
    in_progress: Mutex<HashSet<String>>,
    results: Notify,
    stopping: AtomicBool,
    stop: Notify,
}

impl Node {
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    pub fn healthy(&self) -> bool {
        !self.stopping()
    }

    /// Asks every part to stop after its current step.
    pub fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop.notify_waiters();
        self.results.notify_waiters();
    }

    /// Resolves once shutdown was asked.
    pub async fn stopped(&self) {
        loop {
            let n = self.stop.notified();
            if self.stopping() {
                return;
            }
            n.await;
        }
    }

    /// Sleeps, or returns early on shutdown.
    pub async fn sleep(&self, d: Duration) {
        tokio::select! {
            () = tokio::time::sleep(d) => {}
            () = self.stopped() => {}
        }
    }

    /// True when the spool's file system has less free space than `min_free_disk_mb`
    /// (or cannot tell): the node then takes nothing it might not be able to keep.
    pub fn disk_nearly_full(&self) -> bool {
        let min = self
            .config
            .node
            .min_free_disk_mb
            .saturating_mul(1024 * 1024);
        match self.spool.free_bytes() {
            Ok(free) if free >= min => false,
            Ok(free) => {
                warn!(
                    free_mb = free / (1024 * 1024),
                    min_free_disk_mb = self.config.node.min_free_disk_mb,
                    "spool disk nearly full: refusing new instances"
                );
                true
            }
            Err(e) => {
                warn!(error = %snafu::Report::from_error(e), "cannot read the spool's free space: refusing new instances");
                true
            }
        }
    }

    pub fn notify_worker(&self, key: String) {
        if let Some(tx) = self.work.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            let _ = tx.send(key);
        }
    }

    pub fn notify_senders(&self) {
        self.results.notify_waiters();
    }

    /// Waits for new results, at most `d`.
    pub async fn wait_for_results(&self, d: Duration) {
        tokio::select! {
            () = self.results.notified() => {}
            () = self.sleep(d) => {}
        }
    }

    /// Marks `key` as being analysed; false if another worker has it.
    pub fn claim(&self, key: &str) -> bool {
        self.in_progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string())
    }

    pub fn release(&self, key: &str) {
        self.in_progress
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

/// Addresses the node actually bound (port 0 in the configuration picks a free port).
#[derive(Debug, Clone)]
pub struct Bound {
    pub dicom: std::net::SocketAddr,
    pub http: Option<std::net::SocketAddr>,
}

/// Runs the node until `shutdown` resolves (SIGTERM/SIGINT in the binary). In-flight
/// associations finish, workers finish the instance in hand, and everything not done stays
/// in the spool for the next start.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
    on_bound: impl FnOnce(&Bound),
) -> Result<(), Error> {
    let data_dir = resolve_data_dir(&config);
    let spool = Spool::open(&data_dir).context(OpenSpoolSnafu {
        path: data_dir.display().to_string(),
    })?;
    let destinations: Vec<Destination> = config
        .node
        .destinations
        .iter()
        .filter_map(|d| Destination::parse(d).ok())
        .collect();
    // Load the detectors before accepting anything: a node that cannot analyse should
    // not acknowledge images.
    let mut pipelines = Vec::new();
    let workers = if config.node.analyse {
        config.node.workers
    } else {
        info!("analysis off (node.analyse = false): instances are kept in the inbox");
        0
    };
    for _ in 0..workers {
        pipelines.push(config.load_pipeline().context(LoadPipelineSnafu)?);
    }
    let listener = TcpListener::bind(&config.node.listen)
        .await
        .context(ListenSnafu {
            addr: config.node.listen.clone(),
        })?;
    let http_listener = if config.node.http.trim().is_empty() {
        None
    } else {
        Some(
            TcpListener::bind(config.node.http.trim())
                .await
                .context(ListenSnafu {
                    addr: config.node.http.clone(),
                })?,
        )
    };
    let (tx, rx) = mpsc::channel::<String>();
    // Without workers nothing would ever take from the queue.
    let work = (!pipelines.is_empty()).then_some(tx);
    let node = Arc::new(Node {
        config,
        spool,
        metrics: Metrics::default(),
        destinations,
        work: Mutex::new(work),
        in_progress: Mutex::new(HashSet::new()),
        results: Notify::new(),
        stopping: AtomicBool::new(false),
        stop: Notify::new(),
    });
    let bound = Bound {
        dicom: listener.local_addr().context(ListenSnafu {
            addr: node.config.node.listen.clone(),
        })?,
        http: http_listener.as_ref().and_then(|l| l.local_addr().ok()),
    };

    // Unfinished work from before a restart.
    match node.spool.inbox_keys() {
        Ok(keys) => {
            if !keys.is_empty() {
                info!(
                    count = keys.len(),
                    "resuming instances received before the restart"
                );
            }
            for k in keys {
                node.notify_worker(k);
            }
        }
        Err(e) => error!(error = %snafu::Report::from_error(e), "cannot read inbox"),
    }
    let queue = Arc::new(Mutex::new(rx));
    let workers: Vec<std::thread::JoinHandle<()>> = pipelines
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let (node, queue) = (node.clone(), queue.clone());
            std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || worker::run(node, p, queue))
        })
        .filter_map(Result::ok)
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for d in node.destinations.clone() {
        tasks.spawn(sender::run(node.clone(), d));
    }
    if let Some(l) = http_listener {
        tasks.spawn(http::serve(node.clone(), l));
    }
    info!(
        ae_title = %node.config.node.ae_title,
        dicom = %bound.dicom,
        http = ?bound.http,
        destinations = node.destinations.len(),
        "node listening"
    );
    on_bound(&bound);

    let permits = Arc::new(Semaphore::new(node.config.node.max_associations));
    let mut associations = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // Take a permit before accepting: at the limit, the node stops accepting.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            () = &mut shutdown => break,
        };
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((sock, _)) => {
                    let node = node.clone();
                    associations.spawn(async move {
                        if node.disk_nearly_full() {
                            Metrics::inc(&node.metrics.associations_rejected);
                            scp::reject_congested(sock).await;
                        } else {
                            scp::serve_connection(node, sock).await;
                        }
                        drop(permit);
                    });
                }
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            () = &mut shutdown => break,
        }
        while associations.try_join_next().is_some() {}
    }
    info!("shutting down: finishing open associations");
    drop(listener);
    let drain = async { while associations.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(30), drain)
        .await
        .is_err()
    {
        warn!("associations still open after 30 s: closing");
    }
    node.shutdown();
    // Workers stop after the instance in hand; the channel closing wakes idle ones.
    node.work.lock().unwrap_or_else(|p| p.into_inner()).take();
    while tasks.join_next().await.is_some() {}
    for w in workers {
        let _ = tokio::task::spawn_blocking(move || w.join()).await;
    }
    info!("stopped");
    Ok(())
}

fn resolve_data_dir(config: &Config) -> std::path::PathBuf {
    let p = &config.node.data_dir;
    if p.is_absolute() {
        p.clone()
    } else {
        std::env::current_dir()
            .map(|c| c.join(p))
            .unwrap_or_else(|_| p.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse_and_get_safe_folders() {
        let d = Destination::parse("PACS@127.0.0.1:4242").unwrap();
        assert_eq!(
            (d.ae_title.as_str(), d.address.as_str()),
            ("PACS", "127.0.0.1:4242")
        );
        assert_eq!(d.folder(), "PACS@127.0.0.1_4242");
        for bad in [
            "PACS",
            "@127.0.0.1:1",
            "PACS@127.0.0.1",
            "PACS@:1",
            "PACS@h:99999",
            "WAYTOOLONGAETITLE1@h:1",
        ] {
            assert!(Destination::parse(bad).is_err(), "{bad}");
        }
    }
}
