"""A tiny synthetic dataset in the ``rajoints-annotations/1`` format, for the tests and the
CI smoke run (the real training data come from ``rajoints phantom`` or a hospital).

Each image is a small film (600 x 500 by default) of two schematic hands: bright bars for
the bones, dark gaps at the 20 scored joints, ankylosis drawn as a bridged gap and
subluxation as a sideways shift of the distal bone. The images vary the DICOM encodings
that the preprocessing must handle like the node: MONOCHROME2 with a VOI window,
MONOCHROME1 without (min-max), a Rescale Slope/Intercept, and an image without any pixel
spacing (halved). Deterministic for a given seed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .data import ANNOTATIONS_FORMAT, JOINT_IDS

CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
SPACING_MM = 0.15


def _layout(width: int, height: int) -> dict[str, tuple[float, float]]:
    """Joint centres (x, y) in pixels: the patient's right hand on the image's left (PA)."""
    cx_hand = {"R": 0.27 * width, "L": 0.73 * width}
    pitch = 0.09 * width
    mcp_y, pip_y = 0.66 * height, 0.40 * height
    pts = {}
    for side, cx in cx_hand.items():
        # Fingers 2..5 away from the film's centre; the thumb towards it.
        outward = -1 if side == "R" else 1
        for f in (2, 3, 4, 5):
            x = cx + outward * (f - 3.5) * pitch
            pts[f"{side}-MCP{f}"] = (x, mcp_y)
            pts[f"{side}-PIP{f}"] = (x, pip_y)
        tx = cx - outward * 1.9 * pitch
        pts[f"{side}-MCP1"] = (tx, 0.78 * height)
        pts[f"{side}-IP1"] = (tx + outward * 0.15 * pitch, 0.58 * height)
    return pts


def render(width: int, height: int, joints: dict[str, dict], rng: np.random.Generator) -> np.ndarray:
    """Display values in [0, 1] for one film and the boxes' joints."""
    img = np.full((height, width), 0.08, dtype=np.float64)
    yy, xx = np.mgrid[0:height, 0:width]
    pts = _layout(width, height)
    bw = 0.035 * width  # bone width
    for side, cx in (("R", 0.27 * width), ("L", 0.73 * width)):
        hand = (np.abs(xx - cx) < 0.22 * width) & (yy > 0.25 * height) & (yy < 0.95 * height)
        img[hand] = 0.3
    for jid, (x, y) in pts.items():
        j = joints[jid]
        finger_top = 0.12 * height
        # Proximal bone below the joint, distal bone above it.
        prox = (np.abs(xx - x) < bw / 2) & (yy > y + 3) & (yy < y + 0.2 * height)
        shift = 0.6 * bw if j["subluxation"] else 0.0
        dist = (np.abs(xx - x - shift) < bw / 2) & (yy < y - 3) & (yy > y - finger_top)
        img[prox | dist] = 0.75
        if j["ankylosis"]:
            img[(np.abs(xx - x) < bw / 2) & (np.abs(yy - y) <= 3)] = 0.85
    img += rng.normal(0.0, 0.01, img.shape)
    return np.clip(img, 0.0, 1.0)


def joint_box(x: float, y: float, width: int) -> list[float]:
    half_w, half_h = 0.04 * width, 0.035 * width
    return [round(x - half_w, 2), round(y - half_h, 2), round(x + half_w, 2), round(y + half_h, 2)]


def write_dicom(path: Path, display: np.ndarray, variant: int, uid_seed: str, patient: str) -> str:
    """Writes ``display`` as a 12-bit CR file in one of four encodings; returns its SOP
    Instance UID."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    sop_uid = generate_uid(entropy_srcs=[uid_seed, "sop"])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CR_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CR_IMAGE_STORAGE
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[uid_seed, "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[uid_seed, "series"])
    ds.PatientName = f"SYNTH^{patient}"
    ds.PatientID = patient
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyDate = "20240101"
    ds.StudyTime = "120000"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.Modality = "CR"
    ds.BodyPartExamined = "HAND"
    ds.PatientOrientation = ["L", "F"]
    h, w = display.shape
    ds.Rows, ds.Columns = h, w
    ds.SamplesPerPixel = 1
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    v = display
    if variant == 0:  # MONOCHROME2, VOI window covering the full range
        ds.PhotometricInterpretation = "MONOCHROME2"
        stored = np.round(v * 4095)
        ds.WindowCenter, ds.WindowWidth = "2048", "4096"
        ds.PixelSpacing = [SPACING_MM, SPACING_MM]
    elif variant == 1:  # MONOCHROME1, no window: min-max, then inverted
        ds.PhotometricInterpretation = "MONOCHROME1"
        stored = np.round((1.0 - v) * 4095)
        ds.ImagerPixelSpacing = [SPACING_MM, SPACING_MM]
    elif variant == 2:  # Rescale Slope/Intercept and a window in modality units
        ds.PhotometricInterpretation = "MONOCHROME2"
        stored = np.round(v * 4095)
        ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = "2", "-100", "US"
        ds.WindowCenter, ds.WindowWidth = "3996", "8190"
        ds.PixelSpacing = [SPACING_MM, SPACING_MM]
    else:  # no spacing: the node (and training) halve the image
        ds.PhotometricInterpretation = "MONOCHROME2"
        stored = np.round(v * 4095)
    ds.PixelData = stored.astype(np.uint16).tobytes()
    pydicom.dcmwrite(str(path), ds, enforce_file_format=True)
    return sop_uid


def make_dataset(out: Path, count: int = 4, width: int = 600, height: int = 500, seed: int = 0) -> Path:
    """Writes ``out/images/*.dcm`` and ``out/annotations.json``; returns ``out``."""
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images = []
    for i in range(count):
        joints = {}
        for jid in JOINT_IDS:
            ank = bool(rng.random() < 0.25)
            sub = None if jid.endswith("-IP1") else bool(rng.random() < 0.25)
            joints[jid] = {"ankylosis": ank, "subluxation": sub}
        display = render(width, height, joints, rng)
        patient = f"SYNTH-{i // 2:04d}"
        file = f"images/synth-{i:03d}.dcm"
        uid = write_dicom(out / file, display, i % 4, f"rajoints-synth-{seed}-{i}", patient)
        pts = _layout(width, height)
        images.append({
            "file": file,
            "sop_instance_uid": uid,
            "patient_id": patient,
            "timepoint": i % 2,
            "width": width,
            "height": height,
            "annotator": "rajoints_train.synth",
            "joints": [
                {"joint": jid, "box": joint_box(*pts[jid], width), **joints[jid]} for jid in JOINT_IDS
            ],
        })
    (out / "annotations.json").write_text(json.dumps({"format": ANNOTATIONS_FORMAT, "images": images}, indent=1) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Write a tiny synthetic rajoints-annotations/1 dataset.")
    ap.add_argument("--out", required=True, type=Path, help="dataset folder to write")
    ap.add_argument("--count", type=int, default=4, help="number of images (default 4)")
    ap.add_argument("--width", type=int, default=600)
    ap.add_argument("--height", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    make_dataset(a.out, a.count, a.width, a.height, a.seed)
    print(f"wrote {a.count} images to {a.out}")
    return 0
