#!/usr/bin/env python3
"""Write the hand-built ONNX test detectors ("bright square blob detectors").

    python3 models/make_test_models.py --out DIR [--no-check]

writes ``DIR/ankylosis.onnx``, ``DIR/ankylosis.toml``, ``DIR/subluxation.onnx``
and ``DIR/subluxation.toml``, then runs a self-check with onnxruntime (skip it
with ``--no-check``; ``--check`` is accepted and is the default). The output is
byte-identical on every run.

These models are NOT trained. They follow the ONNX contract in
``models/README.md`` (input ``images`` [N,3,300,300]; outputs ``boxes``
[N,A,4] and ``scores`` [N,A,3]) with a graph simple enough that a test author
can work out every answer by hand:

1. Undo the normalisation on channel 0: ``v = x[:, 0] * std[0] + mean[0]``,
   so ``v`` is the display value in [0, 1] (0 = black, 1 = white).
2. AveragePool, kernel 30x30, stride 10, no padding: 28x28 cells. Cell
   (i = row, j = column) covers input pixels x in [10j, 10j+30),
   y in [10i, 10i+30); its prior (anchor) box is
   ``[10j, 10i, 10j+30, 10i+30]`` (x0, y0, x1, y1, pixel-edge coordinates).
   A = 784 anchors, row-major: anchor index ``a = 28*i + j``.
3. A second AveragePool of the same shape over ``v*v`` gives mean(v^2), and
   ``s2 = mean(v^2) - m^2`` is the variance of the cell.
4. With ``m`` the mean of the cell, the logits are peaked (quadratic)
   functions of m, lowered by the variance:
   background ``0``, absent ``6 - 40*(m - 0.5)^2 - 40*s2``, present
   ``6 - 40*(m - P)^2 - 40*s2`` with P = 1.0 for the ankylosis model and
   P = 0.9 for the subluxation model. The variance term makes a cell that
   straddles the edge of a square (part bright, part black: s2 > 0) lean to
   background, so only the anchor that the square fills evenly scores high;
   a uniform cell (s2 = 0) is scored on its mean alone.
5. ``scores`` = softmax over the last axis of [N, A, 3]
   (background, absent, present).
6. ``boxes`` = the prior boxes broadcast to [N, A, 4]: zero regression
   offsets, so the decoded boxes equal the priors.

Probabilities (background, absent, present) for a uniform cell of mean m
(s2 = 0; float64 softmax of the logits above). conf = max(absent, present).
The float32 output of onnxruntime 1.31.1 agrees to within 5e-5: the largest
gap, 3.8e-5, is at m = 0.8 (ankylosis), where AveragePool's float32 sums of
900 pixels give m = 0.79999286 and s2 = 1.9e-5 instead of 0; at m = 1, 0.5,
0.75 and 0 it is below 1e-7.

    m     model        logits (bg, abs, pres)  background  absent      present     conf
    1     ankylosis    (0, -4, 6)              0.002473    4.53e-05    0.997482    0.997482
    1     subluxation  (0, -4, 5.6)            0.003684    6.75e-05    0.996249    0.996249
    0.9   ankylosis    (0, -0.4, 5.6)          0.003675    0.002464    0.993861    0.993861
    0.9   subluxation  (0, -0.4, 6)            0.002469    0.001655    0.995877    0.995877
    0.8   ankylosis    (0, 2.4, 4.4)           0.010698    0.117928    0.871374    0.871374
    0.8   subluxation  (0, 2.4, 5.6)           0.003540    0.039027    0.957432    0.957432
    0.75  ankylosis    (0, 3.5, 3.5)           0.014874    0.492563    0.492563    0.492563
    0.75  subluxation  (0, 3.5, 5.1)           0.005047    0.167134    0.827819    0.827819
    2/3   ankylosis    (0, 4.889, 1.556)       0.007218    0.958585    0.034197    0.958585
    2/3   subluxation  (0, 4.889, 3.822)       0.005571    0.739818    0.254611    0.739818
    8/15  ankylosis    (0, 5.956, -2.711)      0.002584    0.997244    1.72e-04    0.997244
    8/15  subluxation  (0, 5.956, 0.6222)      0.002572    0.992635    0.004792    0.992635
    0.5   ankylosis    (0, 6, -4)              0.002473    0.997482    4.53e-05    0.997482
    0.5   subluxation  (0, 6, -0.4)            0.002469    0.995877    0.001655    0.995877
    4/9   ankylosis    (0, 5.877, -6.346)      0.002797    0.997198    4.91e-06    0.997198
    4/9   subluxation  (0, 5.877, -2.301)      0.002796    0.996924    2.80e-04    0.996924
    1/3   ankylosis    (0, 4.889, -11.78)      0.007474    0.992526    5.73e-08    0.992526
    1/3   subluxation  (0, 4.889, -6.844)      0.007473    0.992519    7.96e-06    0.992519
    2/9   ankylosis    (0, 2.914, -18.2)       0.051486    0.948514    6.44e-10    0.948514
    2/9   subluxation  (0, 2.914, -12.38)      0.051486    0.948513    2.17e-07    0.948513
    0     ankylosis    (0, -4, -34)            0.982014    0.017986    1.68e-15    0.017986
    0     subluxation  (0, -4, -26.4)          0.982014    0.017986    3.36e-12    0.017986

So a 30x30 square that exactly fills one anchor is, at that anchor:
brightness 1.0 "present" above 0.9 in both models; 0.8 "present" above 0.9
only in the subluxation model (the ankylosis model's 0.871 is below 0.9);
0.75 above 0.9 in neither (for ankylosis absent and present tie exactly);
0.5 "absent" above 0.9 in both; black "background" (0.982). Every score is
at most e^6/(1+e^6) = 0.99753, so no confidence rounds to 1.0 in float32.

An anchor shifted (dx, dy) px from a square of brightness b on black covers
a fraction f = (30-dx)(30-dy)/900 of it: m = f*b, s2 = b^2*f*(1-f). For
b = 1.0 the absent logit is -4 at every shift and the present logit lower
still, so every shifted anchor is background. For b = 0.5 the anchors
shifted 10 px along x or y are "absent" 0.935 (m = 1/3, s2 = 1/18), above
0.9 but at IoU 0.5 with the centre; every other shifted anchor is below 0.9.
For b = 0.8 and 0.75 every shifted anchor is below 0.9 (at most "absent"
0.566 and 0.731). So class-agnostic greedy NMS (rank by conf, keep
conf >= 0.9, suppress IoU >= 0.15) leaves exactly one box for an isolated
grid-aligned square, at its centre anchor: 1.0 "present" (both models), 0.5
"absent" (both), 0.8 "present" in the subluxation model and nothing in the
ankylosis model (0.871 < 0.9); 0.75 leaves nothing in either. Between
these levels it can fail: in the subluxation model a square of b = 0.630
to 0.632 leaves one "absent" box 10 px off its centre (the centre's absent
is just under 0.9, a shifted anchor's just over).

The tables are recomputed and printed by ``--table``.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

INPUT_SIZE = 300
KERNEL = 30
STRIDE = 10
CELLS = (INPUT_SIZE - KERNEL) // STRIDE + 1  # 28
NUM_ANCHORS = CELLS * CELLS  # 784
MEAN = [0.5, 0.5, 0.5]
STD = [0.25, 0.25, 0.25]
CLASSES = ["background", "absent", "present"]
# absent and present logits: PEAK - CURVATURE * (m - centre)^2 - VARIANCE_WEIGHT * s2,
# s2 the variance of the cell; background 0
PEAK = 6.0
CURVATURE = 40.0
VARIANCE_WEIGHT = 40.0
ABSENT_CENTRE = 0.5
# finding -> centre P of the "present" logit 6 - 40*(m - P)^2
PRESENT_CENTRE = {"ankylosis": 1.0, "subluxation": 0.9}

OPSET = 17
# IR 8 is the IR version of opset 17; every onnxruntime since 1.11 loads it.
IR_VERSION = 8
VERSION = "0.0.0-test"
ARCHITECTURE = "test-blob"
PROVENANCE = (
    "hand-built test graph written by models/make_test_models.py (onnx.helper): "
    "not trained; bright square blob detector, AveragePool 30x30 stride 10, "
    "quadratic logits of the cell mean minus 40 x the cell variance, zero box offsets"
)
INTENDED_USE = "tests only"
BOX_FORMAT = "x0,y0,x1,y1 input pixels, pixel-edge, decoded"


def prior_boxes() -> np.ndarray:
    """[1, A, 4] float32 priors, row-major over cells (i outer, j inner)."""
    i, j = np.meshgrid(np.arange(CELLS), np.arange(CELLS), indexing="ij")
    x0 = (STRIDE * j).reshape(-1)
    y0 = (STRIDE * i).reshape(-1)
    boxes = np.stack([x0, y0, x0 + KERNEL, y0 + KERNEL], axis=1)
    return boxes.astype(np.float32)[None]


def logits(m: float, finding: str, s2: float = 0.0) -> list[float]:
    """Logits (background, absent, present) for a cell of mean m, variance s2."""
    return [
        0.0,
        PEAK - CURVATURE * (m - ABSENT_CENTRE) ** 2 - VARIANCE_WEIGHT * s2,
        PEAK - CURVATURE * (m - PRESENT_CENTRE[finding]) ** 2 - VARIANCE_WEIGHT * s2,
    ]


def square_cell(b: float, dx: int, dy: int) -> tuple[float, float]:
    """(m, s2) of an anchor shifted (dx, dy) px from a 30x30 square of
    brightness b on black: it covers a fraction f of the square, so
    m = f*b and s2 = mean(v^2) - m^2 = b^2 * f * (1 - f)."""
    f = (KERNEL - dx) * (KERNEL - dy) / (KERNEL * KERNEL)
    return f * b, b * b * f * (1.0 - f)


def softmax(z: list[float]) -> list[float]:
    top = max(z)
    e = [math.exp(v - top) for v in z]
    s = sum(e)
    return [v / s for v in e]


def build_model(finding: str) -> onnx.ModelProto:
    centre = PRESENT_CENTRE[finding]
    c = numpy_helper.from_array
    inits = [
        c(np.array([0], np.int64), "ch_start"),
        c(np.array([1], np.int64), "ch_end"),
        c(np.array([1], np.int64), "ch_axis"),
        c(np.array(STD[0], np.float32), "std0"),
        c(np.array(MEAN[0], np.float32), "mean0"),
        c(np.array([0, NUM_ANCHORS, 1], np.int64), "cell_shape"),
        c(np.array([0.0, ABSENT_CENTRE, centre], np.float32), "centre"),
        c(np.array([0.0, -CURVATURE, -CURVATURE], np.float32), "curvature"),
        c(np.array([0.0, PEAK, PEAK], np.float32), "peak"),
        c(np.array([0.0, -VARIANCE_WEIGHT, -VARIANCE_WEIGHT], np.float32), "var_weight"),
        c(prior_boxes(), "priors"),
        c(np.array([NUM_ANCHORS, 4], np.int64), "box_tail"),
    ]
    nodes = [
        # channel 0 only, then undo (x - mean)/std -> display value v in [0, 1]
        helper.make_node("Slice", ["images", "ch_start", "ch_end", "ch_axis"], ["x0"]),
        helper.make_node("Mul", ["x0", "std0"], ["x0s"]),
        helper.make_node("Add", ["x0s", "mean0"], ["v"]),
        # [N,1,300,300] -> [N,1,28,28] cell means
        helper.make_node(
            "AveragePool",
            ["v"],
            ["cell_mean"],
            kernel_shape=[KERNEL, KERNEL],
            strides=[STRIDE, STRIDE],
            pads=[0, 0, 0, 0],
        ),
        # the same pool over v*v: [N,1,28,28] cell means of v^2
        helper.make_node("Mul", ["v", "v"], ["v_sq"]),
        helper.make_node(
            "AveragePool",
            ["v_sq"],
            ["cell_mean_sq"],
            kernel_shape=[KERNEL, KERNEL],
            strides=[STRIDE, STRIDE],
            pads=[0, 0, 0, 0],
        ),
        # [N,1,28,28] -> [N,784,1], row-major (i outer, j inner)
        helper.make_node("Reshape", ["cell_mean", "cell_shape"], ["m"]),
        helper.make_node("Reshape", ["cell_mean_sq", "cell_shape"], ["m2"]),
        # cell variance s2 = mean(v^2) - m^2
        helper.make_node("Mul", ["m", "m"], ["m_sq"]),
        helper.make_node("Sub", ["m2", "m_sq"], ["s2"]),
        # logits [N,784,3] = (0, 6, 6) + (0, -40, -40) * (m - (0, 0.5, P))^2
        #                    + (0, -40, -40) * s2
        helper.make_node("Sub", ["m", "centre"], ["d"]),
        helper.make_node("Mul", ["d", "d"], ["d2"]),
        helper.make_node("Mul", ["d2", "curvature"], ["d2_scaled"]),
        helper.make_node("Add", ["d2_scaled", "peak"], ["quad"]),
        helper.make_node("Mul", ["s2", "var_weight"], ["s2_scaled"]),
        helper.make_node("Add", ["quad", "s2_scaled"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["scores"], axis=-1),
        # boxes: priors [1,784,4] expanded to [N,784,4]
        helper.make_node("Shape", ["images"], ["batch"], start=0, end=1),
        helper.make_node("Concat", ["batch", "box_tail"], ["box_shape"], axis=0),
        helper.make_node("Expand", ["priors", "box_shape"], ["boxes"]),
    ]
    graph = helper.make_graph(
        nodes,
        f"{finding}_test_blob",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, INPUT_SIZE, INPUT_SIZE])],
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["N", NUM_ANCHORS, 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", NUM_ANCHORS, 3]),
        ],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="rajoints make_test_models.py",
        producer_version=VERSION,
        doc_string=(
            f"rajoints test detector for {finding}: bright square blob detector, "
            f"logits background 0, absent {PEAK:g} - {CURVATURE:g}*(m - {ABSENT_CENTRE:g})^2 "
            f"- {VARIANCE_WEIGHT:g}*s2, present {PEAK:g} - {CURVATURE:g}*(m - {centre:g})^2 "
            f"- {VARIANCE_WEIGHT:g}*s2 (m, s2: mean and variance of the 30x30 cell). "
            "Not trained; tests only."
        ),
    )
    model.ir_version = IR_VERSION
    model.model_version = 0
    helper.set_model_props(
        model,
        {
            "name": finding,
            "finding": finding,
            "version": VERSION,
            "input_size": str(INPUT_SIZE),
            "mean": ",".join(repr(v) for v in MEAN),
            "std": ",".join(repr(v) for v in STD),
            "classes": ",".join(CLASSES),
            "box_format": BOX_FORMAT,
            "intended_use": INTENDED_USE,
        },
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def toml_list(values) -> str:
    return "[" + ", ".join(values) + "]"


def q(s: str) -> str:
    """A TOML basic string."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def manifest(finding: str, onnx_bytes: bytes) -> str:
    sha = hashlib.sha256(onnx_bytes).hexdigest()
    lines = [
        f"name = {q(finding)}",
        f"version = {q(VERSION)}",
        f"finding = {q(finding)}",
        f"architecture = {q(ARCHITECTURE)}",
        f"file = {q(finding + '.onnx')}",
        f"sha256 = {q(sha)}",
        f"input_size = {INPUT_SIZE}",
        f"mean = {toml_list(repr(v) for v in MEAN)}",
        f"std = {toml_list(repr(v) for v in STD)}",
        f"classes = {toml_list(q(c) for c in CLASSES)}",
        "training_pixel_spacing_mm = 0.0",
        f"provenance = {q(PROVENANCE)}",
        f"intended_use = {q(INTENDED_USE)}",
    ]
    return "\n".join(lines) + "\n"


def write_models(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for finding in PRESENT_CENTRE:
        data = build_model(finding).SerializeToString(deterministic=True)
        (out / f"{finding}.onnx").write_bytes(data)
        (out / f"{finding}.toml").write_text(manifest(finding, data), encoding="utf-8")
        print(f"wrote {out / (finding + '.onnx')} and {finding}.toml")


def normalise(v: np.ndarray) -> np.ndarray:
    """[N,300,300] display values -> [N,3,300,300] model input."""
    x = np.repeat(v[:, None].astype(np.float32), 3, axis=1)
    mean = np.array(MEAN, np.float32)[None, :, None, None]
    std = np.array(STD, np.float32)[None, :, None, None]
    return (x - mean) / std


# Squares of the self-check: (window, brightness, anchor (i, j)). Each is a
# 30x30 square that exactly fills its anchor [10j, 10i, 10j+30, 10i+30];
# window 2 puts squares in the four corners of the window.
CHECK_SQUARES = [
    (0, 1.0, (12, 6)),    # x 60..90,   y 120..150: anchor 342
    (0, 0.5, (12, 21)),   # x 210..240, y 120..150: anchor 357
    (1, 0.8, (12, 6)),
    (1, 0.75, (12, 21)),
    (2, 1.0, (0, 0)),     # x 0..30,    y 0..30:    anchor 0
    (2, 0.8, (0, 27)),    # x 270..300, y 0..30:    anchor 27
    (2, 0.5, (27, 27)),   # x 270..300, y 270..300: anchor 783
    (2, 0.75, (27, 0)),   # x 0..30,    y 270..300: anchor 756
]
CHECK_WINDOWS = 3
CONF_THRESHOLD = 0.9  # the paper's t_conf
NMS_IOU = 0.15  # greedy NMS suppresses a box whose IoU with a kept box is >= this
# (finding, brightness) -> the label of the one box that NMS keeps for an
# isolated square, at its centre anchor; None: the square leaves no box
SQUARE_OUTCOME = {
    ("ankylosis", 1.0): "present", ("subluxation", 1.0): "present",
    ("ankylosis", 0.8): None, ("subluxation", 0.8): "present",
    ("ankylosis", 0.75): None, ("subluxation", 0.75): None,
    ("ankylosis", 0.5): "absent", ("subluxation", 0.5): "absent",
}


def check_windows() -> np.ndarray:
    windows = np.zeros((CHECK_WINDOWS, INPUT_SIZE, INPUT_SIZE), np.float32)
    for n, value, (i, j) in CHECK_SQUARES:
        windows[n, STRIDE * i : STRIDE * i + KERNEL, STRIDE * j : STRIDE * j + KERNEL] = value
    return windows


def reference_scores(windows: np.ndarray, finding: str) -> np.ndarray:
    """float64 numpy reimplementation of the graph on display values."""
    w = windows.astype(np.float64)

    def pool(a: np.ndarray) -> np.ndarray:
        return np.stack(
            [
                a[:, STRIDE * i : STRIDE * i + KERNEL, STRIDE * j : STRIDE * j + KERNEL].mean(axis=(1, 2))
                for i in range(CELLS)
                for j in range(CELLS)
            ],
            axis=1,
        )

    m = pool(w)
    s2 = pool(w * w) - m * m
    z = np.stack(
        [
            np.zeros_like(m),
            PEAK - CURVATURE * (m - ABSENT_CENTRE) ** 2 - VARIANCE_WEIGHT * s2,
            PEAK - CURVATURE * (m - PRESENT_CENTRE[finding]) ** 2 - VARIANCE_WEIGHT * s2,
        ],
        axis=-1,
    )
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two x0,y0,x1,y1 pixel-edge boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = float(w) * float(h)
    union = float((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])) - inter
    return inter / union


def greedy_nms(boxes: np.ndarray, scores: np.ndarray) -> tuple[list[tuple[int, str, float]], int]:
    """Class-agnostic greedy NMS of one window: boxes [A, 4], scores [A, 3].

    conf = max(absent, present) and the label is the larger of the two; the
    candidates are the anchors with conf >= CONF_THRESHOLD, ranked by conf
    (ties by anchor index); a candidate is kept unless its IoU with a box
    already kept is >= NMS_IOU. Returns ([(anchor, label, conf)] in rank
    order, number suppressed)."""
    conf = scores[:, 1:].max(-1)
    labels = np.where(scores[:, 2] > scores[:, 1], 2, 1)
    cand = sorted(np.flatnonzero(conf >= CONF_THRESHOLD).tolist(), key=lambda a: (-float(conf[a]), a))
    kept: list[int] = []
    for a in cand:
        if all(iou(boxes[a], boxes[k]) < NMS_IOU for k in kept):
            kept.append(a)
    return [(a, CLASSES[labels[a]], float(conf[a])) for a in kept], len(cand) - len(kept)


def check(out: Path) -> None:
    """Run both models on a 3-window batch; compare with numpy, the table and
    the expected NMS outcome.

    Window 0: a 1.0 square on anchor (12, 6) and a 0.5 square on anchor
    (12, 21); window 1: a 0.8 square on (12, 6) and a 0.75 square on (12, 21);
    window 2: 1.0, 0.8, 0.5 and 0.75 squares in the four corners; black
    elsewhere.
    """
    import onnxruntime as ort

    def fail(msg: str) -> None:
        raise SystemExit(f"check failed: {msg}")

    windows = check_windows()
    x = normalise(windows)
    priors = prior_boxes()[0]
    for a, want in ((342, [60, 120, 90, 150]), (357, [210, 120, 240, 150]),
                    (0, [0, 0, 30, 30]), (27, [270, 0, 300, 30]),
                    (756, [0, 270, 30, 300]), (783, [270, 270, 300, 300])):
        if list(priors[a]) != want:
            fail(f"anchor {a} is {priors[a]}")
    if iou(priors[342], priors[343]) != 0.5 or not iou(priors[342], priors[344 + CELLS]) < NMS_IOU:
        fail("IoU of neighbouring anchors")
    ii = np.arange(NUM_ANCHORS) // CELLS
    jj = np.arange(NUM_ANCHORS) % CELLS

    present_at = {}  # (finding, brightness) -> present above t_conf at the centre
    results = {}
    for finding in PRESENT_CENTRE:
        path = out / f"{finding}.onnx"
        data = path.read_bytes()
        want_sha = hashlib.sha256(data).hexdigest()
        if f'sha256 = "{want_sha}"' not in (out / f"{finding}.toml").read_text():
            fail(f"{finding}.toml: sha256 does not match {path}")
        # determinism: building the graph again gives the same bytes
        if build_model(finding).SerializeToString(deterministic=True) != data:
            fail(f"{finding}: a second build differs from {path}")
        sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        boxes, scores = sess.run(["boxes", "scores"], {"images": x})
        results[finding] = scores
        nw = CHECK_WINDOWS
        if boxes.shape != (nw, NUM_ANCHORS, 4) or scores.shape != (nw, NUM_ANCHORS, 3):
            fail(f"{finding}: shapes {boxes.shape} {scores.shape}")
        if boxes.dtype != np.float32 or scores.dtype != np.float32:
            fail(f"{finding}: dtypes {boxes.dtype} {scores.dtype}")
        for n in range(nw):
            if not np.array_equal(boxes[n], priors):
                fail(f"{finding}: boxes[{n}] are not the priors")
        if not np.allclose(scores.sum(-1), 1.0, atol=1e-5):
            fail(f"{finding}: scores do not sum to 1")
        # no score anywhere near 1.0: confidences never tie at float32 1.0
        if not float(scores.max()) < 0.998:
            fail(f"{finding}: a score is {float(scores.max())} >= 0.998")

        ref = reference_scores(windows, finding)
        err = float(np.abs(scores - ref).max())
        if err > 1e-4:
            fail(f"{finding}: scores differ from numpy by {err}")

        for n, value, (i, j) in CHECK_SQUARES:
            a = CELLS * i + j
            want = softmax(logits(value, finding))  # uniform cell: s2 = 0
            got = scores[n, a]
            if np.abs(got - np.array(want)).max() > 5e-5:
                fail(f"{finding}: window {n} anchor {a} scores {got}, table says {want}")
            present_at[finding, value] = bool(got[2] > CONF_THRESHOLD and got.argmax() == 2)

        # the detector's answer: greedy NMS leaves exactly one box per square
        # that gives one, at its centre anchor, with the expected label, and
        # nothing else in the window reaches t_conf
        for n in range(nw):
            kept, suppressed = greedy_nms(boxes[n], scores[n])
            got = sorted((a, label) for a, label, _ in kept)
            want = sorted(
                (CELLS * i + j, SQUARE_OUTCOME[finding, value])
                for w, value, (i, j) in CHECK_SQUARES
                if w == n and SQUARE_OUTCOME[finding, value] is not None
            )
            if got != want:
                fail(f"{finding}: window {n}: NMS keeps {kept}, want {want}")
            # every anchor whose IoU with each kept box is below NMS_IOU
            # (so NMS could not suppress it) is below t_conf
            conf = scores[n, :, 1:].max(-1)
            free = [b for b in range(NUM_ANCHORS)
                    if all(iou(priors[b], priors[a]) < NMS_IOU for a, _ in want)]
            rest = float(conf[free].max())
            if not rest < CONF_THRESHOLD:
                fail(f"{finding}: window {n}: an anchor away from the kept boxes has conf {rest}")
            print(
                f"check {finding} window {n}: NMS keeps "
                + (", ".join(f"{a} {label} {c:.6f}" for a, label, c in kept) or "nothing")
                + f" ({suppressed} suppressed; rest of the window <= {rest:.6f})"
            )

        # anchors that touch no square are background (m = 0: 0.982014)
        far = (ii <= 8) | (ii >= 15) | (jj <= 3) | ((jj >= 9) & (jj <= 18)) | (jj >= 24)
        if not (scores[:2, far, 0] > 0.98).all():
            fail(f"{finding}: anchors away from the squares are not background > 0.98")
        print(
            f"check {finding}: ok (anchor 342: 1.0 -> present {scores[0, 342, 2]:.6f}, "
            f"0.8 -> present {scores[1, 342, 2]:.6f}; anchor 357: 0.5 -> absent "
            f"{scores[0, 357, 1]:.6f}; max |ort - numpy| = {err:.1e})"
        )

    # the one-detector case: a 0.8 square is "present" above t_conf only in
    # the subluxation model; a 1.0 square in both; a 0.75 square in neither
    want = {
        ("ankylosis", 1.0): True, ("subluxation", 1.0): True,
        ("ankylosis", 0.8): False, ("subluxation", 0.8): True,
        ("ankylosis", 0.75): False, ("subluxation", 0.75): False,
        ("ankylosis", 0.5): False, ("subluxation", 0.5): False,
    }
    if present_at != want:
        fail(f"present above {CONF_THRESHOLD}: {present_at}, want {want}")
    print("check one-detector case (0.8 square: subluxation only): ok")

    # Batch size is dynamic: 1, 2 and 3 windows (in reverse order) give the
    # same boxes and scores as the 3-window batch above.
    for finding in PRESENT_CENTRE:
        sess = ort.InferenceSession(str(out / f"{finding}.onnx"), providers=["CPUExecutionProvider"])
        for n in (1, 2, 3):
            order = list(range(CHECK_WINDOWS))[::-1][:n]
            boxes, scores = sess.run(None, {"images": x[order]})
            if boxes.shape != (n, NUM_ANCHORS, 4) or scores.shape != (n, NUM_ANCHORS, 3):
                fail(f"{finding}: batch {n}: shapes {boxes.shape} {scores.shape}")
            if not (boxes == priors).all():
                fail(f"{finding}: batch {n}: boxes are not the priors")
            diff = float(np.abs(scores - results[finding][order]).max())
            if diff > 1e-6:
                fail(f"{finding}: batch {n}: scores differ from the 3-window batch by {diff}")
    print("check batch sizes 1, 2, 3: ok")


TABLE_LEVELS = (
    (1.0, "1"), (0.9, "0.9"), (0.8, "0.8"), (0.75, "0.75"), (2 / 3, "2/3"),
    (8 / 15, "8/15"), (0.5, "0.5"), (4 / 9, "4/9"), (1 / 3, "1/3"), (2 / 9, "2/9"),
    (0.0, "0"),
)
# anchor shifts (dx, dy) from a square, with their IoU with the centre anchor
SHIFTS = ((0, 0, "centre"), (10, 0, "10 px"), (10, 10, "10 px both ways"),
          (20, 0, "20 px"), (20, 10, "20 px and 10 px"), (20, 20, "20 px both ways"))


def print_table() -> None:
    print("uniform cell of mean m (s2 = 0)")
    print("m     model        logits (bg, abs, pres)   background  absent      present     conf")
    for m, label in TABLE_LEVELS:
        for finding in PRESENT_CENTRE:
            z = logits(m, finding)
            p = softmax(z)
            zs = f"(0, {z[1]:.4g}, {z[2]:.4g})"
            print(
                f"{label:<5} {finding:<12} {zs:<24} {p[0]:<11.6g} {p[1]:<11.6g} "
                f"{p[2]:<11.6g} {max(p[1:]):.6g}"
            )
    print()
    print("around a 30x30 square of brightness b on black: m = f*b, s2 = b^2*f*(1-f), f the covered fraction")
    for dx, dy, name in SHIFTS:
        box = np.array([dx, dy, dx + KERNEL, dy + KERNEL])
        print(f"  {name}: f = {(KERNEL - dx) * (KERNEL - dy)}/900, IoU with the centre "
              f"{iou(box, np.array([0, 0, KERNEL, KERNEL])):.4g}")
    for b in (1.0, 0.8, 0.75, 0.5):
        for finding in PRESENT_CENTRE:
            cells = []
            for dx, dy, name in SHIFTS:
                m, s2 = square_cell(b, dx, dy)
                z = logits(m, finding, s2)
                p = softmax(z)
                k = max(range(3), key=lambda c: p[c])
                cells.append(f"{name}: m={m:.4g} s2={s2:.4g} z=({z[1]:.4g}, {z[2]:.4g}) "
                             f"{CLASSES[k]} conf {max(p[1:]):.6g}")
            # greedy NMS on a window with that one square (float64 reference)
            w = np.zeros((1, INPUT_SIZE, INPUT_SIZE))
            w[0, 120:150, 60:90] = b
            kept, suppressed = greedy_nms(prior_boxes()[0], reference_scores(w, finding)[0])
            nms = ", ".join(f"anchor {a} {label} {c:.6f}" for a, label, c in kept) or "nothing"
            print(f"b={b:<4} {finding:<12} NMS keeps {nms} ({suppressed} suppressed)")
            for c in cells:
                print(f"    {c}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="directory to write the models into")
    ap.add_argument("--check", dest="check", action="store_true", default=True,
                    help="run the onnxruntime self-check after writing (default)")
    ap.add_argument("--no-check", dest="check", action="store_false",
                    help="write only; skip the self-check (no onnxruntime needed)")
    ap.add_argument("--table", action="store_true",
                    help="print the probabilities at the documented levels")
    args = ap.parse_args(argv)
    if args.table:
        print_table()
        if args.out is None:
            return 0
    if args.out is None:
        ap.error("--out is required")
    write_models(args.out)
    if args.check:
        check(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
