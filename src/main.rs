//! The `rajoints` command line. Each subcommand's arguments and glue live in `cli/`; the
//! work is in the library. Errors are reported once, with their chain of causes, here.
//!
//! Exit status: 0 success; 1 some inputs could not be analysed (the others were); 2 the
//! command could not run at all (bad flags, configuration, models or ONNX Runtime).

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use snafu::Report;

/// Finds the PIP/IP and MCP joints on RA hand radiographs and labels ankylosis and
/// subluxation/dislocation (two SSD detectors and their ensemble), with DICOM SR output.
///
/// Research software: trained on synthetic radiographs; not for diagnostic use.
#[derive(Debug, Parser)]
#[command(name = "rajoints", version, about, long_about = None, after_help = EXIT_STATUS)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXIT_STATUS: &str = "Exit status: 0 success; 1 some inputs failed (the others were written); 2 the command could not run (flags, configuration, models, ONNX Runtime).";

#[derive(Debug, Subcommand)]
enum Command {
    /// Analyse radiographs (DICOM, or 8/16-bit PNG) and write, for each input FILE,
    /// OUT/<stem>.json, OUT/<stem>.png and, for DICOM input, OUT/<stem>.sr.dcm.
    Analyze(cli::analyze::AnalyzeArgs),
    /// Analyse a whole archive (folders of DICOM files or DICOMDIRs) as one shard of a
    /// Slurm job array or Kubernetes Indexed Job, resumably, with a per-joint CSV table;
    /// `batch merge` joins the shards' tables.
    Batch(cli::batch::BatchArgs),
    /// Measure detection and classification against ground truth, as the paper's
    /// Tables 1-3, on a dataset in the `rajoints-annotations/1` format.
    Eval(cli::eval::EvalArgs),
    /// Generate synthetic RA hand radiographs with ground truth (DIR/images/<id>.dcm and
    /// DIR/annotations.json in the rajoints-annotations/1 format).
    Phantom(cli::phantom::PhantomArgs),
    /// Show the configuration.
    Config(cli::config::ConfigArgs),
    /// Run the DICOM node: receive radiographs by C-STORE, analyse them, and send the SR
    /// and GSPS to the configured destinations (or keep them in DATA/results).
    Serve(cli::serve::ServeArgs),
    /// Accounts of the review UI: add, passwd, remove, list.
    Users(cli::users::UsersArgs),
    /// Annotations made in the review UI: `export` writes them as a training set.
    Annotations(cli::annotations::AnnotationsArgs),
    /// Write the decoded, scaled image the detectors see (for the training code's checks).
    #[command(hide = true)]
    Preprocess(cli::preprocess::PreprocessArgs),
}

fn main() -> ExitCode {
    // Before any thread allocates: radiograph buffers reuse their pages (src/heap.rs).
    rajoints::heap::keep_image_buffers();
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        // The node sets up its own logging from its configuration (text or JSON).
        cli::init_logging(false, "warn");
    }
    let result = match cli.command {
        Command::Analyze(a) => cli::analyze::run(a),
        Command::Batch(b) => cli::batch::run(b),
        Command::Eval(e) => cli::eval::run(e),
        Command::Phantom(p) => cli::phantom::run(p),
        Command::Config(c) => cli::config::run(c).map(|()| ExitCode::SUCCESS),
        Command::Serve(s) => cli::serve::run(s),
        Command::Preprocess(p) => cli::preprocess::run(p),
        Command::Users(u) => cli::users::run(u),
        Command::Annotations(a) => cli::annotations::run(a),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {}", Report::from_error(e));
        ExitCode::from(2)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
