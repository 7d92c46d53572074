//! `rajoints batch INPUT... --out DIR [--shard I/N]` and `rajoints batch merge DIR...
//! --out FILE`: the glue; the work is in [`rajoints::batch`].

use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use snafu::{Report, ResultExt, Whatever};

use rajoints::analysis::ModelsInfo;
use rajoints::batch::film::{self, Context, Paths};
use rajoints::batch::priors::{self, History, Plan};
use rajoints::batch::shard::{self, Shard};
use rajoints::batch::{self as lib, Failure, Layout, Summary, pacs, scan, table};
use rajoints::config::Config;
use rajoints::spool::key_for;

use super::{CommonArgs, ModelArgs};

const BATCH_HELP: &str = "\
Shards: film F goes to shard (first 8 bytes of SHA-256(SOP Instance UID)) mod N, so
shard I of N is the same set on every run and the N shards are disjoint and complete.
Without --shard the shard comes from a Slurm job array (SLURM_ARRAY_TASK_ID,
SLURM_ARRAY_TASK_COUNT, and SLURM_ARRAY_TASK_MIN/STEP for arrays that do not start at 0),
else from a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, with RAJOINTS_SHARD_COUNT set to
the Job's completions), else the run is the whole batch (shard 0/1).

Output (every shard of a batch writes into the same DIR):
  DIR/films/<key>.json, <key>.sr.dcm   the results of `rajoints analyze`, per film
  DIR/films/<key>.csv, <key>.done      the film's table rows; the done marker, written last
  DIR/shards/shard-I-of-N/table.csv    one row per joint: patient_hash, study_date,
                                       sop_instance_uid, assessable, joint, ankylosis_present,
                                       ankylosis_probability, subluxation_present,
                                       subluxation_probability
  DIR/shards/shard-I-of-N/failures.csv key,path,error of the films that failed
  DIR/shards/shard-I-of-N/summary.json counts of the last run
<key> is a hash of the SOP Instance UID; patient_hash is a truncated SHA-256 of the
Patient ID (with --patient-salt); no name, ID or birth date is written or logged.

PACS input (--query AE@HOST:PORT instead of INPUT): every shard runs the same C-FIND
(Study Root: STUDY by Study Date --from..--to, SERIES of each study kept when their
Modality is in --modality and Body Part Examined in --body-part, IMAGE of those series),
takes the instances whose SOP Instance UID is in its shard, and retrieves by C-GET only
those that are neither done nor already retrieved, one instance per C-GET, on one
association that proposes the storage classes (CR, DX and whatever the C-FIND reported)
with the SCP role (role selection), so no inbound port or C-MOVE destination is needed.
Retrieved instances wait in DIR/retrieved/shard-I-of-N/<key>.dcm and go through the same
filter and analysis as files; each is deleted once its film is done (--keep-retrieved
keeps them). An instance that cannot be retrieved is listed in failures.csv and retried by
the next run; a PACS that cannot be reached, or refuses the query, stops the run (exit 2).
The PACS must know the calling AE title (--calling-ae, default node.ae_title) and allow it
C-FIND and C-GET (Orthanc: an entry in DicomModalities).

Priors: every shard scans the whole batch, so it knows each film's Patient ID and Study
Date. A film whose patient has an earlier film in the batch is compared with the latest one
that is assessable and shows a hand in common (its JSON's `change` and the SR's \"Change
since prior\", as the node does); films without one say why. A shard takes its films oldest
first; a film whose earlier film is in another shard and not done yet comes last, and if it
is still not done then, the shard analyses (or retrieves and analyses) that film itself:
the same results its own shard would write, which that shard then finds done. No shard
waits for another, so an array run one task at a time ends too.

Resuming: a film is done when its marker is there and names this run's models; a rerun of
the same command skips done films and analyses the rest, including any that a killed run
left half-written. A film that fails is listed in failures.csv and the shard goes on.

Exit status: 0 every film of the shard done; 1 some failed (listed); 2 the run could not
start (flags, configuration, models, unreadable INPUT or DIR, PACS unreachable or
refusing the query).

Examples:
  rajoints batch /archive/hands --out /scratch/cohort                 # one process
  rajoints batch /media/cd/DICOMDIR --out cohort --shard 2/8          # shard 2 of 8
  rajoints batch --query PACS@pacs.example.org:104 --calling-ae RAJOINTS \\
      --from 20050101 --to 20241231 --modality CR,DX --body-part HAND \\
      --out /scratch/cohort --shard 0/8                               # from a PACS
  sbatch --array=0-7 plugins/batch/rajoints-array.sbatch              # Slurm, see plugins/batch
  rajoints batch merge /scratch/cohort --out cohort.csv               # join the 8 tables";

#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_long_help = BATCH_HELP
)]
pub struct BatchArgs {
    #[command(subcommand)]
    command: Option<BatchCommand>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum BatchCommand {
    /// Join the shard tables of one or more batch folders into one CSV table, sorted by
    /// patient hash, study date, SOP Instance UID and joint; refuses duplicate rows (a film
    /// in two shards) and, unless --partial, an incomplete set of shards.
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Folders of DICOM files (searched recursively; files that are not DICOM are
    /// skipped), DICOMDIR files (their ReferencedFileIDs are read), or DICOM files. Only
    /// instances the node's filter selects (`node.filter`: CR/DX hand films by default)
    /// are analysed. Not with --query.
    #[arg(
        required_unless_present = "query",
        conflicts_with = "query",
        value_name = "INPUT"
    )]
    inputs: Vec<PathBuf>,
    /// Output folder, shared by all shards of the batch (created if missing).
    // An Option only because clap fills this struct even when `merge` runs; clap requires
    // it whenever it is not `merge`.
    #[arg(long, required = true, value_name = "DIR")]
    out: Option<PathBuf>,
    /// This process's shard, I of N, 0 <= I < N (default: from Slurm or Kubernetes, see
    /// below; else the whole batch).
    #[arg(long, value_name = "I/N")]
    shard: Option<Shard>,
    /// Secret prefixed to the Patient ID before it is hashed for the table's
    /// patient_hash, so that the hash cannot be reversed by hashing every possible ID.
    /// Use the same salt in every shard of a batch.
    #[arg(
        long,
        env = "RAJOINTS_PATIENT_SALT",
        hide_env_values = true,
        value_name = "TEXT"
    )]
    patient_salt: Option<String>,
    #[command(flatten)]
    models: ModelArgs,
    #[command(flatten)]
    common: CommonArgs,
    // Last: its help heading applies to the arguments after it.
    #[command(flatten)]
    pacs: PacsArgs,
}

/// PACS input: C-FIND, then C-GET of this shard's instances.
#[derive(Debug, Args)]
#[command(next_help_heading = "PACS input (instead of INPUT)")]
struct PacsArgs {
    /// Take the films from this PACS instead of INPUT: C-FIND (Study Root: studies by
    /// --from/--to, their series by --modality/--body-part, the series' instances), then
    /// C-GET of the instances of this shard only, on the same association (no inbound
    /// port). The PACS must allow C-FIND and C-GET from --calling-ae.
    #[arg(long, value_name = "AE@HOST:PORT")]
    query: Option<pacs::Pacs>,
    /// First Study Date to query, inclusive (default: no lower bound).
    #[arg(long, requires = "query", value_name = "YYYYMMDD", value_parser = parse_date)]
    from: Option<String>,
    /// Last Study Date to query, inclusive (default: no upper bound).
    #[arg(long, requires = "query", value_name = "YYYYMMDD", value_parser = parse_date)]
    to: Option<String>,
    /// Series Modality to take, comma-separated (default: node.filter.modalities, CR,DX).
    #[arg(long, requires = "query", value_delimiter = ',', value_name = "LIST")]
    modality: Vec<String>,
    /// Series Body Part Examined to take, comma-separated; `*` takes any, including
    /// series without one (default: node.filter.body_parts, HAND).
    #[arg(long, requires = "query", value_delimiter = ',', value_name = "LIST")]
    body_part: Vec<String>,
    /// This process's AE title towards the PACS (default: node.ae_title, RAJOINTS).
    #[arg(long, requires = "query", value_name = "AE")]
    calling_ae: Option<String>,
    /// Connection and read/write timeout towards the PACS.
    #[arg(long, requires = "query", default_value_t = 30, value_name = "SECONDS")]
    pacs_timeout: u64,
    /// Keep retrieved instances in DIR/retrieved after their film is done (default: each
    /// is deleted once its results are written).
    #[arg(long, requires = "query")]
    keep_retrieved: bool,
}

fn parse_date(s: &str) -> Result<String, String> {
    pacs::parse_date(s).map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
struct MergeArgs {
    /// Batch output folders (their shards/*/table.csv) or single shard folders.
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// The merged table (CSV, written atomically).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Merge whatever tables there are, even if some shards of the batch are missing.
    #[arg(long)]
    partial: bool,
}

pub fn run(args: BatchArgs) -> Result<ExitCode, Whatever> {
    match args.command {
        Some(BatchCommand::Merge(m)) => merge(m),
        None => run_shard(args.run),
    }
}

fn merge(args: MergeArgs) -> Result<ExitCode, Whatever> {
    let merged = lib::merge_dirs(&args.dirs, !args.partial)
        .whatever_context("could not merge the shard tables")?;
    rajoints::report::write_atomically(&args.out, table::table_csv(&merged.rows).as_bytes())
        .with_whatever_context(|_| format!("could not write {}", args.out.display()))?;
    eprintln!(
        "merged {} tables: {} films, {} rows -> {}",
        merged.tables,
        merged.films(),
        merged.rows.len(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn run_shard(args: RunArgs) -> Result<ExitCode, Whatever> {
    let started = Instant::now();
    let (shard, source) = shard::resolve(args.shard, |k| std::env::var(k).ok())
        .whatever_context("could not tell which shard to run")?;
    let cfg = args.common.load_with_models(&args.models)?;
    let Some(out) = &args.out else {
        snafu::whatever!("--out DIR is required");
    };
    let layout = Layout::new(out);
    layout
        .create(shard)
        .whatever_context("could not create the output folder")?;
    let pipeline = super::load_pipeline(&cfg)?;
    let models = pipeline.models();

    let films_dir = layout.films_dir();
    let gathered = match &args.pacs.query {
        None => from_folders(&args.inputs, &cfg, shard, &source.to_string())?,
        Some(p) => from_pacs(
            p,
            &args.pacs,
            &cfg,
            &layout,
            shard,
            &source.to_string(),
            &models,
        )?,
    };
    let Gathered {
        films,
        all,
        mut failures,
        retrieved,
        retriever,
    } = gathered;
    // Retrieved instances are deleted once their film is done (unless kept).
    let cache = (args.pacs.query.is_some() && !args.pacs.keep_retrieved)
        .then(|| layout.retrieved_dir(shard));
    let forget = |f: &scan::Film| {
        if let Some(c) = &cache
            && f.path.starts_with(c)
        {
            let _ = std::fs::remove_file(&f.path);
        }
    };

    let ctx = Context {
        pipeline: &pipeline,
        cfg: &cfg,
        films_dir: &films_dir,
        patient_salt: args.patient_salt.as_deref().unwrap_or(""),
    };
    let history = History::new(all);
    let plan = Plan::new(films, &history, &films_dir, &models);
    let mut summary = Summary {
        shard: shard.to_string(),
        films: plan.films(),
        retrieved,
        ..Summary::default()
    };
    let mut rows = Vec::new();
    // Films that failed in this run: not tried again as another film's prior.
    let mut failed: HashSet<String> = HashSet::new();
    let mut progress = Progress::new(shard, summary.films);
    let waiting = plan.later.len();
    if waiting > 0 {
        eprintln!(
            "batch shard {shard}: {waiting} films wait for an earlier film of their patient \
             in another shard; they come last"
        );
    }
    let order = plan.now.iter().map(|f| (f, false));
    for (i, (f, waited)) in order
        .chain(plan.later.iter().map(|f| (f, true)))
        .enumerate()
    {
        if waited {
            // Earlier films still not done by their shard: analysed here, oldest first,
            // so that each is compared with its own prior in turn.
            for e in history.earlier(f) {
                if plan.is_own(&e.sop_instance_uid)
                    || failed.contains(&e.sop_instance_uid)
                    || priors::is_done(&films_dir, &models, e)
                {
                    continue;
                }
                let key = key_for(&e.sop_instance_uid);
                match prior_film(&ctx, &history, retriever.as_ref(), e, &cfg) {
                    Ok(got) => {
                        summary.priors_analysed += 1;
                        summary.retrieved += usize::from(got);
                        forget(e);
                    }
                    Err(error) => {
                        // Its own shard lists it; here it is only a prior that is missing.
                        // A retrieved file stays, as one the filter does not select does.
                        eprintln!("film {key} (a prior from another shard) not analysed: {error}");
                        failed.insert(e.sop_instance_uid.clone());
                    }
                }
            }
        }
        let key = key_for(&f.sop_instance_uid);
        let paths = Paths::new(&films_dir, &key);
        let result = if film::is_done(&paths, &models) {
            summary.skipped += 1;
            film::read_rows(&paths)
        } else {
            summary.analysed += 1;
            film::process(&ctx, f, &paths, |a| {
                priors::compare(&films_dir, &models, f, history.earlier(f), a)
            })
        };
        match result {
            Ok(r) => {
                rows.extend(r);
                forget(f);
            }
            Err(e) => {
                let error = Report::from_error(e).to_string();
                // The key, not the path: file names can carry patient names.
                eprintln!("film {key} failed: {error}");
                failed.insert(f.sop_instance_uid.clone());
                failures.push(Failure {
                    key,
                    path: f.path.clone(),
                    error,
                });
            }
        }
        progress.tick(i + 1, summary.skipped);
    }
    summary.failed = failures.len();
    summary.rows = rows.len();
    summary.seconds = started.elapsed().as_secs_f64();
    lib::write_shard(&layout, shard, &mut rows, &failures, &summary)
        .whatever_context("could not write the shard's table")?;
    eprintln!(
        "batch shard {shard} finished: {} analysed, {} already done, {} failed, {} retrieved, \
         {} earlier films of other shards analysed as priors, {} rows in {:.1} s -> {}",
        summary.analysed,
        summary.skipped,
        summary.failed,
        summary.retrieved,
        summary.priors_analysed,
        summary.rows,
        summary.seconds,
        layout.shard_dir(shard).join("table.csv").display()
    );
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Analyses `e`, another shard's film, as the prior of one of this shard's: retrieved
/// first when it came from a PACS (then true), and only if the filter selects it, as in
/// its own shard.
fn prior_film(
    ctx: &Context,
    history: &History,
    retriever: Option<&Retriever>,
    e: &scan::Film,
    cfg: &Config,
) -> Result<bool, String> {
    let mut got = false;
    if let Some(r) = retriever
        && !e.path.is_file()
    {
        r.retrieve(e)?;
        got = true;
    }
    let found = scan::scan(std::slice::from_ref(&e.path), &cfg.node.filter)
        .map_err(|err| Report::from_error(err).to_string())?;
    if found.films.is_empty() {
        return Err("not a film the filter selects".into());
    }
    let paths = Paths::new(ctx.films_dir, &key_for(&e.sop_instance_uid));
    let models = ctx.pipeline.models();
    film::process(ctx, e, &paths, |a| {
        priors::compare(ctx.films_dir, &models, e, history.earlier(e), a)
    })
    .map(|_| got)
    .map_err(|err| Report::from_error(err).to_string())
}

/// What a shard works on.
struct Gathered {
    /// The shard's films.
    films: Vec<scan::Film>,
    /// Every film of the batch (all shards): the patients' histories, for priors.
    all: Vec<scan::Film>,
    failures: Vec<Failure>,
    retrieved: usize,
    /// How to retrieve another shard's film (PACS input only).
    retriever: Option<Retriever>,
}

/// Retrieves single instances from the PACS of `--query` into the shard's cache.
struct Retriever {
    pacs: pacs::Pacs,
    opts: pacs::Options,
    instances: HashMap<String, pacs::Instance>,
}

impl Retriever {
    fn retrieve(&self, f: &scan::Film) -> Result<(), String> {
        let i = self
            .instances
            .get(&f.sop_instance_uid)
            .ok_or("not matched by the query")?;
        let got = pacs::get(&self.pacs, &self.opts, &[i], |_| f.path.clone())
            .map_err(|e| Report::from_error(e).to_string())?;
        match got.into_iter().next() {
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(e),
            None => Err("nothing retrieved".into()),
        }
    }
}

/// The shard's films from folders and DICOMDIRs; the files that could not be read.
fn from_folders(
    inputs: &[PathBuf],
    cfg: &Config,
    shard: Shard,
    source: &str,
) -> Result<Gathered, Whatever> {
    let found =
        scan::scan(inputs, &cfg.node.filter).whatever_context("could not scan the input")?;
    let total = found.films.len();
    let films: Vec<scan::Film> = found
        .films
        .iter()
        .filter(|f| shard.contains(&f.sop_instance_uid))
        .cloned()
        .collect();
    let failures: Vec<Failure> = found
        .unreadable
        .iter()
        .filter_map(|u| {
            let name = u.path.display().to_string();
            shard.contains(&name).then(|| Failure {
                key: key_for(&name),
                path: u.path.clone(),
                error: u.error.clone(),
            })
        })
        .collect();
    eprintln!(
        "batch shard {shard} ({source}): {} of {total} films (not selected {}, not DICOM {}, \
         duplicate instances {}, unreadable {})",
        films.len(),
        found.not_selected,
        found.not_dicom,
        found.duplicates,
        found.unreadable.len()
    );
    Ok(Gathered {
        films,
        all: found.films,
        failures,
        retrieved: 0,
        retriever: None,
    })
}

/// The shard's films from a PACS: C-FIND, then C-GET of this shard's instances that are
/// neither done nor already in the cache (DIR/retrieved/shard-I-of-N/<key>.dcm); the
/// retrieved files then go through the same scan as folder input. Done instances are
/// listed without a file: the loop reads their rows.
fn from_pacs(
    pacs: &pacs::Pacs,
    args: &PacsArgs,
    cfg: &Config,
    layout: &Layout,
    shard: Shard,
    source: &str,
    models: &ModelsInfo,
) -> Result<Gathered, Whatever> {
    let or = |flag: &[String], default: &[String]| {
        if flag.is_empty() {
            default.to_vec()
        } else {
            flag.to_vec()
        }
    };
    let query = pacs::Query {
        from: args.from.clone(),
        to: args.to.clone(),
        modalities: or(&args.modality, &cfg.node.filter.modalities),
        body_parts: or(&args.body_part, &cfg.node.filter.body_parts),
        patient_id: None,
    };
    let opts = pacs::Options {
        calling_ae: args
            .calling_ae
            .clone()
            .unwrap_or_else(|| cfg.node.ae_title.clone()),
        timeout: Duration::from_secs(args.pacs_timeout.max(1)),
    };
    let matched = pacs::find(pacs, &opts, &query).whatever_context("could not query the PACS")?;
    let cache = layout.retrieved_dir(shard);
    pacs::create_cache(&cache).whatever_context("could not create the retrieval cache")?;
    let films_dir = layout.films_dir();
    let cached_path = |uid: &str| cache.join(format!("{}.dcm", key_for(uid)));
    // The batch's films as the PACS describes them; another shard's film waits in this
    // shard's cache if this shard ever needs it as a prior.
    let all: Vec<scan::Film> = matched
        .iter()
        .map(|i| scan::Film {
            path: cached_path(&i.sop_instance_uid),
            sop_instance_uid: i.sop_instance_uid.clone(),
            patient_id: i.patient_id.clone(),
            study_date: i.study_date.clone(),
        })
        .collect();
    let mine: Vec<&pacs::Instance> = matched
        .iter()
        .filter(|i| shard.contains(&i.sop_instance_uid))
        .collect();
    let (mut done, mut cached, mut to_get) = (Vec::new(), Vec::new(), Vec::new());
    for i in &mine {
        let path = cached_path(&i.sop_instance_uid);
        if film::is_done(
            &Paths::new(&films_dir, &key_for(&i.sop_instance_uid)),
            models,
        ) {
            done.push(scan::Film {
                path,
                sop_instance_uid: i.sop_instance_uid.clone(),
                patient_id: i.patient_id.clone(),
                study_date: i.study_date.clone(),
            });
        } else if path.is_file() {
            cached.push(path);
        } else {
            to_get.push(*i);
        }
    }
    let (already_done, in_cache) = (done.len(), cached.len());
    let got = pacs::get(pacs, &opts, &to_get, |i| cached_path(&i.sop_instance_uid))
        .whatever_context("could not retrieve from the PACS")?;
    let mut failures = Vec::new();
    let mut retrieved = 0;
    for (i, r) in to_get.iter().zip(got) {
        match r {
            Ok(path) => {
                retrieved += 1;
                cached.push(path);
            }
            Err(error) => {
                let key = key_for(&i.sop_instance_uid);
                eprintln!("film {key} not retrieved: {error}");
                failures.push(Failure {
                    key,
                    path: cached_path(&i.sop_instance_uid),
                    error,
                });
            }
        }
    }
    let found =
        scan::scan(&cached, &cfg.node.filter).whatever_context("could not read the retrieved")?;
    failures.extend(found.unreadable.iter().map(|u| {
        Failure {
            key: u
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default(),
            path: u.path.clone(),
            error: u.error.clone(),
        }
    }));
    eprintln!(
        "batch shard {shard} ({source}): {} of {} instances matched on {pacs} \
         ({already_done} already done, {in_cache} already retrieved, {retrieved} retrieved now, \
         {} not retrieved; not selected {}, unreadable {})",
        mine.len(),
        matched.len(),
        to_get.len() - retrieved,
        found.not_selected,
        found.unreadable.len()
    );
    done.extend(found.films);
    Ok(Gathered {
        films: done,
        all,
        failures,
        retrieved,
        retriever: Some(Retriever {
            pacs: pacs.clone(),
            opts,
            instances: matched
                .into_iter()
                .map(|i| (i.sop_instance_uid.clone(), i))
                .collect(),
        }),
    })
}

/// Progress of a shard: a bar redrawn in place on a terminal; otherwise (a Slurm or pod
/// log) a line every 5% of the films or every minute, whichever comes first, so that a
/// shard of hours still shows it is alive without flooding the log.
struct Progress {
    shard: Shard,
    total: usize,
    tty: bool,
    started: Instant,
    last_line: Instant,
    last_step: usize,
}

impl Progress {
    fn new(shard: Shard, total: usize) -> Progress {
        Progress {
            shard,
            total,
            tty: std::io::stderr().is_terminal(),
            started: Instant::now(),
            last_line: Instant::now(),
            last_step: 0,
        }
    }

    fn tick(&mut self, done: usize, skipped: usize) {
        let total = self.total.max(1);
        let elapsed = self.started.elapsed().as_secs_f64();
        // Rate over the films analysed in this run; skipped ones cost nothing.
        let analysed = done.saturating_sub(skipped);
        let per_min = if elapsed > 0.0 {
            analysed as f64 * 60.0 / elapsed
        } else {
            0.0
        };
        let eta = if analysed > 0 {
            let left = (self.total - done) as f64 * elapsed / analysed as f64;
            format!("{:.0} s left", left)
        } else {
            "-".into()
        };
        if self.tty {
            let width = 30;
            let filled = done * width / total;
            eprint!(
                "\rshard {} [{}{}] {done}/{} {per_min:.1} films/min, {eta}  ",
                self.shard,
                "=".repeat(filled),
                " ".repeat(width - filled),
                self.total
            );
            if done == self.total {
                eprintln!();
            }
            return;
        }
        let step = done * 20 / total;
        if done == self.total
            || step != self.last_step
            || self.last_line.elapsed() >= Duration::from_secs(60)
        {
            self.last_step = step;
            self.last_line = Instant::now();
            eprintln!(
                "progress shard {}: {done}/{} films ({skipped} already done), \
                 {per_min:.1} films/min, {eta}",
                self.shard, self.total
            );
        }
    }
}
