#!/usr/bin/env python3
"""Synthetic 2010 x 1670 CR hand films for the benchmarks, with their annotations.

    films.py --out DIR --count N [--seed S]

writes DIR/images/FILM-NNNN.dcm and DIR/annotations.json (rajoints-annotations/1). Used
when `rajoints phantom` is not available, and always for the detection checks: the 20
joints are uniform 60 x 60 squares on the 20-px grid (30 x 30 on the 10-px anchor grid
after halving, as in tests/common), which the blob test models of
models/make_test_models.py detect exactly. Value 1.0: ankylosis and subluxation present;
0.5: both absent (the thumb IP's subluxation is null). Around them: two hand silhouettes
of soft tissue (display ~0.10 with noise, below every test model's finding range), on
dark air (~0.02 with noise), so the films have the background margins of a real film.

Encoding: Explicit VR Little Endian, MONOCHROME2, 10 bits stored as round(v * 1000), no
VOI window (the node normalises min-max: a 2 x 2 pixel of 1.0 at the origin pins the
maximum), Pixel Spacing 0.15 mm (the paper's films). Deterministic for a given seed.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

WIDTH, HEIGHT = 2010, 1670
SPACING_MM = 0.15
CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
# src/pipeline/naming.rs TEMPLATE: (finger, level, x, y) in template millimetres.
TEMPLATE = [
    (1, "MCP", 40.0, 38.0), (2, "MCP", 20.0, 2.0), (3, "MCP", 0.0, 0.0), (4, "MCP", -18.0, 5.0),
    (5, "MCP", -34.0, 14.0), (1, "PIP", 58.0, 5.0), (2, "PIP", 26.0, -42.0), (3, "PIP", 3.0, -47.0),
    (4, "PIP", -17.0, -43.0), (5, "PIP", -35.0, -28.0),
]
SCALE = 3.5  # half-scale pixels per template millimetre
SQUARE = 60  # full-resolution side of a joint square


def joint_name(side: str, finger: int, level: str) -> str:
    if level == "MCP":
        return f"{side}-MCP{finger}"
    return f"{side}-IP1" if finger == 1 else f"{side}-PIP{finger}"


def layout(rng: np.random.Generator) -> list[tuple[str, int, int]]:
    """(joint id, x, y) of each square's top-left corner, full resolution."""
    out = []
    jx, jy = rng.integers(-3, 4, size=2) * 10  # shift the hands a little per film
    for side, ox, flip in (("R", 250.0, 1.0), ("L", 755.0, -1.0)):
        for finger, level, x, y in TEMPLATE:
            cx, cy = ox + jx + SCALE * flip * x, 400.0 + jy + SCALE * y
            hx = int(round((cx - 15.0) / 10.0)) * 10
            hy = int(round((cy - 15.0) / 10.0)) * 10
            out.append((joint_name(side, finger, level), 2 * hx, 2 * hy))
    return out


def paint(rng: np.random.Generator, joints, values) -> np.ndarray:
    img = np.clip(0.02 + rng.normal(0, 0.01, (HEIGHT, WIDTH)), 0, 1).astype(np.float32)
    tissue = np.zeros((HEIGHT, WIDTH), bool)
    for side in "RL":
        pts = [(x, y) for (j, x, y) in joints if j.startswith(side)]
        xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]
        # palm and wrist: a band under the MCP row; fingers: bars through each joint column
        x0, x1 = min(xs) - 60, max(xs) + SQUARE + 60
        mcp_y = max(y for (j, x, y) in joints if j.startswith(side) and "MCP" in j and not j.endswith("1"))
        tissue[mcp_y - 40: HEIGHT, x0 + 40: x1 - 40] = True
        for (j, x, y) in joints:
            if j.startswith(side):
                tissue[max(0, y - 220): y + SQUARE + 120, x - 30: x + SQUARE + 30] = True
    img[tissue] = np.clip(0.10 + rng.normal(0, 0.02, int(tissue.sum())), 0, 0.16)
    for (j, x, y), v in zip(joints, values):
        img[y: y + SQUARE, x: x + SQUARE] = v
    img[0:2, 0:2] = 1.0
    return img


def write_dicom(path: Path, display: np.ndarray, uid: str, patient: str) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CR_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = CR_IMAGE_STORAGE
    ds.SOPInstanceUID = uid
    ds.StudyInstanceUID = uid + ".1"
    ds.SeriesInstanceUID = uid + ".2"
    ds.PatientName = "Bench^Film"
    ds.PatientID = patient
    ds.PatientBirthDate = "19600101"
    ds.PatientSex = "F"
    ds.StudyDate, ds.StudyTime = "20260101", "120000"
    ds.AccessionNumber, ds.StudyID, ds.ReferringPhysicianName = "B1", "1", ""
    ds.Modality, ds.BodyPartExamined = "CR", "HAND"
    ds.SeriesNumber, ds.InstanceNumber = "1", "1"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = display.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 10, 9, 0
    ds.PixelSpacing = [SPACING_MM, SPACING_MM]
    ds.ImagerPixelSpacing = [SPACING_MM, SPACING_MM]
    ds.PixelData = np.round(display * 1000).astype("<u2").tobytes()
    ds["PixelData"].VR = "OW"
    ds.save_as(path, enforce_file_format=True)


def generate(out: Path, count: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    (out / "images").mkdir(parents=True, exist_ok=True)
    images = []
    for i in range(count):
        joints = layout(rng)
        present = rng.random(len(joints)) < 0.3
        values = [1.0 if p else 0.5 for p in present]
        uid = f"2.25.{900000 + seed * 10000 + i}"
        name = f"images/FILM-{i + 1:04d}.dcm"
        write_dicom(out / name, paint(rng, joints, values), uid, f"BENCH-{i // 2 + 1:04d}")
        images.append({
            "file": name, "sop_instance_uid": uid, "patient_id": f"BENCH-{i // 2 + 1:04d}",
            "timepoint": i % 2, "width": WIDTH, "height": HEIGHT, "annotator": "benches/films.py",
            "joints": [{
                "joint": j, "box": [float(x), float(y), float(x + SQUARE), float(y + SQUARE)],
                "ankylosis": bool(p), "subluxation": None if j.endswith("IP1") else bool(p),
            } for (j, x, y), p in zip(joints, present)],
        })
    ann = {"format": "rajoints-annotations/1", "images": images}
    (out / "annotations.json").write_text(json.dumps(ann, indent=1) + "\n")
    return ann


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--count", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    generate(a.out, a.count, a.seed)
    print(f"wrote {a.count} films to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
