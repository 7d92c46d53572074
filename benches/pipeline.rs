//! Benchmarks of the pipeline on whole radiographs (issue 7, items 1, 2, 5 and 6), driven
//! by `benches/run`, which writes `benches/RESULTS.md`.
//!
//! ```text
//! cargo bench --bench pipeline -- MODE [--config FILE] [--set KEY=VALUE]... \
//!     [--reps N] [--json OUT] FILE.dcm|DIR...
//! ```
//!
//! Modes:
//!
//! - `pipeline`: per radiograph and repetition, `input::read` (decode), then the real
//!   `Pipeline::analyze` (its own stage timings: preprocess = scale + tile, inference,
//!   postprocess = select + Algorithm 1 + naming), then the SR and GSPS as the node's
//!   worker builds them (SR). Scale, tile and naming are also timed by separate calls of
//!   the same functions, outside the totals. Peak RSS is the process's VmHWM.
//! - `floor`: the same window tensors, made by the pipeline's own functions
//!   (`scale`, `window`) with its batching and normalisation, fed to two bare ONNX Runtime
//!   sessions opened with the same options; only `Session::run` is timed (both detectors,
//!   concurrently when `runtime.concurrent_detectors`). Checks first that the bare outputs,
//!   thresholded and selected, give exactly the pipeline's per-detector selections; with
//!   `--reps 0` it only checks. `pipeline --with-floor` times the floor right after each
//!   radiograph's pipeline run instead (pairs that share the machine's load).
//! - `sweep`: the floor harness under variants of batch size, threads, concurrency,
//!   graph optimisation, intra-op spinning and skipping background-only windows
//!   (`skip_below=v`: fewer than 0.1 % of the window's pixels reach display value v); for each,
//!   the inference time per radiograph (`--reps 0`: not timed) and whether each
//!   detector's selection (t_conf, NMS, top M) stays the same as with the configured
//!   settings (`--no-check`: not compared).
//!
//! Without `--bench` (that is, under `cargo test --all-targets`) it runs a smoke check on
//! the test models (target/test-models) and a small synthetic film, in a few seconds, so
//! that the harness keeps compiling and agreeing with the pipeline.

#![cfg_attr(test, allow(dead_code, unused_imports))]

use std::path::{Path, PathBuf};
use std::time::Instant;

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;
use serde_json::{Value, json};

use rajoints::analysis::{Analysis, SourceInfo};
use rajoints::config::Config;
use rajoints::dicom::decode;
use rajoints::dicom::gsps::{self, GspsOptions};
use rajoints::dicom::sr::{self, SrOptions, Timestamp};
use rajoints::image::Radiograph;
use rajoints::input;
use rajoints::model::manifest::Manifest;
use rajoints::pipeline::bbox::BBox;
use rajoints::pipeline::select::{self, Detection, SelectParams};
use rajoints::pipeline::window::{self, Window};
use rajoints::pipeline::{Pipeline, ScaleMode, naming, scale};

type Res<T> = Result<T, String>;

fn main() {
    // As the `rajoints` binary does at start, so that the stages are timed as they run
    // in the node and in `rajoints analyze`.
    rajoints::heap::keep_image_buffers();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let bench = argv.iter().any(|a| a == "--bench");
    let args: Vec<String> = argv.into_iter().filter(|a| a != "--bench").collect();
    let outcome = if !bench {
        smoke()
    } else {
        Args::parse(&args).and_then(|a| run(&a))
    };
    if let Err(e) = outcome {
        eprintln!("bench pipeline: error: {e}");
        std::process::exit(2);
    }
}

// ---------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------

struct Args {
    mode: String,
    config: Option<PathBuf>,
    sets: Vec<(String, String)>,
    reps: usize,
    json: Option<PathBuf>,
    images: Vec<PathBuf>,
    variants: Vec<String>,
    /// `sweep`: compare each variant's selections with the configured settings'.
    check: bool,
    /// `pipeline`: after each radiograph, the floor on its window tensors (paired).
    with_floor: bool,
}

impl Args {
    fn parse(args: &[String]) -> Res<Args> {
        let mut a = Args {
            mode: String::new(),
            config: None,
            sets: Vec::new(),
            reps: 5,
            json: None,
            images: Vec::new(),
            variants: Vec::new(),
            check: true,
            with_floor: false,
        };
        let mut it = args.iter();
        while let Some(x) = it.next() {
            let mut val = || it.next().cloned().ok_or(format!("{x} needs a value"));
            match x.as_str() {
                "--config" => a.config = Some(PathBuf::from(val()?)),
                "--set" => {
                    let v = val()?;
                    let (k, v) = v
                        .split_once('=')
                        .ok_or(format!("--set {v}: not KEY=VALUE"))?;
                    a.sets.push((k.to_string(), v.to_string()));
                }
                "--reps" => a.reps = val()?.parse().map_err(|e| format!("--reps: {e}"))?,
                "--json" => a.json = Some(PathBuf::from(val()?)),
                "--variant" => a.variants.push(val()?),
                "--no-check" => a.check = false,
                "--with-floor" => a.with_floor = true,
                s if s.starts_with("--") => return Err(format!("unknown option {s}")),
                s if a.mode.is_empty() => a.mode = s.to_string(),
                s => {
                    let p = PathBuf::from(s);
                    if p.is_dir() {
                        let mut v: Vec<PathBuf> = std::fs::read_dir(&p)
                            .map_err(|e| format!("{s}: {e}"))?
                            .flatten()
                            .map(|e| e.path())
                            .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
                            .collect();
                        v.sort();
                        a.images.extend(v);
                    } else {
                        a.images.push(p);
                    }
                }
            }
        }
        if a.images.is_empty() {
            return Err("no images given".into());
        }
        if a.mode == "pipeline" {
            a.reps = a.reps.max(1);
        }
        Ok(a)
    }

    fn config(&self) -> Res<Config> {
        let o: Vec<(&str, String)> = self
            .sets
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        Config::load(self.config.as_deref(), &o)
            .map_err(|e| snafu::Report::from_error(e).to_string())
    }
}

fn run(a: &Args) -> Res<()> {
    let cfg = a.config()?;
    let pipeline = cfg
        .load_pipeline()
        .map_err(|e| snafu::Report::from_error(e).to_string())?;
    let mut out = json!({
        "mode": a.mode,
        "images": a.images.len(),
        "reps": a.reps,
        "settings": settings(&cfg, &pipeline),
    });
    let result = match a.mode.as_str() {
        "pipeline" => bench_pipeline(&cfg, &pipeline, &a.images, a.reps, a.with_floor)?,
        "floor" => bench_floor(&cfg, &pipeline, &a.images, a.reps)?,
        "sweep" => bench_sweep(&cfg, &pipeline, &a.images, a.reps, &a.variants, a.check)?,
        m => return Err(format!("unknown mode `{m}` (pipeline, floor, sweep)")),
    };
    merge(&mut out, result);
    out["peak_rss_mib"] = json!(peak_rss_kib() as f64 / 1024.0);
    let text = serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?;
    match &a.json {
        Some(p) => std::fs::write(p, text + "\n").map_err(|e| format!("{}: {e}", p.display()))?,
        None => println!("{text}"),
    }
    Ok(())
}

fn settings(cfg: &Config, p: &Pipeline) -> Value {
    let m = |d: &rajoints::pipeline::detector::Detector| {
        json!({"name": d.manifest.name, "architecture": d.manifest.architecture,
               "sha256": d.manifest.sha256, "file": d.path.display().to_string()})
    };
    json!({
        "batch_size": cfg.pipeline.batch_size,
        "intra_threads": cfg.runtime.intra_threads,
        "effective_intra_threads": cfg.runtime.effective_intra_threads(),
        "optimization_level": cfg.runtime.optimization_level,
        "concurrent_detectors": cfg.runtime.concurrent_detectors,
        "ankylosis": m(&p.ankylosis),
        "subluxation": m(&p.subluxation),
        "onnxruntime": rajoints::runtime::loaded_from().map(|p| p.display().to_string()),
    })
}

fn merge(a: &mut Value, b: Value) {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
}

// ---------------------------------------------------------------------------------------
// Mode `pipeline`
// ---------------------------------------------------------------------------------------

const STAGES: [&str; 11] = [
    "decode",
    "decode_parse",
    "decode_pixels",
    "preprocess",
    "scale",
    "tile",
    "inference",
    "select_merge_name",
    "naming",
    "sr",
    "total",
];

fn bench_pipeline(
    cfg: &Config,
    p: &Pipeline,
    images: &[PathBuf],
    reps: usize,
    with_floor: bool,
) -> Res<Value> {
    warm_up(p, &images[0], cfg)?;
    let v = Variant::from_config(cfg);
    let mut bare = if with_floor {
        let mut b = Bare::open(cfg, &v)?;
        let img = decode_file(p, &images[0])?;
        if let Some(batch) = prepare(p, &img, v.batch_size, None).batches.first() {
            b.run(batch, v.concurrent, false)?; // warm-up
        }
        Some(b)
    } else {
        None
    };
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); STAGES.len()];
    let (mut floor, mut ratio_total, mut ratio_inference) = (Vec::new(), Vec::new(), Vec::new());
    let mut per_image = Vec::new();
    for rep in 0..reps {
        for (i, path) in images.iter().enumerate() {
            // The floor on this radiograph's tensors, next to its pipeline run so that the
            // pair sees the same load on the machine; which of the two goes first alternates
            // (ONNX Runtime's threads spin a while after a run, slowing whatever follows).
            let floor_first = (rep * images.len() + i) % 2 == 1;
            let mut f = None;
            if floor_first && let Some(b) = bare.as_mut() {
                f = Some(time_floor(b, p, &decode_file(p, path)?, &v)?);
            }
            let (t, joints, windows, img) = pipeline_once(cfg, p, path)?;
            if !floor_first && let Some(b) = bare.as_mut() {
                f = Some(time_floor(b, p, &img, &v)?);
            }
            if let Some(f) = f {
                ratio_total.push(t[STAGES.len() - 1] / f);
                ratio_inference.push(t[stage("inference")] / f);
                floor.push(f);
            }
            for (s, v) in samples.iter_mut().zip(t) {
                s.push(v);
            }
            if rep == 0 {
                per_image.push(json!({"file": path.display().to_string(),
                                      "windows": windows, "joints": joints}));
            }
        }
    }
    let stages: serde_json::Map<String, Value> = STAGES
        .iter()
        .zip(&samples)
        .map(|(name, s)| (name.to_string(), summary(s)))
        .collect();
    let raw: serde_json::Map<String, Value> = STAGES
        .iter()
        .zip(&samples)
        .map(|(name, s)| (name.to_string(), json!(s)))
        .collect();
    let mut out = json!({"stages_ms": stages, "samples": raw, "per_image": per_image});
    if with_floor {
        merge(
            &mut out,
            json!({"floor_samples": floor, "ratio_total_floor": ratio_total,
                   "ratio_inference_floor": ratio_inference}),
        );
    }
    Ok(out)
}

fn stage(name: &str) -> usize {
    STAGES.iter().position(|s| *s == name).unwrap_or(0)
}

fn decode_file(p: &Pipeline, path: &Path) -> Res<Radiograph> {
    input::read(path, p.params.max_pixels)
        .map(|i| i.image)
        .map_err(report)
}

/// One radiograph through the pipeline as `analyze` and the node's worker run it: the
/// stage times (ms, in `STAGES` order), the joints and the number of windows.
#[allow(clippy::type_complexity)]
fn pipeline_once(
    cfg: &Config,
    p: &Pipeline,
    path: &Path,
) -> Res<(Vec<f64>, Value, usize, Radiograph)> {
    // `input::read` for DICOM, in its two steps: parse the file, then decode the pixels
    // (transfer syntax, Modality LUT, VOI window or min-max, MONOCHROME1).
    let t = Instant::now();
    let obj = decode::open(path).map_err(report)?;
    let parse_ms = ms(t);
    let image = decode::decode(&obj, p.params.max_pixels).map_err(report)?;
    let decode_ms = ms(t);
    let img = &image;
    // Scale and tile alone, outside the totals (the pipeline does both again inside
    // analyze, as its preprocess time).
    let (fx, fy) = factors(p, img);
    let t = Instant::now();
    let scaled = scale::resample(img, fx, fy);
    let scale_ms = ms(t);
    let t = Instant::now();
    let n_windows = tile_only(p, &scaled);
    let tile_ms = ms(t);
    drop(scaled);
    let outcome = p.analyze(img, decode_ms).map_err(report)?;
    let obj = &obj;
    let analysis = Analysis::new(
        SourceInfo {
            file: path.display().to_string(),
            sop_instance_uid: decode::sop_instance_uid(obj),
            rows: img.height,
            columns: img.width,
        },
        p.models(),
        outcome,
    );
    // Naming alone, outside the totals (the pipeline did it inside analyze).
    let boxes: Vec<BBox> = analysis.joints.iter().map(|j| j.bbox).collect();
    let t = Instant::now();
    std::hint::black_box(naming::fit_hands(&boxes, naming::HandCount::Either));
    let naming_ms = ms(t);
    // The SR and GSPS, as src/node/worker.rs builds and serialises them.
    let t = Instant::now();
    let mut sr_opts = SrOptions::new(Timestamp::now());
    sr_opts.algorithm_parameters = p.params.algorithm_parameters();
    let mut bytes = 0usize;
    if cfg.output.sr {
        let doc = sr::build_sr(obj, &analysis, &sr_opts).map_err(report)?;
        bytes += to_bytes(&doc)?;
    }
    if cfg.output.gsps {
        let doc =
            gsps::build_gsps(obj, &analysis, &GspsOptions::matching(&sr_opts)).map_err(report)?;
        bytes += to_bytes(&doc)?;
    }
    let sr_ms = ms(t);
    std::hint::black_box(bytes);
    let tm = &analysis.timing_ms;
    let times = vec![
        decode_ms,
        parse_ms,
        decode_ms - parse_ms,
        tm.preprocess,
        scale_ms,
        tile_ms,
        tm.inference,
        tm.postprocess,
        naming_ms,
        sr_ms,
        tm.total + sr_ms,
    ];
    let joints = serde_json::to_value(&analysis.joints).map_err(|e| e.to_string())?;
    Ok((times, joints, n_windows, image))
}

/// One batch of the first image through both detectors: session set-up and first-run
/// allocations stay out of the timings.
fn warm_up(p: &Pipeline, path: &Path, _cfg: &Config) -> Res<()> {
    let inp = input::read(path, p.params.max_pixels).map_err(report)?;
    let prep = prepare(p, &inp.image, p.params.batch_size, None);
    if let Some(b) = prep.batches.first() {
        let t_conf = p.params.t_conf;
        p.ankylosis
            .run_batch(&b.input, &b.windows, t_conf)
            .map_err(report)?;
        p.subluxation
            .run_batch(&b.input, &b.windows, t_conf)
            .map_err(report)?;
    }
    Ok(())
}

fn to_bytes(doc: &decode::DicomFile) -> Res<usize> {
    let mut v = Vec::new();
    doc.write_all(&mut v).map_err(|e| e.to_string())?;
    Ok(v.len())
}

// ---------------------------------------------------------------------------------------
// The window tensors, made as Pipeline::analyze makes them
// ---------------------------------------------------------------------------------------

struct Batch {
    windows: Vec<Window>,
    /// `windows.len()` normalised windows, [N, 3, S, S].
    input: Vec<f32>,
}

struct Prepared {
    batches: Vec<Batch>,
    /// Windows of the image, and how many of them were skipped as background.
    windows: usize,
    skipped: usize,
    /// Scaled-image pixels to source pixels.
    scaled: scale::Scaled,
    width: f32,
    height: f32,
}

fn factors(p: &Pipeline, img: &Radiograph) -> (f64, f64) {
    let target = match p.params.scale {
        ScaleMode::Spacing => p.ankylosis.manifest.training_pixel_spacing_mm,
        ScaleMode::Fixed => 0.0,
    };
    scale::factors(img.pixel_spacing_mm, target, p.params.scale_factor)
}

/// Scale, cut and normalise exactly as `Pipeline::analyze` does, in batches of
/// `batch_size`. With `skip_below`, windows that hold no hand (see [`is_background`]) are
/// left out.
fn prepare(p: &Pipeline, img: &Radiograph, batch_size: usize, skip_below: Option<f32>) -> Prepared {
    let (fx, fy) = factors(p, img);
    let scaled = scale::resample(img, fx, fy);
    cut(p, scaled, img, batch_size, skip_below)
}

/// The windows of an image already scaled, cut and normalised in batches (the tile stage).
fn cut(
    p: &Pipeline,
    scaled: scale::Scaled,
    img: &Radiograph,
    batch_size: usize,
    skip_below: Option<f32>,
) -> Prepared {
    let m = &p.ankylosis.manifest;
    let size = m.input_size as usize;
    let all = window::windows(scaled.width, scaled.height, size, p.params.stride);
    let plane = size * size;
    let mut raw = vec![0f32; plane];
    let mut kept = Vec::new();
    for w in all.iter().filter(|_| skip_below.is_some()) {
        window::crop(
            &scaled.pixels,
            scaled.width,
            scaled.height,
            *w,
            size,
            0.0,
            &mut raw,
        );
        match skip_below {
            Some(level) if is_background(&raw, level) => {}
            _ => kept.push(*w),
        }
    }
    if skip_below.is_none() {
        kept = all.clone();
    }
    let mut batches = Vec::new();
    for chunk in kept.chunks(batch_size.max(1)) {
        let mut input = Vec::with_capacity(chunk.len() * 3 * plane);
        for w in chunk {
            window::append_normalised(
                &scaled.pixels,
                scaled.width,
                scaled.height,
                *w,
                size,
                0.0,
                &m.mean,
                &m.std,
                &mut input,
            );
        }
        batches.push(Batch {
            windows: chunk.to_vec(),
            input,
        });
    }
    Prepared {
        windows: all.len(),
        skipped: all.len() - kept.len(),
        batches,
        scaled,
        width: img.width as f32,
        height: img.height as f32,
    }
}

/// The tile stage as `Pipeline::analyze` runs it (one batch buffer, reused), without the
/// detectors; returns the number of windows.
fn tile_only(p: &Pipeline, scaled: &scale::Scaled) -> usize {
    let m = &p.ankylosis.manifest;
    let size = m.input_size as usize;
    let windows = window::windows(scaled.width, scaled.height, size, p.params.stride);
    let mut input = Vec::with_capacity(p.params.batch_size * 3 * size * size);
    for batch in windows.chunks(p.params.batch_size) {
        input.clear();
        for w in batch {
            window::append_normalised(
                &scaled.pixels,
                scaled.width,
                scaled.height,
                *w,
                size,
                0.0,
                &m.mean,
                &m.std,
                &mut input,
            );
        }
        std::hint::black_box(&input);
    }
    windows.len()
}

/// A window holds no hand when fewer than 0.1 % of its pixels (90 of 300 x 300) reach
/// display value `level`: air with its noise, and zero padding. A joint covers about 1 %
/// of a window even at half scale.
fn is_background(window: &[f32], level: f32) -> bool {
    let limit = window.len() / 1000;
    window.iter().filter(|&&v| v >= level).count() < limit.max(1)
}

// ---------------------------------------------------------------------------------------
// Bare ONNX Runtime sessions
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
struct Variant {
    batch_size: usize,
    intra_threads: usize,
    optimization_level: u8,
    concurrent: bool,
    spinning: bool,
    skip_below: Option<f32>,
    /// Other models (DIR/ankylosis.toml, DIR/subluxation.toml) with the same input format.
    dir: Option<&'static str>,
}

impl Variant {
    fn from_config(cfg: &Config) -> Variant {
        Variant {
            batch_size: cfg.pipeline.batch_size,
            // What the node runs with: 0 resolves to the cores shared by the detectors.
            intra_threads: cfg.runtime.effective_intra_threads(),
            optimization_level: cfg.runtime.optimization_level,
            concurrent: cfg.runtime.concurrent_detectors,
            spinning: true,
            skip_below: None,
            dir: None,
        }
    }

    /// `key=value,...` over the configured variant: batch, threads, opt, concurrent,
    /// spinning, skip_below.
    fn parse(base: Variant, s: &str) -> Res<Variant> {
        let mut v = base;
        for kv in s.split(',').filter(|x| !x.is_empty()) {
            let (k, val) = kv.split_once('=').ok_or(format!("variant `{s}`: {kv}"))?;
            let bad = |e: String| format!("variant `{s}`: {k}: {e}");
            match k {
                "batch" => v.batch_size = val.parse().map_err(|e| bad(format!("{e}")))?,
                "threads" => v.intra_threads = val.parse().map_err(|e| bad(format!("{e}")))?,
                "opt" => v.optimization_level = val.parse().map_err(|e| bad(format!("{e}")))?,
                "concurrent" => v.concurrent = val.parse().map_err(|e| bad(format!("{e}")))?,
                "spinning" => v.spinning = val.parse().map_err(|e| bad(format!("{e}")))?,
                "skip_below" => v.skip_below = Some(val.parse().map_err(|e| bad(format!("{e}")))?),
                "dir" => v.dir = Some(Box::leak(val.to_string().into_boxed_str())),
                _ => return Err(bad("unknown key".into())),
            }
        }
        Ok(v)
    }

    fn json(&self) -> Value {
        json!({"batch_size": self.batch_size, "intra_threads": self.intra_threads,
               "optimization_level": self.optimization_level, "concurrent": self.concurrent,
               "spinning": self.spinning, "skip_below": self.skip_below, "dir": self.dir})
    }
}

struct Bare {
    ankylosis: Session,
    subluxation: Session,
    size: usize,
}

impl Bare {
    fn open(cfg: &Config, v: &Variant) -> Res<Bare> {
        let env = rajoints::runtime::init(cfg.onnxruntime_path().as_deref()).map_err(report)?;
        let open = |path: &Path| -> Res<Session> {
            let path = rajoints::config::resolve_path(path);
            let model = Manifest::load_verified(&path).map_err(report)?;
            let level = match v.optimization_level {
                0 => GraphOptimizationLevel::Disable,
                1 => GraphOptimizationLevel::Level1,
                2 => GraphOptimizationLevel::Level2,
                // `runtime.optimization_level = 3` in the node: ORT_ENABLE_ALL.
                3 => GraphOptimizationLevel::All,
                // ort's Level3, ORT_ENABLE_LAYOUT: what level 3 gave before the node mapped
                // it to ORT_ENABLE_ALL.
                _ => GraphOptimizationLevel::Level3,
            };
            let mut b = Session::builder(env)
                .map_err(text)?
                .with_optimization_level(level)
                .map_err(text)?;
            if v.intra_threads > 0 {
                b = b.with_intra_threads(v.intra_threads).map_err(text)?;
            }
            if !v.spinning {
                b = b.with_intra_op_spinning(false).map_err(text)?;
            }
            b.commit_from_memory(&model.onnx).map_err(text)
        };
        let size = {
            let (m, _) = Manifest::load(&rajoints::config::resolve_path(&cfg.models.ankylosis))
                .map_err(report)?;
            m.input_size as usize
        };
        let (a, s) = match v.dir {
            Some(d) => (
                Path::new(d).join("ankylosis.toml"),
                Path::new(d).join("subluxation.toml"),
            ),
            None => (cfg.models.ankylosis.clone(), cfg.models.subluxation.clone()),
        };
        Ok(Bare {
            ankylosis: open(&a)?,
            subluxation: open(&s)?,
            size,
        })
    }

    /// Both detectors on one batch; the outputs (boxes, scores, anchors) of each when
    /// `keep`, else nothing is copied out.
    #[allow(clippy::type_complexity)]
    fn run(&mut self, b: &Batch, concurrent: bool, keep: bool) -> Res<(Option<Out>, Option<Out>)> {
        let (n, s) = (b.windows.len(), self.size);
        let Bare {
            ankylosis,
            subluxation,
            ..
        } = self;
        if concurrent {
            std::thread::scope(|sc| {
                let h = sc.spawn(|| run_session(subluxation, &b.input, n, s, keep));
                let a = run_session(ankylosis, &b.input, n, s, keep);
                let s = h
                    .join()
                    .map_err(|_| "ONNX Runtime thread panicked".to_string())?;
                Ok((a?, s?))
            })
        } else {
            let a = run_session(ankylosis, &b.input, n, s, keep)?;
            let s = run_session(subluxation, &b.input, n, s, keep)?;
            Ok((a, s))
        }
    }
}

struct Out {
    boxes: Vec<f32>,
    scores: Vec<f32>,
    anchors: usize,
}

fn run_session(
    sess: &mut Session,
    input: &[f32],
    n: usize,
    s: usize,
    keep: bool,
) -> Res<Option<Out>> {
    let tensor = TensorRef::from_array_view(([n, 3, s, s], input)).map_err(text)?;
    let outputs = sess.run(ort::inputs!["images" => tensor]).map_err(text)?;
    if !keep {
        return Ok(None);
    }
    let (bs, boxes) = outputs["boxes"].try_extract_tensor::<f32>().map_err(text)?;
    let (_, scores) = outputs["scores"]
        .try_extract_tensor::<f32>()
        .map_err(text)?;
    Ok(Some(Out {
        boxes: boxes.to_vec(),
        scores: scores.to_vec(),
        anchors: bs[1] as usize,
    }))
}

/// Candidates of one detector from bare outputs, as `Detector::run_batch` makes them,
/// mapped to source pixels as `Pipeline::analyze` does.
fn candidates(
    out: &Out,
    windows: &[Window],
    t_conf: f32,
    prep: &Prepared,
    into: &mut Vec<Detection>,
) {
    for (k, w) in windows.iter().enumerate() {
        let base = k * out.anchors;
        for a in 0..out.anchors {
            let sc = &out.scores[(base + a) * 3..(base + a) * 3 + 3];
            let (absent, present) = (sc[1], sc[2]);
            if absent.max(present) < t_conf {
                continue;
            }
            let b = &out.boxes[(base + a) * 4..(base + a) * 4 + 4];
            let bbox = w.to_image(BBox::new(b[0], b[1], b[2], b[3]));
            into.push(Detection {
                bbox: prep.scaled.to_source(bbox, prep.width, prep.height),
                absent,
                present,
            });
        }
    }
}

/// Each detector's selection (t_conf, NMS at t_IoU1, top M) from bare outputs.
fn selections(
    p: &Pipeline,
    bare: &mut Bare,
    prep: &Prepared,
    concurrent: bool,
) -> Res<(Vec<Detection>, Vec<Detection>)> {
    let (mut ca, mut cs) = (Vec::new(), Vec::new());
    let t_conf = p.params.t_conf;
    for b in &prep.batches {
        let (a, s) = bare.run(b, concurrent, true)?;
        candidates(&a.ok_or("no output")?, &b.windows, t_conf, prep, &mut ca);
        candidates(&s.ok_or("no output")?, &b.windows, t_conf, prep, &mut cs);
    }
    CANDIDATES.with(|n| n.set(ca.len() + cs.len()));
    let sel = |c: &[Detection], m| {
        select::select(
            c,
            &SelectParams {
                t_conf,
                t_iou: p.params.t_iou1,
                top_m: m,
            },
        )
    };
    Ok((sel(&ca, p.params.m1), sel(&cs, p.params.m2)))
}

thread_local! {
    /// Candidates (both detectors) of the last `selections` call.
    static CANDIDATES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// How far two selections are apart: None when they differ in size or a box moved by
/// more than a pixel, else the largest difference in confidence.
fn same_selection(a: &[Detection], b: &[Detection]) -> Option<f32> {
    if a.len() != b.len() {
        return None;
    }
    let mut worst = 0f32;
    for d in a {
        let m = b
            .iter()
            .max_by(|x, y| x.bbox.iou(&d.bbox).total_cmp(&y.bbox.iou(&d.bbox)))?;
        let moved = [
            (m.bbox.x0 - d.bbox.x0).abs(),
            (m.bbox.y0 - d.bbox.y0).abs(),
            (m.bbox.x1 - d.bbox.x1).abs(),
            (m.bbox.y1 - d.bbox.y1).abs(),
        ]
        .into_iter()
        .fold(0f32, f32::max);
        if moved > 1.0 || m.is_present() != d.is_present() {
            return None;
        }
        worst = worst.max((m.confidence() - d.confidence()).abs());
    }
    Some(worst)
}

// ---------------------------------------------------------------------------------------
// Mode `floor`
// ---------------------------------------------------------------------------------------

fn bench_floor(cfg: &Config, p: &Pipeline, images: &[PathBuf], reps: usize) -> Res<Value> {
    let v = Variant::from_config(cfg);
    let mut bare = Bare::open(cfg, &v)?;
    let mut preps = Vec::new();
    let mut agree = Vec::new();
    for path in images {
        let inp = input::read(path, p.params.max_pixels).map_err(report)?;
        let prep = prepare(p, &inp.image, v.batch_size, None);
        // The bare sessions on these tensors select exactly what the pipeline selects.
        let outcome = p.analyze(&inp.image, 0.0).map_err(report)?;
        let (a, s) = selections(p, &mut bare, &prep, v.concurrent)?;
        let same = same_selection(&a, &outcome.ankylosis_ssd).is_some()
            && same_selection(&s, &outcome.subluxation_ssd).is_some()
            && a.len() == outcome.ankylosis_ssd.len();
        agree.push(
            json!({"file": path.display().to_string(), "same_selection": same,
                   "ankylosis_boxes": a.len(), "subluxation_boxes": s.len(),
                   "candidates": CANDIDATES.with(|n| n.get())}),
        );
        if !same {
            return Err(format!(
                "{}: bare ONNX Runtime on the replicated windows does not select what the pipeline selects",
                path.display()
            ));
        }
        preps.push(prep);
    }
    let mut times = Vec::new();
    for _ in 0..reps {
        for path in images {
            let img = decode_file(p, path)?;
            times.push(time_floor(&mut bare, p, &img, &v)?);
        }
    }
    Ok(json!({"inference_ms": summary(&times), "check": agree,
              "windows_per_image": preps.iter().map(|p| p.windows).collect::<Vec<_>>()}))
}

/// Bare inference of both detectors on one radiograph under variant `v`. As in the
/// pipeline, each batch's tensor is made just before its run (into one reused buffer), but
/// only `Session::run` is timed. Returns milliseconds.
fn time_floor(bare: &mut Bare, p: &Pipeline, img: &Radiograph, v: &Variant) -> Res<f64> {
    let m = &p.ankylosis.manifest;
    let (fx, fy) = factors(p, img);
    let scaled = scale::resample(img, fx, fy);
    let size = m.input_size as usize;
    let all = window::windows(scaled.width, scaled.height, size, p.params.stride);
    let mut raw = vec![0f32; size * size];
    let kept: Vec<Window> = match v.skip_below {
        Some(level) => all
            .into_iter()
            .filter(|w| {
                window::crop(
                    &scaled.pixels,
                    scaled.width,
                    scaled.height,
                    *w,
                    size,
                    0.0,
                    &mut raw,
                );
                !is_background(&raw, level)
            })
            .collect(),
        None => all,
    };
    let mut batch = Batch {
        windows: Vec::new(),
        input: Vec::with_capacity(v.batch_size * 3 * size * size),
    };
    let mut total = 0.0;
    for chunk in kept.chunks(v.batch_size.max(1)) {
        batch.windows.clear();
        batch.windows.extend_from_slice(chunk);
        batch.input.clear();
        for w in chunk {
            window::append_normalised(
                &scaled.pixels,
                scaled.width,
                scaled.height,
                *w,
                size,
                0.0,
                &m.mean,
                &m.std,
                &mut batch.input,
            );
        }
        let t = Instant::now();
        bare.run(&batch, v.concurrent, false)?;
        total += ms(t);
    }
    Ok(total)
}

// ---------------------------------------------------------------------------------------
// Mode `sweep`
// ---------------------------------------------------------------------------------------

fn bench_sweep(
    cfg: &Config,
    p: &Pipeline,
    images: &[PathBuf],
    reps: usize,
    variants: &[String],
    check: bool,
) -> Res<Value> {
    let base = Variant::from_config(cfg);
    let radiographs: Vec<Radiograph> = images
        .iter()
        .map(|path| decode_file(p, path))
        .collect::<Res<_>>()?;
    let list: Vec<String> = if variants.is_empty() {
        vec![String::new()]
    } else {
        variants.to_vec()
    };
    let parsed: Vec<Variant> = list
        .iter()
        .map(|spec| Variant::parse(base, spec))
        .collect::<Res<_>>()?;
    // Selections: each variant's against the configured settings'.
    let mut checks: Vec<(Value, Value)> = vec![(Value::Null, Value::Null); list.len()];
    if check {
        let mut reference = Vec::new();
        let mut bare = Bare::open(cfg, &base)?;
        for img in &radiographs {
            let prep = prepare(p, img, base.batch_size, None);
            reference.push(selections(p, &mut bare, &prep, base.concurrent)?);
        }
        drop(bare);
        for (k, v) in parsed.iter().enumerate() {
            let mut bare = Bare::open(cfg, v)?;
            let (mut same, mut worst) = (true, 0f32);
            for (img, (ra, rs)) in radiographs.iter().zip(&reference) {
                let prep = prepare(p, img, v.batch_size, v.skip_below);
                let (a, s) = selections(p, &mut bare, &prep, v.concurrent)?;
                match (same_selection(&a, ra), same_selection(&s, rs)) {
                    (Some(x), Some(y)) => worst = worst.max(x).max(y),
                    _ => same = false,
                }
            }
            checks[k] = (json!(same), if same { json!(worst) } else { Value::Null });
        }
    }
    // Timing, round-robin over the variants so that they share the machine's load: each
    // round opens each variant's sessions afresh, warms them up, and times every
    // radiograph once (see `time_floor`).
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); list.len()];
    for _ in 0..reps {
        for (k, v) in parsed.iter().enumerate() {
            let mut bare = Bare::open(cfg, v)?;
            let mut warm = true;
            for img in &radiographs {
                if warm {
                    let prep = prepare(p, img, v.batch_size, v.skip_below);
                    if let Some(b) = prep.batches.first() {
                        bare.run(b, v.concurrent, false)?;
                    }
                    warm = false;
                }
                times[k].push(time_floor(&mut bare, p, img, v)?);
            }
        }
    }
    let mut rows = Vec::new();
    for (k, spec) in list.iter().enumerate() {
        // Windows skipped over all radiographs.
        let (mut sk, mut all) = (0usize, 0usize);
        for img in &radiographs {
            let prep = prepare(p, img, parsed[k].batch_size, parsed[k].skip_below);
            sk += prep.skipped;
            all += prep.windows;
        }
        rows.push(json!({
            "spec": spec, "variant": parsed[k].json(),
            "inference_ms": if reps > 0 { summary(&times[k]) } else { Value::Null },
            "samples": times[k],
            "same_selection": checks[k].0, "max_confidence_delta": checks[k].1,
            "windows": all, "skipped_windows": sk,
        }));
        if reps > 0 {
            eprintln!("sweep {spec:<40} median {:.1} ms", median(&times[k]));
        }
    }
    Ok(json!({"variants": rows}))
}

// ---------------------------------------------------------------------------------------
// Smoke check (no --bench: `cargo test --all-targets`)
// ---------------------------------------------------------------------------------------

fn smoke() -> Res<()> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let models = repo.join("target/test-models");
    let (a, s) = (
        models.join("ankylosis.toml"),
        models.join("subluxation.toml"),
    );
    if !a.is_file() || !s.is_file() || rajoints::runtime::locate(None).is_err() {
        eprintln!(
            "bench pipeline: smoke check skipped (no test models in {} or no ONNX Runtime; `make test` makes both)",
            models.display()
        );
        return Ok(());
    }
    let cfg = Config::load(
        None,
        &[
            ("models.ankylosis", a.display().to_string()),
            ("models.subluxation", s.display().to_string()),
        ],
    )
    .map_err(report)?;
    let p = cfg.load_pipeline().map_err(report)?;
    // A 1200 x 700 film: black with a 60 x 60 square of 1.0 and one of 0.5 on the 20-px
    // grid (30 x 30 on the anchor grid after halving), which the test models detect.
    let (w, h) = (1200usize, 700usize);
    let mut px = vec![0f32; w * h];
    for (x0, y0, v) in [(200usize, 240usize, 1.0f32), (640, 300, 0.5)] {
        for y in y0..y0 + 60 {
            px[y * w + x0..y * w + x0 + 60].fill(v);
        }
    }
    let img = Radiograph {
        width: w as u32,
        height: h as u32,
        pixels: px,
        pixel_spacing_mm: None,
        attributes: Default::default(),
    };
    let outcome = p.analyze(&img, 0.0).map_err(report)?;
    let v = Variant::from_config(&cfg);
    let mut bare = Bare::open(&cfg, &v)?;
    for (batch, skip) in [(v.batch_size, None), (1, Some(0.05)), (64, None)] {
        let prep = prepare(&p, &img, batch, skip);
        let (sa, ss) = selections(&p, &mut bare, &prep, v.concurrent)?;
        if same_selection(&sa, &outcome.ankylosis_ssd).is_none()
            || same_selection(&ss, &outcome.subluxation_ssd).is_none()
            || sa.len() != 2
        {
            return Err(format!(
                "smoke: bare sessions (batch {batch}, skip {skip:?}) select {} + {} boxes, the pipeline {} + {}",
                sa.len(),
                ss.len(),
                outcome.ankylosis_ssd.len(),
                outcome.subluxation_ssd.len()
            ));
        }
        if skip.is_some() && prep.skipped == 0 {
            return Err("smoke: no background window skipped on a mostly black film".into());
        }
    }
    let stats = summary(&[3.0, 1.0, 2.0, 10.0]);
    if stats["median_ms"] != json!(2.5) || stats["p95_ms"] != json!(10.0) {
        return Err(format!("smoke: summary statistics wrong: {stats}"));
    }
    eprintln!("bench pipeline: smoke check passed (run `benches/run` for the benchmarks)");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn text<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn report<E: std::error::Error + 'static>(e: E) -> String {
    snafu::Report::from_error(e).to_string()
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Median, 95th percentile (nearest rank), mean, min, max and count.
fn summary(v: &[f64]) -> Value {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let p95 = if n == 0 {
        f64::NAN
    } else {
        s[((0.95 * n as f64).ceil() as usize).clamp(1, n) - 1]
    };
    json!({
        "median_ms": median(&s),
        "p95_ms": p95,
        "mean_ms": s.iter().sum::<f64>() / n.max(1) as f64,
        "min_ms": s.first().copied().unwrap_or(f64::NAN),
        "max_ms": s.last().copied().unwrap_or(f64::NAN),
        "n": n,
    })
}

/// Peak resident set size of this process (VmHWM), KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
