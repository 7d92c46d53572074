"""The preprocessing must be the Rust node's; these cases are the hand-worked ones of
src/pipeline/scale.rs and src/dicom/decode.rs, plus the crops and targets."""

import json

import numpy as np
import pytest
import torch

from rajoints_train import data
from rajoints_train.data import (crop_origin_range, crop_window, draw_crop, load_annotations, prepare_image,
                                 read_display, resample_area, scale_factors, to_display, training_images,
                                 visible_boxes)

# --- scaling: src/pipeline/scale.rs tests ---------------------------------------------


def test_halving_averages_two_by_two_blocks():
    src = np.array([[0, 1, 2, 3], [4, 5, 6, 7]], dtype=np.float32)
    out, fx, fy = resample_area(src, 0.5, 0.5)
    assert out.tolist() == [[2.5, 4.5]] and (fx, fy) == (0.5, 0.5)


def test_a_third_of_a_pixel_overlaps_by_area():
    out, fx, _ = resample_area(np.array([[3.0, 6.0, 9.0]], dtype=np.float32), 2 / 3, 1.0)
    assert out.shape == (1, 2) and np.allclose(out, [[4.0, 8.0]], atol=1e-6)


def test_factors_follow_pixel_spacing_per_axis():
    assert scale_factors((0.125, 0.0625), 0.25, 0.5) == (0.25, 0.5)
    assert scale_factors(None, 0.25, 0.5) == (0.5, 0.5)
    assert scale_factors((0.125, 0.0625), 0.0, 0.5) == (0.5, 0.5)


def test_output_size_rounds_half_away_from_zero_and_factors_are_exact():
    out, fx, fy = resample_area(np.ones((3, 5), dtype=np.float32), 0.5, 0.5)  # 2.5 -> 3, 1.5 -> 2
    assert out.shape == (2, 3) and (fx, fy) == (3 / 5, 2 / 3)
    assert np.allclose(out, 1.0)


def test_unit_factor_keeps_the_image():
    src = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    out, fx, fy = resample_area(src, 1.0, 1.0)
    assert np.array_equal(out, src) and (fx, fy) == (1.0, 1.0)


def test_area_average_preserves_the_mean_of_a_random_image():
    g = np.random.default_rng(0)
    src = g.random((167, 201)).astype(np.float32)
    out, fx, fy = resample_area(src, 0.37, 0.41)
    assert abs(out.mean() - src.mean()) < 1e-3


# --- display values: src/dicom/decode.rs tests ----------------------------------------


def test_min_max_without_window():
    assert to_display(np.array([100.0, 300.0, 200.0]), None, "LINEAR", False).tolist() == [0.0, 1.0, 0.5]


def test_monochrome1_is_inverted():
    assert to_display(np.array([0.0, 1023.0]), None, "LINEAR", True).tolist() == [1.0, 0.0]


def test_linear_window_follows_ps3_3_c_11_2_1_2():
    v = to_display(np.array([383.0, 511.5, 640.0]), (512.0, 257.0), "LINEAR", False)
    assert v.tolist() == [0.0, 0.5, 1.0]


def test_linear_exact_and_sigmoid_windows():
    assert to_display(np.array([75.0, 100.0, 125.0]), (100.0, 50.0), "LINEAR_EXACT", False).tolist() == [0.0, 0.5, 1.0]
    assert to_display(np.array([100.0]), (100.0, 50.0), "SIGMOID", False).tolist() == [0.5]


def test_constant_image_maps_to_zero_not_nan():
    assert to_display(np.full(4, 7.0), None, "LINEAR", False).tolist() == [0.0] * 4


def test_zero_width_window_falls_back_to_min_max():
    assert to_display(np.array([0.0, 10.0]), (5.0, 0.0), "LINEAR", False).tolist() == [0.0, 1.0]


def test_the_four_synthetic_encodings_decode_to_the_same_film(tiny_dataset):
    anns = load_annotations(tiny_dataset)
    disp = [read_display(tiny_dataset / a.file) for a in anns]
    import pydicom

    stored = [pydicom.dcmread(tiny_dataset / a.file).pixel_array.astype(np.float64) for a in anns]
    # Window 2048/4096 (LINEAR) on stored s: (s + 0.5) / 4095 - 0.0001 ~ s / 4095.
    assert np.allclose(disp[0].pixels, stored[0] / 4095, atol=2e-4)
    # MONOCHROME1 without window: min-max, then inverted.
    s1 = stored[1]
    assert np.allclose(disp[1].pixels, 1 - (s1 - s1.min()) / (s1.max() - s1.min()), atol=1e-6)
    # Rescale 2 s - 100 through window 3996/8190.
    assert np.allclose(disp[2].pixels, stored[2] / 4095, atol=3e-4)
    assert disp[0].spacing_mm == (0.15, 0.15) and disp[1].spacing_mm == (0.15, 0.15)
    assert disp[3].spacing_mm is None
    for d in disp:
        assert d.pixels.dtype == np.float32 and d.pixels.min() >= 0 and d.pixels.max() <= 1


# --- annotations, targets, folds ---------------------------------------------------------


def test_each_detector_learns_its_joints_with_labels(tiny_dataset):
    ann = load_annotations(tiny_dataset)[0]
    a = prepare_image(tiny_dataset, ann, "ankylosis", 0.3, 0.5)
    s = prepare_image(tiny_dataset, ann, "subluxation", 0.3, 0.5)
    assert len(a.joints) == 20 and len(s.joints) == 18
    assert not any(j.endswith("IP1") and "PIP" not in j for j in s.joints)
    by_id = {j.joint: j for j in ann.joints}
    assert [2 if by_id[j].ankylosis else 1 for j in a.joints] == a.labels.tolist()
    assert [2 if by_id[j].subluxation else 1 for j in s.joints] == s.labels.tolist()


def test_spacing_and_halving_both_give_0_3_mm(tiny_dataset):
    # 0.15 mm resampled to 0.3 mm halves; the image without spacing is halved too.
    for ann in load_annotations(tiny_dataset):
        p = prepare_image(tiny_dataset, ann, "ankylosis", 0.3, 0.5)
        assert p.pixels.shape == (250, 300) and (p.fx, p.fy) == (0.5, 0.5)
        assert np.allclose(p.boxes[0], np.array(ann.joints[0].box) * 0.5)


def test_thumb_ip_with_a_subluxation_label_is_refused(tmp_path, tiny_dataset):
    doc = json.loads((tiny_dataset / "annotations.json").read_text())
    for j in doc["images"][0]["joints"]:
        if j["joint"] == "R-IP1":
            j["subluxation"] = False
    (tmp_path / "annotations.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="thumb IP"):
        load_annotations(tmp_path)
    doc["format"] = "rajoints-annotations/9"
    (tmp_path / "annotations.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="format"):
        load_annotations(tmp_path)


def test_training_leaves_out_the_held_out_fold(tmp_path, tiny_dataset):
    anns = load_annotations(tiny_dataset)
    folds = {"format": "rajoints-folds/1", "folds": [
        {"patients": ["SYNTH-0000"], "images": [anns[0].file, anns[1].file], "ankylosis_positive": 0, "subluxation_positive": 0},
        {"patients": ["SYNTH-0001"], "images": [anns[2].file, anns[3].file], "ankylosis_positive": 0, "subluxation_positive": 0},
    ]}
    f = tmp_path / "folds.json"
    f.write_text(json.dumps(folds))
    assert [a.file for a in training_images(anns, f, 0)] == [anns[2].file, anns[3].file]
    with pytest.raises(ValueError):
        training_images(anns, f, 2)
    folds["folds"][0]["images"].append("images/other.dcm")
    f.write_text(json.dumps(folds))
    with pytest.raises(ValueError, match="not in the dataset"):
        training_images(anns, f, 0)


# --- crops ------------------------------------------------------------------------------


def test_crop_window_pads_with_black():
    img = np.arange(16, dtype=np.float32).reshape(4, 4)
    out = crop_window(img, 3, 3, 2)
    assert out.tolist() == [[15.0, 0.0], [0.0, 0.0]]
    out = crop_window(img, -1, 0, 2)
    assert out.tolist() == [[0.0, 0.0], [0.0, 4.0]]


def test_crop_origins_keep_the_joint_inside():
    assert crop_origin_range(100.0, 130.0, 1000, 300, 150) == (0, 100)
    assert crop_origin_range(900.0, 940.0, 1000, 300, 150) == (640, 850)
    assert crop_origin_range(10.0, 400.0, 1000, 300, 150) is None  # larger than a window


def test_a_joint_mostly_inside_is_kept_and_clipped_else_dropped():
    boxes = np.array([[290.0, 10.0, 310.0, 30.0], [294.0, 50.0, 314.0, 70.0], [10.0, 10.0, 20.0, 20.0]], dtype=np.float32)
    b, l = visible_boxes(boxes, np.array([1, 2, 2]), 0.0, 0.0, 300.0, 0.5)
    assert b.tolist() == [[290.0, 10.0, 300.0, 30.0], [10.0, 10.0, 20.0, 20.0]] and l.tolist() == [1, 2]


def test_every_crop_contains_its_joint_and_the_image_pixels(tiny_dataset):
    ann = load_annotations(tiny_dataset)[1]
    img = prepare_image(tiny_dataset, ann, "ankylosis", 0.3, 0.5)
    for k in range(len(img.boxes)):
        for epoch in range(3):
            g = torch.Generator().manual_seed(data.derive_seed(0, 0, epoch, k))
            pixels, boxes, labels, (x0, y0) = draw_crop(img, k, g)
            jb = img.boxes[k] - np.array([x0, y0, x0, y0])
            assert jb.min() >= 0 and jb.max() <= 300
            assert any(np.allclose(b, jb) for b in boxes), "the crop's joint is among its targets"
            assert np.array_equal(pixels, crop_window(img.pixels, x0, y0))
            assert x0 >= 0 and y0 >= 0


def test_crops_are_drawn_afresh_each_epoch_and_reproducibly(tiny_dataset):
    from rajoints_train.priors import default_boxes

    imgs = [prepare_image(tiny_dataset, a, "subluxation", 0.3, 0.5) for a in load_annotations(tiny_dataset)]
    ds = data.JointCropDataset(imgs, default_boxes(), seed=3)
    assert len(ds) == 4 * 18
    a = ds.sample(5)
    b = ds.sample(5)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    ds.set_epoch(1)
    assert not torch.equal(ds.sample(5)[0], a[0])
    x, loc, cls = ds[5]
    assert x.shape == (3, 300, 300) and loc.shape == (8732, 4) and cls.shape == (8732,)
    assert (cls > 0).sum() >= 1
    # Normalisation of the contract: (v - 0.5) / 0.25 on all three channels.
    assert torch.allclose(x[0], (ds.sample(5)[0] - 0.5) / 0.25) and torch.equal(x[0], x[2])
