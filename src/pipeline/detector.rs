//! One SSD detector behind ONNX Runtime, with the input/output contract of
//! `models/README.md`: `images` [N,3,S,S] in, `boxes` [N,A,4] (decoded, window pixels) and
//! `scores` [N,A,3] (softmax over background, absent, present) out.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;
use snafu::{ResultExt, Snafu, ensure};

use super::bbox::BBox;
use super::select::Detection;
use super::window::Window;
use crate::model::manifest::{self, Finding, Manifest};

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("could not load model"))]
    Manifest { source: manifest::Error },
    #[snafu(display("ONNX Runtime is not available"))]
    Runtime { source: crate::runtime::Error },
    #[snafu(display("ONNX Runtime could not open model {}: {message}", path.display()))]
    Session { path: PathBuf, message: String },
    #[snafu(display(
        "model {} does not follow the contract of models/README.md: {problem}",
        path.display()
    ))]
    Contract { path: PathBuf, problem: String },
    #[snafu(display("inference failed in model {name}: {message}"))]
    Run { name: String, message: String },
    #[snafu(display("model {name} returned {what} of shape {shape:?}, expected {expected}"))]
    OutputShape {
        name: String,
        what: &'static str,
        shape: Vec<i64>,
        expected: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// ONNX Runtime settings shared by both detectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOptions {
    /// Intra-op threads per session; 0 lets ONNX Runtime choose.
    pub intra_threads: usize,
    /// Graph optimisation level 0 (none) to 3 (all).
    pub optimization_level: u8,
}

/// A loaded detector.
pub struct Detector {
    pub manifest: Manifest,
    pub path: PathBuf,
    session: Mutex<Session>,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("manifest", &self.manifest)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Detector {
    /// Loads the manifest at `path` (or beside the `.onnx` it names), verifies the model's
    /// sha256, opens it in ONNX Runtime and checks its input and outputs.
    pub fn load(
        path: &Path,
        expected: Finding,
        ort_library: Option<&Path>,
        opts: SessionOptions,
    ) -> Result<Detector> {
        let model = Manifest::load_verified(path).context(ManifestSnafu)?;
        let path = model.onnx_path.clone();
        ensure!(
            model.manifest.finding == expected,
            ContractSnafu {
                path: &path,
                problem: format!(
                    "it detects {}, but is configured as the {} detector",
                    model.manifest.finding.as_str(),
                    expected.as_str()
                ),
            }
        );
        let env = crate::runtime::init(ort_library).context(RuntimeSnafu)?;
        let session_err = |e: String| Error::Session {
            path: path.clone(),
            message: e,
        };
        let level = match opts.optimization_level {
            0 => GraphOptimizationLevel::Disable,
            1 => GraphOptimizationLevel::Level1,
            2 => GraphOptimizationLevel::Level2,
            // ort's Level3 is ORT_ENABLE_LAYOUT; "3 all" in our configuration means ORT_ENABLE_ALL.
            _ => GraphOptimizationLevel::All,
        };
        let mut builder = Session::builder(env)
            .map_err(|e| session_err(e.to_string()))?
            .with_optimization_level(level)
            .map_err(|e| session_err(e.to_string()))?;
        if opts.intra_threads > 0 {
            builder = builder
                .with_intra_threads(opts.intra_threads)
                .map_err(|e| session_err(e.to_string()))?;
        }
        let session = builder
            .commit_from_memory(&model.onnx)
            .map_err(|e| session_err(e.to_string()))?;
        check_contract(&session, &path, model.manifest.input_size as i64)?;
        Ok(Detector {
            manifest: model.manifest,
            path,
            session: Mutex::new(session),
        })
    }

    /// Window side in pixels.
    pub fn input_size(&self) -> usize {
        self.manifest.input_size as usize
    }

    /// Runs one batch: `input` holds `windows.len()` normalised windows [N,3,S,S]. Returns
    /// the boxes whose confidence reaches `t_conf`, in scaled-image pixels (window origin
    /// added). Dropping the rest here keeps the thousands of background anchors out of NMS.
    pub fn run_batch(
        &self,
        input: &[f32],
        windows: &[Window],
        t_conf: f32,
    ) -> Result<Vec<Detection>> {
        let name = &self.manifest.name;
        let run_err = |message: String| Error::Run {
            name: name.clone(),
            message,
        };
        let n = windows.len();
        let s = self.input_size();
        let tensor = TensorRef::from_array_view(([n, 3, s, s], input))
            .map_err(|e| run_err(e.to_string()))?;
        // A poisoned lock only means another thread panicked mid-run; the session itself
        // holds no state between runs, so it is still usable.
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let outputs = session
            .run(ort::inputs!["images" => tensor])
            .map_err(|e| run_err(e.to_string()))?;
        let (bshape, boxes) = outputs
            .get("boxes")
            .ok_or_else(|| run_err("no output named boxes".into()))?
            .try_extract_tensor::<f32>()
            .map_err(|e| run_err(e.to_string()))?;
        let (sshape, scores) = outputs
            .get("scores")
            .ok_or_else(|| run_err("no output named scores".into()))?
            .try_extract_tensor::<f32>()
            .map_err(|e| run_err(e.to_string()))?;
        let anchors = match (&bshape[..], &sshape[..]) {
            ([bn, ba, 4], [sn, sa, 3])
                if *bn == n as i64 && *sn == n as i64 && ba == sa && *ba >= 0 =>
            {
                *ba as usize
            }
            ([..], [sn, sa, 3]) if *sn == n as i64 => {
                return OutputShapeSnafu {
                    name: name.clone(),
                    what: "boxes",
                    shape: bshape.to_vec(),
                    expected: format!("[{n}, {sa}, 4]"),
                }
                .fail();
            }
            _ => {
                return OutputShapeSnafu {
                    name: name.clone(),
                    what: "scores",
                    shape: sshape.to_vec(),
                    expected: format!("[{n}, A, 3]"),
                }
                .fail();
            }
        };
        let mut out = Vec::new();
        for (k, w) in windows.iter().enumerate() {
            let base = k * anchors;
            for a in 0..anchors {
                let sc = &scores[(base + a) * 3..(base + a) * 3 + 3];
                let (absent, present) = (sc[1], sc[2]);
                if absent.max(present) < t_conf {
                    continue;
                }
                let b = &boxes[(base + a) * 4..(base + a) * 4 + 4];
                let bbox = w.to_image(BBox::new(b[0], b[1], b[2], b[3]));
                out.push(Detection {
                    bbox,
                    absent,
                    present,
                });
            }
        }
        Ok(out)
    }
}

/// Checks names, element types and shapes of the model's input and outputs.
fn check_contract(session: &Session, path: &Path, size: i64) -> Result<()> {
    let bad = |problem: String| Error::Contract {
        path: path.to_path_buf(),
        problem,
    };
    let inputs = session.inputs();
    let [input] = inputs else {
        return Err(bad(format!("expected one input, found {}", inputs.len())));
    };
    if input.name() != "images" {
        return Err(bad(format!(
            "input is named `{}`, expected `images`",
            input.name()
        )));
    }
    let shape = input
        .dtype()
        .tensor_shape()
        .ok_or_else(|| bad("input `images` is not a tensor".into()))?;
    match &shape[..] {
        [_, 3, h, w] if (*h == size || *h < 0) && (*w == size || *w < 0) => {}
        other => {
            return Err(bad(format!(
                "input `images` has shape {other:?}, expected [N, 3, {size}, {size}]"
            )));
        }
    }
    for (name, last) in [("boxes", 4), ("scores", 3)] {
        let outlet = session
            .outputs()
            .iter()
            .find(|o| o.name() == name)
            .ok_or_else(|| bad(format!("no output named `{name}`")))?;
        let shape = outlet
            .dtype()
            .tensor_shape()
            .ok_or_else(|| bad(format!("output `{name}` is not a tensor")))?;
        match &shape[..] {
            [_, _, l] if *l == last || *l < 0 => {}
            other => {
                return Err(bad(format!(
                    "output `{name}` has shape {other:?}, expected [N, A, {last}]"
                )));
            }
        }
    }
    Ok(())
}
