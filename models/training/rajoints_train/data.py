"""Training data: DICOM to display values, scaling, and the per-joint 300x300 crops.

Train and inference must see the same pixels, so this module reproduces the Rust node's
preprocessing step by step. Each function names its Rust counterpart:

====================================  ==================================================
Python (this module)                  Rust (rajoints)
====================================  ==================================================
:func:`read_display`                  ``dicom::decode::decode``: first frame; Modality
                                      LUT = Rescale Slope/Intercept only; RGB to gray
                                      as 0.299 R + 0.587 G + 0.114 B
:func:`to_display`                    ``dicom::decode::to_display``: first VOI window
                                      (Window Center/Width, VOI LUT Function LINEAR,
                                      LINEAR_EXACT or SIGMOID, PS3.3 C.11.2) when its
                                      width is > 0, else min-max of the image to [0, 1];
                                      then 1 - v for MONOCHROME1
:func:`pixel_spacing`                 ``dicom::decode::pixel_spacing``: Pixel Spacing,
                                      else Imager Pixel Spacing, (row, column) mm,
                                      positive and finite
:func:`scale_factors`                 ``pipeline::scale::factors``: (col / target,
                                      row / target) when both known, else the fallback
                                      (0.5, the paper's halving) on both axes
:func:`resample_area`                 ``pipeline::scale::resample``: area averaging;
                                      output size round(w * fx) (half away from zero),
                                      at least 1; exact factors ow / w, oh / h
:func:`crop_window`                   ``pipeline::window::crop``: zero (black) outside
                                      the image
(normalisation in :func:`normalise`)  ``pipeline::Pipeline::analyze``: gray copied to 3
                                      channels, (v - mean[c]) / std[c]
====================================  ==================================================

Boxes of ``annotations.json`` (``rajoints-annotations/1``, models/README.md) are in
full-resolution pixel-edge coordinates; scaled by (fx, fy) they land exactly on the
scaled image, as ``Scaled::to_source`` maps them back.

Crops (paper, "Development of the joint region detector", Fig. 2b): every epoch, one
300x300 window per annotated joint of each image, at a random position that contains
that joint: 20 windows per image for the ankylosis detector, 18 for the subluxation
detector, whose targets leave out the thumb IP joints (``subluxation`` is null there,
M2 = 18). Other joints cut by the window stay targets, clipped, when at least
``min_visible`` (half) of their box is inside; otherwise they are dropped. Labels are
1 = absent, 2 = present for the detector's finding.

Rare joints: a site's films hold few destroyed joints (65 among 2600 on 260 real films),
and a detector trained on one window per joint learns to miss them (it found 39 %). A joint
is rare when the detector's finding is present on it or it is destroyed (ankylosis or
subluxation present, JSN 4). :func:`rare_extra_windows` says how many extra windows, drawn
around the rare joints in turn, bring them to ``rare_fraction`` of an epoch's windows.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .box_coder import BoxCoder
from .config import ABSENT, FINDINGS, INPUT_SIZE, MEAN, PRESENT, STD
from .matching import encode_targets

ANNOTATIONS_FORMAT = "rajoints-annotations/1"
FOLDS_FORMAT = "rajoints-folds/1"

#: The 20 joint ids (models/README.md), right hand first.
JOINT_IDS = tuple(
    f"{side}-{j}" for side in ("R", "L") for j in ("MCP1", "MCP2", "MCP3", "MCP4", "MCP5", "IP1", "PIP2", "PIP3", "PIP4", "PIP5")
)


def is_thumb_ip(joint: str) -> bool:
    return joint.endswith("-IP1")


# --------------------------------------------------------------------------------------
# Annotations and folds


@dataclass(frozen=True)
class JointAnn:
    joint: str
    box: tuple[float, float, float, float]
    ankylosis: bool
    subluxation: bool | None
    #: Sharp/van der Heijde narrowing 0-4, where graded (phantoms of issue 11).
    jsn: int | None = None
    #: The bones overlap in projection without a subluxation (the look-alike of one).
    overlap: bool = False


#: Places that look like scored joints but are not (the annotations' ``landmarks`` kinds).
LANDMARK_KINDS = ("dip", "cmc", "radius", "ulna", "carpus")


@dataclass(frozen=True)
class ImageAnn:
    file: str
    sop_instance_uid: str
    patient_id: str
    timepoint: int
    width: int
    height: int
    annotator: str
    joints: tuple[JointAnn, ...]
    #: False for a film the node must refuse (``"assessable": false``); not trained on.
    assessable: bool = True
    #: (kind, box) of each landmark: DIP, CMC, radius, ulna, carpus (optional field).
    landmarks: tuple[tuple[str, tuple[float, float, float, float]], ...] = ()


def load_annotations(dataset: Path) -> list[ImageAnn]:
    """Reads and checks ``annotations.json`` (a dataset folder or the file itself), with
    the checks of the Rust reader (src/annotations.rs). Raises ValueError naming the image
    and joint at fault."""
    path = Path(dataset)
    if path.is_dir():
        path = path / "annotations.json"
    doc = json.loads(path.read_text())
    if not isinstance(doc, dict) or doc.get("format") != ANNOTATIONS_FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(f"{path}: format is {found!r}, expected {ANNOTATIONS_FORMAT!r}")
    images = []
    for i, img in enumerate(doc.get("images", [])):
        if not isinstance(img, dict):
            raise ValueError(f"{path}: image {i} is not an object")
        where = f"{path}: image {img.get('file', i)!r}"
        assessable = img.get("assessable", True)
        if not isinstance(assessable, bool):
            raise ValueError(f"{where}: assessable must be true/false, got {assessable!r}")
        try:
            joints = []
            seen = set()
            # A refused film has "joints": [], as the Rust reader requires.
            for j in img["joints"]:
                jid = j["joint"]
                if jid not in JOINT_IDS:
                    raise ValueError(f"{where}: {jid!r} is not a joint id")
                if jid in seen:
                    raise ValueError(f"{where}: joint {jid} annotated twice")
                seen.add(jid)
                box = tuple(float(v) for v in j["box"])
                if len(box) != 4 or not all(math.isfinite(v) for v in box) or not (box[0] < box[2] and box[1] < box[3]):
                    raise ValueError(f"{where}: joint {jid} has an empty or invalid box {j['box']}")
                sub = j["subluxation"]
                if is_thumb_ip(jid) != (sub is None):
                    raise ValueError(f"{where}: joint {jid}: subluxation must be null exactly for the thumb IP joint")
                if not isinstance(j["ankylosis"], bool) or not (sub is None or isinstance(sub, bool)):
                    raise ValueError(f"{where}: joint {jid}: findings must be true/false")
                jsn = j.get("jsn")
                if jsn is not None and (not isinstance(jsn, int) or isinstance(jsn, bool) or not 0 <= jsn <= 4):
                    raise ValueError(f"{where}: joint {jid}: jsn must be an integer 0-4, got {jsn!r}")
                overlap = j.get("overlap", False)
                if not isinstance(overlap, bool):
                    raise ValueError(f"{where}: joint {jid}: overlap must be true/false, got {overlap!r}")
                joints.append(JointAnn(jid, box, j["ankylosis"], sub, jsn, overlap))
            landmarks = []
            for lm in img.get("landmarks", []):
                kind = lm.get("kind") if isinstance(lm, dict) else None
                if kind not in LANDMARK_KINDS:
                    raise ValueError(f"{where}: landmark kind {kind!r} is not one of {LANDMARK_KINDS}")
                lbox = tuple(float(v) for v in lm["box"])
                if len(lbox) != 4 or not all(math.isfinite(v) for v in lbox) or not (lbox[0] < lbox[2] and lbox[1] < lbox[3]):
                    raise ValueError(f"{where}: landmark {lm.get('name', kind)!r} has an empty or invalid box {lm['box']}")
                landmarks.append((kind, lbox))
            images.append(ImageAnn(
                file=str(img["file"]), sop_instance_uid=str(img["sop_instance_uid"]),
                patient_id=str(img["patient_id"]), timepoint=int(img["timepoint"]),
                width=int(img["width"]), height=int(img["height"]), annotator=str(img["annotator"]),
                joints=tuple(joints), assessable=assessable, landmarks=tuple(landmarks),
            ))
        except KeyError as e:
            raise ValueError(f"{where}: missing field {e}") from None
    return images


def load_folds(folds_file: Path) -> list[list[str]]:
    """The image files of each fold of a ``rajoints-folds/1`` split (src/eval/folds.rs,
    written by ``rajoints eval --folds K`` and ``rajoints annotations export``). Raises
    ValueError on another format."""
    doc = json.loads(Path(folds_file).read_text())
    if not isinstance(doc, dict) or doc.get("format") != FOLDS_FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(f"{folds_file}: format is {found!r}, expected {FOLDS_FORMAT!r}")
    try:
        return [[str(f) for f in fold["images"]] for fold in doc["folds"]]
    except (KeyError, TypeError) as e:
        raise ValueError(f"{folds_file}: not a {FOLDS_FORMAT} split ({e!r})") from None


def training_images(images: list[ImageAnn], folds_file: Path | None, fold: int | None) -> list[ImageAnn]:
    """The images to train on: all of them, or with a ``rajoints-folds/1`` split
    (src/eval/folds.rs, written by ``rajoints eval --folds K``) those not in fold ``fold``
    (the paper's 5-fold cross-validation: train on four folds, test on the fifth)."""
    if folds_file is None:
        if fold is not None:
            raise ValueError("fold given without a folds file")
        return list(images)
    folds = load_folds(folds_file)
    if fold is None or not 0 <= fold < len(folds):
        raise ValueError(f"fold must be in 0..{len(folds) - 1}, got {fold}")
    known = {img.file for img in images}
    held_out = set(folds[fold])
    unknown = sorted(held_out - known)
    if unknown:
        raise ValueError(f"{folds_file}: fold {fold} names images not in the dataset: {unknown[:3]}")
    return [img for img in images if img.file not in held_out]


# --------------------------------------------------------------------------------------
# DICOM to display values (src/dicom/decode.rs)


def to_display(values: np.ndarray, window: tuple[float, float] | None, function: str, invert: bool) -> np.ndarray:
    """Modality values to display values in [0, 1] (``dicom::decode::to_display``): through
    the VOI window (center, width) when one with width > 0 is given (PS3.3 C.11.2.1.2),
    else min-max; then 1 - v when ``invert`` (MONOCHROME1)."""
    x = values.astype(np.float64)
    if window is not None and window[1] > 0.0:
        c, w = window
        f = function.strip().upper() or "LINEAR"
        if f == "LINEAR":
            if w <= 1.0:
                y = np.where(x <= c - 0.5, 0.0, 1.0)
            else:
                y = np.clip((x - (c - 0.5)) / (w - 1.0) + 0.5, 0.0, 1.0)
        elif f == "LINEAR_EXACT":
            y = np.clip((x - c) / w + 0.5, 0.0, 1.0)
        elif f == "SIGMOID":
            y = 1.0 / (1.0 + np.exp(-4.0 * (x - c) / w))
        else:
            raise ValueError(f"unsupported VOI LUT Function {function!r}")
        out = y.astype(np.float32)
    else:
        v = values.astype(np.float32)
        lo, hi = float(v.min()), float(v.max())
        span = np.float32(hi - lo)
        scale = np.float32(1.0) / span if span > 0 else np.float32(0.0)
        out = (v - np.float32(lo)) * scale
    if invert:
        out = np.float32(1.0) - out
    return out.astype(np.float32)


def pixel_spacing(ds) -> tuple[float, float] | None:
    """(row, column) spacing in mm from Pixel Spacing, else Imager Pixel Spacing; None
    when neither has two positive finite values (``dicom::decode::pixel_spacing``)."""
    for kw in ("PixelSpacing", "ImagerPixelSpacing"):
        v = ds.get(kw)
        if v is None:
            continue
        try:
            vals = [float(x) for x in v] if _is_multi(v) else [float(v)]
        except (TypeError, ValueError):
            continue
        if len(vals) >= 2 and all(math.isfinite(x) and x > 0 for x in vals[:2]):
            return vals[0], vals[1]
    return None


def _is_multi(v) -> bool:
    return hasattr(v, "__iter__") and not isinstance(v, (str, bytes))


def _first_number(v) -> float | None:
    if v is None:
        return None
    try:
        if _is_multi(v):
            v = list(v)[0]
        return float(v)
    except (TypeError, ValueError, IndexError):
        return None


@dataclass
class Display:
    """A radiograph in display space, as ``crate::image::Radiograph``."""

    pixels: np.ndarray  # float32 [rows, columns], 0 = black (air), 1 = white (bone)
    spacing_mm: tuple[float, float] | None  # (row, column)


def read_display(path: Path) -> Display:
    """Decodes the first frame of a DICOM file to display values, as the node does."""
    import pydicom

    ds = pydicom.dcmread(str(path))
    if "PixelData" not in ds:
        raise ValueError(f"{path}: not an image (no Pixel Data)")
    rows, cols = int(ds.get("Rows", 0)), int(ds.get("Columns", 0))
    if rows <= 0 or cols <= 0:
        raise ValueError(f"{path}: image has no pixels ({cols} x {rows})")
    spp = int(ds.get("SamplesPerPixel", 1))
    pi = str(ds.get("PhotometricInterpretation", "")).strip()
    if pi == "MONOCHROME1":
        invert = True
    elif pi == "MONOCHROME2" or (pi == "RGB" and spp == 3):
        invert = False
    else:
        raise ValueError(f"{path}: unsupported photometric interpretation {pi!r} (expected MONOCHROME1, MONOCHROME2 or RGB)")
    if spp not in (1, 3):
        raise ValueError(f"{path}: unsupported Samples per Pixel {spp}")
    arr = ds.pixel_array
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        arr = arr[0]
    if spp == 3:
        a = arr.astype(np.float32)
        gray = np.float32(0.299) * a[..., 0] + np.float32(0.587) * a[..., 1] + np.float32(0.114) * a[..., 2]
    else:
        # Modality LUT: Rescale Slope/Intercept only (what dicom-pixeldata applies by default).
        slope = _first_number(ds.get("RescaleSlope"))
        intercept = _first_number(ds.get("RescaleIntercept"))
        gray = arr.astype(np.float64) * (1.0 if slope is None else slope) + (0.0 if intercept is None else intercept)
        gray = gray.astype(np.float32)
    if gray.shape != (rows, cols):
        raise ValueError(f"{path}: pixel data of shape {gray.shape}, expected {(rows, cols)}")
    c, w = _first_number(ds.get("WindowCenter")), _first_number(ds.get("WindowWidth"))
    window = (c, w) if c is not None and w is not None else None
    function = str(ds.get("VOILUTFunction", "LINEAR") or "LINEAR")
    return Display(to_display(gray, window, function, invert), pixel_spacing(ds))


# --------------------------------------------------------------------------------------
# Scaling (src/pipeline/scale.rs)


def scale_factors(spacing_mm: tuple[float, float] | None, target_mm: float, fallback: float) -> tuple[float, float]:
    """(fx, fy): ``spacing / target`` per axis when both are known and positive, else
    ``fallback`` on both axes (``pipeline::scale::factors``)."""
    if spacing_mm is not None and target_mm > 0.0:
        row, col = spacing_mm
        return col / target_mm, row / target_mm
    return fallback, fallback


def _round_half_away(x: float) -> int:
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def _resample_axis(a: np.ndarray, m: int, axis: int) -> np.ndarray:
    """Area-average ``a`` along ``axis`` from n to m samples. Output o covers input
    [o n/m, (o+1) n/m); its value is the integral of the piecewise-constant input over
    that interval divided by its length: the normalised area weights of the Rust code."""
    n = a.shape[axis]
    if m == n:
        return a.astype(np.float32)
    x = np.moveaxis(a, axis, 0).astype(np.float64)
    ratio = n / m
    edges = np.arange(m + 1, dtype=np.float64) * ratio
    cs = np.concatenate([np.zeros((1,) + x.shape[1:]), np.cumsum(x, axis=0)], axis=0)
    i = np.minimum(np.floor(edges).astype(np.int64), n - 1)
    frac = (edges - i).reshape((-1,) + (1,) * (x.ndim - 1))
    integral = cs[i] + frac * x[i]
    out = (integral[1:] - integral[:-1]) / np.diff(edges).reshape((-1,) + (1,) * (x.ndim - 1))
    return np.moveaxis(out, 0, axis).astype(np.float32)


def resample_area(pixels: np.ndarray, fx: float, fy: float) -> tuple[np.ndarray, float, float]:
    """(scaled image, exact fx, exact fy), as ``pipeline::scale::resample``."""
    h, w = pixels.shape
    ow = max(_round_half_away(w * fx), 1)
    oh = max(_round_half_away(h * fy), 1)
    if ow == w and oh == h:
        return pixels.astype(np.float32), 1.0, 1.0
    out = _resample_axis(_resample_axis(pixels, ow, 1), oh, 0)
    return out, ow / w, oh / h


def crop_window(pixels: np.ndarray, x0: int, y0: int, size: int = INPUT_SIZE) -> np.ndarray:
    """The ``size`` x ``size`` window with top-left corner (x0, y0), zero outside the image
    (``pipeline::window::crop``; here x0, y0 may also be negative)."""
    h, w = pixels.shape
    out = np.zeros((size, size), dtype=np.float32)
    xs, ys = max(x0, 0), max(y0, 0)
    xe, ye = min(x0 + size, w), min(y0 + size, h)
    if xe > xs and ye > ys:
        out[ys - y0:ye - y0, xs - x0:xe - x0] = pixels[ys:ye, xs:xe]
    return out


def normalise(gray: torch.Tensor, mean=MEAN, std=STD) -> torch.Tensor:
    """[H, W] display values to the model input [3, H, W]: the gray copied to three
    channels, then (v - mean[c]) / std[c] (models/README.md, "Input")."""
    m = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    return (gray.unsqueeze(0).expand(3, -1, -1) - m) / s


# --------------------------------------------------------------------------------------
# Prepared images and crops


@dataclass
class PreparedImage:
    """One annotated radiograph at model resolution, with the detector's targets."""

    file: str
    pixels: np.ndarray  # float32 [H, W] display values, scaled
    fx: float
    fy: float
    boxes: np.ndarray  # float32 [J, 4] xyxy, scaled pixels: the detector's joints only
    labels: np.ndarray  # int64 [J]: 1 absent, 2 present
    joints: tuple[str, ...]
    #: bool [J]: the finding is present or the joint is destroyed (see the module doc).
    rare: np.ndarray | None = None
    #: Look-alike boxes by kind (:data:`LOOKALIKE_KINDS`), scaled: float32 [K, 4] each.
    lookalikes: dict[str, np.ndarray] | None = None

    def rare_mask(self) -> np.ndarray:
        return self.rare if self.rare is not None else np.zeros(len(self.boxes), dtype=bool)

    def lookalike_boxes(self, kind: str) -> np.ndarray:
        if self.lookalikes is None or kind not in self.lookalikes:
            return np.zeros((0, 4), dtype=np.float32)
        return self.lookalikes[kind]


#: Kinds of hard-negative windows (issue 17): landmarks that look like scored joints (DIP;
#: CMC; carpus; wrist = distal radius and ulnar head), and scored joints whose narrowing or
#: overlapping bones look like a finding they do not have (JSN 2; overlap).
LOOKALIKE_KINDS = ("dip", "cmc", "carpus", "wrist", "jsn2", "overlap")


def lookalike_boxes(ann: ImageAnn) -> dict[str, list[tuple[float, float, float, float]]]:
    """Full-resolution look-alike boxes of one image by kind."""
    out: dict[str, list] = {k: [] for k in LOOKALIKE_KINDS}
    for kind, box in ann.landmarks:
        out["wrist" if kind in ("radius", "ulna") else kind].append(box)
    for j in ann.joints:
        unlabelled = not j.ankylosis and j.subluxation is not True
        if unlabelled and j.jsn == 2:
            out["jsn2"].append(j.box)
        if unlabelled and j.overlap:
            out["overlap"].append(j.box)
    return out


def detector_targets(ann: ImageAnn, finding: str) -> tuple[list[JointAnn], list[int]]:
    """The joints a detector learns on one image and their labels (paper, "Data
    preparation": ankylosis on all 20, subluxation/dislocation on the 18 non-thumb-IP)."""
    if finding not in FINDINGS:
        raise ValueError(f"finding must be one of {FINDINGS}, got {finding!r}")
    joints, labels = [], []
    for j in ann.joints:
        value = j.ankylosis if finding == "ankylosis" else j.subluxation
        if value is None:
            continue
        joints.append(j)
        labels.append(PRESENT if value else ABSENT)
    return joints, labels


def prepare_image(dataset: Path, ann: ImageAnn, finding: str, target_mm: float, fallback: float) -> PreparedImage:
    """Decodes and scales one image as the node would, and scales its boxes with it."""
    disp = read_display(Path(dataset) / ann.file)
    h, w = disp.pixels.shape
    if (w, h) != (ann.width, ann.height):
        raise ValueError(f"{ann.file}: image is {w} x {h}, annotations say {ann.width} x {ann.height}")
    fx, fy = scale_factors(disp.spacing_mm, target_mm, fallback)
    pixels, fx, fy = resample_area(disp.pixels, fx, fy)
    joints, labels = detector_targets(ann, finding)
    boxes = np.array([[j.box[0] * fx, j.box[1] * fy, j.box[2] * fx, j.box[3] * fy] for j in joints], dtype=np.float32).reshape(-1, 4)
    rare = np.array([is_rare(j, lab) for j, lab in zip(joints, labels)], dtype=bool)
    looks = {k: np.array([[b[0] * fx, b[1] * fy, b[2] * fx, b[3] * fy] for b in v], dtype=np.float32).reshape(-1, 4)
             for k, v in lookalike_boxes(ann).items()}
    return PreparedImage(ann.file, pixels, fx, fy, boxes, np.array(labels, dtype=np.int64), tuple(j.joint for j in joints),
                         rare, looks)


def is_rare(joint: JointAnn, label: int) -> bool:
    """The detector's finding is present, or the joint is destroyed (ankylosed or
    subluxated/dislocated, JSN 4), whichever detector learns it."""
    return label == PRESENT or joint.ankylosis or joint.subluxation is True


def rare_extra_windows(windows: int, rare: int, fraction: float) -> int:
    """The fewest extra windows E, each around a rare joint, such that
    (rare + E) / (windows + E) >= fraction; 0 when there is no rare joint or the share is
    already reached. E.g. 10 windows, 1 rare, 0.25: E = 2 (3 of 12)."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"rare fraction must be in [0, 1), got {fraction}")
    if rare == 0 or rare >= fraction * windows:
        return 0
    e = math.ceil((fraction * windows - rare) / (1.0 - fraction) - 1e-9)
    while rare + e < fraction * (windows + e) - 1e-9:  # guard against rounding
        e += 1
    return max(e, 0)


def visible_boxes(boxes: np.ndarray, labels: np.ndarray, x0: float, y0: float, size: float,
                  min_visible: float) -> tuple[np.ndarray, np.ndarray]:
    """Boxes shifted into the window at (x0, y0) and clipped to it, keeping those with at
    least ``min_visible`` of their area inside."""
    b = boxes.astype(np.float64) - np.array([x0, y0, x0, y0])
    c = np.clip(b, 0.0, size)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    inside = np.clip(c[:, 2] - c[:, 0], 0, None) * np.clip(c[:, 3] - c[:, 1], 0, None)
    keep = (area > 0) & (inside >= min_visible * area - 1e-9) & (inside > 0)
    return c[keep].astype(np.float32), labels[keep]


def crop_origin_range(lo: float, hi: float, length: int, size: int, overhang: int) -> tuple[int, int] | None:
    """Integer window origins o along one axis such that [o, o + size) holds [lo, hi] and
    the window starts in [0, max(length - size, 0) + overhang] (the node's windows start at
    0 and may hang past the far edge). None when no origin qualifies."""
    first = max(math.ceil(hi) - size, 0)
    last = min(math.floor(lo), max(length - size, 0) + overhang)
    return (first, last) if first <= last else None


def draw_crop(img: PreparedImage, joint_index: int, g: torch.Generator, size: int = INPUT_SIZE,
              min_visible: float = 0.5, overhang: int = 150) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """A random window containing joint ``joint_index``: (pixels [size, size], boxes,
    labels, (x0, y0)). The joint is whole inside whenever it fits in a window; a joint too
    large for one (or beyond the reachable origins) gets a window centred on it."""
    if not 0 <= joint_index < len(img.boxes):
        raise ValueError(f"joint index {joint_index} out of range 0..{len(img.boxes) - 1}")
    return draw_crop_around(img, img.boxes[joint_index], g, size, min_visible, overhang)


def draw_crop_around(img: PreparedImage, box, g: torch.Generator, size: int = INPUT_SIZE,
                     min_visible: float = 0.5, overhang: int = 150) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """A random window containing ``box`` (a joint's, or a look-alike's), with the
    detector's joints inside it as targets; see :func:`draw_crop`."""
    h, w = img.pixels.shape
    bx0, by0, bx1, by1 = (float(v) for v in box)
    origin = []
    for lo, hi, length in ((bx0, bx1, w), (by0, by1, h)):
        r = crop_origin_range(lo, hi, length, size, overhang)
        if r is None:
            origin.append(int(math.floor((lo + hi) / 2 - size / 2)))
        else:
            origin.append(int(torch.randint(r[0], r[1] + 1, (1,), generator=g).item()))
    x0, y0 = origin
    boxes, labels = visible_boxes(img.boxes, img.labels, x0, y0, size, min_visible)
    return crop_window(img.pixels, x0, y0, size), boxes, labels, (x0, y0)


#: First part of every derived seed, so the streams of different uses never coincide.
SEED_TAG_CROP, SEED_TAG_SHUFFLE, SEED_TAG_INIT = 0, 1, 2


def derive_seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from integers (seed, epoch, index): each crop's randomness
    depends on them only, whatever the worker count or order."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, dtype=np.uint64)[0] >> np.uint64(1))


class JointCropDataset(torch.utils.data.Dataset):
    """One item per (image, joint the detector learns), then ``rare_extra_windows`` extra
    items cycling over the rare joints; each epoch draws a fresh window and augmentation for
    every item (an extra item has its own index, so its own crop). Items are (input
    [3, 300, 300], loc targets [A, 4], class targets [A]); targets are matched in the worker
    (matching.py)."""

    def __init__(self, images: list[PreparedImage], priors_cxcywh: torch.Tensor, *, seed: int = 0,
                 augmenter=None, coder=None, iou_threshold: float = 0.5, min_visible: float = 0.5,
                 overhang: int = 150, size: int = INPUT_SIZE, rare_fraction: float = 0.0,
                 lookalike_ratio: float = 0.0, domain=None) -> None:
        self.images = images
        self.items = [(i, j) for i, img in enumerate(images) for j in range(len(img.boxes))]
        if not self.items:
            raise ValueError("the dataset has no joints to train on")
        rare_items = [(i, j) for i, j in self.items if images[i].rare_mask()[j]]
        self.rare_joints = len(rare_items)
        self.joint_windows = len(self.items)
        self.extra_windows = rare_extra_windows(len(self.items), len(rare_items), rare_fraction)
        self.items += [rare_items[k % len(rare_items)] for k in range(self.extra_windows)]
        self.is_rare = np.array([bool(images[i].rare_mask()[j]) for i, j in self.items], dtype=bool)
        # Hard negatives: each look-alike kind gets as many windows as lookalike_ratio times
        # the windows of rare joints (findings and destroyed joints), cycling through all of
        # that kind's boxes over the epochs (see _lookalike_at).
        finding_windows = int(self.is_rare.sum())
        self.lookalikes = {k: [(i, b) for i, img in enumerate(images) for b in range(len(img.lookalike_boxes(k)))]
                           for k in LOOKALIKE_KINDS}
        self.lookalike_windows = {k: (math.ceil(lookalike_ratio * finding_windows - 1e-9) if boxes else 0)
                                  for k, boxes in self.lookalikes.items()}
        for k in LOOKALIKE_KINDS:
            self.items += [(-1, (k, slot)) for slot in range(self.lookalike_windows[k])]
        self.is_rare = np.concatenate([self.is_rare, np.zeros(len(self.items) - len(self.is_rare), dtype=bool)])
        self.domain = domain
        self.priors = priors_cxcywh
        self.seed = seed
        self.epoch = 0
        self.augmenter = augmenter
        self.coder = coder or BoxCoder()
        self.iou_threshold = iou_threshold
        self.min_visible = min_visible
        self.overhang = overhang
        self.size = size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def sample(self, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The augmented window of item ``k`` this epoch: (gray [300, 300], boxes, labels)."""
        g = torch.Generator().manual_seed(derive_seed(self.seed, SEED_TAG_CROP, self.epoch, k))
        i, j = self.items[k]
        if isinstance(j, tuple):
            i, box = self._lookalike_at(*j)
            pixels, boxes, labels, _ = draw_crop_around(self.images[i], box, g, self.size, self.min_visible, self.overhang)
        else:
            pixels, boxes, labels, _ = draw_crop(self.images[i], j, g, self.size, self.min_visible, self.overhang)
        gray = torch.from_numpy(pixels)
        b = torch.from_numpy(boxes)
        lab = torch.from_numpy(labels)
        if self.augmenter is not None:
            gray, b, lab = self.augmenter(gray, b, lab, g)
        if self.domain is not None:
            gray = self.domain(gray, b, g)
        return gray, b, lab

    def _lookalike_at(self, kind: str, slot: int) -> tuple[int, np.ndarray]:
        """(image index, box) of look-alike window ``slot`` of ``kind`` this epoch: epoch e
        takes the kind's boxes e * n .. e * n + n - 1 (cyclically), so all are seen in turn."""
        boxes = self.lookalikes[kind]
        i, b = boxes[(slot + self.epoch * self.lookalike_windows[kind]) % len(boxes)]
        return i, self.images[i].lookalike_boxes(kind)[b]

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        gray, boxes, labels = self.sample(k)
        loc_t, cls_t = encode_targets(boxes, labels, self.priors, self.coder, self.iou_threshold)
        return normalise(gray), loc_t, cls_t
