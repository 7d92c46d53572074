"""SSD300 (Liu et al. 2016) as the paper uses it ("Development of the joint region detector
using a DNN", Fig. 2): a VGG16 feature extractor whose Conv4_3 and Conv7 outputs, and the
extra layers Conv8_2, Conv9_2, Conv10_2 and Conv11_2, feed 3x3 convolutional heads that
predict, for every default box (priors.py), four offsets (Eqs. 4-5) and three class
logits (background, absent, present).

Two backbones share the heads, the default boxes and the ONNX contract:

- ``vgg16``: the SSD300 VGG16 of ssd.pytorch (conv1_1..conv5_3, pool5 3x3/1, dilated
  conv6, conv7 1x1, L2Norm on Conv4_3 with scale 20), 23.9 M parameters with three classes.
- ``light``: a narrow VGG producing maps of the same sizes (38, 19, 10, 5, 3, 1) for CPU
  training and inference.

With ``batch_norm`` (the default) every backbone and extra convolution is followed by
BatchNorm: the paper trains from scratch ("We did not use published pre-trained SSD
weights"), and BatchNorm is what makes that practical (DSOD, Shen et al. 2017).

The model returns ``(loc, conf)`` in training and in evaluation alike: loc [B, A, 4]
offsets and conf [B, A, 3] logits. The loss (loss.py) and the decoding and softmax
(:class:`SSDExport`, used for ONNX) live outside it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .box_coder import BoxCoder
from .config import NUM_CLASSES
from .priors import SSD300, PriorSpec, default_boxes

#: Source layers of each backbone, in prior order.
SOURCE_NAMES = {
    "vgg16": ("conv4_3", "conv7", "conv8_2", "conv9_2", "conv10_2", "conv11_2"),
    "light": ("stage38", "stage19", "extra10", "extra5", "extra3", "extra1"),
}
#: The layers the paper visualises with GradCAM (Conv7 and Conv9_2, Figs. 6-7), and the
#: light backbone's equivalents (same map sizes: 19x19 and 5x5).
GRADCAM_LAYERS = {"vgg16": ("conv7", "conv9_2"), "light": ("stage19", "extra5")}


def _conv(cin: int, cout: int, k: int, *, stride: int = 1, padding: int = 0, dilation: int = 1,
          groups: int = 1, bn: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=not bn)
    ]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU(inplace=True))
    return layers


class L2Norm(nn.Module):
    """Channel-wise L2 normalisation with a learned per-channel scale (SSD, ParseNet), on
    Conv4_3, whose activations are larger than the later layers'."""

    def __init__(self, channels: int, scale: float = 20.0, eps: float = 1e-10) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels,), float(scale)))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = x.pow(2).sum(dim=1, keepdim=True).sqrt() + self.eps
        return x / norm * self.weight.view(1, -1, 1, 1)


class VGG16Backbone(nn.Module):
    """SSD300's VGG16 with the extra layers; ``forward`` returns the six source maps
    (Conv4_3 38x38x512, Conv7 19x19x1024, Conv8_2 10x10x512, Conv9_2 5x5x256,
    Conv10_2 3x3x256, Conv11_2 1x1x256)."""

    channels = (512, 1024, 512, 256, 256, 256)

    def __init__(self, batch_norm: bool = True) -> None:
        super().__init__()
        bn = batch_norm
        layers: list[nn.Module] = []
        cin = 3
        # "C" is the ceil-mode pool that takes 75 to 38 (SSD's pool3).
        for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "C", 512, 512, 512):
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            elif v == "C":
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            else:
                layers += _conv(cin, int(v), 3, padding=1, bn=bn)
                cin = int(v)
        self.to_conv4_3 = nn.Sequential(*layers)
        self.l2norm = L2Norm(512)
        self.to_conv7 = nn.Sequential(
            nn.MaxPool2d(2, 2),
            *_conv(512, 512, 3, padding=1, bn=bn),
            *_conv(512, 512, 3, padding=1, bn=bn),
            *_conv(512, 512, 3, padding=1, bn=bn),  # conv5_3
            nn.MaxPool2d(3, 1, padding=1),  # pool5
            *_conv(512, 1024, 3, padding=6, dilation=6, bn=bn),  # conv6 (fc6, atrous)
            *_conv(1024, 1024, 1, bn=bn),  # conv7 (fc7)
        )
        self.extras = nn.ModuleList([
            nn.Sequential(*_conv(1024, 256, 1, bn=bn), *_conv(256, 512, 3, stride=2, padding=1, bn=bn)),  # conv8
            nn.Sequential(*_conv(512, 128, 1, bn=bn), *_conv(128, 256, 3, stride=2, padding=1, bn=bn)),  # conv9
            nn.Sequential(*_conv(256, 128, 1, bn=bn), *_conv(128, 256, 3, bn=bn)),  # conv10
            nn.Sequential(*_conv(256, 128, 1, bn=bn), *_conv(128, 256, 3, bn=bn)),  # conv11
        ])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        c4 = self.to_conv4_3(x)
        sources = [self.l2norm(c4)]
        y = self.to_conv7(c4)
        sources.append(y)
        for extra in self.extras:
            y = extra(y)
            sources.append(y)
        return sources


class LightBackbone(nn.Module):
    """A narrow VGG with SSD300's map sizes, for CPU training and inference: two stride-2
    convolutions take 300 to 75, then plain 3x3 convolutions give 38x38x128 (Conv4_3's
    place, receptive field 71 px), 19x19x256 (Conv7's), and extras 10x10x256, 5x5x128
    (Conv9_2's), 3x3x128, 1x1x128. About 0.65 G multiply-adds per window, 1/50 of VGG16.
    Dense convolutions rather than depthwise-separable ones: on CPU, PyTorch's depthwise
    backward pass is several times slower than these for the same map sizes."""

    channels = (128, 256, 256, 128, 128, 128)

    def __init__(self, batch_norm: bool = True) -> None:
        super().__init__()
        bn = batch_norm
        self.stage38 = nn.Sequential(
            *_conv(3, 16, 3, stride=2, padding=1, bn=bn),  # 150
            *_conv(16, 32, 3, stride=2, padding=1, bn=bn),  # 75
            *_conv(32, 32, 3, padding=1, bn=bn),
            *_conv(32, 64, 3, stride=2, padding=1, bn=bn),  # 38
            *_conv(64, 64, 3, padding=1, bn=bn),
            *_conv(64, 128, 3, padding=1, bn=bn),
            *_conv(128, 128, 3, padding=1, bn=bn),
        )
        self.stage19 = nn.Sequential(
            *_conv(128, 128, 3, stride=2, padding=1, bn=bn),  # 19
            *_conv(128, 128, 3, padding=1, bn=bn),
            *_conv(128, 256, 1, bn=bn),
        )
        self.extras = nn.ModuleList([
            nn.Sequential(*_conv(256, 128, 1, bn=bn), *_conv(128, 256, 3, stride=2, padding=1, bn=bn)),  # 10
            nn.Sequential(*_conv(256, 64, 1, bn=bn), *_conv(64, 128, 3, stride=2, padding=1, bn=bn)),  # 5
            nn.Sequential(*_conv(128, 64, 1, bn=bn), *_conv(64, 128, 3, bn=bn)),  # 3
            nn.Sequential(*_conv(128, 64, 1, bn=bn), *_conv(64, 128, 3, bn=bn)),  # 1
        ])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        a = self.stage38(x)
        y = self.stage19(a)
        sources = [a, y]
        for extra in self.extras:
            y = extra(y)
            sources.append(y)
        return sources


class SSD(nn.Module):
    """SSD300 detector: backbone sources, then per source a 3x3 regression head
    (4 offsets per default box) and a 3x3 classification head (3 logits per default box).
    """

    def __init__(self, arch: str = "vgg16", batch_norm: bool = True, num_classes: int = NUM_CLASSES,
                 spec: PriorSpec = SSD300, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if arch == "vgg16":
            self.backbone: nn.Module = VGG16Backbone(batch_norm)
        elif arch == "light":
            self.backbone = LightBackbone(batch_norm)
        else:
            raise ValueError(f"unknown arch {arch!r}; expected one of {tuple(SOURCE_NAMES)}")
        self.arch = arch
        self.num_classes = num_classes
        self.spec = spec
        self.source_names = SOURCE_NAMES[arch]
        per_cell = spec.boxes_per_cell()
        chans = self.backbone.channels
        self.loc_heads = nn.ModuleList(nn.Conv2d(c, k * 4, 3, padding=1) for c, k in zip(chans, per_cell))
        self.conf_heads = nn.ModuleList(nn.Conv2d(c, k * num_classes, 3, padding=1) for c, k in zip(chans, per_cell))
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Xavier-uniform convolutions and zero biases (ssd.pytorch); from scratch."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight, generator=generator)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The six source maps for ``images`` [B, 3, 300, 300]."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be [B, 3, H, W], got {tuple(images.shape)}")
        return self.backbone(images)

    def head(self, sources: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Offsets [B, A, 4] and logits [B, A, C] in prior order (priors.py): per source,
        row by row, column by column, box within the cell."""
        b = sources[0].shape[0]
        locs, confs = [], []
        for x, lh, ch in zip(sources, self.loc_heads, self.conf_heads):
            locs.append(lh(x).permute(0, 2, 3, 1).reshape(b, -1, 4))
            confs.append(ch(x).permute(0, 2, 3, 1).reshape(b, -1, self.num_classes))
        return torch.cat(locs, dim=1), torch.cat(confs, dim=1)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.features(images))


class SSDExport(nn.Module):
    """The graph that is exported to ONNX (models/README.md, "ONNX contract"): ``images``
    [N, 3, 300, 300] in; ``boxes`` [N, A, 4] (x0, y0, x1, y1, window pixels, decoded with
    variances 0.1/0.2) and ``scores`` [N, A, 3] (softmax over background, absent,
    present) out."""

    def __init__(self, model: SSD, coder: BoxCoder | None = None) -> None:
        super().__init__()
        self.model = model
        self.coder = coder or BoxCoder()
        self.register_buffer("priors", default_boxes(model.spec), persistent=False)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loc, conf = self.model(images)
        boxes = self.coder.decode(loc, self.priors)
        scores = F.softmax(conf, dim=-1)
        return boxes, scores


def build_model(arch: str, batch_norm: bool = True, generator: torch.Generator | None = None) -> SSD:
    return SSD(arch=arch, batch_norm=batch_norm, generator=generator)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
