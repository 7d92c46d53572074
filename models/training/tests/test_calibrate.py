"""Calibration (calibrate.py): the fit, the threshold and the reliability figures on cases
worked by hand, and the pairs read from the node's predictions."""

import json
import math

import numpy as np
import pytest

from rajoints_train.calibrate import (choose_threshold, fit, fit_temperature, logit, match_one_to_one,
                                      pairs_from_predictions, prf, reliability, svg)
from rajoints_train.data import load_annotations


def test_temperature_hand_worked():
    # At z = +4, 8 of 10 joints have the finding; at z = -4, 2 of 10. The likelihood is best
    # where sigmoid(4 / T) = 0.8, i.e. 4 / T = ln 4: T = 4 / ln 4 = 2.8854.
    z = np.array([4.0] * 10 + [-4.0] * 10)
    y = np.array([True] * 8 + [False] * 2 + [True] * 2 + [False] * 8)
    assert math.isclose(fit_temperature(z, y), 4 / math.log(4), rel_tol=1e-4)
    # Nothing to fit without both classes.
    assert fit_temperature(z, np.zeros(20, dtype=bool)) == 1.0


def test_reliability_hand_worked():
    q = np.array([0.05, 0.15, 0.95, 0.85])
    y = np.array([0.0, 1.0, 1.0, 1.0])
    r = reliability(q, y)
    # Bins 0, 1, 8, 9 hold one joint each: |0 - 0.05| + |1 - 0.15| + |1 - 0.95| + |1 - 0.85|, over 4.
    assert math.isclose(r["ece"], (0.05 + 0.85 + 0.05 + 0.15) / 4)
    assert math.isclose(r["brier"], (0.0025 + 0.7225 + 0.0025 + 0.0225) / 4)
    assert [b["count"] for b in r["bins"]] == [1, 1, 0, 0, 0, 0, 0, 0, 1, 1]
    # q = 1.0 falls in the last bin.
    assert reliability(np.array([1.0]), np.array([1.0]))["bins"][9]["count"] == 1


def test_threshold_maximises_f_hand_worked():
    # Positives at 0.9, 0.7, 0.3; negatives at 0.6, 0.2. Above 0.6 (0.61..0.69): P 1, R 2/3, F 0.8;
    # above 0.3 (0.31..0.59): P 2/3, R 2/3; above 0.2: P 3/4, R 1, F 6/7 = 0.857: the best, at 0.20..0.29,
    # of which 0.29 is nearest 0.5.
    q = np.array([0.9, 0.7, 0.3, 0.6, 0.2])
    y = np.array([True, True, True, False, False])
    assert choose_threshold(q, y) == 0.29
    p, r, f, tp, fp, fn = prf(q, y, 0.29)
    assert (tp, fp, fn) == (3, 1, 0) and math.isclose(f, 6 / 7)
    assert choose_threshold(q, np.zeros(5, dtype=bool)) == 0.5


def test_fit_reports_before_and_after():
    z = np.array([4.0] * 10 + [-4.0] * 10)
    y = [True] * 8 + [False] * 2 + [True] * 2 + [False] * 8
    r = fit(list(zip(z.tolist(), y)))
    # Calibrated, each bin's mean probability equals its observed rate: ECE 0.
    assert r["after"]["ece"] < 1e-4 < r["before"]["ece"]
    assert math.isclose(r["before"]["ece"], 1 / (1 + math.exp(-4)) - 0.8, rel_tol=1e-9)
    assert r["after"]["nll"] < r["before"]["nll"]
    assert svg("ankylosis", r["before"], r["after"]).startswith("<svg")


def test_logit_inverts_the_reported_probability():
    assert math.isclose(logit(0.75), math.log(3))
    assert logit(1.0) == 30.0 and logit(0.0) == -30.0


def test_pairs_match_predictions_to_joints_by_iou(tiny_dataset, tmp_path):
    img = load_annotations(tiny_dataset)[0]
    a, b = img.joints[0], img.joints[1]
    shifted = [v + 1.0 for v in a.box]
    pred = {"joints": [
        {"id": a.joint, "box": shifted, "ankylosis": {"present": True, "probability": 0.75},
         "subluxation": None if a.subluxation is None else {"present": False, "probability": 0.5}},
        # On the second joint, but unseen by both detectors (q = 0): no pair.
        {"id": b.joint, "box": list(b.box), "ankylosis": {"present": False, "probability": 0.0},
         "subluxation": None if b.subluxation is None else {"present": False, "probability": 0.0}},
        # Far from every joint: not matched.
        {"id": "R-PIP5", "box": [-500.0, -500.0, -400.0, -400.0], "ankylosis": {"present": True, "probability": 0.9},
         "subluxation": {"present": True, "probability": 0.9}},
    ]}
    (tmp_path / (img.file.split("/")[-1].rsplit(".", 1)[0] + ".json")).write_text(json.dumps(pred))
    pairs = pairs_from_predictions([img], tmp_path, {"ankylosis": 2.0, "subluxation": 1.0})
    # The manifest's T = 2 gave q = 0.75: z = 2 ln 3.
    assert len(pairs["ankylosis"]) == 1 and math.isclose(pairs["ankylosis"][0][0], 2 * math.log(3))
    assert pairs["ankylosis"][0][1] == a.ankylosis
    assert len(pairs["subluxation"]) == (0 if a.subluxation is None else 1)


def test_a_missing_prediction_is_a_clear_error(tiny_dataset, tmp_path):
    with pytest.raises(ValueError, match="no prediction"):
        pairs_from_predictions(load_annotations(tiny_dataset)[:1], tmp_path, {"ankylosis": 1.0, "subluxation": 1.0})


def test_matching_is_one_to_one_best_iou_first_as_rajoints_eval():
    # One prediction on B exactly, overlapping A at IoU 7/13 = 0.54: it goes to B (IoU 1),
    # though A comes first; A is left unmatched.
    a, b = [0.0, 0.0, 10.0, 10.0], [3.0, 0.0, 13.0, 10.0]
    assert match_one_to_one([a, b], [b]) == [(1, 0)]
    # Two predictions: each joint gets its own.
    assert sorted(match_one_to_one([a, b], [b, a])) == [(0, 1), (1, 0)]
    assert match_one_to_one([a], [[5.5, 0.0, 15.5, 10.0]]) == []  # IoU 4.5 / 15.5 = 0.29
    assert match_one_to_one([], [a]) == [] and match_one_to_one([a], []) == []
