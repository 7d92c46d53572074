"""Shared fixtures. Tests run on one CPU thread with tiny tensors; the synthetic dataset
(rajoints_train.synth) is written once per session."""

import sys
from pathlib import Path

import pytest
import torch

TRAINING = Path(__file__).resolve().parents[1]
REPO = TRAINING.parents[1]
sys.path.insert(0, str(TRAINING))

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    from rajoints_train.synth import make_dataset

    return make_dataset(tmp_path_factory.mktemp("tiny") / "ds", count=4, width=600, height=500, seed=0)
