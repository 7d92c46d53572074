//! Presets (`rajoints phantom --preset paper|clinic|hard`): named mixes of anatomy,
//! disease and acquisition (issue 16, docs/phantom.md).
//!
//! `paper` is the generator as it was before presets: the same seed gives the same films,
//! byte for byte. `clinic` draws films as a rheumatology clinic sees them
//! (`real-films.md`): mostly one-hand films, many digitised, most joints normal, JSN graded
//! at the cohort's prevalence (about 6 % JSN 3-4, 3 % JSN 4, mostly luxated MCPs), mild
//! narrowing common and never labelled. `hard` over-represents the look-alikes (JSN 2,
//! DIP osteoarthritis, flexed and crossed fingers, overlap) and the acquisition extremes
//! (0.06 and 0.5 mm pixels, heavy JPEG, 30 degree rotations, tight crops).

use super::Convention;

/// A named mix (`--preset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preset {
    /// Today's films: the paper's label rates, two hands hung for reading.
    #[default]
    Paper,
    /// A rheumatology clinic's films at clinic prevalence.
    Clinic,
    /// Look-alikes and acquisition extremes over-represented.
    Hard,
}

impl Preset {
    pub const ALL: [Preset; 3] = [Preset::Paper, Preset::Clinic, Preset::Hard];

    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Paper => "paper",
            Preset::Clinic => "clinic",
            Preset::Hard => "hard",
        }
    }
}

/// Everything a preset sets beyond the label rates and the hanging. Every field can be
/// changed on its own (`PhantomOptions::mix`); the CLI exposes the rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mix {
    pub preset: Preset,
    /// Hands of version 2 (`anatomy` in docs/phantom.md): bone lengths from the cited
    /// anthropometric table, DIP joints built like PIP joints, condylar heads, nails, skin
    /// creases, visible carpometacarpal joints. Off: the paper-era hands, byte for byte.
    pub anatomy_v2: bool,
    /// Disease graded by Sharp/van der Heijde at the rates below. Off: the paper-era
    /// disease model (narrowing and erosions follow the patient's severity).
    pub graded: bool,
    /// Per scored joint without a finding: probability of JSN 1 (doubtful or focal), JSN 2
    /// (generalised, under half the space lost) and JSN 3 (over half lost). None of them
    /// carries a label.
    pub jsn_rates: [f64; 3],
    /// Per scored joint: probability of an erosion (SvdH erosion score 1 or more).
    pub erosion_rate: f64,
    /// Share of subluxation labels that are complete luxations (JSN 4); the rest are
    /// partial (JSN 3).
    pub dislocation_share: f64,
    /// Share of the ankylosis and of the subluxation labels that fall on MCP joints (the
    /// rest on PIP/IP joints); `None`: every scored joint alike (the paper).
    pub mcp_share: Option<[f64; 2]>,
    /// Latent correlation of a patient's joints: higher gives more whole hands affected.
    pub rho: f64,
    /// Probability that a hand is destroyed: every scored joint at JSN 3-4, the carpus
    /// collapsed and fused, severe osteopenia.
    pub destroyed_hand_rate: f64,
    /// Multiplies the probabilities of swan-neck and boutonniere fingers.
    pub deformity: f64,
    /// Share of luxated joints drawn as pencil-in-cup destruction.
    pub pencil_share: f64,
    /// Per DIP joint: probability of osteoarthritic narrowing (unscored, unlabelled).
    pub dip_oa_rate: f64,
    /// Largest rotation of a hand on the film (degrees).
    pub max_rotation_deg: f64,
    /// Per hand: probability of an unusual posture (fingers closed, spread wide, flexed or
    /// crossed).
    pub posture_rate: f64,
    /// Shares of two-hands-reading, two-hands-acquired and one-hand films under
    /// `Convention::Mixed`.
    pub conventions: [f64; 3],
    /// Share of films digitised (when `--digitised` does not force all).
    pub digitised_share: f64,
    /// Range of the digitiser's effective spacing (mm).
    pub digitised_mm: (f64, f64),
    /// Digitised films are scanned as clinics scan them: the pitch drawn log-uniformly,
    /// at most 3000 pixels long, the film's tone and grain, scanner lines, often a JPEG
    /// history. Off (the paper's digitiser): the pitch uniform, resampled and quantised
    /// only.
    pub scanned: bool,
    /// Share of digitised films written without Pixel Spacing (when `--no-spacing` does
    /// not force all).
    pub no_spacing_share: f64,
    /// Share of scanned films with a JPEG history (8x8 block DCT at quality 25-92).
    pub jpeg_share: f64,
    /// Share of one-hand films cropped tightly around the hand (3-20 mm margins).
    pub tight_crop_share: f64,
    /// Per site: probability that its dose, processing, blur, tone or beam is at the
    /// edge of clinical practice.
    pub acquisition_extremes: f64,
    /// Range (mm) of the anatomical unsharpness of joint spaces along the joint's axis,
    /// drawn per joint (`unsharp.rs`); (0, 0): razor-edged joint spaces (the paper's).
    pub joint_unsharpness_mm: (f64, f64),
}

impl Mix {
    pub fn of(preset: Preset) -> Mix {
        match preset {
            Preset::Paper => Mix {
                preset,
                anatomy_v2: false,
                graded: false,
                jsn_rates: [0.0; 3],
                erosion_rate: 0.0,
                dislocation_share: 0.3,
                mcp_share: None,
                rho: 0.3,
                destroyed_hand_rate: 0.0,
                deformity: 1.0,
                pencil_share: 0.0,
                dip_oa_rate: 0.0,
                max_rotation_deg: 10.0,
                posture_rate: 0.0,
                conventions: [1.0 / 3.0; 3],
                digitised_share: 0.0,
                digitised_mm: super::DIGITISED_SPACING_MM,
                scanned: false,
                no_spacing_share: 0.0,
                jpeg_share: 0.0,
                tight_crop_share: 0.0,
                acquisition_extremes: 0.0,
                joint_unsharpness_mm: (0.0, 0.0),
            },
            // real-films.md: 6 % of MCP/PIP joints JSN 3-4, 3 % JSN 4 (176 of 205 at the
            // MCPs), erosions at 8 %; JSN 1 almost never scored.
            Preset::Clinic => Mix {
                preset,
                anatomy_v2: true,
                graded: true,
                jsn_rates: [0.005, 0.08, 0.025],
                erosion_rate: 0.08,
                dislocation_share: 0.75,
                mcp_share: Some([0.4, 0.9]),
                rho: 0.5,
                destroyed_hand_rate: 0.01,
                deformity: 1.0,
                pencil_share: 0.1,
                dip_oa_rate: 0.25,
                max_rotation_deg: 30.0,
                posture_rate: 0.15,
                conventions: [0.15, 0.15, 0.7],
                digitised_share: 0.4,
                digitised_mm: (0.06, 0.5),
                scanned: true,
                no_spacing_share: 0.7,
                jpeg_share: 0.6,
                tight_crop_share: 0.5,
                acquisition_extremes: 0.15,
                joint_unsharpness_mm: (0.3, 0.8),
            },
            Preset::Hard => Mix {
                preset,
                anatomy_v2: true,
                graded: true,
                jsn_rates: [0.02, 0.25, 0.08],
                erosion_rate: 0.15,
                dislocation_share: 0.6,
                mcp_share: Some([0.3, 0.8]),
                rho: 0.5,
                destroyed_hand_rate: 0.04,
                deformity: 3.0,
                pencil_share: 0.2,
                dip_oa_rate: 0.6,
                max_rotation_deg: 30.0,
                posture_rate: 0.5,
                conventions: [0.2, 0.2, 0.6],
                digitised_share: 0.6,
                digitised_mm: (0.06, 0.5),
                scanned: true,
                no_spacing_share: 0.8,
                jpeg_share: 0.8,
                tight_crop_share: 0.7,
                acquisition_extremes: 0.5,
                joint_unsharpness_mm: (0.3, 0.8),
            },
        }
    }

    /// The label rates (ankylosis, subluxation) a preset uses unless they are set.
    pub fn rates(preset: Preset) -> (f64, f64) {
        match preset {
            Preset::Paper => (super::ANKYLOSIS_RATE, super::SUBLUXATION_RATE),
            // JSN 4: 0.5 % ankylosed + 75 % of 4 % luxated on 18 of 20 joints = 3.2 %,
            // 82 % of it at the MCPs (the cohort: 3 %, 176 of 205 at the MCPs); JSN 3 adds
            // the partial subluxations (0.9 %) to the narrowing-only 2.5 %.
            Preset::Clinic => (0.005, 0.04),
            Preset::Hard => (0.02, 0.04),
        }
    }

    /// The hanging a preset uses unless `--convention` is given.
    pub fn convention(preset: Preset) -> Convention {
        match preset {
            Preset::Paper => Convention::TwoHandsReading,
            Preset::Clinic | Preset::Hard => Convention::Mixed,
        }
    }
}

impl Default for Mix {
    fn default() -> Self {
        Mix::of(Preset::Paper)
    }
}
