#!/usr/bin/env python3
"""Batch throughput (issue 20): films per minute per core of one `rajoints batch` shard,
and the speed-up of N shards run at once on this machine's cores.

    benches/batch.py [--binary PATH] [--films N] [--shards N] [--test-models | --models DIR] [--out FILE]

Every run analyses the same phantom films (`rajoints phantom --preset paper`) into a fresh
folder. The baseline, one shard pinned to one core, and the N shards, shard i pinned to
core i, run in the same invocation, alternating, so the speed-up is a ratio within one run
on one machine. ONNX Runtime gets one intra-op thread per detector and the detectors run
one after the other (runtime.concurrent_detectors=false), so a shard uses one core.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_shards(binary: str, films: Path, out: Path, n: int, cpus: list[int], models: list[str]) -> tuple[float, int, int]:
    """Wall seconds of n shards started together, shard i pinned to cpus[i % len(cpus)];
    films done; analyses beyond one per film."""
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, RAJOINTS__RUNTIME__INTRA_THREADS="1",
               RAJOINTS__RUNTIME__CONCURRENT_DETECTORS="false")
    t0 = time.perf_counter()
    procs = []
    for i in range(n):
        cpu = cpus[i % len(cpus)]
        cmd = [binary, "batch", str(films), "--out", str(out), "--shard", f"{i}/{n}", *models]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      preexec_fn=lambda c=cpu: os.sched_setaffinity(0, [c])))
    codes = [p.wait() for p in procs]
    wall = time.perf_counter() - t0
    if any(codes):
        raise SystemExit(f"benches/batch.py: a shard failed ({codes}); rerun one by hand to see why")
    done = len(list((out / "films").glob("*.done")))
    # Films analysed more than once: a shard analyses another shard's film that it needs as
    # a prior and finds not done; when both do at once, the film is analysed twice.
    analyses = sum(json.loads(p.read_text())["analysed"] + json.loads(p.read_text()).get("priors_analysed", 0)
                   for p in (out / "shards").glob("*/summary.json"))
    return wall, done, analyses - done


def changes(out: Path) -> dict:
    """Each film's `change`, without the prior SR's UID (each run makes its own SRs)."""
    res = {}
    for p in sorted((out / "films").glob("*.json")):
        c = json.loads(p.read_text()).get("change") or {}
        (c.get("prior") or {}).pop("sr", None)
        res[p.name] = c
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", default=str(ROOT / "target/release/rajoints"))
    ap.add_argument("--films", type=int, default=24)
    ap.add_argument("--shards", type=int, default=0, help="N (default: the CPUs this process may use)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--test-models", action="store_true", help="the blob test models (fast; figures mean little)")
    ap.add_argument("--models", type=Path, help="a folder with ankylosis.toml and subluxation.toml (benches/run)")
    ap.add_argument("--work", type=Path, default=ROOT / "target/bench/batch")
    ap.add_argument("--out", type=Path, help="also write the results as JSON here")
    a = ap.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    n = a.shards or len(cpus)
    models = []
    if a.test_models:
        m = ROOT / "target/test-models"
        models = ["--set", f"models.ankylosis={m / 'ankylosis.toml'}",
                  "--set", f"models.subluxation={m / 'subluxation.toml'}"]
        os.environ.update(RAJOINTS__PIPELINE__QUALITY_GATE="false", RAJOINTS__PIPELINE__DEFAULT_VIEW="palmar")
    elif a.models:
        models = ["--set", f"models.ankylosis={a.models / 'ankylosis.toml'}",
                  "--set", f"models.subluxation={a.models / 'subluxation.toml'}"]
    a.work.mkdir(parents=True, exist_ok=True)
    films = a.work / "films"
    if not (films / "annotations.json").exists() or len(list((films / "images").glob("*.dcm"))) != a.films:
        shutil.rmtree(films, ignore_errors=True)
        subprocess.run([a.binary, "phantom", "--preset", "paper", "--count", str(a.films), "--out", str(films)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    one, many, extra = [], [], []
    for r in range(a.rounds):
        order = [("one", 1), ("many", n)] if r % 2 == 0 else [("many", n), ("one", 1)]
        for name, k in order:
            wall, done, twice = run_shards(a.binary, films / "images", a.work / f"out-{name}", k, cpus, models)
            if done != a.films:
                raise SystemExit(f"benches/batch.py: {done} of {a.films} films done")
            (one if k == 1 else many).append(wall)
            if k > 1:
                extra.append(twice)
            print(f"round {r}: {k} shard(s) on {min(k, len(cpus))} core(s): {wall:.2f} s", file=sys.stderr)
    w1, wn = min(one), min(many)
    # The shards at once must compare each film with the same prior as one shard does.
    c1, cn = changes(a.work / "out-one"), changes(a.work / "out-many")
    if c1 != cn:
        raise SystemExit("benches/batch.py: the comparisons of 1 and N shards differ")
    res = {
        "films": a.films, "shards": n, "cpus": len(cpus), "rounds": a.rounds,
        "models": "test" if a.test_models else str(a.models) if a.models else "shipped (models/*.toml)", "binary": a.binary,
        "one_shard_s": w1, "n_shards_s": wn,
        "films_per_min_per_core_one_shard": a.films * 60 / w1,
        "films_per_min_n_shards": a.films * 60 / wn,
        "speedup": w1 / wn, "efficiency": w1 / wn / min(n, len(cpus)),
        "extra_analyses_n_shards": max(extra) if extra else 0,
        "films_compared": sum(1 for c in c1.values() if c.get("compared")),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }
    print(f"one shard on 1 core: {res['films_per_min_per_core_one_shard']:.1f} films/min/core; "
          f"{n} shards on {min(n, len(cpus))} cores: {res['films_per_min_n_shards']:.1f} films/min, "
          f"speed-up {res['speedup']:.2f} (efficiency {res['efficiency']:.2f}); best of {a.rounds} rounds, "
          f"load average {' '.join(res['loadavg'])}")
    if a.out:
        a.out.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
