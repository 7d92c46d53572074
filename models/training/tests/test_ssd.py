import pytest
import torch

from rajoints_train.box_coder import BoxCoder
from rajoints_train.priors import default_boxes
from rajoints_train.ssd import GRADCAM_LAYERS, SOURCE_NAMES, SSDExport, build_model, count_parameters

MAPS = [38, 19, 10, 5, 3, 1]


def test_light_model_has_the_ssd300_maps_and_outputs():
    m = build_model("light", generator=torch.Generator().manual_seed(0)).eval()
    x = torch.randn(2, 3, 300, 300, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        src = m.features(x)
        loc, conf = m.head(src)
    assert [s.shape[-1] for s in src] == MAPS
    assert loc.shape == (2, 8732, 4) and conf.shape == (2, 8732, 3)
    # Small enough for the < 25 MB ONNX file of the issue (float32 weights).
    assert count_parameters(m) * 4 < 25e6


def test_same_return_type_in_train_and_eval_mode():
    m = build_model("light")
    x = torch.randn(2, 3, 300, 300)
    m.train()
    a = m(x)
    m.eval()
    b = m(x)
    assert type(a) is type(b) and len(a) == len(b) == 2 and a[0].shape == b[0].shape


def test_vgg16_sources_are_conv4_3_conv7_and_conv8_2_to_conv11_2():
    m = build_model("vgg16").eval()
    assert SOURCE_NAMES["vgg16"] == ("conv4_3", "conv7", "conv8_2", "conv9_2", "conv10_2", "conv11_2")
    with torch.no_grad():
        src = m.features(torch.zeros(1, 3, 300, 300))
    assert [tuple(s.shape[1:]) for s in src] == [(512, 38, 38), (1024, 19, 19), (512, 10, 10), (256, 5, 5),
                                                   (256, 3, 3), (256, 1, 1)]
    assert GRADCAM_LAYERS["vgg16"] == ("conv7", "conv9_2")


def test_export_wrapper_decodes_and_softmaxes():
    m = build_model("light").eval()
    x = torch.randn(1, 3, 300, 300)
    with torch.no_grad():
        loc, conf = m(x)
        boxes, scores = SSDExport(m).eval()(x)
    assert torch.allclose(boxes, BoxCoder().decode(loc, default_boxes()))
    assert torch.allclose(scores.sum(-1), torch.ones(1, 8732))


def test_seeded_initialisation_is_reproducible():
    a = build_model("light", generator=torch.Generator().manual_seed(5))
    b = build_model("light", generator=torch.Generator().manual_seed(5))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_bad_input_and_arch_are_value_errors():
    with pytest.raises(ValueError):
        build_model("resnet")
    with pytest.raises(ValueError):
        build_model("light").features(torch.zeros(1, 1, 300, 300))
