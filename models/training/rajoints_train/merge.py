"""Several ``rajoints-annotations/1`` datasets as one training set (issue 17: the
``paper``, ``clinic`` and ``hard`` phantoms together), without copying a film.

``merge.py --out DIR NAME=SRC ...`` links each SRC folder as ``DIR/NAME`` and writes
``DIR/annotations.json`` whose images are those of every SRC, with ``file`` prefixed by
``NAME/`` and ``patient_id`` by ``NAME:``: two phantom sets made with different seeds both
have a ``PHANTOM-0001``, and patient-level folds must not take them for one patient.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .data import ANNOTATIONS_FORMAT, load_annotations


def merge(out: Path, sources: list[tuple[str, Path]]) -> dict:
    """Writes the merged dataset; returns its annotations document."""
    out.mkdir(parents=True, exist_ok=True)
    names = [n for n, _ in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"dataset names must differ, got {names}")
    images = []
    for name, src in sources:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"{name!r} is not a plain folder name")
        load_annotations(src)  # refuses what train.py would refuse, naming the image
        doc = json.loads((src / "annotations.json").read_text())
        link = out / name
        if link.is_symlink() or link.exists():
            if not (link.is_symlink() and link.resolve() == src.resolve()):
                raise ValueError(f"{link} exists and is not a link to {src}")
        else:
            os.symlink(src.resolve(), link)
        for img in doc["images"]:
            img = dict(img)
            img["file"] = f"{name}/{img['file']}"
            img["patient_id"] = f"{name}:{img['patient_id']}"
            images.append(img)
    merged = {"format": ANNOTATIONS_FORMAT, "images": images}
    (out / "annotations.json").write_text(json.dumps(merged, indent=1) + "\n")
    return merged


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="merge.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="the merged dataset folder")
    ap.add_argument("sources", nargs="+", metavar="NAME=DIR", help="a dataset folder and the name it gets in OUT")
    a = ap.parse_args(argv)
    try:
        sources = []
        for s in a.sources:
            name, sep, path = s.partition("=")
            if not sep:
                raise ValueError(f"{s!r}: expected NAME=DIR")
            sources.append((name, Path(path)))
        doc = merge(a.out, sources)
    except (ValueError, OSError) as e:
        print(f"merge.py: error: {e}", file=sys.stderr)
        return 2
    print(f"{len(doc['images'])} images from {len(sources)} datasets in {a.out}")
    return 0
