//! The `rajoints` command line: `analyze` radiographs, show the `config`.
//!
//! Exit status: 0 success; 1 some inputs could not be analysed (the others were); 2 the
//! command could not run at all (bad flags, configuration, models or ONNX Runtime).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use snafu::{Report, ResultExt, Snafu, Whatever};

use rajoints::analysis::{Analysis, SourceInfo};
use rajoints::config::{Config, resolve_path};
use rajoints::dicom::decode;
use rajoints::pipeline::Pipeline;
use rajoints::pipeline::detector::SessionOptions;
use rajoints::render;

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
    Analyze(AnalyzeArgs),
    /// Show the configuration.
    Config(ConfigArgs),
    /// Run the DICOM node (C-STORE in, SR and GSPS out). Not implemented yet.
    Serve,
}

/// Options every subcommand that reads the configuration shares.
#[derive(Debug, Args)]
struct CommonArgs {
    /// Configuration file (TOML); its keys override the embedded defaults.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Override one configuration key, e.g. `--set pipeline.t_conf=0.8` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

#[derive(Debug, Args)]
struct AnalyzeArgs {
    /// Input radiographs.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Output folder (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Ankylosis model manifest (overrides models.ankylosis).
    #[arg(long, value_name = "TOML")]
    ankylosis_model: Option<PathBuf>,
    /// Subluxation/dislocation model manifest (overrides models.subluxation).
    #[arg(long, value_name = "TOML")]
    subluxation_model: Option<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Args)]
struct ConfigArgs {
    /// Print the effective configuration as TOML.
    #[arg(long)]
    print: bool,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RAJOINTS_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Analyze(a) => analyze(a),
        Command::Config(c) => config(c).map(|()| ExitCode::SUCCESS),
        Command::Serve => Err(snafu::FromString::without_source(
            "the DICOM node (`rajoints serve`) is not implemented yet; use `rajoints analyze`"
                .into(),
        )),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {}", Report::from_error(e));
        ExitCode::from(2)
    })
}

fn load_config(common: &CommonArgs, extra: &[(&str, String)]) -> Result<Config, Whatever> {
    let mut overrides: Vec<(String, String)> = Vec::new();
    for kv in &common.set {
        let Some((k, v)) = kv.split_once('=') else {
            snafu::whatever!("--set takes KEY=VALUE, got `{kv}`");
        };
        overrides.push((k.trim().to_string(), v.trim().to_string()));
    }
    let mut all: Vec<(&str, String)> = overrides
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    all.extend(extra.iter().cloned());
    Config::load(common.config.as_deref(), &all)
        .whatever_context("could not load the configuration")
}

fn config(args: ConfigArgs) -> Result<(), Whatever> {
    let cfg = load_config(&args.common, &[])?;
    if args.print {
        print!("{}", cfg.to_toml());
    } else {
        println!("configuration is valid (use --print to show it)");
    }
    Ok(())
}

fn analyze(args: AnalyzeArgs) -> Result<ExitCode, Whatever> {
    let mut extra = Vec::new();
    if let Some(p) = &args.ankylosis_model {
        extra.push(("models.ankylosis", p.display().to_string()));
    }
    if let Some(p) = &args.subluxation_model {
        extra.push(("models.subluxation", p.display().to_string()));
    }
    let cfg = load_config(&args.common, &extra)?;
    std::fs::create_dir_all(&args.out).with_whatever_context(|_| {
        format!("could not create output folder {}", args.out.display())
    })?;
    let threads = cfg.runtime.intra_threads;
    let pipeline = Pipeline::load(
        &resolve_path(&cfg.models.ankylosis),
        &resolve_path(&cfg.models.subluxation),
        cfg.onnxruntime_path().as_deref(),
        SessionOptions {
            intra_threads: threads,
            optimization_level: cfg.runtime.optimization_level,
        },
        cfg.pipeline.clone(),
        cfg.runtime.concurrent_detectors,
    )
    .whatever_context("could not load the detectors")?;

    let mut failed = 0usize;
    let mut stems = HashSet::new();
    for file in &args.files {
        let stem = unique_stem(file, &mut stems);
        match analyze_one(&pipeline, &cfg, file, &args.out, &stem) {
            Ok(n) => eprintln!(
                "{}: {n} joints -> {}",
                file.display(),
                args.out.join(format!("{stem}.json")).display()
            ),
            Err(e) => {
                failed += 1;
                eprintln!("error: {}: {}", file.display(), Report::from_error(e));
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} inputs failed", args.files.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The file stem, made unique within one run (`a`, `a-2`, ...).
fn unique_stem(file: &Path, seen: &mut HashSet<String>) -> String {
    let base = file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "input".into());
    let base = base
        .strip_suffix(".dcm")
        .or_else(|| base.strip_suffix(".DCM"))
        .or_else(|| base.strip_suffix(".png"))
        .or_else(|| base.strip_suffix(".PNG"))
        .unwrap_or(&base)
        .to_string();
    let mut stem = base.clone();
    let mut n = 2;
    while !seen.insert(stem.clone()) {
        stem = format!("{base}-{n}");
        n += 1;
    }
    stem
}

#[derive(Debug, Snafu)]
enum FileError {
    #[snafu(display("could not read the file"))]
    Read { source: std::io::Error },
    #[snafu(display("could not decode the DICOM image"))]
    Dicom {
        #[snafu(source(from(decode::Error, Box::new)))]
        source: Box<decode::Error>,
    },
    #[snafu(display("could not read the PNG image"))]
    Png { source: render::png::Error },
    #[snafu(display("analysis failed"))]
    Analyse { source: rajoints::pipeline::Error },
    #[snafu(display("could not write the report"))]
    Report { source: rajoints::report::Error },
    #[snafu(display("could not build the structured report"))]
    Sr {
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

fn is_png(path: &Path) -> Result<bool, FileError> {
    use std::io::Read;
    let mut head = [0u8; 8];
    let mut f = std::fs::File::open(path).context(ReadSnafu)?;
    let n = f.read(&mut head).context(ReadSnafu)?;
    Ok(n == 8 && head == PNG_SIGNATURE)
}

fn analyze_one(
    pipeline: &Pipeline,
    cfg: &Config,
    file: &Path,
    out: &Path,
    stem: &str,
) -> Result<usize, FileError> {
    let t = Instant::now();
    let max = cfg.pipeline.max_pixels;
    let (img, dicom) = if is_png(file)? {
        (render::png::read(file, max).context(PngSnafu)?, None)
    } else {
        let obj = decode::open(file).context(DicomSnafu)?;
        (decode::decode(&obj, max).context(DicomSnafu)?, Some(obj))
    };
    let decode_ms = t.elapsed().as_secs_f64() * 1000.0;
    let outcome = pipeline.analyze(&img, decode_ms).context(AnalyseSnafu)?;
    let analysis = Analysis {
        source: SourceInfo {
            file: file.display().to_string(),
            sop_instance_uid: dicom.as_ref().and_then(decode::sop_instance_uid),
            rows: img.height,
            columns: img.width,
        },
        models: pipeline.models(),
        joints: outcome.joints,
        timing_ms: outcome.timing,
    };
    rajoints::report::write_json(&out.join(format!("{stem}.json")), &analysis)
        .context(ReportSnafu)?;
    if cfg.output.png {
        let rgb = render::overlay::render(&img, &analysis.joints);
        render::png::write_rgb(
            &out.join(format!("{stem}.png")),
            img.width,
            img.height,
            &rgb,
        )
        .context(PngSnafu)?;
    }
    if cfg.output.sr
        && let Some(obj) = &dicom
    {
        write_sr(obj, &analysis, cfg, &out.join(format!("{stem}.sr.dcm")))?;
    }
    Ok(analysis.joints.len())
}

fn write_sr(
    _obj: &decode::DicomFile,
    _analysis: &Analysis,
    _cfg: &Config,
    _path: &Path,
) -> Result<(), FileError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn stems_are_unique_within_a_run() {
        let mut seen = HashSet::new();
        assert_eq!(unique_stem(Path::new("a/x.dcm"), &mut seen), "x");
        assert_eq!(unique_stem(Path::new("b/x.dcm"), &mut seen), "x-2");
        assert_eq!(unique_stem(Path::new("c/x.png"), &mut seen), "x-3");
        assert_eq!(unique_stem(Path::new("c/IMG0001"), &mut seen), "IMG0001");
    }
}
