//! `rajoints serve`: the DICOM node.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use snafu::{ResultExt, Whatever};

use super::CommonArgs;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Listen for DICOM on HOST:PORT (node.listen) [default: 127.0.0.1:11112].
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
    /// The node's AE title (node.ae_title) [default: RAJOINTS].
    #[arg(long, value_name = "AE")]
    ae_title: Option<String>,
    /// Send results to AE@HOST:PORT by C-STORE (repeatable; replaces node.destinations);
    /// AE@HOST:PORT+tls uses DICOM TLS (node.sender.tls). Without any, results are written
    /// to DATA/results.
    #[arg(long = "destination", value_name = "AE@HOST:PORT[+tls]")]
    destinations: Vec<String>,
    /// Spool and results folder (node.data_dir) [default: var/rajoints].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Serve /healthz and /metrics on HOST:PORT (node.http); empty switches it off.
    #[arg(long, value_name = "HOST:PORT")]
    http: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

pub fn run(args: ServeArgs) -> Result<ExitCode, Whatever> {
    let mut extra: Vec<(&str, String)> = Vec::new();
    if let Some(v) = &args.listen {
        extra.push(("node.listen", v.clone()));
    }
    if let Some(v) = &args.ae_title {
        extra.push(("node.ae_title", v.clone()));
    }
    if let Some(v) = &args.data_dir {
        extra.push(("node.data_dir", v.display().to_string()));
    }
    if let Some(v) = &args.http {
        extra.push(("node.http", v.clone()));
    }
    if !args.destinations.is_empty() {
        for d in &args.destinations {
            rajoints::node::Destination::parse(d)
                .map_err(|m| snafu::FromString::without_source(format!("--destination: {m}")))?;
        }
        // As a layer of the configuration, so that node.outputs is checked against them.
        let list = toml::Value::Array(
            args.destinations
                .iter()
                .map(|d| toml::Value::String(d.clone()))
                .collect(),
        );
        extra.push(("node.destinations", list.to_string()));
    }
    let cfg = args.common.load(&extra)?;
    super::init_logging(cfg.node.log_json, "info");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .whatever_context("could not start the async runtime")?;
    rt.block_on(async move {
        let shutdown = async {
            use tokio::signal::unix::{SignalKind, signal};
            match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => std::future::pending::<()>().await,
            }
        };
        rajoints::node::run(cfg, shutdown, |b| {
            // One line on stdout that scripts (and tests) can wait for; an address is empty
            // when its listener is switched off.
            let show =
                |a: Option<std::net::SocketAddr>| a.map(|a| a.to_string()).unwrap_or_default();
            println!(
                "listening dicom={} http={} dicom_tls={}",
                show(b.dicom),
                show(b.http),
                show(b.dicom_tls)
            );
        })
        .await
        .whatever_context("the node stopped with an error")
    })?;
    Ok(ExitCode::SUCCESS)
}
