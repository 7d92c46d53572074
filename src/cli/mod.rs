//! Subcommands of the `rajoints` binary: argument structs and the glue that runs them.
//! The work itself is in the library.

pub mod analyze;
pub mod annotations;
pub mod batch;
pub mod config;
pub mod eval;
pub mod phantom;
pub mod preprocess;
pub mod serve;
pub mod users;

use std::path::PathBuf;

use clap::Args;
use snafu::{ResultExt, Whatever};

use rajoints::config::Config;
use rajoints::pipeline::Pipeline;

/// Options every subcommand that reads the configuration shares.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Configuration file (TOML); its keys override the embedded defaults.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override one configuration key, e.g. `--set pipeline.t_conf=0.8` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// Model overrides shared by `analyze` and `eval`.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Ankylosis model manifest (overrides models.ankylosis).
    #[arg(long, value_name = "TOML")]
    pub ankylosis_model: Option<PathBuf>,
    /// Subluxation/dislocation model manifest (overrides models.subluxation).
    #[arg(long, value_name = "TOML")]
    pub subluxation_model: Option<PathBuf>,
}

impl CommonArgs {
    /// Defaults, file, environment, then `--set` and `extra` overrides.
    pub fn load(&self, extra: &[(&str, String)]) -> Result<Config, Whatever> {
        let mut all: Vec<(&str, String)> = Vec::new();
        for kv in &self.set {
            let Some((k, v)) = kv.split_once('=') else {
                snafu::whatever!("--set takes KEY=VALUE, got `{kv}`");
            };
            all.push((k.trim(), v.trim().to_string()));
        }
        all.extend(extra.iter().cloned());
        Config::load(self.config.as_deref(), &all)
            .whatever_context("could not load the configuration")
    }

    /// The configuration with the model flags applied.
    pub fn load_with_models(&self, models: &ModelArgs) -> Result<Config, Whatever> {
        let mut extra = Vec::new();
        if let Some(p) = &models.ankylosis_model {
            extra.push(("models.ankylosis", p.display().to_string()));
        }
        if let Some(p) = &models.subluxation_model {
            extra.push(("models.subluxation", p.display().to_string()));
        }
        self.load(&extra)
    }
}

/// Loads both detectors as configured.
pub fn load_pipeline(cfg: &Config) -> Result<Pipeline, Whatever> {
    cfg.load_pipeline()
        .whatever_context("could not load the detectors")
}

/// A progress line on stderr for long runs: redrawn in place on a terminal, every tenth
/// of the way otherwise (logs of unattended runs stay short).
pub struct Progress {
    what: &'static str,
    total: usize,
    tty: bool,
}

impl Progress {
    pub fn new(what: &'static str, total: usize) -> Progress {
        use std::io::IsTerminal;
        Progress {
            what,
            total,
            tty: std::io::stderr().is_terminal(),
        }
    }

    pub fn tick(&self, done: usize) {
        let total = self.total.max(1);
        if self.tty {
            let width = 30;
            let filled = done * width / total;
            eprint!(
                "\r{} [{}{}] {done}/{}",
                self.what,
                "=".repeat(filled),
                " ".repeat(width - filled),
                self.total
            );
            if done == self.total {
                eprintln!();
            }
        } else if done == self.total
            || (done * 10 / total) != ((done.saturating_sub(1)) * 10 / total)
        {
            eprintln!("{} {done}/{}", self.what, self.total);
        }
    }
}

/// Logs to stderr: text, or one JSON object per line; level from RAJOINTS_LOG, else
/// `default`. Called once, before anything logs.
pub fn init_logging(json: bool, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RAJOINTS_LOG")
        .unwrap_or_else(|_| default.into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
