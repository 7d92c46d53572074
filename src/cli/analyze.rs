//! `rajoints analyze FILE... --out DIR`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use snafu::{Report, ResultExt, Snafu, Whatever};

use dicom_dictionary_std::tags;
use rajoints::analysis::{Analysis, SourceInfo};
use rajoints::change::{self, Prior};
use rajoints::config::Config;
use rajoints::dicom::decode;
use rajoints::dicom::sc::{self, ScOptions};
use rajoints::dicom::sr::{self, SrOptions, Timestamp};
use rajoints::pipeline::Pipeline;
use rajoints::{input, labels, render, report};

use super::{CommonArgs, ModelArgs};

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Input radiographs.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Output folder (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The patient's prior result (`PRIOR.json` or `PRIOR.sr.dcm`): each film is compared
    /// with it, same hand to same hand (issue 19).
    #[arg(long, value_name = "PRIOR")]
    prior: Option<PathBuf>,
    #[command(flatten)]
    models: ModelArgs,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Snafu)]
enum FileError {
    #[snafu(display("could not read the input"))]
    Input { source: input::Error },
    #[snafu(display("analysis failed"))]
    Analyse { source: rajoints::pipeline::Error },
    #[snafu(display("could not write the report"))]
    Report { source: report::Error },
    #[snafu(display("could not write the overlay"))]
    Overlay { source: render::png::Error },
    #[snafu(display("could not write the structured report"))]
    Sr { source: sr::Error },
    #[snafu(display("could not draw the overlay"))]
    Draw { source: render::overlay::Error },
    #[snafu(display("could not write the summary image"))]
    Sc { source: sc::Error },
}

pub fn run(args: AnalyzeArgs) -> Result<ExitCode, Whatever> {
    let cfg = args.common.load_with_models(&args.models)?;
    std::fs::create_dir_all(&args.out).with_whatever_context(|_| {
        format!("could not create output folder {}", args.out.display())
    })?;
    let prior = match &args.prior {
        Some(path) => match Prior::read(path) {
            Ok(p) => Some(p),
            Err(e) => snafu::whatever!("could not use the prior: {}", Report::from_error(e)),
        },
        None => None,
    };
    let pipeline = super::load_pipeline(&cfg)?;
    let mut failed = 0usize;
    let mut stems = HashSet::new();
    for file in &args.files {
        let stem = unique_stem(file, &mut stems);
        match analyze_one(&pipeline, &cfg, file, &args.out, &stem, prior.as_ref()) {
            Ok(assessment) => eprintln!(
                "{}: {assessment} -> {}",
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

/// The file name without `.dcm`/`.png`, made unique within one run (`a`, `a-2`, ...).
fn unique_stem(file: &Path, seen: &mut HashSet<String>) -> String {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "input".into());
    let lower = name.to_ascii_lowercase();
    let base = if lower.ends_with(".dcm") || lower.ends_with(".png") {
        name[..name.len() - 4].to_string()
    } else {
        name
    };
    let mut stem = base.clone();
    let mut n = 2;
    while !seen.insert(stem.clone()) {
        stem = format!("{base}-{n}");
        n += 1;
    }
    stem
}

fn analyze_one(
    pipeline: &Pipeline,
    cfg: &Config,
    file: &Path,
    out: &Path,
    stem: &str,
    prior: Option<&Prior>,
) -> Result<String, FileError> {
    let t = Instant::now();
    let input = input::read(file, cfg.pipeline.max_pixels).context(InputSnafu)?;
    let decode_ms = t.elapsed().as_secs_f64() * 1000.0;
    let img = &input.image;
    let outcome = pipeline.analyze(img, decode_ms).context(AnalyseSnafu)?;
    let mut analysis = Analysis::new(
        SourceInfo {
            file: file.display().to_string(),
            sop_instance_uid: input.dicom.as_ref().and_then(decode::sop_instance_uid),
            rows: img.height,
            columns: img.width,
        },
        pipeline.models(),
        outcome,
    );
    analysis.study_date = input
        .dicom
        .as_ref()
        .and_then(|o| {
            o.get(tags::STUDY_DATE)?
                .to_str()
                .ok()
                .map(|d| d.to_string())
        })
        .and_then(|d| change::iso_date(&d));
    if let Some(prior) = prior {
        let c = change::compare(
            &change::Findings::of(&analysis),
            analysis.study_date.as_deref(),
            prior,
        );
        eprintln!("{}: {}", file.display(), labels::change_line(&c));
        analysis.change = Some(c);
    }
    report::write_json(&out.join(format!("{stem}.json")), &analysis).context(ReportSnafu)?;
    if cfg.output.png {
        let rgb = render::overlay::render(img, &analysis.joints).context(DrawSnafu)?;
        render::png::write_rgb(
            &out.join(format!("{stem}.png")),
            img.width,
            img.height,
            &rgb,
        )
        .context(OverlaySnafu)?;
    }
    // PNG input has no DICOM instance to reference, so no SR and no summary image.
    let mut opts = SrOptions::new(Timestamp::now());
    opts.algorithm_parameters = pipeline.params.algorithm_parameters();
    if cfg.output.sr
        && let Some(obj) = &input.dicom
    {
        let doc = sr::build_sr(obj, &analysis, &opts).context(SrSnafu)?;
        sr::write_sr(&doc, out.join(format!("{stem}.sr.dcm"))).context(SrSnafu)?;
    }
    // As in the node: a film that was not assessed has nothing to draw.
    if cfg.output.sc
        && analysis.assessment.assessable
        && let Some(obj) = &input.dicom
    {
        let doc =
            sc::build_sc(obj, &analysis, img, &ScOptions::matching(&opts)).context(ScSnafu)?;
        sc::write_sc(&doc, out.join(format!("{stem}.sc.dcm"))).context(ScSnafu)?;
    }
    Ok(match &analysis.assessment.reason {
        Some(reason) => format!("not assessable: {reason}"),
        None => format!("{} joints", analysis.joints.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_unique_within_a_run() {
        let mut seen = HashSet::new();
        assert_eq!(unique_stem(Path::new("a/x.dcm"), &mut seen), "x");
        assert_eq!(unique_stem(Path::new("b/x.DCM"), &mut seen), "x-2");
        assert_eq!(unique_stem(Path::new("c/x.png"), &mut seen), "x-3");
        assert_eq!(unique_stem(Path::new("c/IMG0001"), &mut seen), "IMG0001");
    }
}
