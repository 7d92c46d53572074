"""What a site export contains, and the rare-joint oversampling (data.py): one-hand films,
deleted joints, films marked not assessable; destroyed joints drawn more often."""

import json
import shutil

import numpy as np
import pytest

from rajoints_train.config import ABSENT, PRESENT, TrainConfig
from rajoints_train.data import (JointAnn, JointCropDataset, PreparedImage, is_rare, load_annotations,
                                 rare_extra_windows)
from rajoints_train.priors import default_boxes
from rajoints_train.train import build_dataset


def test_rare_windows_hand_worked():
    # 10 windows, 1 rare joint, share 0.25: E extra windows need (1 + E) / (10 + E) >= 0.25,
    # i.e. E >= 1.5 / 0.75 = 2: 12 windows, 3 of them rare.
    assert rare_extra_windows(10, 1, 0.25) == 2
    assert rare_extra_windows(10, 0, 0.25) == 0  # nothing rare: nothing to oversample
    assert rare_extra_windows(10, 3, 0.25) == 0  # already 30 %
    assert rare_extra_windows(10, 1, 0.0) == 0  # switched off
    assert rare_extra_windows(100, 1, 0.5) == 98  # 99 of 198
    assert rare_extra_windows(2600, 65, 0.25) == 780  # the real-film case: 845 of 3380
    with pytest.raises(ValueError):
        rare_extra_windows(10, 1, 1.0)


def _image(rare_index: int | None, n: int = 10) -> PreparedImage:
    boxes = np.array([[20 + 50 * k, 100, 60 + 50 * k, 140] for k in range(n)], dtype=np.float32)
    labels = np.full(n, ABSENT, dtype=np.int64)
    rare = np.zeros(n, dtype=bool)
    if rare_index is not None:
        labels[rare_index], rare[rare_index] = PRESENT, True
    pixels = np.random.default_rng(0).random((300, 600), dtype=np.float32)
    return PreparedImage("a.dcm", pixels, 0.5, 0.5, boxes, labels,
                         tuple(f"j{k}" for k in range(n)), rare)


def test_dataset_draws_extra_windows_around_the_rare_joint():
    ds = JointCropDataset([_image(3)], default_boxes(), rare_fraction=0.25)
    assert (len(ds), ds.joint_windows, ds.rare_joints, ds.extra_windows) == (12, 10, 1, 2)
    assert int(ds.is_rare.sum()) == 3 and ds.items[10:] == [(0, 3), (0, 3)]
    # Each extra window is its own draw: another crop of the same joint.
    crops = [ds.sample(k)[0] for k in (3, 10, 11)]
    assert not (np.array_equal(crops[0], crops[1]) and np.array_equal(crops[1], crops[2]))
    plain = JointCropDataset([_image(None)], default_boxes(), rare_fraction=0.25)
    assert (len(plain), int(plain.is_rare.sum())) == (10, 0)


def test_a_destroyed_joint_is_rare_for_both_detectors():
    ank = JointAnn("R-PIP2", (0, 0, 1, 1), ankylosis=True, subluxation=False)
    sub = JointAnn("R-PIP3", (0, 0, 1, 1), ankylosis=False, subluxation=True)
    normal = JointAnn("R-PIP4", (0, 0, 1, 1), ankylosis=False, subluxation=False)
    assert is_rare(ank, ABSENT) and is_rare(sub, ABSENT) and is_rare(normal, PRESENT)
    assert not is_rare(normal, ABSENT)


def _site_dataset(tiny_dataset, tmp_path):
    """The tiny set as a site might export it: image 0 one hand (10 joints), image 1 with
    two joints deleted, image 2 not assessable (``"joints": []``, as the node writes it and
    the Rust reader requires), image 3 untouched."""
    ds = tmp_path / "site"
    shutil.copytree(tiny_dataset / "images", ds / "images")
    doc = json.loads((tiny_dataset / "annotations.json").read_text())
    imgs = doc["images"]
    imgs[0]["joints"] = [j for j in imgs[0]["joints"] if j["joint"].startswith("R-")]
    imgs[0]["laterality"] = "R"
    imgs[1]["joints"] = imgs[1]["joints"][2:]
    imgs[2]["assessable"] = False
    imgs[2]["reason"] = "rotated"
    imgs[2]["joints"] = []
    (ds / "annotations.json").write_text(json.dumps(doc))
    return ds


def test_loader_accepts_a_site_export_and_training_skips_the_not_assessable(tiny_dataset, tmp_path):
    ds = _site_dataset(tiny_dataset, tmp_path)
    anns = load_annotations(ds)
    assert [len(a.joints) for a in anns] == [10, 18, 0, 20]
    assert [a.assessable for a in anns] == [True, True, False, True]
    cfg = TrainConfig(dataset=str(ds), finding="ankylosis", arch="light", out=str(tmp_path / "run"))
    _, facts = build_dataset(cfg)
    assert (facts["images"], facts["skipped_not_assessable"], facts["joint_windows"]) == (3, 1, 48)


@pytest.mark.parametrize("change, message", [
    (lambda img: img.update(assessable="no"), "assessable must be true/false"),
    (lambda img: img.pop("joints"), "missing field 'joints'"),
    # Not assessable is no exception: the list is still required, as by src/annotations.rs.
    (lambda img: (img.update(assessable=False), img.pop("joints")), "missing field 'joints'"),
    (lambda img: img["joints"].append(dict(img["joints"][0])), "annotated twice"),
    (lambda img: img["joints"][0].update(box=[5, 5, 5, 9]), "empty or invalid box"),
    # The look-alike fields of issue 17 (hard negatives).
    (lambda img: img["joints"][0].update(jsn=5), "jsn must be an integer 0-4"),
    (lambda img: img["joints"][0].update(overlap="yes"), "overlap must be true/false"),
    (lambda img: img.update(landmarks=[{"kind": "elbow", "box": [0, 0, 1, 1]}]), "landmark kind"),
    (lambda img: img.update(landmarks=[{"kind": "dip", "name": "R-DIP2", "box": [5, 0, 1, 1]}]), "invalid box"),
])
def test_loader_still_refuses_invalid_input(tiny_dataset, tmp_path, change, message):
    doc = json.loads((tiny_dataset / "annotations.json").read_text())
    change(doc["images"][0])
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=message):
        load_annotations(path)
