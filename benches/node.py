#!/usr/bin/env python3
"""The node under load (issue 7, item 4), against DCMTK on loopback, in one run:

    node.py --bin target/release/rajoints --work DIR --n N --k K [--set KEY=VALUE]... \
            [--json OUT] FILM.dcm...

1. storescp alone: N instances sent by K concurrent `storescu` processes (one association
   each) to DCMTK `storescp` writing them to disk (with --fork when K > 1, so that it too
   serves the K associations at once): the reference ingest rate. Alternates with 2 for
   --rounds rounds; the medians are reported.
2. The node's ingest alone: the same to `rajoints serve` with analysis off
   (`node.analyse=false`): each instance is received into the spool's incoming/ folder,
   parsed in full, committed durably into the inbox (fsync, rename, fsync of the folder;
   src/node/scp.rs `store`, src/spool.rs `commit`) and only then answered Success.
3. The whole node: the same N to `rajoints serve` with a DCMTK `storescp` as destination;
   images per minute (first C-STORE request to last SR received), the latency of each
   instance from its C-STORE request (storescu's "Sending Store Request" line) to its SR
   written by the destination (the file's mtime), p50/p95, and the C-STORE rate with the
   analysis running (the durable path: fsync, rename, fsync of the folder).

The N instances are copies of the given films with fresh SOP Instance UIDs, written once.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pydicom


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    t = time.time()
    while time.time() - t < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


def make_instances(films: list[Path], n: int, out: Path) -> list[tuple[Path, str]]:
    out.mkdir(parents=True, exist_ok=True)
    res = []
    for i in range(n):
        p = out / f"inst-{i:04d}.dcm"
        uid = f"2.25.{(int.from_bytes(os.urandom(12), 'big') | 1)}"
        ds = pydicom.dcmread(films[i % len(films)])
        ds.SOPInstanceUID = uid
        ds.file_meta.MediaStorageSOPInstanceUID = uid
        ds.save_as(p)
        res.append((p, uid))
    return res


def storescp(dirpath: Path, port: int, aet: str, fork: bool = False) -> subprocess.Popen:
    """DCMTK storescp; with `fork`, one process per association (else one at a time)."""
    dirpath.mkdir(parents=True, exist_ok=True)
    p = subprocess.Popen(["storescp", "-aet", aet, "+xa"] + (["--fork"] if fork else []) +
                         ["-od", str(dirpath), str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, p)
    return p


def stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def send(instances, k: int, port: int, aec: str):
    """K concurrent storescu processes; returns (start, end, {uid: request time}, failures)."""
    groups = [instances[j::k] for j in range(k) if instances[j::k]]
    by_path = {str(p): uid for p, uid in instances}
    sent: dict[str, float] = {}
    fails = []
    lock = threading.Lock()

    def one(group):
        cmd = ["storescu", "-v", "-aet", "BENCH", "-aec", aec, "127.0.0.1", str(port)] + [str(p) for p, _ in group]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        current = None
        for line in proc.stdout:
            if line.startswith("I: Sending file: "):
                current = line[len("I: Sending file: "):].strip()
            elif line.startswith("I: Sending Store Request") and current:
                with lock:
                    sent[by_path[current]] = time.time()
            elif "Store Response" in line and "Success" not in line:
                fails.append(line.strip())
        proc.wait()
        if proc.returncode != 0:
            fails.append(f"storescu exit {proc.returncode}")

    t0 = time.time()
    threads = [threading.Thread(target=one, args=(g,)) for g in groups]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return t0, time.time(), sent, fails


def start_node(binary: str, data: Path, sets: list[str], destinations: list[str]):
    cmd = [binary, "serve", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--data-dir", str(data)]
    for d in destinations:
        cmd += ["--destination", d]
    for s in sets:
        cmd += ["--set", s]
    log = open(str(data) + ".log", "w")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
    line = p.stdout.readline()
    if not line.startswith("listening"):
        stop(p)
        raise RuntimeError(f"node did not start: {line!r}; see {data}.log")
    port = int(line.split("dicom=")[1].split()[0].rsplit(":", 1)[1])
    return p, port


def referenced_uids(ds) -> set[str]:
    out = set()
    for el in ds.iterall():
        if el.keyword == "ReferencedSOPInstanceUID":
            out.add(str(el.value))
    return out


def pct(v: list[float], q: float) -> float:
    s = sorted(v)
    if not s:
        return float("nan")
    return s[min(max(math.ceil(q * len(s)), 1), len(s)) - 1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3, help="rounds of storescp / node ingest, alternating")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--json", type=Path)
    ap.add_argument("films", type=Path, nargs="+")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    instances = make_instances(a.films, a.n, a.work / "send")
    mb = sum(p.stat().st_size for p, _ in instances) / 1e6
    res = {"n": a.n, "k": a.k, "megabytes": mb}

    # 1 and 2, alternating for --rounds rounds (each a fresh process and folder): storescp
    # alone, and the node's ingest with analysis off (node.analyse = false).
    runs: dict[str, list] = {"storescp": [], "node_ingest": []}
    for r in range(a.rounds):
        for what in (("storescp", "node_ingest") if r % 2 == 0 else ("node_ingest", "storescp")):
            folder = a.work / f"{what}-{r}"
            if what == "storescp":
                port = free_port()
                proc = storescp(folder, port, "DEST", fork=a.k > 1)
                t0, t1, _, fails = send(instances, a.k, port, "DEST")
            else:
                proc, port = start_node(a.bin, folder, a.set + ["node.analyse=false"], [])
                t0, t1, _, fails = send(instances, a.k, port, "RAJOINTS")
            stop(proc)
            shutil.rmtree(folder, ignore_errors=True)
            runs[what].append({"seconds": t1 - t0, "failures": fails})
    for what, rs in runs.items():
        secs = sorted(x["seconds"] for x in rs)
        med = secs[len(secs) // 2] if len(secs) % 2 else (secs[len(secs) // 2 - 1] + secs[len(secs) // 2]) / 2
        res[what] = {"seconds": med, "images_per_s": a.n / med, "mb_per_s": mb / med, "rounds": len(rs),
                     "seconds_each": [x["seconds"] for x in rs], "failures": [f for x in rs for f in x["failures"]]}

    # 3. the whole node, results to a storescp destination
    dport = free_port()
    dest_dir = a.work / "destination"
    dest = storescp(dest_dir, dport, "DEST")
    node, port = start_node(a.bin, a.work / "node-full", a.set, [f"DEST@127.0.0.1:{dport}"])
    t0, t1, sent, fails = send(instances, a.k, port, "RAJOINTS")
    deadline = time.time() + a.timeout
    while time.time() < deadline:
        srs = [p for p in dest_dir.iterdir() if p.name.startswith("SR")]
        if len(srs) >= a.n:
            break
        time.sleep(0.1)
    time.sleep(0.5)
    stop(node)
    stop(dest)
    delivered = {}
    for p in dest_dir.iterdir():
        if not p.name.startswith("SR"):
            continue
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        for uid in referenced_uids(ds) & set(sent):
            delivered[uid] = p.stat().st_mtime
    lat = [delivered[u] - sent[u] for u in delivered]
    last = max(delivered.values()) if delivered else float("nan")
    res["node_full"] = {
        "sr_delivered": len(delivered), "gsps_delivered": sum(1 for p in dest_dir.iterdir() if p.name.startswith("PS")),
        "cstore_seconds": t1 - t0, "cstore_images_per_s": a.n / (t1 - t0),
        "seconds": last - t0, "images_per_min": 60 * len(delivered) / (last - t0) if delivered else 0.0,
        "latency_s": {"p50": pct(lat, 0.5), "p95": pct(lat, 0.95), "max": max(lat) if lat else float("nan")},
        "failures": fails,
    }
    text = json.dumps(res, indent=1)
    if a.json:
        a.json.write_text(text + "\n")
    print(text)
    return 0 if len(delivered) == a.n else 1


if __name__ == "__main__":
    raise SystemExit(main())
