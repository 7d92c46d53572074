//! Finding and loading the ONNX Runtime shared library.
//!
//! `ort` is built with `load-dynamic`: nothing is downloaded at build time (which fails in
//! most hospital networks); the library is opened at run time from, in order:
//! `ORT_DYLIB_PATH`, the `runtime.onnxruntime` config key, then `.ort/libonnxruntime.so`
//! in the current directory or the repository the binary was built in (where `make`
//! puts it, from the `onnxruntime` PyPI wheel).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use snafu::Snafu;

/// Library file name inside `.ort/`.
pub const LIBRARY_NAME: &str = "libonnxruntime.so";

#[derive(Debug, Snafu, Clone)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display(
        "ONNX Runtime library not found (looked in {}); run `make ort` or set ORT_DYLIB_PATH or runtime.onnxruntime",
        tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    ))]
    NotFound { tried: Vec<PathBuf> },
    #[snafu(display("could not load ONNX Runtime from {}: {message}", path.display()))]
    Load { path: PathBuf, message: String },
}

static ENVIRONMENT: OnceLock<Result<(PathBuf, ort::environment::Environment), Error>> =
    OnceLock::new();

/// Where the library would be loaded from, without loading it.
pub fn locate(configured: Option<&Path>) -> Result<PathBuf, Error> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    if let Some(p) = configured {
        return Ok(p.to_path_buf());
    }
    let mut tried = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        tried.push(cwd.join(".ort").join(LIBRARY_NAME));
    }
    // target/{debug,release}[/deps]/rajoints -> the repository root.
    if let Ok(exe) = std::env::current_exe() {
        for up in exe.ancestors().skip(1).take(4) {
            tried.push(up.join(".ort").join(LIBRARY_NAME));
        }
    }
    tried.push(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join(".ort")
            .join(LIBRARY_NAME),
    );
    match tried.iter().find(|p| p.is_file()) {
        Some(p) => Ok(p.clone()),
        None => NotFoundSnafu { tried }.fail(),
    }
}

/// Loads ONNX Runtime once per process and returns its environment. Later calls return
/// the first outcome, whatever path they name.
pub fn init(configured: Option<&Path>) -> Result<&'static ort::environment::Environment, Error> {
    ENVIRONMENT
        .get_or_init(|| {
            let path = locate(configured)?;
            let load_err = |message: String| Error::Load {
                path: path.clone(),
                message,
            };
            let builder = ort::init_from(&path).map_err(|e| load_err(e.to_string()))?;
            let env = builder
                .with_name("rajoints")
                .build()
                .map_err(|e| load_err(e.to_string()))?;
            Ok((path, env))
        })
        .as_ref()
        .map(|(_, env)| env)
        .map_err(Clone::clone)
}

/// The path ONNX Runtime was loaded from, once [`init`] succeeded.
pub fn loaded_from() -> Option<&'static Path> {
    ENVIRONMENT.get()?.as_ref().ok().map(|(p, _)| p.as_path())
}
