"""Hard-negative windows (issue 17): look-alikes read from the annotations, and as many
windows per look-alike kind as the rare joints get (data.py)."""

import json

import numpy as np

from rajoints_train.config import ABSENT, PRESENT
from rajoints_train.data import (LOOKALIKE_KINDS, JointCropDataset, PreparedImage, draw_crop_around,
                                 load_annotations, lookalike_boxes)
from rajoints_train.priors import default_boxes
import torch


def _image() -> PreparedImage:
    n = 10
    boxes = np.array([[20 + 50 * k, 100, 60 + 50 * k, 140] for k in range(n)], dtype=np.float32)
    labels = np.full(n, ABSENT, dtype=np.int64)
    rare = np.zeros(n, dtype=bool)
    labels[3], rare[3] = PRESENT, True
    looks = {k: np.zeros((0, 4), dtype=np.float32) for k in LOOKALIKE_KINDS}
    looks["dip"] = np.array([[30, 20, 60, 50], [130, 20, 160, 50], [230, 20, 260, 50]], dtype=np.float32)
    looks["jsn2"] = boxes[[5]]
    pixels = np.random.default_rng(0).random((400, 600), dtype=np.float32)
    return PreparedImage("a.dcm", pixels, 0.5, 0.5, boxes, labels, tuple(f"j{k}" for k in range(n)), rare, looks)


def test_lookalike_windows_hand_worked():
    # 10 joint windows, 1 rare, share 0.25: 2 extra, so 3 rare windows. Ratio 1: 3 windows
    # for each kind that has boxes (dip, jsn2), none for the others: 12 + 6 = 18.
    ds = JointCropDataset([_image()], default_boxes(), rare_fraction=0.25, lookalike_ratio=1.0)
    assert ds.lookalike_windows == {"dip": 3, "cmc": 0, "carpus": 0, "wrist": 0, "jsn2": 3, "overlap": 0}
    assert len(ds) == 18 and int(ds.is_rare.sum()) == 3
    # Ratio 0.5: ceil(1.5) = 2 per kind.
    half = JointCropDataset([_image()], default_boxes(), rare_fraction=0.25, lookalike_ratio=0.5)
    assert half.lookalike_windows["dip"] == 2 and len(half) == 16
    # Off (the paper): the items are those of before.
    off = JointCropDataset([_image()], default_boxes(), rare_fraction=0.25)
    assert len(off) == 12 and sum(off.lookalike_windows.values()) == 0


def test_lookalike_windows_cycle_through_the_boxes_over_epochs():
    ds = JointCropDataset([_image()], default_boxes(), rare_fraction=0.0, lookalike_ratio=2.0)
    # 1 rare window, ratio 2: 2 DIP windows per epoch over 3 DIP boxes: epoch 0 takes boxes 0, 1;
    # epoch 1 slots 0, 1 at offset 2: boxes 2 and (3 mod 3 =) 0.
    assert ds.lookalike_windows["dip"] == 2
    firsts = []
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        firsts.append([float(ds._lookalike_at("dip", s)[1][0]) for s in range(2)])
    assert firsts == [[30.0, 130.0], [230.0, 30.0]]


def test_a_lookalike_window_holds_its_box_and_the_joints_as_targets():
    img = _image()
    for seed in range(20):
        g = torch.Generator().manual_seed(seed)
        pixels, boxes, labels, (x0, y0) = draw_crop_around(img, img.lookalike_boxes("dip")[2], g)
        assert x0 <= 230 and y0 <= 20 and x0 + 300 >= 260 and y0 + 300 >= 50
        assert len(boxes) >= 1 and set(labels.tolist()) <= {ABSENT, PRESENT}


def test_landmarks_jsn_and_overlap_are_read_and_grouped(tiny_dataset, tmp_path):
    doc = json.loads((tiny_dataset / "annotations.json").read_text())
    img = doc["images"][0]
    img["landmarks"] = [{"kind": "dip", "name": "R-DIP2", "box": [1, 2, 30, 40]},
                        {"kind": "radius", "name": "R-radius", "box": [5, 5, 50, 50]},
                        {"kind": "ulna", "name": "R-ulna", "box": [6, 6, 60, 60]}]
    for j in img["joints"][:2]:
        j["ankylosis"] = False
        j["subluxation"] = None if j["joint"].endswith("-IP1") else False
    img["joints"][0]["jsn"] = 2
    img["joints"][1]["overlap"] = True
    img["joints"][2]["jsn"] = 2
    img["joints"][2]["ankylosis"] = True  # a finding is not a look-alike
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(doc))
    ann = load_annotations(path)[0]
    looks = lookalike_boxes(ann)
    assert len(looks["dip"]) == 1 and len(looks["wrist"]) == 2 and looks["cmc"] == []
    assert looks["jsn2"] == [ann.joints[0].box] and looks["overlap"] == [ann.joints[1].box]
