"""Learning-rate steps (``--lr-decay-at``), worked by hand."""

import pytest

from rajoints_train.config import TrainConfig
from rajoints_train.train import lr_at, parse_args


def cfg(**kw) -> TrainConfig:
    return TrainConfig(dataset="d", finding="ankylosis", out="o", **kw)


def test_constant_without_steps():
    c = cfg()
    assert lr_at(c, 0) == 1e-3 and lr_at(c, 10**6) == 1e-3


def test_steps_apply_from_the_named_iteration():
    # lr 1e-3, x0.1 after 10 and after 20 steps: steps 0-9 at 1e-3, 10-19 at 1e-4, 20- at 1e-5.
    c = cfg(lr_decay_at=(10, 20))
    assert lr_at(c, 9) == pytest.approx(1e-3)
    assert lr_at(c, 10) == pytest.approx(1e-4)
    assert lr_at(c, 19) == pytest.approx(1e-4)
    assert lr_at(c, 20) == pytest.approx(1e-5)


def test_factor_half():
    c = cfg(lr=0.4, lr_decay_at=(3,), lr_decay_factor=0.5)
    assert lr_at(c, 2) == pytest.approx(0.4) and lr_at(c, 3) == pytest.approx(0.2)


@pytest.mark.parametrize("steps", [(0,), (20, 10)])
def test_bad_steps_refused(steps):
    with pytest.raises(ValueError, match="lr_decay_at"):
        cfg(lr_decay_at=steps).validate()


def test_cli_and_config_round_trip():
    c, _ = parse_args(["--dataset", "d", "--finding", "subluxation", "--out", "o",
                       "--lr-decay-at", "800", "900", "--lr-decay-factor", "0.2"])
    assert c.lr_decay_at == (800, 900) and c.lr_decay_factor == 0.2
    assert TrainConfig.from_dict(c.to_dict()) == c
    old = c.to_dict()
    del old["lr_decay_at"], old["lr_decay_factor"]  # a checkpoint from before the option
    assert TrainConfig.from_dict(old).lr_decay_at == ()
