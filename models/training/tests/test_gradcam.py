import numpy as np
import pytest
import torch

from rajoints_train.gradcam import choose_window, gradcam, jet
from rajoints_train.ssd import build_model


def test_node_window_with_the_widest_margin_is_chosen():
    # 1005 x 835 halved paper film; a joint at x 400..440 sits best in the window at 300.
    assert choose_window(np.array([400.0, 100.0, 440.0, 140.0]), 1005, 835) == (300, 0)
    # A joint too large for any window gets one centred on it.
    assert choose_window(np.array([0.0, 0.0, 400.0, 40.0]), 1005, 835) == (50, -130)


def test_both_paper_layers_get_a_heatmap_for_a_joint():
    torch.manual_seed(0)
    m = build_model("light", generator=torch.Generator().manual_seed(3))
    gray = np.zeros((300, 300), dtype=np.float32)
    gray[120:180, 130:170] = 0.8
    r = gradcam(m, gray, np.array([130.0, 130.0, 170.0, 170.0]))
    assert set(r["maps"]) == {"stage19", "extra5"}
    for cam in r["maps"].values():
        assert cam.shape == (300, 300) and cam.min() >= 0 and cam.max() <= 1
    assert r["class"] in ("absent", "present") and r["priors_used"] > 0


def test_every_source_layer_contributes_default_boxes_at_the_joint_centre():
    from rajoints_train.gradcam import centre_cell_priors
    from rajoints_train.priors import SSD300, default_boxes

    idx = centre_cell_priors(SSD300, np.array([110.0, 155.0, 134.0, 176.0]))
    assert len(idx) == 4 + 6 + 6 + 6 + 4 + 4
    d = default_boxes()[idx]
    steps = [8] * 4 + [16] * 6 + [32] * 6 + [64] * 6 + [100] * 4 + [300] * 4
    for (cx, cy), s in zip(d[:, :2].tolist(), steps):
        assert abs(cx - 122.0) <= s / 2 and abs(cy - 165.5) <= s / 2


def test_hirescam_is_available_and_unknown_methods_are_refused():
    m = build_model("light")
    gray = np.zeros((300, 300), dtype=np.float32)
    r = gradcam(m, gray, np.array([130.0, 130.0, 170.0, 170.0]), method="hirescam")
    assert r["method"] == "hirescam"
    with pytest.raises(ValueError):
        gradcam(m, gray, np.array([130.0, 130.0, 170.0, 170.0]), method="cam")


def test_unknown_layer_is_a_value_error():
    with pytest.raises(ValueError):
        gradcam(build_model("light"), np.zeros((300, 300), np.float32), np.array([0, 0, 30, 30.0]), ("conv7",))


def test_jet_runs_from_blue_to_red():
    c = jet(np.array([[0.0, 1.0]]))
    assert c[0, 0].tolist() == [0, 0, 127] and c[0, 1].tolist() == [127, 0, 0]
