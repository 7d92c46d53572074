//! `rajoints phantom --out DIR --count N --seed S`: synthetic hand radiographs with ground
//! truth (`DIR/images/<id>.dcm`, `DIR/annotations.json`), hung in the conventions of real
//! films, digitised, or of kinds the node must refuse (docs/phantom.md).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use snafu::{ResultExt, Whatever};

use rajoints::phantom::{self, Convention, Kind, PhantomOptions};

#[derive(Debug, Args)]
pub struct PhantomArgs {
    /// Output folder (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Number of images; each patient has two (time points 0 and 1).
    #[arg(long, value_name = "N", default_value_t = 260)]
    count: usize,
    /// Seed: the same arguments give byte-identical output.
    #[arg(long, value_name = "S", default_value_t = 0)]
    seed: u64,
    /// Per-joint probability of ankylosis [default: 157/5200, the paper's prevalence].
    #[arg(long, value_name = "P")]
    ankylosis_rate: Option<f64>,
    /// Per-joint probability of subluxation/dislocation, thumb IP excluded [default:
    /// 60/4680, the paper's prevalence].
    #[arg(long, value_name = "P")]
    subluxation_rate: Option<f64>,
    /// Store MONOCHROME1 (inverted) instead of MONOCHROME2.
    #[arg(long)]
    monochrome1: bool,
    /// How films are hung: two-hands-reading (right hand on the image left),
    /// two-hands-acquired (right hand on the image right), one-hand (one hand seen from
    /// the dorsum, cropped), or mixed (each image one of the three).
    #[arg(long, value_name = "C", default_value_t = Convention::TwoHandsReading)]
    convention: Convention,
    /// Resample each film to a spacing drawn in 0.08-0.30 mm and store 8 bits, as a
    /// digitised clinic film.
    #[arg(long)]
    digitised: bool,
    /// Write neither Pixel Spacing nor Imager Pixel Spacing.
    #[arg(long)]
    no_spacing: bool,
    /// What the films show: hand, or a kind the node must refuse (lateral, oblique, foot,
    /// chest, empty, rotated), written with the tags of a one-hand PA film.
    #[arg(long, value_name = "K", default_value_t = Kind::Hand)]
    kind: Kind,
}

pub fn run(args: PhantomArgs) -> Result<ExitCode, Whatever> {
    let d = PhantomOptions::default();
    let opts = PhantomOptions {
        count: args.count,
        seed: args.seed,
        ankylosis_rate: args.ankylosis_rate.unwrap_or(d.ankylosis_rate),
        subluxation_rate: args.subluxation_rate.unwrap_or(d.subluxation_rate),
        monochrome1: args.monochrome1,
        convention: args.convention,
        digitised: args.digitised,
        no_spacing: args.no_spacing,
        kind: args.kind,
    };
    for (name, p) in [
        ("--ankylosis-rate", opts.ankylosis_rate),
        ("--subluxation-rate", opts.subluxation_rate),
    ] {
        if !(0.0..=1.0).contains(&p) {
            snafu::whatever!("{name} must be a probability in [0, 1], got {p}");
        }
    }
    let t = std::time::Instant::now();
    let ann =
        phantom::generate(&opts, &args.out).whatever_context("could not generate the phantoms")?;
    eprintln!(
        "{} images with {} joints in {} ({:.1} s)",
        ann.images.len(),
        ann.images.iter().map(|i| i.joints.len()).sum::<usize>(),
        args.out.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
