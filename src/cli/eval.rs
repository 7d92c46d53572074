//! `rajoints eval --dataset DIR [--pred DIR] [--folds K [--split-only] | --split FILE [--fold K]] [--json FILE]`:
//! the paper's Tables 1-3 per fold, then Tables 4-7 over all films (per joint type, false
//! boxes by look-alike, false findings by JSN grade, the look-alikes in brief; issue 16)
//! and Table 8 (calibration of the finding probability; issue 17).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use snafu::{ResultExt, Whatever, whatever};

use rajoints::analysis::Analysis;
use rajoints::annotations::Annotations;
use rajoints::eval::folds::{self, Split};
use rajoints::eval::{self, ImagePrediction, Predicted};
use rajoints::input;

use super::{CommonArgs, ModelArgs, Progress};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Dataset folder holding annotations.json and the images it names.
    #[arg(long, value_name = "DIR")]
    dataset: PathBuf,
    /// Read predictions from DIR/<image stem>.json (written by `analyze`) instead of
    /// running the detectors; the per-detector rates of Table 1 then stay empty.
    #[arg(long, value_name = "DIR")]
    pred: Option<PathBuf>,
    /// Make K patient-level folds (no patient in two folds, positive findings spread
    /// evenly), report each fold and the mean, and write the split (see --split-out).
    #[arg(long, value_name = "K", conflicts_with = "split")]
    folds: Option<usize>,
    /// Use the folds of an existing split file, as --folds writes it, after checking it.
    #[arg(long, value_name = "FILE")]
    split: Option<PathBuf>,
    /// Evaluate only the images of fold K of the split (0-based, as train.py --fold), e.g.
    /// with detectors trained on the other folds; the report then has that one fold.
    #[arg(long, value_name = "K")]
    fold: Option<usize>,
    /// With --folds: write the split and stop, without running the detectors (to make the
    /// folds that training and `--split --fold` use).
    #[arg(long, requires = "folds", conflicts_with = "fold")]
    split_only: bool,
    /// Where --folds writes the split [default: DIR/folds.json].
    #[arg(long, value_name = "FILE")]
    split_out: Option<PathBuf>,
    /// Also write the measures as JSON (fields: models/README.md, "Evaluation").
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    #[command(flatten)]
    models: ModelArgs,
    #[command(flatten)]
    common: CommonArgs,
}

pub fn run(args: EvalArgs) -> Result<ExitCode, Whatever> {
    let mut ann =
        Annotations::load(&args.dataset).whatever_context("could not read the dataset")?;
    let mut split = match (&args.split, args.folds) {
        (Some(p), _) => {
            let s = Split::load(p).whatever_context("could not read the split")?;
            folds::validate(&s, &ann).whatever_context("the split does not fit the dataset")?;
            Some(s)
        }
        (None, Some(k)) => {
            let s = folds::make(&ann, k).whatever_context("could not make folds")?;
            let out = args
                .split_out
                .clone()
                .unwrap_or_else(|| args.dataset.join("folds.json"));
            s.save(&out).whatever_context("could not write the split")?;
            eprintln!("wrote {k} folds to {}", out.display());
            if args.split_only {
                return Ok(ExitCode::SUCCESS);
            }
            Some(s)
        }
        (None, None) => None,
    };
    if let Some(k) = args.fold {
        let Some(s) = &split else {
            whatever!("--fold needs --split FILE or --folds K");
        };
        if k >= s.folds.len() {
            whatever!(
                "--fold {k}: the split has {} folds, numbered from 0",
                s.folds.len()
            );
        }
        let fold_of = s.fold_of();
        ann.images
            .retain(|img| fold_of.get(img.file.as_str()) == Some(&k));
        eprintln!("evaluating fold {k}: {} images", ann.images.len());
        split = None;
    }
    let preds = match &args.pred {
        Some(dir) => read_predictions(&ann, dir)?,
        None => run_detectors(&args, &ann)?,
    };
    let report = eval::evaluate(&ann, &preds, split.as_ref());
    print!("{}", report.tables());
    if let Some(p) = &args.json {
        let text = serde_json::to_string_pretty(&report)
            .whatever_context("could not serialise the measures")?;
        std::fs::write(p, text + "\n")
            .with_whatever_context(|_| format!("could not write {}", p.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn stem(file: &str) -> String {
    Path::new(file)
        .file_stem()
        .map_or_else(|| file.to_string(), |s| s.to_string_lossy().to_string())
}

fn read_predictions(ann: &Annotations, dir: &Path) -> Result<Vec<ImagePrediction>, Whatever> {
    ann.images
        .iter()
        .map(|img| {
            let p = dir.join(format!("{}.json", stem(&img.file)));
            let text = std::fs::read_to_string(&p).with_whatever_context(|_| {
                format!("no prediction for {} (expected {})", img.file, p.display())
            })?;
            let a: Analysis = serde_json::from_str(&text)
                .with_whatever_context(|_| format!("{} is not an analyze report", p.display()))?;
            Ok(ImagePrediction {
                ensemble: a.joints.iter().map(Predicted::from).collect(),
                ..Default::default()
            })
        })
        .collect()
}

fn run_detectors(args: &EvalArgs, ann: &Annotations) -> Result<Vec<ImagePrediction>, Whatever> {
    let cfg = args.common.load_with_models(&args.models)?;
    let pipeline = super::load_pipeline(&cfg)?;
    let cal_a = pipeline.ankylosis.manifest.calibration();
    let cal_s = pipeline.subluxation.manifest.calibration();
    let progress = Progress::new("analysing", ann.images.len());
    let mut out = Vec::with_capacity(ann.images.len());
    for (k, img) in ann.images.iter().enumerate() {
        let path = args.dataset.join(&img.file);
        let t = Instant::now();
        let input = match input::read(&path, cfg.pipeline.max_pixels) {
            Ok(i) => i,
            Err(e) => whatever!("{}: {}", path.display(), snafu::Report::from_error(e)),
        };
        let outcome = match pipeline.analyze(&input.image, t.elapsed().as_secs_f64() * 1000.0) {
            Ok(o) => o,
            Err(e) => whatever!("{}: {}", path.display(), snafu::Report::from_error(e)),
        };
        out.push(ImagePrediction {
            ensemble: outcome.joints.iter().map(Predicted::from).collect(),
            ankylosis_ssd: Some(
                outcome
                    .ankylosis_ssd
                    .iter()
                    .map(|d| Predicted::from_detector(d, true, &cal_a))
                    .collect(),
            ),
            subluxation_ssd: Some(
                outcome
                    .subluxation_ssd
                    .iter()
                    .map(|d| Predicted::from_detector(d, false, &cal_s))
                    .collect(),
            ),
        });
        progress.tick(k + 1);
    }
    Ok(out)
}
