//! The DICOM node (`rajoints serve`): receive by C-STORE, spool, analyse, report, send.
//!
//! Tasks: the listener accepts associations (at most `max_associations`, a semaphore
//! permit taken before accept); each association is served by [`scp`]; committed
//! instances are queued to the [`worker`] threads; results go to each destination's
//! outbox and a [`sender`] task per destination delivers them; [`crate::web`] serves the
//! review UI, health and metrics. The spool makes every step restartable: after a crash, the inbox and outboxes
//! are picked up again.

pub mod dimse;
pub mod filter;
pub mod metrics;
pub mod priors;
pub mod scp;
pub mod sender;
pub mod tls;
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

use crate::config::{Config, ResultObject};
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
    #[snafu(display("could not set up DICOM TLS"))]
    Tls { source: tls::Error },
    #[snafu(display("could not open the review store in {path}"))]
    OpenReview {
        path: String,
        source: crate::review::Error,
    },
    #[snafu(display("could not set up the review UI"))]
    Web { source: crate::web::Error },
}

/// A place results are sent: `AE@HOST:PORT`, or `AE@HOST:PORT+tls` for DICOM TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub ae_title: String,
    pub address: String,
    pub tls: bool,
}

/// The suffix that marks a TLS destination.
const TLS_SUFFIX: &str = "+tls";

impl Destination {
    pub fn parse(s: &str) -> Result<Destination, String> {
        let (ae, addr) = s
            .split_once('@')
            .ok_or_else(|| format!("`{s}` is not AE@HOST:PORT or AE@HOST:PORT+tls"))?;
        let ae = ae.trim();
        if ae.is_empty() || ae.len() > 16 {
            return Err(format!("`{s}`: AE title must be 1 to 16 characters"));
        }
        let addr = addr.trim();
        let (addr, tls) = match addr.rsplit_once('+') {
            Some((a, t)) if t == &TLS_SUFFIX[1..] => (a, true),
            Some((_, other)) => {
                return Err(format!(
                    "`{s}`: unknown suffix `+{other}` (only `{TLS_SUFFIX}` is known)"
                ));
            }
            None => (addr, false),
        };
        let Some((host, port)) = addr.rsplit_once(':') else {
            return Err(format!("`{s}`: expected HOST:PORT after @"));
        };
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(format!("`{s}`: expected HOST:PORT after @"));
        }
        let d = Destination {
            ae_title: ae.to_string(),
            address: addr.to_string(),
            tls,
        };
        // The name the destination's certificate is checked against; refused here rather
        // than on every delivery attempt.
        if tls && rustls::pki_types::ServerName::try_from(d.host().to_string()).is_err() {
            return Err(format!(
                "`{s}`: `{host}` is not a DNS name or IP address a TLS certificate can name"
            ));
        }
        Ok(d)
    }

    /// HOST of HOST:PORT, without the brackets of an IPv6 address.
    pub fn host(&self) -> &str {
        let host = self
            .address
            .rsplit_once(':')
            .map_or(self.address.as_str(), |(h, _)| h);
        host.strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
    }

    /// Its outbox folder name: the AE title, address and `+tls` if any (a TLS and a plain
    /// destination at one address keep apart), with only safe characters.
    pub fn folder(&self) -> String {
        self.to_string()
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
        write!(f, "{}@{}", self.ae_title, self.address)?;
        if self.tls {
            f.write_str(TLS_SUFFIX)?;
        }
        Ok(())
    }
}

/// See [`Node::wants`].
fn wanted(config: &Config, destinations: &[Destination], object: ResultObject) -> bool {
    if destinations.is_empty() {
        return config.objects_for(None).contains(&object);
    }
    destinations.iter().any(|d| receives(config, d, object))
}

/// See [`Node::receives`].
fn receives(config: &Config, d: &Destination, object: ResultObject) -> bool {
    config.objects_for(Some(&d.ae_title)).contains(&object)
}

/// A short, non-reversible tag of a SOP Instance UID for logs: logs carry no identifiers.
pub fn instance_tag(uid: &str) -> String {
    crate::spool::key_for(uid)[..12].to_string()
}

/// State shared by all parts of a running node.
pub struct Node {
    pub config: Config,
    pub spool: Spool,
    /// Analysed films kept for review; None when `review.enabled` is false.
    pub review: Option<crate::review::ReviewStore>,
    /// Earlier results by patient, for the comparison with the prior (issue 19).
    pub priors: priors::PriorIndex,
    pub metrics: Metrics,
    pub destinations: Vec<Destination>,
    /// For `+tls` destinations; None when there are none.
    pub client_tls: Option<Arc<rustls::ClientConfig>>,
    work: Mutex<Option<mpsc::Sender<String>>>,
    in_progress: Mutex<HashSet<String>>,
    results: Notify,
    stopping: AtomicBool,
    /// Whether the last free-space check found the spool disk nearly full.
    disk_full: AtomicBool,
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
        let (full, free) = match self.spool.free_bytes() {
            Ok(free) => (free < min, Some(free)),
            Err(e) => {
                warn!(error = %snafu::Report::from_error(e), "cannot read the spool's free space");
                (true, None)
            }
        };
        // Checked for every association and C-STORE: logged when the state changes, not
        // on every check, so a full disk does not also flood the log.
        if self.disk_full.swap(full, Ordering::SeqCst) != full {
            if full {
                warn!(
                    free_mb = free.map(|f| f / (1024 * 1024)),
                    min_free_disk_mb = self.config.node.min_free_disk_mb,
                    "spool disk nearly full: refusing new instances"
                );
            } else {
                info!("spool disk has room again: accepting instances");
            }
        }
        full
    }

    pub fn notify_worker(&self, key: String) {
        if let Some(tx) = self.work.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            let _ = tx.send(key);
        }
    }

    pub fn notify_senders(&self) {
        self.results.notify_waiters();
    }

    /// Whether any destination receives `object`, or, without destinations, whether
    /// `[output]` enables it for the results folder: what is worth building.
    pub fn wants(&self, object: ResultObject) -> bool {
        wanted(&self.config, &self.destinations, object)
    }

    /// Whether destination `d` receives `object` (`node.outputs`, else `[output]`).
    pub fn receives(&self, d: &Destination, object: ResultObject) -> bool {
        receives(&self.config, d, object)
    }

    /// Puts one result, a `object`, into the outbox of every destination that receives
    /// that kind of object, or into the results folder when there is no destination; the
    /// destinations it was queued for. Call [`Node::notify_senders`] once the results of
    /// a step are all queued.
    pub fn queue_result(
        &self,
        object: ResultObject,
        name: &str,
        bytes: &[u8],
        received: std::time::SystemTime,
    ) -> Result<Vec<String>, crate::spool::Error> {
        if self.destinations.is_empty() {
            self.spool.put_result(None, name, bytes, received)?;
            return Ok(Vec::new());
        }
        let mut queued = Vec::new();
        for d in self
            .destinations
            .iter()
            .filter(|d| self.receives(d, object))
        {
            self.spool
                .put_result(Some(&d.folder()), name, bytes, received)?;
            queued.push(d.to_string());
        }
        Ok(queued)
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
    /// The plain DICOM listener; None when `node.listen` is empty.
    pub dicom: Option<std::net::SocketAddr>,
    /// The DICOM TLS listener; None unless `node.tls.enabled`.
    pub dicom_tls: Option<std::net::SocketAddr>,
    pub http: Option<std::net::SocketAddr>,
}

/// Binds `addr`, or nothing when it is empty.
async fn bind(addr: &str) -> Result<Option<TcpListener>, Error> {
    let addr = addr.trim();
    if addr.is_empty() {
        return Ok(None);
    }
    let l = TcpListener::bind(addr)
        .await
        .context(ListenSnafu { addr })?;
    Ok(Some(l))
}

/// The next connection on `listener`; never resolves without one, so a listener that is
/// switched off simply never wins the `select!` below.
async fn accept(
    listener: Option<&TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, std::net::SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// Runs the node until `shutdown` resolves (SIGTERM/SIGINT in the binary). In-flight
/// associations finish, workers finish the instance in hand, and everything not done stays
/// in the spool for the next start.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
    on_bound: impl FnOnce(&Bound),
) -> Result<(), Error> {
    let destinations: Vec<Destination> = config
        .node
        .destinations
        .iter()
        .filter_map(|d| Destination::parse(d).ok())
        .collect();
    // TLS files first: they are cheap to read, and a mistake in them should stop the node
    // before it creates anything or waits for the detectors to load.
    let server_tls = if config.node.tls.enabled {
        Some(tls::server_config(&config.node.tls).context(TlsSnafu)?)
    } else {
        None
    };
    let client_tls = if destinations.iter().any(|d| d.tls) {
        Some(tls::client_config(&config.node.sender.tls).context(TlsSnafu)?)
    } else {
        None
    };
    let data_dir = resolve_data_dir(&config);
    let spool = Spool::open(&data_dir).context(OpenSpoolSnafu {
        path: data_dir.display().to_string(),
    })?;
    let review = if config.review.enabled {
        Some(
            crate::review::ReviewStore::open(&data_dir).context(OpenReviewSnafu {
                path: data_dir.display().to_string(),
            })?,
        )
    } else {
        None
    };
    let web = crate::web::Web::new(&config, &data_dir).context(WebSnafu)?;
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
    let listener = bind(&config.node.listen).await?;
    let tls_listener = match &server_tls {
        Some(_) => bind(&config.node.tls.listen).await?,
        None => None,
    };
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
        review,
        priors: priors::PriorIndex::new(&data_dir),
        metrics: Metrics::default(),
        destinations,
        client_tls,
        work: Mutex::new(work),
        in_progress: Mutex::new(HashSet::new()),
        results: Notify::new(),
        stopping: AtomicBool::new(false),
        disk_full: AtomicBool::new(false),
        stop: Notify::new(),
    });
    let bound = Bound {
        dicom: listener.as_ref().and_then(|l| l.local_addr().ok()),
        dicom_tls: tls_listener.as_ref().and_then(|l| l.local_addr().ok()),
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
    if node.review.is_some() && node.config.review.keep_days > 0 {
        tasks.spawn(prune_review(node.clone()));
    }
    if let Some(l) = http_listener {
        tasks.spawn(crate::web::serve(node.clone(), web, l));
    }
    info!(
        ae_title = %node.config.node.ae_title,
        dicom = ?bound.dicom,
        dicom_tls = ?bound.dicom_tls,
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
        // One permit covers either listener: max_associations bounds both together.
        let (accepted, over_tls) = tokio::select! {
            a = accept(listener.as_ref()) => (a, false),
            a = accept(tls_listener.as_ref()) => (a, true),
            () = &mut shutdown => break,
        };
        match (accepted, &server_tls) {
            (Ok((sock, _)), Some(tls)) if over_tls => {
                let (node, tls) = (node.clone(), tls.clone());
                associations.spawn(async move {
                    scp::serve_tls_connection(node, sock, tls).await;
                    drop(permit);
                });
            }
            (Ok((sock, _)), _) => {
                let node = node.clone();
                associations.spawn(async move {
                    // A nearly full disk: refuse as transient congestion. Over TLS the
                    // rejection would need the handshake first; there C-STORE answers A700.
                    if node.disk_nearly_full() {
                        node.metrics.associations_rejected.inc();
                        scp::reject_congested(sock).await;
                    } else {
                        scp::serve_connection(node, sock).await;
                    }
                    drop(permit);
                });
            }
            (Err(e), _) => {
                warn!(error = %e, tls = over_tls, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        while associations.try_join_next().is_some() {}
    }
    info!("shutting down: finishing open associations");
    drop(listener);
    drop(tls_listener);
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

/// Prunes the review store at start and hourly (`review.keep_days`).
async fn prune_review(node: Arc<Node>) {
    let age = Duration::from_secs(node.config.review.keep_days.saturating_mul(86_400));
    while !node.stopping() {
        let n2 = node.clone();
        let removed =
            tokio::task::spawn_blocking(move || n2.review.as_ref().map_or(0, |r| r.prune(age)))
                .await
                .unwrap_or(0);
        if removed > 0 {
            info!(removed, "review store: removed films nobody annotated");
        }
        node.sleep(Duration::from_secs(3600)).await;
    }
}

/// `node.data_dir`, relative paths taken from the working directory.
pub fn resolve_data_dir(config: &Config) -> std::path::PathBuf {
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
    fn each_destination_gets_its_objects_and_only_wanted_ones_are_built() {
        use ResultObject::{Gsps, Sc, Sr};
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "[node]\ndestinations = [\"VIEWER@127.0.0.1:4242\", \"ARCHIVE@127.0.0.1:104\"]\n\
             [node.outputs]\nVIEWER = [\"sr\", \"sc\"]\n",
        )
        .unwrap();
        let c = Config::load(Some(&f), &[]).unwrap();
        let ds: Vec<Destination> = c
            .node
            .destinations
            .iter()
            .map(|d| Destination::parse(d).unwrap())
            .collect();
        let (viewer, archive) = (&ds[0], &ds[1]);
        assert!(receives(&c, viewer, Sc) && receives(&c, viewer, Sr));
        assert!(!receives(&c, viewer, Gsps));
        // Not listed: what [output] enables (SR and GSPS by default).
        assert!(receives(&c, archive, Sr) && receives(&c, archive, Gsps));
        assert!(!receives(&c, archive, Sc));
        assert!(wanted(&c, &ds, Sc) && wanted(&c, &ds, Gsps));
        assert!(!wanted(&c, &ds[1..], Sc));
        // No destination: the results folder gets what [output] enables.
        assert!(!wanted(&c, &[], Sc));
        let c = Config::load(None, &[("output.sc", "true".into())]).unwrap();
        assert!(wanted(&c, &[], Sc));
    }

    #[test]
    fn destinations_parse_and_get_safe_folders() {
        let d = Destination::parse("PACS@127.0.0.1:4242").unwrap();
        assert_eq!(
            (d.ae_title.as_str(), d.address.as_str()),
            ("PACS", "127.0.0.1:4242")
        );
        assert_eq!(d.folder(), "PACS@127.0.0.1_4242");
        assert!(!d.tls);
        let t = Destination::parse("PACS@pacs.example.org:2762+tls").unwrap();
        assert!(t.tls);
        assert_eq!(
            (t.address.as_str(), t.host()),
            ("pacs.example.org:2762", "pacs.example.org")
        );
        assert_eq!(t.to_string(), "PACS@pacs.example.org:2762+tls");
        // Its own outbox, apart from a plain destination at the same address.
        assert_eq!(t.folder(), "PACS@pacs.example.org_2762_tls");
        let v6 = Destination::parse("PACS@[::1]:2762+tls").unwrap();
        assert_eq!(v6.host(), "::1");
        let err = Destination::parse("PACS@h:2762+ssl").unwrap_err();
        assert!(err.contains("+ssl"), "{err}");
        for bad in [
            "PACS",
            "@127.0.0.1:1",
            "PACS@127.0.0.1",
            "PACS@:1",
            "PACS@h:99999",
            "WAYTOOLONGAETITLE1@h:1",
            "PACS@h+tls",
            "PACS@h:1+TLS",
            "PACS@bad_host!:1+tls",
        ] {
            assert!(Destination::parse(bad).is_err(), "{bad}");
        }
    }
}
