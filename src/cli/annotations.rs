//! `rajoints annotations export`: the films people reviewed, as a training set.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use snafu::{ResultExt, Whatever};

use super::CommonArgs;
use rajoints::annotations::{AnnotatedImage, Annotations, FORMAT};
use rajoints::review::{ReviewStatus, ReviewStore};

#[derive(Debug, Args)]
pub struct AnnotationsArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Write the reviewed films as a training set: OUT/images/<id>.dcm, OUT/annotations.json
    /// (rajoints-annotations/1) and OUT/folds.json (patient-level folds, rajoints-folds/1)
    /// for models/training (see models/training/README.md).
    ///
    /// Each film contributes its latest signed-off annotation (with --include-drafts, the
    /// latest saved one when none is signed). Patients appear as one-way keys; the DICOM
    /// files are copied as received and hold patient data: keep OUT inside the hospital.
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Folder to write (created; must be empty or absent).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The node's data folder (node.data_dir) [default: var/rajoints].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Also export films whose annotation is a draft (not signed off).
    #[arg(long)]
    include_drafts: bool,
    /// Patient-level folds to write (fewer when there are fewer patients).
    #[arg(long, default_value_t = 5, value_name = "K")]
    folds: usize,
    #[command(flatten)]
    common: CommonArgs,
}

pub fn run(args: AnnotationsArgs) -> Result<ExitCode, Whatever> {
    match args.action {
        Action::Export(a) => export(a),
    }
}

fn export(args: ExportArgs) -> Result<ExitCode, Whatever> {
    let mut extra = Vec::new();
    if let Some(d) = &args.data_dir {
        extra.push(("node.data_dir", d.display().to_string()));
    }
    let cfg = args.common.load(&extra)?;
    let dir = rajoints::node::resolve_data_dir(&cfg);
    if !dir.join("review").is_dir() {
        snafu::whatever!(
            "{} has no review folder: no films were kept for review",
            dir.display()
        );
    }
    if args.out.exists()
        && std::fs::read_dir(&args.out)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        snafu::whatever!("{} exists and is not empty", args.out.display());
    }
    let store = ReviewStore::open(&dir).whatever_context("could not open the review store")?;
    let images_dir = args.out.join("images");
    std::fs::create_dir_all(&images_dir)
        .with_whatever_context(|_| format!("could not create {}", images_dir.display()))?;

    let mut chosen: Vec<(String, Option<String>, AnnotatedImage)> = Vec::new();
    let (mut films, mut skipped) = (0usize, 0usize);
    for f in store.films() {
        films += 1;
        // Latest signed, else (with --include-drafts) latest saved: ranked on the
        // worklist entries, only the chosen file is read.
        let best = f
            .annotations
            .iter()
            .filter(|s| s.status == ReviewStatus::Signed || args.include_drafts)
            .max_by_key(|s| (s.status == ReviewStatus::Signed, s.time.clone()));
        let Some(best) = best else {
            skipped += 1;
            continue;
        };
        let mut a = store
            .annotation(&f.film.id, &best.annotator)
            .whatever_context("could not read a reviewed film's annotation")?;
        let src = store
            .image_path(&f.film.id)
            .whatever_context("a reviewed film lost its image")?;
        // The analysis holds the UID already; the image is copied, not parsed.
        a.sop_instance_uid = store
            .analysis(&f.film.id)
            .whatever_context("a reviewed film lost its analysis")?
            .source
            .sop_instance_uid
            .unwrap_or_default();
        let dest = images_dir.join(format!("{}.dcm", f.film.id));
        std::fs::copy(&src, &dest)
            .with_whatever_context(|_| format!("could not write {}", dest.display()))?;
        chosen.push((f.film.patient_key.clone(), f.film.study_date.clone(), a));
    }
    // Time points: a patient's films in study-date order (the paper's image pairs).
    let mut order: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
    for (p, d, _) in &chosen {
        order.entry(p.clone()).or_default().push(d.clone());
    }
    for dates in order.values_mut() {
        dates.sort();
        dates.dedup();
    }
    let mut images = Vec::new();
    for (p, d, mut a) in chosen {
        a.timepoint = order[&p].iter().position(|x| *x == d).unwrap_or(0) as u32;
        images.push(a);
    }
    images.sort_by(|a, b| a.file.cmp(&b.file));
    let doc = Annotations {
        format: FORMAT.to_string(),
        images,
    };
    let path = args.out.join("annotations.json");
    let mut text = serde_json::to_vec_pretty(&doc).whatever_context("could not encode")?;
    text.push(b'\n');
    std::fs::write(&path, text)
        .with_whatever_context(|_| format!("could not write {}", path.display()))?;
    let patients = order.len();
    let k = args.folds.min(patients);
    if k >= 2 {
        let split =
            rajoints::eval::folds::make(&doc, k).whatever_context("could not make the folds")?;
        split
            .save(&args.out.join("folds.json"))
            .whatever_context("could not write folds.json")?;
    } else {
        eprintln!("warning: {patients} patient(s): too few for folds; folds.json not written");
    }
    println!(
        "exported {} of {films} films ({skipped} without a {} annotation), {patients} patients, {k} folds, to {}",
        doc.images.len(),
        if args.include_drafts {
            "saved"
        } else {
            "signed-off"
        },
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
