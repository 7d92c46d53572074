//! `rajoints phantom --out DIR --count N --seed S`: synthetic hand radiographs with ground
//! truth (`DIR/images/<id>.dcm`, `DIR/annotations.json`), hung in the conventions of real
//! films, digitised, or of kinds the node must refuse (docs/phantom.md).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use snafu::{ResultExt, Whatever};

use rajoints::phantom::{self, Convention, Kind, PhantomOptions, Preset};

#[derive(Debug, Args)]
pub struct PhantomArgs {
    /// The mix of anatomy, disease and acquisition: paper (the films of issue 3: the
    /// paper's rates, two hands hung for reading), clinic (a rheumatology clinic's films
    /// at clinic prevalence: mostly one-hand films, many digitised, JSN graded), hard
    /// (look-alikes and acquisition extremes over-represented). The options below
    /// change a preset's defaults.
    #[arg(long, value_name = "P", default_value_t = Preset::Paper)]
    preset: Preset,
    /// Output folder (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Number of images; each patient has two (time points 0 and 1).
    #[arg(long, value_name = "N", default_value_t = 260)]
    count: usize,
    /// Seed: the same arguments give byte-identical output.
    #[arg(long, value_name = "S", default_value_t = 0)]
    seed: u64,
    /// Per-joint probability of ankylosis [default: paper 157/5200, the paper's
    /// prevalence; clinic 0.005; hard 0.02].
    #[arg(long, value_name = "P")]
    ankylosis_rate: Option<f64>,
    /// Per-joint probability of subluxation/dislocation, thumb IP excluded [default:
    /// paper 60/4680, the paper's prevalence; clinic 0.04; hard 0.04].
    #[arg(long, value_name = "P")]
    subluxation_rate: Option<f64>,
    /// clinic and hard: per-joint probability of JSN 1, JSN 2 and JSN 3 narrowing without
    /// a finding, comma-separated [default: clinic 0.005,0.08,0.025; hard 0.02,0.25,0.08].
    #[arg(long, value_name = "P1,P2,P3", value_delimiter = ',')]
    jsn_rates: Option<Vec<f64>>,
    /// clinic and hard: per-joint probability of an erosion [default: clinic 0.08; hard
    /// 0.15].
    #[arg(long, value_name = "P")]
    erosion_rate: Option<f64>,
    /// Share of films digitised, when --digitised does not make them all [default: paper
    /// 0; clinic 0.4; hard 0.6].
    #[arg(long, value_name = "P")]
    digitised_share: Option<f64>,
    /// Store MONOCHROME1 (inverted) instead of MONOCHROME2.
    #[arg(long)]
    monochrome1: bool,
    /// How films are hung: two-hands-reading (right hand on the image left),
    /// two-hands-acquired (right hand on the image right), one-hand (one hand seen from
    /// the dorsum, cropped), or mixed (each image one of the three; paper: a third each,
    /// clinic and hard: mostly one-hand films) [default: paper two-hands-reading; clinic
    /// and hard mixed].
    #[arg(long, value_name = "C")]
    convention: Option<Convention>,
    /// Digitise every film: resampled to a spacing drawn in 0.08-0.30 mm (clinic and
    /// hard: 0.06-0.5 mm, log-uniform, scanned with film grain, scanner lines and often
    /// a JPEG history), stored in 8 bits.
    #[arg(long)]
    digitised: bool,
    /// Write neither Pixel Spacing nor Imager Pixel Spacing on any film (clinic and hard
    /// drop them from most digitised films anyway).
    #[arg(long)]
    no_spacing: bool,
    /// What the films show: hand, or a kind the node must refuse (lateral, oblique, foot,
    /// chest, empty, rotated), written with the tags of a one-hand PA film.
    #[arg(long, value_name = "K", default_value_t = Kind::Hand)]
    kind: Kind,
}

pub fn run(args: PhantomArgs) -> Result<ExitCode, Whatever> {
    let d = PhantomOptions::preset(args.preset);
    let mut mix = d.mix;
    if !mix.graded && (args.jsn_rates.is_some() || args.erosion_rate.is_some()) {
        snafu::whatever!(
            "--jsn-rates and --erosion-rate grade the disease of the clinic and hard presets; \
             the paper preset draws narrowing and erosions from the patient's severity"
        );
    }
    if let Some(r) = &args.jsn_rates {
        let [r1, r2, r3] = r[..] else {
            snafu::whatever!("--jsn-rates takes three rates, for JSN 1, 2 and 3: P1,P2,P3");
        };
        mix.jsn_rates = [r1, r2, r3];
    }
    mix.erosion_rate = args.erosion_rate.unwrap_or(mix.erosion_rate);
    mix.digitised_share = args.digitised_share.unwrap_or(mix.digitised_share);
    let opts = PhantomOptions {
        count: args.count,
        seed: args.seed,
        ankylosis_rate: args.ankylosis_rate.unwrap_or(d.ankylosis_rate),
        subluxation_rate: args.subluxation_rate.unwrap_or(d.subluxation_rate),
        monochrome1: args.monochrome1,
        convention: args.convention.unwrap_or(d.convention),
        digitised: args.digitised,
        no_spacing: args.no_spacing,
        kind: args.kind,
        mix,
    };
    let jsn_total: f64 = mix.jsn_rates.iter().sum();
    for (name, p) in [
        ("--ankylosis-rate", opts.ankylosis_rate),
        ("--subluxation-rate", opts.subluxation_rate),
        ("--jsn-rates (each)", mix.jsn_rates[0]),
        ("--jsn-rates (each)", mix.jsn_rates[1]),
        ("--jsn-rates (each)", mix.jsn_rates[2]),
        ("--jsn-rates (their sum)", jsn_total),
        ("--erosion-rate", mix.erosion_rate),
        ("--digitised-share", mix.digitised_share),
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
