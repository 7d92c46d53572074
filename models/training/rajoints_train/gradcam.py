"""GradCAM heatmaps of a detector for one joint (paper, "Evaluation", Eqs. 6-7, Figs. 6-7).

    gradcam.py --checkpoint RUN/last.pt --image FILE.dcm --joint R-PIP2 --out cam.png
    gradcam.py --checkpoint RUN/last.pt --image FILE.dcm --box X0 Y0 X1 Y1 --out cam.png

The image is decoded and scaled exactly as for training and for the node (data.py); the
300x300 window is the node's window (origins at multiples of the stride, 150) that holds
the joint with the widest margin, or one centred on it. The target is the class logit y_c
(c = present or absent; ``auto`` takes the one the detector prefers for this joint)
summed over the default boxes that describe the joint: those whose decoded box has IoU
>= 0.45 with the joint (the paper's detection threshold), and on every source layer those
of the cell that holds the joint's centre. The second set matters: a default box is
predicted only from its own source layer and the layers before it, so with the first set
alone a deeper layer such as Conv9_2 would receive no gradient when the joint is found on
Conv4_3 or Conv7.

For each visualised layer with feature maps A^k (Eq. 6) alpha_k = mean over (i, j) of
dy_c / dA^k_ij, and (Eq. 7) G_c = ReLU(sum_k alpha_k A^k), upsampled to the window and
scaled to [0, 1]. The layers are the paper's Conv7 and Conv9_2, or for the light
backbone their equivalents at the same map sizes (stage19, 19x19; extra5, 5x5). A map can
be empty (zero everywhere) when no location has positive evidence after the ReLU of
Eq. 7, which happens with weakly trained models; ``--method hirescam`` (Draelos and Carin
2020: ReLU of sum_k dy_c/dA^k * A^k per location, without the spatial mean) then still
shows where the gradient and the features agree. The paper's method is the default.

The PNG shows the window with the joint's box (yellow) and the best-scoring detection
that overlaps it (red: present, green: absent), then one heatmap overlay per layer.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .box_coder import BoxCoder, box_iou
from .config import ABSENT, CLASSES, INPUT_SIZE, PRESENT
from .data import crop_window, load_annotations, normalise, read_display, resample_area, scale_factors
from .priors import default_boxes
from .ssd import GRADCAM_LAYERS

#: IoU at which a detection is the joint (paper, "Evaluation": 0.45).
DETECTION_IOU = 0.45
STRIDE = 150


def choose_window(box: np.ndarray, width: int, height: int, size: int = INPUT_SIZE, stride: int = STRIDE) -> tuple[int, int]:
    """Origin of the node's window that contains ``box`` with the largest margin; a window
    centred on the box when none contains it."""
    def origins(length: int) -> list[int]:
        n = -(-max(length - size, 0) // stride) + 1
        return [k * stride for k in range(n)]

    best, best_margin = None, -1.0
    for y0 in origins(height):
        for x0 in origins(width):
            margin = min(box[0] - x0, box[1] - y0, x0 + size - box[2], y0 + size - box[3])
            if margin >= 0 and margin > best_margin:
                best, best_margin = (x0, y0), margin
    if best is None:
        best = (int(np.floor((box[0] + box[2]) / 2 - size / 2)), int(np.floor((box[1] + box[3]) / 2 - size / 2)))
    return best


def centre_cell_priors(spec, joint_box: np.ndarray) -> torch.Tensor:
    """Indices of the default boxes of the cell holding the joint's centre, on every
    source layer (prior order of priors.py)."""
    cx, cy = (joint_box[0] + joint_box[2]) / 2, (joint_box[1] + joint_box[3]) / 2
    out, offset = [], 0
    for f, step, k in zip(spec.feature_maps, spec.steps, spec.boxes_per_cell()):
        i = min(max(int(cy // step), 0), f - 1)
        j = min(max(int(cx // step), 0), f - 1)
        first = offset + (i * f + j) * k
        out.extend(range(first, first + k))
        offset += f * f * k
    return torch.tensor(out, dtype=torch.int64)


def jet(x: np.ndarray) -> np.ndarray:
    """[H, W] in [0, 1] to [H, W, 3] uint8, the jet colour map (blue low, red high)."""
    r = np.clip(1.5 - np.abs(4 * x - 3), 0, 1)
    g = np.clip(1.5 - np.abs(4 * x - 2), 0, 1)
    b = np.clip(1.5 - np.abs(4 * x - 1), 0, 1)
    return (np.stack([r, g, b], -1) * 255).astype(np.uint8)


def gradcam(model, gray: np.ndarray, joint_box: np.ndarray, layers: tuple[str, ...] | None = None,
            target: str = "auto", method: str = "gradcam") -> dict:
    """Heatmaps for the joint at ``joint_box`` (window pixels) in the window ``gray``
    [300, 300] of display values. Returns the maps [300, 300] in [0, 1] per layer, the
    class used, and the best detection overlapping the joint."""
    if method not in ("gradcam", "hirescam"):
        raise ValueError(f"method must be gradcam or hirescam, got {method!r}")
    model.eval()
    layers = layers or GRADCAM_LAYERS[model.arch]
    unknown = [n for n in layers if n not in model.source_names]
    if unknown:
        raise ValueError(f"unknown layers {unknown}; this model has {model.source_names}")
    x = normalise(torch.from_numpy(gray)).unsqueeze(0)
    sources = model.features(x)
    for s in sources:
        s.retain_grad()
    loc, conf = model.head(sources)
    priors = default_boxes(model.spec)
    with torch.no_grad():
        boxes = BoxCoder().decode(loc[0], priors)
        scores = F.softmax(conf[0], dim=-1)
        jb = torch.tensor(joint_box, dtype=torch.float32).view(1, 4)
        iou = box_iou(jb, boxes)[0]
        found = iou >= DETECTION_IOU
        chosen = found.clone()
        chosen[centre_cell_priors(model.spec, np.asarray(joint_box, dtype=np.float64))] = True
        pool = found if bool(found.any()) else chosen
        if target == "auto":
            c = PRESENT if scores[pool, PRESENT].max() > scores[pool, ABSENT].max() else ABSENT
        elif target in ("present", "absent"):
            c = PRESENT if target == "present" else ABSENT
        else:
            raise ValueError(f"target must be auto, present or absent, got {target!r}")
        conf_fg = torch.maximum(scores[:, ABSENT], scores[:, PRESENT])
        cand = torch.where(pool, conf_fg, torch.full_like(conf_fg, -1.0))
        best = int(cand.argmax())
    model.zero_grad(set_to_none=True)
    y_c = conf[0, chosen, c].sum()
    y_c.backward()
    maps = {}
    for name in layers:
        a = sources[model.source_names.index(name)]
        grad = a.grad
        if method == "gradcam":
            alpha = grad.mean(dim=(2, 3), keepdim=True)  # Eq. 6
            cam = F.relu((alpha * a).sum(dim=1, keepdim=True))  # Eq. 7
        else:
            cam = F.relu((grad * a).sum(dim=1, keepdim=True))
        cam = F.interpolate(cam, size=gray.shape, mode="bilinear", align_corners=False)[0, 0].detach()
        peak = float(cam.max())
        maps[name] = (cam / peak).numpy() if peak > 0 else cam.numpy()
    return {
        "class": CLASSES[c],
        "method": method,
        "maps": maps,
        "empty": [n for n, m in maps.items() if not m.any()],
        "priors_used": int(chosen.sum()),
        "detection": {
            "box": [round(float(v), 2) for v in boxes[best]],
            "iou": round(float(iou[best]), 4),
            "absent": round(float(scores[best, ABSENT]), 4),
            "present": round(float(scores[best, PRESENT]), 4),
        },
    }


def render(gray: np.ndarray, joint_box: np.ndarray, result: dict, path: Path, alpha: float = 0.5) -> None:
    """Writes the window and one overlay per layer side by side as a PNG."""
    from PIL import Image, ImageDraw

    base = np.repeat((np.clip(gray, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=-1)
    panels = []
    first = Image.fromarray(base)
    d = ImageDraw.Draw(first)
    d.rectangle([float(v) for v in joint_box], outline=(255, 220, 0), width=2)
    det = result["detection"]
    colour = (230, 40, 40) if det["present"] >= det["absent"] else (40, 200, 40)
    d.rectangle(det["box"], outline=colour, width=1)
    d.text((4, 4), f"absent {det['absent']:.3f} present {det['present']:.3f}", fill=(255, 255, 255))
    panels.append(first)
    for name, cam in result["maps"].items():
        over = (base * (1 - alpha) + jet(cam) * alpha).astype(np.uint8)
        im = Image.fromarray(over)
        dd = ImageDraw.Draw(im)
        dd.rectangle([float(v) for v in joint_box], outline=(255, 255, 255), width=1)
        label = "GradCAM" if result.get("method", "gradcam") == "gradcam" else "HiResCAM"
        empty = " - no positive evidence" if not cam.any() else ""
        dd.text((4, 4), f"{label} {name} ({result['class']}){empty}", fill=(255, 255, 255))
        panels.append(im)
    h = gray.shape[0]
    sheet = Image.new("RGB", (sum(p.width for p in panels) + 4 * (len(panels) - 1), h), (0, 0, 0))
    x = 0
    for p in panels:
        sheet.paste(p, (x, 0))
        x += p.width + 4
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def run(checkpoint: Path, image: Path, out: Path, joint: str | None = None, box: list[float] | None = None,
        annotations: Path | None = None, target: str = "auto", layers: tuple[str, ...] | None = None,
        method: str = "gradcam") -> dict:
    from .export import load_model

    model, cfg, _ = load_model(checkpoint)
    image = Path(image)
    if (joint is None) == (box is None):
        raise ValueError("give exactly one of --joint and --box")
    if joint is not None:
        ann_path = Path(annotations) if annotations else _find_annotations(image)
        anns = load_annotations(ann_path)
        root = ann_path.parent if ann_path.is_file() else ann_path
        rel = image.resolve().relative_to(root.resolve()).as_posix() if image.resolve().is_relative_to(root.resolve()) else image.name
        match = [a for a in anns if a.file == rel or Path(a.file).name == image.name]
        if not match:
            raise ValueError(f"{image} is not in {ann_path}")
        js = [j for j in match[0].joints if j.joint == joint]
        if not js:
            raise ValueError(f"joint {joint} is not annotated on {image}")
        box = list(js[0].box)
    disp = read_display(image)
    fx, fy = scale_factors(disp.spacing_mm, cfg.pixel_spacing_mm, cfg.fallback_scale)
    pixels, fx, fy = resample_area(disp.pixels, fx, fy)
    sb = np.array([box[0] * fx, box[1] * fy, box[2] * fx, box[3] * fy], dtype=np.float32)
    x0, y0 = choose_window(sb, pixels.shape[1], pixels.shape[0])
    gray = crop_window(pixels, x0, y0)
    wb = sb - np.array([x0, y0, x0, y0], dtype=np.float32)
    result = gradcam(model, gray, wb, layers, target, method)
    render(gray, wb, result, out)
    return {"out": str(out), "window_origin": [x0, y0], "joint_box_window": [round(float(v), 2) for v in wb],
            "class": result["class"], "priors_used": result["priors_used"], "detection": result["detection"],
            "layers": list(result["maps"]), "method": method, "empty_maps": result["empty"]}


def _find_annotations(image: Path) -> Path:
    for parent in image.resolve().parents:
        if (parent / "annotations.json").is_file():
            return parent / "annotations.json"
    raise ValueError(f"no annotations.json above {image}; pass --annotations or --box")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="GradCAM heatmaps (paper Figs. 6-7) of a detector for one joint.")
    ap.add_argument("--checkpoint", required=True, type=Path, help="last.pt written by train.py")
    ap.add_argument("--image", required=True, type=Path, help="DICOM radiograph")
    ap.add_argument("--joint", help="joint id (e.g. R-PIP2), its box read from annotations.json")
    ap.add_argument("--box", nargs=4, type=float, metavar=("X0", "Y0", "X1", "Y1"),
                    help="joint box in full-resolution source pixels instead of --joint")
    ap.add_argument("--annotations", type=Path, help="annotations.json (default: the nearest above the image)")
    ap.add_argument("--class", dest="target", default="auto", choices=("auto", "present", "absent"),
                    help="class whose evidence is shown (default: the one the detector prefers)")
    ap.add_argument("--layers", nargs="+", help="source layers (default: conv7 conv9_2, or stage19 extra5 for light)")
    ap.add_argument("--method", default="gradcam", choices=("gradcam", "hirescam"),
                    help="gradcam: the paper's Eqs. 6-7 (default); hirescam: gradient x activation per location")
    ap.add_argument("--out", required=True, type=Path, help="PNG to write")
    a = ap.parse_args(argv)
    try:
        r = run(a.checkpoint, a.image, a.out, a.joint, a.box, a.annotations, a.target, tuple(a.layers) if a.layers else None, a.method)
    except (ValueError, FileNotFoundError) as e:
        print(f"gradcam: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(r))
    return 0
