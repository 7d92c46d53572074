//! Configuration: the documented defaults in `rajoints.toml` (embedded in the binary), an
//! optional file, `RAJOINTS__SECTION__KEY` environment variables and command-line flags,
//! in increasing precedence, merged by the `config` crate and then validated once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use config::{Config as Layers, Environment, File, FileFormat};
use serde::{Deserialize, Serialize};
use snafu::{ResultExt, Snafu, ensure};

use crate::pipeline::PipelineParams;

/// The embedded defaults, also shipped as `rajoints.toml` at the repository root.
pub const DEFAULTS: &str = include_str!("../rajoints.toml");

#[derive(Debug, Snafu)]
#[non_exhaustive]
pub enum Error {
    #[snafu(display("invalid configuration"))]
    Load { source: config::ConfigError },
    #[snafu(display("invalid configuration: {key}: {problem}"))]
    Invalid { key: String, problem: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub runtime: Runtime,
    pub models: Models,
    pub pipeline: PipelineParams,
    pub output: Output,
    pub node: Node,
    pub review: Review,
}

/// The review UI on `node.http` (docs/review.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Review {
    pub enabled: bool,
    pub keep_days: u64,
    pub organization: String,
    pub session_hours: u64,
    pub tls: HttpTls,
}

/// HTTPS for the review UI: PEM files as for DICOM TLS.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTls {
    pub enabled: bool,
    pub certificate: String,
    pub private_key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    pub onnxruntime: String,
    pub intra_threads: usize,
    pub optimization_level: u8,
    pub concurrent_detectors: bool,
}

impl Runtime {
    /// Intra-op threads per detector session, see [`effective_intra_threads`].
    pub fn effective_intra_threads(&self) -> usize {
        effective_intra_threads(self.intra_threads, self.concurrent_detectors)
    }
}

/// Intra-op threads per detector session: `configured` when it is not 0; for 0, the
/// machine's cores shared by the detectors that run at once. ONNX Runtime's own default
/// gives every session all cores, and two concurrent sessions then fight over them
/// (benches/RESULTS.md, section 6).
pub fn effective_intra_threads(configured: usize, concurrent: bool) -> usize {
    if configured > 0 {
        return configured;
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    (cores / if concurrent { 2 } else { 1 }).max(1)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Models {
    pub ankylosis: PathBuf,
    pub subluxation: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    pub png: bool,
    pub sr: bool,
    pub gsps: bool,
    /// The summary Secondary Capture (src/dicom/sc.rs); off unless asked for.
    #[serde(default)]
    pub sc: bool,
}

impl Output {
    /// The DICOM objects these switches enable.
    pub fn objects(&self) -> Vec<ResultObject> {
        ResultObject::ALL
            .into_iter()
            .filter(|o| match o {
                ResultObject::Sr => self.sr,
                ResultObject::Gsps => self.gsps,
                ResultObject::Sc => self.sc,
            })
            .collect()
    }
}

/// A DICOM result object, as `node.outputs` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResultObject {
    /// The TID 1500 Comprehensive SR (also a reviewer's VERIFIED SR).
    Sr,
    /// The Grayscale Softcopy Presentation State.
    Gsps,
    /// The summary Secondary Capture.
    Sc,
}

impl ResultObject {
    pub const ALL: [ResultObject; 3] = [ResultObject::Sr, ResultObject::Gsps, ResultObject::Sc];

    /// Its name in the configuration: `sr`, `gsps`, `sc`.
    pub fn name(self) -> &'static str {
        match self {
            ResultObject::Sr => "sr",
            ResultObject::Gsps => "gsps",
            ResultObject::Sc => "sc",
        }
    }

    pub fn parse(name: &str) -> Option<ResultObject> {
        Self::ALL.into_iter().find(|o| o.name() == name.trim())
    }
}

/// `rajoints serve` settings (see `rajoints.toml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    pub ae_title: String,
    pub listen: String,
    pub http: String,
    pub data_dir: PathBuf,
    pub destinations: Vec<String>,
    /// Per destination AE title, the result objects it receives (`sr`, `gsps`, `sc`);
    /// a destination not listed gets what [`Output`] enables.
    #[serde(default)]
    pub outputs: BTreeMap<String, Vec<String>>,
    pub allowed_calling_ae_titles: Vec<String>,
    /// The archive queried for a patient's prior result when the node's own index has
    /// none, as "AE@HOST:PORT"; empty: the index only.
    #[serde(default)]
    pub prior_archive: String,
    pub max_associations: usize,
    pub max_pdu_length: u32,
    pub read_timeout_s: u64,
    pub max_instance_mb: u64,
    pub max_queue: usize,
    pub min_free_disk_mb: u64,
    pub analyse: bool,
    pub workers: usize,
    pub log_json: bool,
    pub filter: Filter,
    pub sender: Sender,
    pub tls: Tls,
}

/// The SCP's DICOM TLS listener (PS3.15 B.9, BCP 195 profile); paths are PEM files.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    pub enabled: bool,
    pub listen: String,
    pub certificate: String,
    pub private_key: String,
    pub ca_certificates: String,
    pub require_client_certificate: bool,
}

/// Which received instances are analysed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    pub modalities: Vec<String>,
    pub body_parts: Vec<String>,
    pub series_description_words: Vec<String>,
    pub unmatched: Unmatched,
}

/// What happens to an instance the filter does not select.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unmatched {
    Ignore,
    Refuse,
}

/// Delivery of results to the destinations.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sender {
    pub max_attempts: u32,
    pub retry_initial_s: f64,
    pub retry_max_s: f64,
    pub timeout_s: u64,
    pub tls: SenderTls,
}

/// TLS towards destinations written `AE@HOST:PORT+tls`; paths are PEM files.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderTls {
    pub ca_certificates: String,
    pub certificate: String,
    pub private_key: String,
}

impl Config {
    /// Merges defaults, `file`, the environment and `overrides` (dotted key, value).
    pub fn load(file: Option<&Path>, overrides: &[(&str, String)]) -> Result<Config, Error> {
        let mut b = Layers::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(f) = file {
            b = b.add_source(File::from(f).format(FileFormat::Toml).required(true));
        }
        b = b.add_source(
            Environment::with_prefix("RAJOINTS")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
        for (k, v) in overrides {
            b = match list_value(v) {
                // `--set node.destinations=["A@h:1","B@h:2"]`: a TOML array of strings.
                Some(list) => b.set_override(*k, list),
                None => b.set_override(*k, v.clone()),
            }
            .context(LoadSnafu)?;
        }
        let cfg: Config = b
            .build()
            .context(LoadSnafu)?
            .try_deserialize()
            .context(LoadSnafu)?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), Error> {
        ensure!(
            self.review.session_hours >= 1,
            InvalidSnafu {
                key: "review.session_hours",
                problem: "must be at least 1"
            }
        );
        ensure!(
            !self.review.tls.enabled
                || !(self.review.tls.certificate.is_empty()
                    || self.review.tls.private_key.is_empty()),
            InvalidSnafu {
                key: "review.tls",
                problem: "enabled needs certificate and private_key"
            }
        );
        let p = &self.pipeline;
        let unit = |v: f32| (0.0..=1.0).contains(&v);
        ensure!(
            unit(p.t_conf),
            InvalidSnafu {
                key: "pipeline.t_conf",
                problem: "must be in [0, 1]"
            }
        );
        ensure!(
            unit(p.t_iou1),
            InvalidSnafu {
                key: "pipeline.t_iou1",
                problem: "must be in [0, 1]"
            }
        );
        ensure!(
            unit(p.t_iou2),
            InvalidSnafu {
                key: "pipeline.t_iou2",
                problem: "must be in [0, 1]"
            }
        );
        ensure!(
            p.stride >= 1,
            InvalidSnafu {
                key: "pipeline.stride",
                problem: "must be at least 1"
            }
        );
        ensure!(
            p.m1 >= 1,
            InvalidSnafu {
                key: "pipeline.m1",
                problem: "must be at least 1"
            }
        );
        ensure!(
            p.m2 >= 1,
            InvalidSnafu {
                key: "pipeline.m2",
                problem: "must be at least 1"
            }
        );
        ensure!(
            (1..=1024).contains(&p.batch_size),
            InvalidSnafu {
                key: "pipeline.batch_size",
                problem: "must be 1 to 1024"
            }
        );
        ensure!(
            p.scale_factor.is_finite() && p.scale_factor > 0.0 && p.scale_factor <= 4.0,
            InvalidSnafu {
                key: "pipeline.scale_factor",
                problem: "must be in (0, 4]"
            }
        );
        let n = &self.node;
        ensure!(
            !n.ae_title.is_empty() && n.ae_title.len() <= 16,
            InvalidSnafu {
                key: "node.ae_title",
                problem: "must be 1 to 16 characters"
            }
        );
        ensure!(
            n.max_associations >= 1,
            InvalidSnafu {
                key: "node.max_associations",
                problem: "must be at least 1"
            }
        );
        ensure!(
            n.workers >= 1,
            InvalidSnafu {
                key: "node.workers",
                problem: "must be at least 1"
            }
        );
        ensure!(
            n.max_pdu_length >= 4096,
            InvalidSnafu {
                key: "node.max_pdu_length",
                problem: "must be at least 4096"
            }
        );
        ensure!(
            n.sender.max_attempts >= 1,
            InvalidSnafu {
                key: "node.sender.max_attempts",
                problem: "must be at least 1"
            }
        );
        ensure!(
            n.sender.retry_initial_s > 0.0 && n.sender.retry_max_s >= n.sender.retry_initial_s,
            InvalidSnafu {
                key: "node.sender.retry_initial_s",
                problem: "must be positive and at most retry_max_s"
            }
        );
        for d in &n.destinations {
            if let Err(problem) = crate::node::Destination::parse(d) {
                return InvalidSnafu {
                    key: "node.destinations",
                    problem,
                }
                .fail();
            }
        }
        if !n.prior_archive.trim().is_empty()
            && let Err(e) = n.prior_archive.trim().parse::<crate::batch::pacs::Pacs>()
        {
            return InvalidSnafu {
                key: "node.prior_archive",
                problem: e.to_string(),
            }
            .fail();
        }
        self.validate_outputs()?;
        self.validate_tls()?;
        ensure!(
            self.runtime.optimization_level <= 3,
            InvalidSnafu {
                key: "runtime.optimization_level",
                problem: "must be 0 to 3"
            }
        );
        Ok(())
    }

    /// `node.outputs`: known object names, and AE titles of configured destinations (a
    /// typo there would otherwise silently send a destination the defaults).
    fn validate_outputs(&self) -> Result<(), Error> {
        let titles: Vec<String> = self
            .node
            .destinations
            .iter()
            .filter_map(|d| crate::node::Destination::parse(d).ok())
            .map(|d| d.ae_title)
            .collect();
        for (ae, objects) in &self.node.outputs {
            let key = format!("node.outputs.{ae}");
            ensure!(
                titles.iter().any(|t| t == ae),
                InvalidSnafu {
                    key,
                    problem: format!(
                        "no destination in node.destinations has the AE title `{ae}` \
                         (destinations' AE titles: {})",
                        if titles.is_empty() {
                            "none".to_string()
                        } else {
                            titles.join(", ")
                        }
                    ),
                }
            );
            for o in objects {
                ensure!(
                    ResultObject::parse(o).is_some(),
                    InvalidSnafu {
                        key: key.clone(),
                        problem: format!(
                            "unknown result object `{o}` (known: {})",
                            ResultObject::ALL.map(ResultObject::name).join(", ")
                        ),
                    }
                );
            }
        }
        Ok(())
    }

    /// The result objects a destination with AE title `ae_title` receives: its
    /// `node.outputs` entry, else what `[output]` enables. `None`, the results folder of a
    /// node without destinations, gets what `[output]` enables.
    pub fn objects_for(&self, ae_title: Option<&str>) -> Vec<ResultObject> {
        match ae_title.and_then(|ae| self.node.outputs.get(ae)) {
            Some(names) => {
                let mut v: Vec<ResultObject> = names
                    .iter()
                    .filter_map(|n| ResultObject::parse(n))
                    .collect();
                v.sort();
                v.dedup();
                v
            }
            None => self.output.objects(),
        }
    }

    /// What can be checked about TLS without reading the files (they are read, and their
    /// problems reported, when the node starts: `rajoints config` must work without them).
    fn validate_tls(&self) -> Result<(), Error> {
        let n = &self.node;
        let t = &n.tls;
        let set = |v: &str| !v.trim().is_empty();
        ensure!(
            set(&n.listen) || t.enabled,
            InvalidSnafu {
                key: "node.listen",
                problem: "is empty and node.tls is not enabled: the node would listen nowhere"
            }
        );
        if t.enabled {
            ensure!(
                set(&t.listen),
                InvalidSnafu {
                    key: "node.tls.listen",
                    problem: "must be HOST:PORT when node.tls.enabled = true"
                }
            );
            // Port 0 (tests) picks a free port for each listener, so it never clashes.
            ensure!(
                t.listen.trim() != n.listen.trim() || t.listen.trim().ends_with(":0"),
                InvalidSnafu {
                    key: "node.tls.listen",
                    problem: "must differ from node.listen (the plain listener keeps running)"
                }
            );
            ensure!(
                set(&t.certificate) && set(&t.private_key),
                InvalidSnafu {
                    key: "node.tls.certificate",
                    problem: "node.tls.certificate and node.tls.private_key must be set when \
                              node.tls.enabled = true"
                }
            );
            ensure!(
                set(&t.ca_certificates) || !t.require_client_certificate,
                InvalidSnafu {
                    key: "node.tls.ca_certificates",
                    problem: "must be set when node.tls.require_client_certificate = true \
                              (client certificates are verified against it)"
                }
            );
        }
        let s = &n.sender.tls;
        ensure!(
            set(&s.certificate) == set(&s.private_key),
            InvalidSnafu {
                key: "node.sender.tls.certificate",
                problem: "node.sender.tls.certificate and node.sender.tls.private_key go \
                          together: set both or neither"
            }
        );
        Ok(())
    }

    /// The effective configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self)
            .unwrap_or_else(|e| format!("# cannot print configuration: {e}\n"))
    }

    /// Loads both detectors as configured.
    pub fn load_pipeline(&self) -> Result<crate::pipeline::Pipeline, crate::pipeline::Error> {
        crate::pipeline::Pipeline::load(
            &resolve_path(&self.models.ankylosis),
            &resolve_path(&self.models.subluxation),
            self.onnxruntime_path().as_deref(),
            crate::pipeline::detector::SessionOptions {
                intra_threads: self.runtime.effective_intra_threads(),
                optimization_level: self.runtime.optimization_level,
            },
            self.pipeline.clone(),
            self.runtime.concurrent_detectors,
        )
    }

    /// The ONNX Runtime library named in the configuration, if any.
    pub fn onnxruntime_path(&self) -> Option<PathBuf> {
        let p = self.runtime.onnxruntime.trim();
        (!p.is_empty()).then(|| resolve_path(Path::new(p)))
    }
}

/// A command-line value written as a TOML array of strings, e.g. `["PACS", "MODALITY"]`.
fn list_value(v: &str) -> Option<Vec<String>> {
    #[derive(Deserialize)]
    struct One {
        v: Vec<String>,
    }
    let t = v.trim();
    if !t.starts_with('[') {
        return None;
    }
    toml::from_str::<One>(&format!("v = {t}")).ok().map(|o| o.v)
}

/// A relative path is looked up in the current directory, then in the directory rajoints
/// was built in (so `cargo run` and the tests find `models/` from anywhere in the tree).
pub fn resolve_path(p: &Path) -> PathBuf {
    if p.is_absolute() || p.exists() {
        return p.to_path_buf();
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join(p);
    if built.exists() {
        built
    } else {
        p.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_papers_parameters() {
        let c = Config::load(None, &[]).unwrap();
        let p = &c.pipeline;
        assert_eq!((p.stride, p.m1, p.m2), (150, 20, 18));
        assert_eq!((p.t_conf, p.t_iou1, p.t_iou2), (0.9, 0.15, 0.45));
    }

    #[test]
    fn overrides_win_and_are_validated() {
        let c = Config::load(None, &[("pipeline.t_conf", "0.5".into())]).unwrap();
        assert_eq!(c.pipeline.t_conf, 0.5);
        let err = Config::load(None, &[("pipeline.t_conf", "1.5".into())]).unwrap_err();
        assert!(err.to_string().contains("pipeline.t_conf"), "{err}");
    }

    #[test]
    fn list_overrides_are_toml_arrays() {
        let c = Config::load(
            None,
            &[(
                "node.allowed_calling_ae_titles",
                r#"["PACS", "CT1"]"#.into(),
            )],
        )
        .unwrap();
        assert_eq!(
            c.node.allowed_calling_ae_titles,
            vec!["PACS".to_string(), "CT1".to_string()]
        );
        let c = Config::load(None, &[("node.destinations", "[]".into())]).unwrap();
        assert!(c.node.destinations.is_empty());
    }

    #[test]
    fn a_file_layer_overrides_defaults_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "[pipeline]\nstride = 100\n").unwrap();
        assert_eq!(Config::load(Some(&f), &[]).unwrap().pipeline.stride, 100);
        std::fs::write(&f, "[pipeline]\nstrid = 100\n").unwrap();
        assert!(Config::load(Some(&f), &[]).is_err());
    }

    #[test]
    fn printed_configuration_reads_back_the_same() {
        let c = Config::load(None, &[]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("printed.toml");
        std::fs::write(&f, c.to_toml()).unwrap();
        let again = Config::load(Some(&f), &[]).unwrap();
        assert_eq!(again.to_toml(), c.to_toml());
    }

    #[test]
    fn the_summary_image_is_off_by_default_and_outputs_are_per_destination() {
        let c = Config::load(None, &[]).unwrap();
        assert!(!c.output.sc);
        assert!(c.node.outputs.is_empty());
        assert_eq!(c.objects_for(None), [ResultObject::Sr, ResultObject::Gsps]);
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "[node]\ndestinations = [\"ORTHANC@127.0.0.1:4242\", \"PACS@127.0.0.1:104\"]\n\
             [node.outputs]\nORTHANC = [\"sr\", \"sc\", \"sc\"]\n",
        )
        .unwrap();
        let c = Config::load(Some(&f), &[]).unwrap();
        // The AE title keeps its case (AE titles are case-sensitive).
        assert_eq!(
            c.objects_for(Some("ORTHANC")),
            [ResultObject::Sr, ResultObject::Sc]
        );
        assert_eq!(
            c.objects_for(Some("PACS")),
            [ResultObject::Sr, ResultObject::Gsps]
        );
        let c = Config::load(Some(&f), &[("output.sc", "true".into())]).unwrap();
        assert_eq!(c.objects_for(None), ResultObject::ALL);
        let printed = dir.path().join("printed.toml");
        std::fs::write(&printed, c.to_toml()).unwrap();
        assert_eq!(
            Config::load(Some(&printed), &[]).unwrap().to_toml(),
            c.to_toml()
        );
    }

    #[test]
    fn outputs_with_unknown_objects_or_titles_are_refused_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        let load = |outputs: &str| {
            std::fs::write(
                &f,
                format!(
                    "[node]\ndestinations = [\"ORTHANC@127.0.0.1:4242\"]\n\
                     [node.outputs]\n{outputs}\n"
                ),
            )
            .unwrap();
            Config::load(Some(&f), &[])
        };
        assert!(load("ORTHANC = []").is_ok());
        let err = load("ORTHANC = [\"sr\", \"png\"]").unwrap_err().to_string();
        assert!(err.contains("node.outputs.ORTHANC"), "{err}");
        assert!(err.contains("unknown result object `png`"), "{err}");
        let err = load("ORTHANX = [\"sr\"]").unwrap_err().to_string();
        assert!(err.contains("node.outputs.ORTHANX"), "{err}");
        assert!(err.contains("ORTHANC"), "{err}");
    }

    #[test]
    fn the_prior_archive_is_off_by_default_and_checked_at_load() {
        assert!(
            Config::load(None, &[])
                .unwrap()
                .node
                .prior_archive
                .is_empty()
        );
        let c = Config::load(
            None,
            &[("node.prior_archive", "ORTHANC@127.0.0.1:4242".into())],
        )
        .unwrap();
        assert_eq!(c.node.prior_archive, "ORTHANC@127.0.0.1:4242");
        for bad in ["ORTHANC", "ORTHANC@127.0.0.1", "@127.0.0.1:4242"] {
            let err = Config::load(None, &[("node.prior_archive", bad.into())])
                .unwrap_err()
                .to_string();
            assert!(err.contains("node.prior_archive"), "{bad}: {err}");
        }
    }
}
