"""Domain randomisation of the training windows (issue 17): what real films do to pixels
that phantoms do not, so that a detector trained on phantoms leans on the joint's shape and
not on how one generator renders it.

Real hand films (../shared/reference/real-films.md) arrive blurred or sharpened by the
modality's processing (unsharp-mask halos along bone edges), noisy, through unknown tone
curves, digitised from film at a coarse spacing, stored in 8 bits, JPEG-compressed, and with
labels, rulers or collimator edges over parts of the hand. Each transform below imitates one
of these and is applied with probability ``p``, in the order a film meets them:

- resolution: down-sampled by a factor in ``resolution_range`` and up-sampled back
  (bilinear), as a film scanned coarsely and displayed at the node's spacing;
- blur (Gaussian, sigma in ``blur_sigma``) or, on the other side of the coin, an unsharp
  mask (sigma in ``unsharp_sigma``, amount in ``unsharp_amount``) whose halos ring the
  cortices as a CR's edge enhancement does;
- tone curve: a random monotone curve through 5 points (the unknown LUT of a scanner or of
  the modality), then clipping to [0, 1];
- noise: Gaussian, signal-dependent (quantum noise grows as the square root of the
  exposure: sigma * sqrt(v + 0.05)), sigma in ``noise_sigma``;
- quantisation to 5-8 bits (films stored in 8 bits, and worse after windowing);
- JPEG at a quality in ``jpeg_quality`` (Pillow), on the 8-bit window;
- random erasing: 1-3 rectangles of 1-6 % of the window each, filled with one gray (a label,
  a marker, a collimator blade). A rectangle that would leave over ``max_erase_overlap`` of a
  target box's pixels erased (with the rectangles before it) is not drawn, so no label is
  left on a joint nobody can see.

Every random draw happens whatever the coins say, from the window's own
``torch.Generator``, so one transform's outcome does not shift the stream of the next and a
window is the same whatever the worker (the resume guarantee of train.py). Boxes do not move.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

#: Whole-window transforms, in the order they are applied (the names in ``applied``).
TRANSFORMS = ("resolution", "blur", "unsharp", "tone", "noise", "quantise", "jpeg", "erase")


def _u(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def _log_u(g: torch.Generator, lo: float, hi: float) -> float:
    return math.exp(_u(g, math.log(lo), math.log(hi)))


def gaussian_blur(gray: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of [H, W], reflecting at the edges (radius 3 sigma)."""
    if sigma <= 0:
        return gray
    r = max(1, int(math.ceil(3 * sigma)))
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-(x * x) / (2 * sigma * sigma))
    k = k / k.sum()
    h, w = gray.shape
    # Reflection needs the pad to be smaller than the side.
    r_eff = min(r, h - 1, w - 1)
    if r_eff < r:
        k = k[r - r_eff:r + r_eff + 1]
        k = k / k.sum()
        r = r_eff
    t = F.pad(gray[None, None], (r, r, r, r), mode="reflect")
    t = F.conv2d(t, k.view(1, 1, 1, -1))
    t = F.conv2d(t, k.view(1, 1, -1, 1))
    return t[0, 0]


def unsharp(gray: torch.Tensor, sigma: float, amount: float) -> torch.Tensor:
    """v + amount (v - blur(v)): edge enhancement, with its dark and bright halos."""
    return gray + amount * (gray - gaussian_blur(gray, sigma))


def resample_through(gray: torch.Tensor, factor: float) -> torch.Tensor:
    """Down-sample by ``factor`` (< 1, area) and back up to the same size (bilinear)."""
    h, w = gray.shape
    sh, sw = max(1, round(h * factor)), max(1, round(w * factor))
    small = F.interpolate(gray[None, None], size=(sh, sw), mode="area")
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)[0, 0]


def tone_curve(gray: torch.Tensor, knots: torch.Tensor) -> torch.Tensor:
    """The piecewise-linear curve through (i / (n - 1), knots[i]) applied to v in [0, 1]."""
    n = len(knots)
    v = gray.clamp(0.0, 1.0) * (n - 1)
    i = v.floor().clamp(max=n - 2).long()
    f = v - i.to(v.dtype)
    return knots[i] * (1 - f) + knots[i + 1] * f


def quantise(gray: torch.Tensor, bits: int) -> torch.Tensor:
    levels = float(2**bits - 1)
    return torch.round(gray.clamp(0.0, 1.0) * levels) / levels


def jpeg(gray: torch.Tensor, quality: int) -> torch.Tensor:
    """Through an 8-bit grayscale JPEG at ``quality`` (Pillow, baseline)."""
    from PIL import Image

    a = (gray.clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8).numpy()
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    out = np.asarray(Image.open(buf).convert("L"), dtype=np.float32) / 255.0
    return torch.from_numpy(out.copy())


@dataclass
class DomainRandomiser:
    p: float = 0.3
    resolution_range: tuple[float, float] = (0.3, 0.9)
    blur_sigma: tuple[float, float] = (0.4, 2.0)
    unsharp_sigma: tuple[float, float] = (1.0, 8.0)
    unsharp_amount: tuple[float, float] = (0.3, 1.5)
    tone_jitter: float = 0.12
    noise_sigma: tuple[float, float] = (0.005, 0.05)
    bits: tuple[int, int] = (5, 8)
    jpeg_quality: tuple[int, int] = (20, 90)
    erase_area: tuple[float, float] = (0.01, 0.06)
    max_erase_overlap: float = 0.25
    #: The transforms that may apply (all by default); the others are drawn but skipped.
    enabled: tuple[str, ...] = TRANSFORMS

    @classmethod
    def from_config(cls, cfg) -> "DomainRandomiser | None":
        return cls(p=cfg.domain_p) if cfg.domain_p > 0 else None

    def __call__(self, gray: torch.Tensor, boxes: torch.Tensor, g: torch.Generator,
                 applied: list[str] | None = None) -> torch.Tensor:
        h, w = gray.shape
        coins = {name: float(torch.rand((), generator=g)) < self.p and name in self.enabled for name in TRANSFORMS}
        # Blur and unsharp masking are two sides of one coin: a film is one or the other.
        coins["unsharp"] = coins["unsharp"] and not coins["blur"]
        factor = _u(g, *self.resolution_range)
        blur_s = _log_u(g, *self.blur_sigma)
        us_s, us_a = _log_u(g, *self.unsharp_sigma), _u(g, *self.unsharp_amount)
        base = torch.linspace(0.0, 1.0, 5)
        knots = (base + self.tone_jitter * (2 * torch.rand(5, generator=g) - 1)).clamp(0.0, 1.0)
        knots, _ = torch.sort(knots)  # monotone: the curve never inverts the film
        noise_s = _log_u(g, *self.noise_sigma)
        noise = torch.randn((h, w), generator=g)
        bits = int(torch.randint(self.bits[0], self.bits[1] + 1, (1,), generator=g))
        quality = int(torch.randint(self.jpeg_quality[0], self.jpeg_quality[1] + 1, (1,), generator=g))
        n_rect = int(torch.randint(1, 4, (1,), generator=g))
        rects = []
        for _ in range(3):
            area = _u(g, *self.erase_area) * h * w
            aspect = _log_u(g, 0.3, 3.3)
            rw, rh = min(w, math.sqrt(area * aspect)), min(h, math.sqrt(area / aspect))
            x0, y0 = _u(g, 0, w - rw), _u(g, 0, h - rh)
            rects.append(((x0, y0, x0 + rw, y0 + rh), _u(g, 0.0, 1.0)))

        def did(name: str) -> None:
            if applied is not None:
                applied.append(name)

        out = gray.to(torch.float32)
        if coins["resolution"]:
            out = resample_through(out, factor)
            did("resolution")
        if coins["blur"]:
            out = gaussian_blur(out, blur_s)
            did("blur")
        if coins["unsharp"]:
            out = unsharp(out, us_s, us_a)
            did("unsharp")
        out = out.clamp(0.0, 1.0)
        if coins["tone"]:
            out = tone_curve(out, knots)
            did("tone")
        if coins["noise"]:
            out = (out + noise_s * torch.sqrt(out + 0.05) * noise).clamp(0.0, 1.0)
            did("noise")
        if coins["quantise"]:
            out = quantise(out, bits)
            did("quantise")
        if coins["jpeg"]:
            out = jpeg(out, quality)
            did("jpeg")
        if coins["erase"]:
            # Whole pixels, and the union of the rectangles counts: no target box may lose
            # more than max_erase_overlap of its pixels.
            mask = torch.zeros((h, w), dtype=torch.bool)
            regions = [(max(0, math.floor(x0)), max(0, math.floor(y0)), min(w, math.ceil(x1)), min(h, math.ceil(y1)))
                       for x0, y0, x1, y1 in boxes.tolist()]
            drawn = 0
            for (rect, value) in rects[:n_rect]:
                x0, y0, x1, y1 = (int(round(v)) for v in rect)
                trial = mask.clone()
                trial[y0:y1, x0:x1] = True
                if any(bx1 > bx0 and by1 > by0 and float(trial[by0:by1, bx0:bx1].float().mean()) > self.max_erase_overlap
                       for bx0, by0, bx1, by1 in regions):
                    continue
                mask = trial
                out[y0:y1, x0:x1] = value
                drawn += 1
            if drawn:
                did("erase")
        return out.clamp(0.0, 1.0).contiguous()
