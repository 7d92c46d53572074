#!/usr/bin/env python3
"""The benchmark run of issue 7: everything in one run, on one machine, on the same
radiographs and models; writes benches/RESULTS.md (full run) and the raw JSON.

    benches/run [--quick] [--train] [--out FILE] [--n N] [--k K] [--reps R]
    benches/run --phantom [--quick] [--phantom-count N] [--phantom-cores K]

See benches/README.md for what each part measures. `--quick` (for `make test`) runs every
part once on the smallest inputs, with the debug builds, to keep the harness from rotting;
its figures mean nothing and it writes target/bench/quick/RESULTS.md. `--phantom` runs only
part 7 (phantom generation speed) and replaces that section of the results file.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = ROOT / ".venv" / "bin" / "python"
BENCHES = ROOT / "benches"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sh(cmd: list, **kw) -> subprocess.CompletedProcess:
    log("$ " + shlex.join(str(c) for c in cmd))
    check = not kw.pop("check_ok", False)
    r = subprocess.run([str(c) for c in cmd], **kw)
    if r.returncode != 0 and check:
        raise SystemExit(f"benches/run: command failed ({r.returncode}): {shlex.join(str(c) for c in cmd)}")
    return r


def load(p: Path) -> dict:
    return json.loads(p.read_text())


# ---------------------------------------------------------------------------------------
# builds


def cargo_executable(cmd: list, cwd: Path, env: dict) -> str:
    log("$ " + shlex.join(cmd))
    r = subprocess.run(cmd + ["--message-format=json-render-diagnostics"], cwd=cwd, env=env,
                       stdout=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise SystemExit(f"benches/run: build failed: {shlex.join(cmd)}")
    exe = None
    for line in r.stdout.splitlines():
        try:
            m = json.loads(line)
        except json.JSONDecodeError:
            continue
        if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "pipeline":
            exe = m["executable"]
    if not exe:
        raise SystemExit("benches/run: no executable for bench `pipeline`")
    return exe


def build(quick: bool) -> tuple[str, str]:
    """(rajoints binary, bench executable): release builds, or the debug/test builds that
    `make test` already made in --quick mode."""
    env = dict(os.environ)
    if quick:
        sh(["cargo", "build", "--quiet"], cwd=ROOT)
        binary = ROOT / "target" / "debug" / "rajoints"
        bench_cmd = ["cargo", "test", "--no-run", "--bench", "pipeline"]
    else:
        sh(["cargo", "build", "--release", "--quiet"], cwd=ROOT)
        binary = ROOT / "target" / "release" / "rajoints"
        bench_cmd = ["cargo", "bench", "--no-run", "--bench", "pipeline"]
    exe = cargo_executable(bench_cmd, ROOT, env)
    return str(binary), exe


# ---------------------------------------------------------------------------------------
# inputs


def phantom_available(binary: str) -> str | None:
    r = subprocess.run([binary, "phantom", "--help"], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None


def images(binary: str, work: Path, count: int, quick: bool) -> dict:
    """Timing images (phantoms when `rajoints phantom` exists, else synthetic films) and the
    detection-check films (always: the blob test models detect their joints)."""
    films = work / "films"
    if not (films / "annotations.json").exists() or len(load(films / "annotations.json")["images"]) != count:
        shutil.rmtree(films, ignore_errors=True)
        sh([PY, BENCHES / "films.py", "--out", films, "--count", count, "--seed", 1])
    out = {"films": films, "timing": films, "timing_kind": "synthetic films (benches/films.py)"}
    help_text = phantom_available(binary)
    if help_text is not None:
        ph = work / "phantom"
        if not (ph / "annotations.json").exists():
            args = [binary, "phantom", "--out", ph]
            if "--count" in help_text:
                args += ["--count", count]
            if "--seed" in help_text:
                args += ["--seed", 1]
            r = sh(args, check_ok=True)
            if r.returncode != 0:
                log("rajoints phantom failed: timing on the synthetic films")
                return out
        out["timing"] = ph
        out["timing_kind"] = "phantoms (rajoints phantom)"
    return out


def dicoms(dataset: Path) -> list[Path]:
    ann = load(dataset / "annotations.json")
    return [dataset / i["file"] for i in ann["images"]]


def models(work: Path, quick: bool, train: bool, films: Path) -> dict:
    md = work.parent / "models"  # shared by quick and full runs: exports are slow
    out = {}
    for arch in ([] if quick else ["light", "vgg16"]):
        d = md / arch
        if not (d / "subluxation.toml").exists():
            sh([PY, BENCHES / "models.py", "random", "--arch", arch, "--out", d])
        out[arch] = d
    blob = md / "blob"
    if not (blob / "subluxation.toml").exists():
        sh([PY, ROOT / "models" / "make_test_models.py", "--out", blob, "--no-check"])
    out["blob"] = blob
    # A light model smoke-trained on the films: a conv net that detects, for INT8 and eval.
    runs = work.parent / "runs"
    trained = md / "trained"
    # The films give both findings the same labels (1.0 squares: both present), so one
    # detector trained on the ankylosis labels serves as both.
    ck = runs / "ankylosis" / "last.pt"
    if train and not quick and not ck.exists():
        sh([PY, ROOT / "models/training/train.py", "--dataset", work.parent / "train-films", "--finding", "ankylosis",
            "--arch", "light", "--epochs", 1000, "--max-iters", 200, "--aug-p", 0.2, "--out", runs / "ankylosis"])
    if not quick and ck.exists():
        for f in ("ankylosis", "subluxation"):
            if not (trained / f"{f}.toml").exists():
                sh([PY, BENCHES / "models.py", "export", "--checkpoint", ck, "--out", trained / f"{f}.onnx",
                    "--finding", f])
        out["trained"] = trained
    calib = dicoms(films)[:2]
    for name in (("blob",) if quick else ("light", "trained")):
        if name not in out:
            continue
        for suffix, flags in (("-int8", []), ("-int8-all", ["--all-convs"])):
            q = md / f"{name}{suffix}"
            if not (q / "subluxation.toml").exists():
                for f in ("ankylosis", "subluxation"):
                    sh([PY, BENCHES / "models.py", "int8", "--model", out[name] / f"{f}.toml",
                        "--out", q / f"{f}.onnx", "--calib", *calib, *flags])
            out[f"{name}{suffix}"] = q
    return out


def model_sets(d: Path) -> list[str]:
    return ["--set", f"models.ankylosis={d / 'ankylosis.toml'}", "--set", f"models.subluxation={d / 'subluxation.toml'}"]


# ---------------------------------------------------------------------------------------
# 7: phantom generation speed (issue 16: "at most 1 s per film on 2 cores")

PRESETS = ["paper", "clinic", "hard"]
PHANTOM_GOAL_S = 1.0


def timed_run(cmd: list, cpus: list[int], log_path: Path) -> dict:
    """Runs cmd pinned to cpus; wall clock, and user + sys CPU of the process and its
    threads from os.wait4."""
    log("$ " + shlex.join(str(c) for c in cmd) + f"   (pinned to CPUs {','.join(map(str, cpus))})")
    with open(log_path, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.DEVNULL, stderr=err,
                                preexec_fn=lambda: os.sched_setaffinity(0, cpus))
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"benches/run: command failed ({proc.returncode}; see {log_path}): "
                         f"{shlex.join(str(c) for c in cmd)}")
    return {"wall_s": wall, "user_s": ru.ru_utime, "sys_s": ru.ru_stime, "cpu_s": ru.ru_utime + ru.ru_stime,
            "max_rss_mib": ru.ru_maxrss / 1024}


def phantom_speed(binary: str, work: Path, count: int, rounds: int, cores: int) -> dict:
    """Seconds per film of `rajoints phantom` for each preset, rounds in alternating preset
    order (same seed for every preset within a round), pinned to `cores` CPUs (0: all)."""
    help_text = phantom_available(binary)
    if help_text is None:
        return {"available": False}
    avail = sorted(os.sched_getaffinity(0))
    cpus = avail[:cores] if cores > 0 else avail
    root = work / "phantom-speed"
    root.mkdir(parents=True, exist_ok=True)
    runs: dict = {p: [] for p in PRESETS}
    for r in range(rounds):
        for p in (PRESETS if r % 2 == 0 else PRESETS[::-1]):
            out = root / p
            shutil.rmtree(out, ignore_errors=True)
            cmd = [binary, "phantom", "--preset", p, "--count", count,
                   "--seed", 1 + r, "--out", out]
            t = timed_run(cmd, cpus, root / f"{p}-{r}.log")
            t["films"] = len(load(out / "annotations.json")["images"])
            t["command"] = shlex.join(str(c) for c in cmd)
            runs[p].append(t)
            shutil.rmtree(out, ignore_errors=True)  # up to hundreds of MB per preset
    presets = {}
    for p, rs in runs.items():
        if not rs:
            continue
        films = sum(t["films"] for t in rs)
        wall, cpu = sum(t["wall_s"] for t in rs), sum(t["cpu_s"] for t in rs)
        presets[p] = {"films": films, "runs": len(rs), "wall_s": wall, "cpu_s": cpu,
                      "s_per_film": wall / films, "cpu_s_per_film": cpu / films,
                      "cores_used": cpu / wall if wall > 0 else float("nan"),
                      "max_rss_mib": max(t["max_rss_mib"] for t in rs), "samples": rs}
    base = presets.get("paper", {}).get("s_per_film")
    for v in presets.values():
        v["vs_paper"] = v["s_per_film"] / base if base else None
    return {"available": True, "count": count, "rounds": rounds,
            "cpus_pinned": len(cpus), "cpus_machine": os.cpu_count(), "cpu_ids": cpus,
            "presets": presets, "goal_s_per_film": PHANTOM_GOAL_S}


def phantom_section(P: dict, quick: bool) -> list[str]:
    L = ["## 7. Phantom generation speed\n"]
    w = L.append
    if not P.get("available"):
        w("Not run: this build has no `rajoints phantom`.\n")
        return L
    build = "debug build (--quick: the figures mean nothing)" if quick else "release build"
    w(f"`rajoints phantom --preset P --count {P['count']} --seed S --out DIR`, {build}, pinned to "
      f"**{P['cpus_pinned']}** of the machine's {P['cpus_machine']} logical CPUs (sched_setaffinity; the "
      f"generator's threads follow available_parallelism), {P['rounds']} round(s) in alternating preset "
      "order, the same seed for every preset within a round. Wall clock, and CPU = user + sys of the "
      "process and its threads (os.wait4); writing the DICOM files and annotations.json included. "
      "Compare presets only by the ratio to `paper` of this run.\n")
    w("| preset | films | wall s | **s per film** | CPU s per film | cores used (CPU / wall) | vs paper | peak RSS MiB |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|")
    for p in PRESETS:
        v = P["presets"].get(p)
        if v is None:
            w(f"| {p} | - | - | - | - | - | - | - |")
            continue
        vs = f"{v['vs_paper']:.2f}" if v["vs_paper"] is not None else "-"
        w(f"| {p} | {v['films']} | {f(v['wall_s'], 2)} | **{f(v['s_per_film'], 3)}** | {f(v['cpu_s_per_film'], 3)} | "
          f"{f(v['cores_used'], 2)} | {vs} | {f(v['max_rss_mib'])} |")
    ok = [f"{p} {'yes' if v['s_per_film'] <= P['goal_s_per_film'] else '**no**'}" for p, v in P["presets"].items()]
    w(f"\nGoal (issue 16, a benchmark figure, not a test): at most {P['goal_s_per_film']:g} s per film on 2 cores: "
      f"{', '.join(ok)}{' (on ' + str(P['cpus_pinned']) + ' CPUs, not 2)' if P['cpus_pinned'] != 2 else ''}.\n")
    return L


def batch_section(B: dict, quick: bool) -> list[str]:
    L = ["## 8. Batch throughput (`rajoints batch`, issue 20)\n"]
    w = L.append
    build = "debug build (--quick: the figures mean nothing)" if quick else "release build"
    w(f"benches/batch.py: {B['films']} phantom films (`--preset paper`), {build}, models `{B['models']}`; "
      f"the baseline, one shard pinned to one CPU, and {B['shards']} shards started together (shard i "
      f"pinned to CPU i of the {B['cpus']} this run may use), {B['rounds']} round(s) in alternating order, "
      "best wall clock of each; ONNX Runtime one intra-op thread, detectors one after the other. "
      "The speed-up is a ratio within this run.\n")
    w("| | wall s | films per minute | per core |")
    w("|---|---:|---:|---:|")
    cores = min(B["shards"], B["cpus"])
    w(f"| 1 shard, 1 core (baseline) | {f(B['one_shard_s'], 2)} | {f(B['films_per_min_per_core_one_shard'])} | "
      f"**{f(B['films_per_min_per_core_one_shard'])}** |")
    w(f"| {B['shards']} shards, {cores} cores | {f(B['n_shards_s'], 2)} | {f(B['films_per_min_n_shards'])} | "
      f"{f(B['films_per_min_n_shards'] / cores)} |")
    w(f"\nSpeed-up of {B['shards']} shards over one: **{f(B['speedup'], 2)}** (efficiency "
      f"{f(B['efficiency'], 2)} per core).\n")
    w(f"The films are pairs of one patient at two dates, so each T1 film is compared with its T0 "
      f"(src/batch/priors.rs): {B.get('films_compared', '-')} films compared, the same comparisons "
      f"from 1 and {B['shards']} shards (checked by benches/batch.py). Analyses beyond one per film "
      f"in the {B['shards']}-shard runs (a shard "
      f"analysing a prior that another shard was analysing at the same time): at most "
      f"{B.get('extra_analyses_n_shards', 0)}.\n")
    return L


def replace_section(text: str, title: str, section: str) -> str:
    """text with the `## title` section (up to the next `## ` heading) replaced by section,
    or section inserted before `## Raw data` (else appended)."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, x in enumerate(lines) if x.startswith(title)), None)
    if start is None:
        at = next((i for i, x in enumerate(lines) if x.startswith("## Raw data")), len(lines))
        return "".join(lines[:at]) + section + "".join(lines[at:])
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "".join(lines[:start]) + section + "".join(lines[end:])


def phantom_only(a, quick: bool) -> int:
    """`benches/run --phantom`: builds the binary, runs part 7 and writes its section into
    the results file (the other sections stay as the last full run wrote them)."""
    work = ROOT / "target" / "bench" / ("quick" if quick else "work")
    work.mkdir(parents=True, exist_ok=True)
    out_md = a.out or (work / "RESULTS.md" if quick else BENCHES / "RESULTS.md")
    profile = [] if quick else ["--release"]
    sh(["cargo", "build", *profile, "--quiet", "--bin", "rajoints"], cwd=ROOT)
    binary = str(ROOT / "target" / ("debug" if quick else "release") / "rajoints")
    P = phantom_speed(binary, work, a.phantom_count or (2 if quick else 40), 1 if quick else 2,
                      a.phantom_cores)
    P["command"] = "benches/run " + shlex.join(sys.argv[1:])
    P["started"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    P["loadavg"] = Path("/proc/loadavg").read_text().split()[:3]
    (work / "phantom-speed.json").write_text(json.dumps(P, indent=1, default=str) + "\n")
    sec = phantom_section(P, quick)
    sec.insert(1, f"Written by `{P['command']}` on {P['started']} (load average {' '.join(P['loadavg'])}), "
                  "alone: the other sections come from the last full run.\n")
    section = "\n".join(sec) + "\n"
    text = out_md.read_text() if out_md.exists() else "# Benchmarks (issue 7)\n\n"
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text(replace_section(text, "## 7. Phantom generation speed", section))
    log(f"wrote section 7 of {out_md} and {work / 'phantom-speed.json'}")
    return 0


# ---------------------------------------------------------------------------------------
# machine


def machine() -> dict:
    def out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""
    cpu = ""
    for line in out(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            cpu = line.split(":", 1)[1].strip()
    mem = ""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    ort_v = out([str(PY), "-c", "import onnxruntime; print(onnxruntime.__version__)"])
    return {
        "cpu": cpu, "cpus": os.cpu_count(), "memory": mem, "kernel": platform.release(),
        "os": out(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "rustc": out(["rustc", "--version"]), "python": platform.python_version(), "onnxruntime": ort_v,
        "dcmtk": out(["sh", "-c", "storescp --version | head -1"]).strip("$ ").replace("dcmtk: ", "DCMTK "),
        "git": out(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]) +
               (" (uncommitted changes)" if out(["git", "-C", str(ROOT), "status", "--porcelain"]) else ""),
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
    }


# ---------------------------------------------------------------------------------------
# the run


# The node's intra_threads = 0 with concurrent detectors: the cores shared by the two
# sessions (src/config.rs effective_intra_threads); the Python baseline gets the same.
THREADS = max(1, (os.cpu_count() or 1) // 2)

SWEEP = [
    "", "batch=1", "batch=2", "batch=4", "batch=16", "batch=32",
    "threads=1", "threads=2", "concurrent=false", "threads=1,concurrent=false", "threads=2,concurrent=false",
    "spinning=false", "spinning=false,concurrent=false",
    "opt=0", "opt=1", "opt=2", "opt=4",
    "skip_below=0.05", "skip_below=0.1", "threads=1,batch=16",
]
SWEEP_QUICK = ["", "batch=1", "skip_below=0.05"]
EVAL_VARIANTS = [
    ("configured", []), ("batch_size=1", ["pipeline.batch_size=1"]), ("batch_size=16", ["pipeline.batch_size=16"]),
    ("intra_threads=1", ["runtime.intra_threads=1"]), ("concurrent_detectors=false", ["runtime.concurrent_detectors=false"]),
    ("optimization_level=0", ["runtime.optimization_level=0"]), ("optimization_level=1", ["runtime.optimization_level=1"]),
    ("optimization_level=2", ["runtime.optimization_level=2"]),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="every part once on tiny inputs (make test)")
    ap.add_argument("--train", action="store_true",
                    help="smoke-train the light detectors on synthetic films if target/bench/runs has none (~25 min on 2 cores)")
    ap.add_argument("--out", type=Path, help="results file (default benches/RESULTS.md; --quick: target/bench/quick/RESULTS.md)")
    ap.add_argument("--images", type=int, help="radiographs timed (default 8; --quick 1)")
    ap.add_argument("--reps", type=int, help="repetitions per radiograph (default 3; --quick 1)")
    ap.add_argument("--n", type=int, help="instances sent to the node (default 32; --quick 2)")
    ap.add_argument("--k", type=int, help="concurrent associations (default 4; --quick 1)")
    ap.add_argument("--phantom", action="store_true",
                    help="run only part 7, phantom generation speed, and replace its section of the results file")
    ap.add_argument("--phantom-count", type=int, help="films per preset in part 7 (default 40; --quick 2)")
    ap.add_argument("--phantom-cores", type=int, default=2,
                    help="CPUs part 7 pins `rajoints phantom` to (default 2, the issue's figure; 0: all)")
    a = ap.parse_args()
    q = a.quick
    if a.phantom:
        return phantom_only(a, q)
    n_img = a.images or (1 if q else 8)
    reps = a.reps or (1 if q else 3)
    n_node = a.n or (2 if q else 32)
    k_node = a.k or (1 if q else 4)
    work = ROOT / "target" / "bench" / ("quick" if q else "work")
    work.mkdir(parents=True, exist_ok=True)
    out_md = a.out or (work / "RESULTS.md" if q else BENCHES / "RESULTS.md")
    command = "benches/run " + shlex.join(sys.argv[1:])
    started = datetime.datetime.now().astimezone()
    t_start = time.time()
    mach = machine()
    binary, bench = build(q)
    if not q and not (work.parent / "train-films" / "annotations.json").exists():
        sh([PY, BENCHES / "films.py", "--out", work.parent / "train-films", "--count", 12, "--seed", 7])
    imgs = images(binary, work, n_img, q)
    mods = models(work, q, a.train and not q, imgs["films"])
    timing = dicoms(imgs["timing"])[:n_img]
    films = dicoms(imgs["films"])[:n_img]
    R: dict = {"machine": mach, "command": command, "started": started.isoformat(timespec="seconds"),
               "timing_images": imgs["timing_kind"], "n_images": len(timing), "reps": reps}

    def rust(mode: str, model_dir: Path, files: list[Path], name: str, extra: list = (), r: int = reps) -> dict:
        path = work / f"{name}.json"
        sh([bench, "--bench", mode, *model_sets(model_dir), "--reps", r, "--json", path, *extra, *files])
        return load(path)

    def baseline(model_dir: Path, files: list[Path], name: str, r: int = reps) -> dict:
        path = work / f"{name}.json"
        sh([PY, BENCHES / "baseline.py", "--ankylosis", model_dir / "ankylosis.toml",
            "--subluxation", model_dir / "subluxation.toml", "--threads", THREADS, "--opt", 3, "--concurrent", 1,
            "--batch", 8, "--reps", r, "--json", path, *files])
        return load(path)

    # 1-3: the pipeline (with the floor paired to each radiograph), the Python baseline, in
    # two set-ups: A, the light model with random weights on the timing radiographs
    # (phantoms when there are; it detects nothing); B, a light model that detects
    # (smoke-trained; else the blob test models) on the films, so that selection, naming and
    # the SR have their 20 joints. Rust and Python alternate, one repetition per round, so
    # that both see the same load on the machine. The quick mode times the blob test models.
    light = mods["blob"] if q else mods["light"]
    det = mods.get("trained", mods["blob"])
    R["setups"] = {"A": {"images": imgs["timing_kind"], "model": "blob test models" if q else
                         "ssd300-lite, random weights"},
                   "B": {"images": "synthetic films (benches/films.py)", "model":
                         "ssd300-lite smoke-trained on other synthetic films" if "trained" in mods else
                         "blob test models (models/make_test_models.py)"}}
    for key, mdir, files in (("A", light, timing), ("B", det, films)):
        rs, ps = [], []
        for i in range(reps):
            steps = [lambda: rs.append(rust("pipeline", mdir, files, f"pipeline-{key}-{len(rs)}", ["--with-floor"], r=1)),
                     lambda: ps.append(baseline(mdir, files, f"baseline-{key}-{len(ps)}", r=1))]
            for step in (steps if i % 2 == 0 else steps[::-1]):
                step()
        R[f"pipeline_{key}"] = combine(rs)
        R[f"baseline_{key}"] = combine(ps)
        # The floor's check (bare outputs select what the pipeline selects), and the
        # pipeline's peak RSS without the bare sessions.
        R[f"floor_{key}"] = rust("floor", mdir, files, f"floor-check-{key}", r=0)
        R[f"pipeline_{key}"]["peak_rss_mib"] = rust("pipeline", mdir, files[:1], f"rss-{key}", r=1)["peak_rss_mib"]
    # Same method? Rust and Python on the films with the blob models, which find the joints
    # with scores that do not depend on float summation order.
    if det == mods["blob"]:
        R["check_rust"], R["check_py"] = R["pipeline_B"], R["baseline_B"]
    else:
        R["check_rust"] = rust("pipeline", mods["blob"], films, "check-rust", r=1)
        R["check_py"] = baseline(mods["blob"], films, "check-python", r=1)
    R["check"] = compare_joints(R["check_rust"], R["check_py"])
    R["check_B"] = compare_joints(R["pipeline_B"], R["baseline_B"], box_tol=0.5, score_tol=1e-3)
    # 5: the paper's SSD300-VGG16 beside the light model: one radiograph, light, VGG16, light.
    if "vgg16" in mods:
        la = rust("pipeline", light, timing[:1], "vgg-light-1", r=1)
        R["vgg16"] = rust("pipeline", mods["vgg16"], timing[:1], "vgg16", r=1)
        lb = rust("pipeline", light, timing[:1], "vgg-light-2", r=1)
        R["vgg16_light"] = combine([la, lb])
    # 6: inference cost variants on the floor harness, round-robin within one process: timed
    # in set-up A on half the radiographs, selections compared in set-up B.
    labels = SWEEP_QUICK if q else SWEEP
    spec_a = [v if v else "batch=8" for v in labels]
    spec_b = list(spec_a)
    src_a, src_b = ("blob", "blob") if q else ("light", "trained" if "trained" in mods else "blob")
    for lab, suffix, extra in (("int8", "-int8", ""), ("int8-all", "-int8-all", ""),
                               ("int8 + threads=1", "-int8", "threads=1,")):
        if q and lab != "int8":
            continue
        if f"{src_a}{suffix}" in mods:
            labels = labels + [lab]
            spec_a.append(f"{extra}dir={mods[src_a + suffix]}")
            spec_b.append(f"{extra}dir={mods.get(src_b + suffix, mods[src_a + suffix])}")
    R["sweep_labels"] = labels
    half = max(1, len(timing) // 2)
    R["sweep_light"] = rust("sweep", light, timing[:half], "sweep-light",
                            [x for v in spec_a for x in ("--variant", v)] + ["--no-check"], r=reps)
    R["sweep_detect_model"] = "trained" if "trained" in mods else "blob"
    R["sweep_detect"] = rust("sweep", det, films[:half], "sweep-detect",
                             [x for v in spec_b for x in ("--variant", v)], r=0)
    # Effect on `rajoints eval` (films, models that detect).
    R["eval"] = {}
    if not q:
        variants = EVAL_VARIANTS + [(f"INT8 model{s_}", m_) for s_, m_ in
                                    ((" (first conv and heads float)", "trained-int8"),
                                     (" (all convolutions)", "trained-int8-all")) if m_ in mods]
        for name, sets in variants:
            mdir = mods[sets] if isinstance(sets, str) else det
            sets = None if isinstance(sets, str) else sets
            path = work / f"eval-{re.sub(r'[^A-Za-z0-9=_.-]+', '-', name)}.json"
            extra = [x for s_ in (sets or []) for x in ("--set", s_)]
            sh([binary, "eval", "--dataset", imgs["films"], *model_sets(mdir), *extra, "--json", path],
               stdout=subprocess.DEVNULL)
            R["eval"][name] = eval_rates(load(path))
    # 4: the node.
    node_json = work / "node.json"
    shutil.rmtree(work / "node", ignore_errors=True)
    sh([PY, BENCHES / "node.py", "--bin", binary, "--work", work / "node", "--n", n_node, "--k", k_node,
        "--rounds", 1 if q else 3, *model_sets(light), "--json", node_json, *timing], stdout=subprocess.DEVNULL)
    R["node"] = load(node_json)
    # 7: phantom generation speed per preset.
    R["phantom"] = phantom_speed(binary, work, a.phantom_count or (2 if q else 40), 1 if q else 2, a.phantom_cores)
    # 8: batch throughput (issue 20): one shard pinned to one core (the baseline) and N shards
    # at once, alternating, in one benches/batch.py run; --quick: 2 films, 2 shards, 1 round.
    batch_json = work / "batch.json"
    # The shipped models, not the random-weight light ones: they find the phantoms' joints,
    # so the quality gate, naming, SR and the comparison with the prior all run.
    batch_models = ["--test-models"] if q else []
    sh([PY, BENCHES / "batch.py", "--binary", binary, "--films", 2 if q else 24, "--rounds", 1 if q else 2,
        *(["--shards", 2] if q else []), *batch_models, "--work", work / "batch", "--out", batch_json])
    R["batch"] = load(batch_json)
    R["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    R["seconds"] = time.time() - t_start
    (work / "results.json").write_text(json.dumps(R, indent=1, default=str) + "\n")
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text(report(R, mods, q))
    log(f"wrote {out_md} and {work / 'results.json'} in {R['seconds']:.0f} s")
    return 0 if R["check"]["same"] else 1


def summary(v: list[float]) -> dict:
    s = sorted(x for x in v if x == x)
    n = len(s)
    if not n:
        return {"median_ms": float("nan"), "p95_ms": float("nan"), "n": 0}
    med = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
    return {"median_ms": med, "p95_ms": s[min(max(-(-95 * n // 100), 1), n) - 1], "mean_ms": sum(s) / n,
            "min_ms": s[0], "max_ms": s[-1], "n": n}


def combine(runs: list[dict]) -> dict:
    """One result from several runs of the same measurement: samples concatenated, summaries
    recomputed; per-image outputs from the first run; the largest peak RSS."""
    out = dict(runs[0])
    samples = {k: [x for r in runs for x in r["samples"][k]] for k in runs[0]["samples"]}
    out["samples"] = samples
    out["stages_ms"] = {k: summary(v) for k, v in samples.items()}
    for k in ("floor_samples", "ratio_total_floor", "ratio_inference_floor"):
        if k in runs[0]:
            out[k] = [x for r in runs for x in r[k]]
    out["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
    out["reps"] = len(runs)
    return out


def compare_joints(rust: dict, py: dict, box_tol: float = 0.05, score_tol: float = 1e-5) -> dict:
    """Same joints (boxes within box_tol px, labels, scores within score_tol) from both?"""
    worst, same, n = 0.0, True, 0
    for a, b in zip(rust["per_image"], py["per_image"]):
        ja, jb = a["joints"], b["joints"]
        if len(ja) != len(jb):
            same = False
            continue
        for x in ja:
            n += 1
            y = min(jb, key=lambda y: sum(abs(p - q) for p, q in zip(x["box"], y["box"])))
            d = max(abs(p - q) for p, q in zip(x["box"], y["box"]))
            worst = max(worst, d)
            la = x["ankylosis"]["present"] if x["ankylosis"]["probability"] > 0 else None
            lb = y["ankylosis"]["present"] if y["ankylosis"] else None
            if d > box_tol or abs(x["score"] - y["score"]) > score_tol or la != lb:
                same = False
    return {"same": same and n > 0, "joints": n, "max_box_delta_px": worst}


def eval_rates(e: dict) -> dict:
    """Detection rates (%), false detections and classification accuracies (%) from
    `rajoints eval --json` (overall)."""
    o = e["overall"]
    pct = lambda a, b: 100.0 * a / b if b else float("nan")  # noqa: E731
    acc = lambda c: pct(c["tp"] + c["tn"], c["tp"] + c["tn"] + c["fp"] + c["fn_"])  # noqa: E731
    return {
        "ensemble detection %": pct(o["ensemble"]["detected"], o["ensemble"]["joints"]),
        "ankylosis SSD %": pct(o["ankylosis_ssd"]["detected"], o["ankylosis_ssd"]["joints"]),
        "subluxation SSD %": pct(o["subluxation_ssd"]["detected"], o["subluxation_ssd"]["joints"]),
        "false +": float(o["ensemble"]["false_detections"]),
        "ankylosis acc. %": acc(o["ensemble"]["ankylosis"]),
        "subluxation acc. %": acc(o["ensemble"]["subluxation"]),
    }


# ---------------------------------------------------------------------------------------
# RESULTS.md


def f(x, nd=1):
    if x is None:
        return "-"
    if isinstance(x, float) and x != x:
        return "-"
    return f"{x:,.{nd}f}"


def report(R: dict, mods: dict, quick: bool) -> str:
    m = R["machine"]
    P = R["pipeline_A"]["stages_ms"]
    L = []
    w = L.append
    w("# Benchmarks (issue 7)\n")
    if quick:
        w("**Quick mode** (`benches/run --quick`, debug builds, one radiograph, one repetition): "
          "checks that every part runs; the figures mean nothing.\n")
    w(f"Written by `{R['command']}` on {R['started']}, in {R['seconds'] / 60:.1f} min. "
      "Every figure below comes from this one run, on the same machine, radiographs and models; "
      "compare them only as the ratios given, never with figures of another run.\n")
    w("## Machine\n")
    w(f"- CPU: {m['cpu']}, {m['cpus']} logical CPUs; memory {m['memory']}; {m['os']}, Linux {m['kernel']}")
    w(f"- {m['rustc']}; Python {m['python']}; ONNX Runtime {m['onnxruntime']} (Rust: `.ort/libonnxruntime.so`, "
      f"Python: the same version's wheel); {m['dcmtk']}")
    w(f"- rajoints at {m['git']}")
    w(f"- Load average (1, 5, 15 min) at the start {' '.join(m['loadavg_start'])}, at the end "
      f"{' '.join(R['loadavg_end'])}: other work on this machine shares its cores, so absolute times are rough.\n")
    w("## Inputs\n")
    st = R["pipeline_A"]["settings"]
    w(f"- Radiographs: 2010 x 1670, CR, 10-bit, uncompressed, each timed {R['reps']} times after one warm-up "
      "batch: phantoms from `rajoints phantom` when it exists, and synthetic films (benches/films.py: 20 "
      "square joints that the blob test models detect, hand silhouettes on air).")
    w("- Models: the light SSD300 of models/training (`ssd300-lite`) with random weights (benches/models.py "
      "through models/training/export.py; timing does not depend on the weights, but they find nothing), a "
      "light model smoke-trained on other synthetic films (finds the films' joints), the blob test models, "
      "and the paper's SSD300-VGG16 with random weights.")
    w(f"- Settings (rajoints.toml defaults): batch_size {st['batch_size']}, intra_threads {st['intra_threads']} "
      f"(= {st.get('effective_intra_threads', '?')} per session: the cores shared by the detectors), optimization_level {st['optimization_level']}, concurrent_detectors "
      f"{str(st['concurrent_detectors']).lower()}; the Python baseline uses the same.\n")

    S = R["setups"]
    PA, PB = R["pipeline_A"]["stages_ms"], R["pipeline_B"]["stages_ms"]
    w("Two set-ups, each timed in full:\n")
    w(f"- **A**: {S['A']['model']} on the {R['n_images']} {S['A']['images']}.")
    w(f"- **B**: {S['B']['model']} on {len(R['pipeline_B']['per_image'])} {S['B']['images']}: it finds the "
      "joints, so selection, naming and the SR work on 20 joints as they would on a patient's film.\n")
    w("## 1. The pipeline per radiograph\n")
    w("| stage | A median ms | A p95 ms | B median ms | B p95 ms | B share |")
    w("|---|---:|---:|---:|---:|---:|")
    names = {"decode": "decode (read + parse + pixels + LUTs)", "decode_parse": "&nbsp;&nbsp;of which read + parse",
             "decode_pixels": "&nbsp;&nbsp;of which pixels + LUTs", "preprocess": "scale + tile",
             "scale": "&nbsp;&nbsp;scale alone (area resampling)*", "tile": "&nbsp;&nbsp;tile alone (crop + normalise)*",
             "inference": "inference (2 detectors, with thresholding)",
             "select_merge_name": "select + Algorithm 1 + naming", "naming": "&nbsp;&nbsp;naming alone*",
             "sr": "SR + GSPS (built, serialised)", "total": "**total**"}
    tot = PB["total"]["median_ms"]
    for k, label in names.items():
        w(f"| {label} | {f(PA[k]['median_ms'])} | {f(PA[k]['p95_ms'])} | {f(PB[k]['median_ms'])} | "
          f"{f(PB[k]['p95_ms'])} | {100 * PB[k]['median_ms'] / tot:.1f} % |")
    j = [len(i["joints"]) for i in R["pipeline_B"]["per_image"]]
    w(f"\nJoints found per radiograph in B: {min(j)} to {max(j)}. Peak RSS of the benchmark process (both "
      f"detectors loaded, one radiograph at a time): A **{f(R['pipeline_A']['peak_rss_mib'])} MiB**, B "
      f"{f(R['pipeline_B']['peak_rss_mib'])} MiB. *: timed by a separate call of the same function, outside "
      "the totals (the pipeline times scale + tile together, and select + merge + naming together).\n")

    w("## 2. The floor: ONNX Runtime alone on the same window tensors\n")
    ok = all(c["same_selection"] for k in "AB" for c in R[f"floor_{k}"]["check"])
    cand = [c.get("candidates", 0) for c in R["floor_B"]["check"]]
    w("Bare `Session::run` of both detectors with the same options and concurrency, on the tensors the "
      "pipeline makes, timed right after the pipeline on each radiograph (pairs; the ratios are medians of "
      "the per-radiograph ratios). Checked: the bare outputs, thresholded and selected, give exactly the "
      f"pipeline's per-detector selections on every radiograph: **{'yes' if ok else 'NO'}** (B: {min(cand)} "
      f"to {max(cand)} candidates above t_conf per radiograph).\n")
    w("| | A median ms | A / floor | B median ms | B / floor |")
    w("|---|---:|---:|---:|---:|")

    def med(v):
        return summary(v)["median_ms"]

    def pair(key, fn):
        P = R[f"pipeline_{key}"]
        smp, fl = P["samples"], P["floor_samples"]
        return med([fn(smp, i) / fl[i] for i in range(len(fl))])

    FA, FB = med(R["pipeline_A"]["floor_samples"]), med(R["pipeline_B"]["floor_samples"])
    w(f"| floor (ONNX Runtime alone) | {f(FA)} | 1.000 | {f(FB)} | 1.000 |")
    rows = [("pipeline inference stage", lambda s_, i: s_["inference"][i]),
            ("pipeline, scale .. naming", lambda s_, i: s_["total"][i] - s_["decode"][i] - s_["sr"][i]),
            ("**pipeline, whole (decode .. SR)**", lambda s_, i: s_["total"][i])]
    for label, fn in rows:
        va = med([fn(R["pipeline_A"]["samples"], i) for i in range(len(R["pipeline_A"]["floor_samples"]))])
        vb = med([fn(R["pipeline_B"]["samples"], i) for i in range(len(R["pipeline_B"]["floor_samples"]))])
        ra, rb = pair("A", fn), pair("B", fn)
        bold = "**" if label.startswith("**") else ""
        w(f"| {label} | {f(va)} | {bold}{ra:.3f}{bold} | {f(vb)} | {bold}{rb:.3f}{bold} |")
    w("\nGoal: whole pipeline / floor <= 1.05.\n")

    w("## 3. The Python baseline\n")
    w("benches/baseline.py: pydicom decode, numpy scale and tiling, onnxruntime for Python, numpy "
      "thresholding, NMS and Algorithm 1; same files, models, batch, threads, optimisation level and "
      "concurrency. It neither names joints nor builds an SR: the Rust figures below leave the SR out and "
      "keep naming (in select), which favours the baseline. Rust's scale and tile rows are the separate "
      "calls; its whole is decode + (scale + tile) + inference + select as the pipeline timed them.\n")
    w("| stage | A Python ms | A Rust ms | A Python / Rust | B Python ms | B Rust ms | B Python / Rust |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    pairs = [("decode", "decode"), ("scale", "scale"), ("tile", "tile"), ("inference", "inference"),
             ("select_merge", "select_merge_name")]
    cols = {}
    for k in "AB":
        P, B = R[f"pipeline_{k}"]["stages_ms"], R[f"baseline_{k}"]["stages_ms"]
        rt = sum(P[rk]["median_ms"] for rk in ("decode", "preprocess", "inference", "select_merge_name"))
        cols[k] = (P, B, rt, rt - P["inference"]["median_ms"])
    for pk, rk in pairs:
        cells = []
        for k in "AB":
            P, B, _, _ = cols[k]
            r_ = P[rk]["median_ms"]
            cells += [f(B[pk]["median_ms"]), f(r_, 2),
                      f"{B[pk]['median_ms'] / r_:.2f}" if r_ >= 0.01 else "- (nothing to select)"]
        w(f"| {pk} | " + " | ".join(cells) + " |")
    for label, bk, idx in (("**whole** (sum of medians)", "total", 2), ("**outside inference**", "outside_inference", 3)):
        cells = []
        for k in "AB":
            P, B, rt, ro = cols[k]
            val = (rt, ro)[idx - 2]
            cells += [f(B[bk]["median_ms"]), f(val), f"**{B[bk]['median_ms'] / val:.2f}**"]
        w(f"| {label} | " + " | ".join(cells) + " |")
    cells = []
    for k in "AB":
        a_, b_ = R[f"baseline_{k}"]["peak_rss_mib"], R[f"pipeline_{k}"]["peak_rss_mib"]
        cells += [f(a_), f(b_), f"{a_ / b_:.2f}"]
    w("| peak RSS MiB | " + " | ".join(cells) + " |")
    c, cb = R["check"], R["check_B"]
    w(f"\nGoals: >= 1.5x whole, >= 5x outside inference. Same method: on {len(R['check_rust']['per_image'])} "
      f"films with the blob test models, Rust and Python give the same joints: **{'yes' if c['same'] else 'NO'}** "
      f"({c['joints']} joints, boxes within {c['max_box_delta_px']:.3g} px, scores within 1e-5); in B: "
      f"{'yes' if cb['same'] else 'NO'} ({cb['joints']} joints, boxes within {cb['max_box_delta_px']:.3g} px).\n")

    w("## 4. The node\n")
    N = R["node"]
    w(f"{N['n']} radiographs ({N['megabytes']:.0f} MB) sent by DCMTK `storescu` over {N['k']} concurrent "
      "associations, loopback; results to a DCMTK `storescp` destination.\n")
    w("| | seconds | images/s | MB/s | vs storescp |")
    w("|---|---:|---:|---:|---:|")
    s0 = N["storescp"]
    w(f"| DCMTK storescp writing to disk{' (--fork)' if N['k'] > 1 else ''} | {f(s0['seconds'], 2)} | {f(s0['images_per_s'])} | {f(s0['mb_per_s'])} | 1.00 |")
    s1 = N["node_ingest"]
    w(f"| rajoints ingest alone (node.analyse = false, durable commit) | {f(s1['seconds'], 2)} | {f(s1['images_per_s'])} | "
      f"{f(s1['mb_per_s'])} | **{s1['images_per_s'] / s0['images_per_s']:.2f}** |")
    s2 = N["node_full"]
    w(f"| rajoints C-STORE with analysis running (durable commit) | {f(s2['cstore_seconds'], 2)} | "
      f"{f(s2['cstore_images_per_s'])} | | {s2['cstore_images_per_s'] / s0['images_per_s']:.2f} |")
    w(f"\nWhole node: **{f(s2['images_per_min'])} images/min** ({s2['sr_delivered']}/{N['n']} SR and "
      f"{s2['gsps_delivered']} GSPS delivered); C-STORE request to SR written by the destination: "
      f"p50 **{f(s2['latency_s']['p50'], 2)} s**, p95 **{f(s2['latency_s']['p95'], 2)} s** (max "
      f"{f(s2['latency_s']['max'], 2)} s; the queue builds up: {N['n']} arrive in "
      f"{f(s2['cstore_seconds'], 1)} s, one worker analyses them).\n")
    w("Ingest alone uses `--set node.analyse=false`: each instance is received into `incoming/`, parsed "
      "in full and committed durably into the inbox (fsync of the file, rename, fsync of the folder) before "
      "Success is answered; storescp writes without fsync, so the comparison favours it.\n")

    w("## 5. The paper's SSD300-VGG16 beside the light model\n")
    if "vgg16" in R:
        V, Lt = R["vgg16"]["stages_ms"], R["vgg16_light"]["stages_ms"]
        w("One radiograph of set-up A, timed once with the light model before and once after the VGG16 "
          "(random weights; the light figures are the mean of the two).\n")
        w("| per radiograph | light (ssd300-lite) | paper (ssd300-vgg16) | vgg16 / light |")
        w("|---|---:|---:|---:|")
        for k in ("inference", "total"):
            w(f"| {k} ms | {f(Lt[k]['mean_ms'])} | {f(V[k]['median_ms'])} | {V[k]['median_ms'] / Lt[k]['mean_ms']:.1f} |")
        sz = {a_: (mods[a_] / "ankylosis.onnx").stat().st_size / 1e6 for a_ in ("light", "vgg16")}
        w(f"| model file MB (each of 2) | {sz['light']:.1f} | {sz['vgg16']:.1f} | {sz['vgg16'] / sz['light']:.1f} |")
        w(f"| peak RSS MiB | {f(R['vgg16_light']['peak_rss_mib'])} | {f(R['vgg16']['peak_rss_mib'])} | "
          f"{R['vgg16']['peak_rss_mib'] / R['vgg16_light']['peak_rss_mib']:.1f} |")
        w(f"\nAt this rate one worker analyses {60000 / V['total']['median_ms']:.1f} radiographs per minute with "
          f"the paper's model, {60000 / Lt['total']['mean_ms']:.1f} with the light one, on this machine.\n")
    else:
        w("Not run in quick mode.\n")

    w("## 6. Making inference cheaper\n")
    S, D = R["sweep_light"]["variants"], R["sweep_detect"]["variants"]
    base = S[0]["inference_ms"]["median_ms"]
    w(f"Floor harness (bare sessions), all variants round-robin in one process: inference per radiograph "
      f"timed in set-up A on {R['sweep_light']['images']} radiographs x {R['sweep_light']['reps']} rounds; "
      "'same selections' compares each detector's boxes after t_conf, NMS and top-M with those of the "
      f"configured settings in set-up B ({R['sweep_detect']['images']} films, {R['sweep_detect_model']} model, "
      "which detects; boxes within 1 px, same labels; largest confidence change given): identical "
      "selections give an identical `rajoints eval`.\n")
    w("| variant | inference median ms | p95 ms | speed-up vs configured | windows skipped (A; B) | same selections in B |")
    w("|---|---:|---:|---:|---:|---|")
    for lab, a_, b_ in zip(R["sweep_labels"], S, D):
        same = ("yes" + (f" (max conf. change {b_['max_confidence_delta']:.1e})" if b_["max_confidence_delta"] else "")
                if b_["same_selection"] else "**no**")
        label = {"": f"configured: batch 8, threads 0 (= {THREADS}), opt 3, concurrent",
                 "int8": "INT8 (first conv and heads float)", "int8-all": "INT8 (all convolutions)",
                 "int8 + threads=1": "INT8 (first conv and heads float), threads=1"}.get(lab, lab)
        im = a_["inference_ms"]
        w(f"| {label} | {f(im['median_ms'])} | {f(im['p95_ms'])} | {base / im['median_ms']:.2f}x | "
          f"{a_['skipped_windows']}/{a_['windows']}; {b_['skipped_windows']}/{b_['windows']} | {same} |")
    w("\n`threads` is intra_threads per session (in this harness 0 is ONNX Runtime's own choice, all cores; "
      "the configured row uses the node's resolution of 0); `concurrent=false` runs the two "
      "detectors one after the other. `opt=3` is what the node's `optimization_level = 3` gives, "
      "ORT_ENABLE_ALL; `opt=4` is ort's `Level3`, ORT_ENABLE_LAYOUT, which level 3 gave before this run's "
      "commit mapped it to ORT_ENABLE_ALL. `spinning=false` sets `session.intra_op.allow_spinning = 0` (no node setting). "
      "`skip_below=v` leaves out windows in which fewer than 0.1 % of the pixels reach display value v, i.e. "
      "background only (no node setting). INT8: onnxruntime.quantization static QDQ, per-channel weights, "
      "MinMax activations calibrated on the node's windows of 2 films, convolutions only (benches/models.py); "
      "an INT8 model is a model option (its own .onnx and manifest), no code. The INT8 rows' selections "
      "are compared in B with INT8 versions of B's model.\n")
    if R["eval"]:
        w("### Effect on `rajoints eval` (synthetic films)\n")
        w(f"Model: {R['sweep_detect_model']} light detectors (smoke-trained on other synthetic films) unless noted.\n")
        keys = list(next(iter(R["eval"].values())))
        w("| setting | " + " | ".join(keys) + " |")
        w("|---|" + "---:|" * len(keys))
        for name, v in R["eval"].items():
            w(f"| {name} | " + " | ".join(f(v.get(k), 2) for k in keys) + " |")
        w("")
    L.extend(phantom_section(R["phantom"], quick))
    L.extend(batch_section(R["batch"], quick))
    w("## Raw data\n")
    w(f"`target/bench/{'quick' if quick else 'work'}/results.json` (all JSON of this run); per-part JSON beside it.\n")
    return "\n".join(L) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
