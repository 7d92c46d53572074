import math

import torch

from rajoints_train.priors import SSD300, default_boxes


def test_ssd300_has_8732_default_boxes_in_layer_order():
    d = default_boxes()
    assert d.shape == (8732, 4)
    assert SSD300.num_priors() == 8732
    per_layer = [f * f * k for f, k in zip(SSD300.feature_maps, SSD300.boxes_per_cell())]
    assert per_layer == [5776, 2166, 600, 150, 36, 4]


def test_first_cell_of_conv4_3():
    d = default_boxes()
    s1 = math.sqrt(30 * 60)
    r = math.sqrt(2)
    want = torch.tensor([[4, 4, 30, 30], [4, 4, s1, s1], [4, 4, 30 * r, 30 / r], [4, 4, 30 / r, 30 * r]], dtype=torch.float32)
    assert torch.allclose(d[:4], want)
    # Next cell is one step (8 px) to the right: columns run fastest.
    assert torch.allclose(d[4, :2], torch.tensor([12.0, 4.0]))


def test_last_layer_is_one_cell_centred_and_clipped_to_the_window():
    d = default_boxes()
    last = d[-4:]
    assert torch.allclose(last[:, :2], torch.full((4, 2), 150.0))
    assert float(last[:, 2:].max()) == 300.0
