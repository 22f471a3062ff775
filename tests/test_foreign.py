"""torchvision and timm classifiers wrapped as RobustModel by naming the final linear layer: same logits, R(x) is
that layer's input, saved files rebuild, bad names fail clearly, and the solver runs on them."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rrhelpers as rr
from rrhelpers.networks.wrapping import wrap_classifier

from .test_convert import _randomise_batchnorm

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _normalised(x: torch.Tensor) -> torch.Tensor:
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def _head_input(network: nn.Module, head: str, x: torch.Tensor) -> torch.Tensor:
    seen = []
    handle = network.get_submodule(head).register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    with torch.no_grad():
        network(x)
    handle.remove()
    return torch.flatten(seen[0], 1)


@pytest.fixture(scope="module")
def resnet():
    from torchvision.models import resnet18

    torch.manual_seed(0)
    return _randomise_batchnorm(resnet18(num_classes=7))


def test_torchvision_classifier_keeps_logits_and_exposes_representation(resnet, tmp_path):
    model = wrap_classifier(resnet, "torchvision:resnet18", MEAN, STD,
                            network_kwargs={"num_classes": 7}, classes=list("abcdefg"))
    assert model.backbone.head_name == "fc" and model.num_features == 512
    x = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        assert model(x).std(dim=0).min() > 1e-3, "a probe whose logits depend on the input"
        torch.testing.assert_close(model(x), resnet(_normalised(x)))
        torch.testing.assert_close(model.representation(x), _head_input(resnet, "fc", _normalised(x)))
    path = rr.save_model(model, tmp_path / "m.safetensors")
    loaded, _ = rr.load_model_file(path)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x)) and loaded.classes == list("abcdefg")
    assert isinstance(resnet.fc, nn.Linear), "the original network is left unchanged"


def test_timm_classifier_is_wrapped_by_its_classifier():
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    network = timm.create_model("test_resnet", pretrained=False, num_classes=5).eval()
    model = wrap_classifier(network, "timm:test_resnet", MEAN, STD, network_kwargs={"num_classes": 5})
    assert model.backbone.head_name == "fc"
    x = torch.rand(2, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(model(x), network(_normalised(x)))
        torch.testing.assert_close(model.representation(x), network.forward_head(network.forward_features(
            _normalised(x)), pre_logits=True))


def test_bad_head_names_fail_clearly(resnet):
    with pytest.raises(ValueError, match=r"has no layer 'head'; its linear layers are \['fc'\]"):
        wrap_classifier(resnet, "torchvision:resnet18", MEAN, STD, head="head", network_kwargs={"num_classes": 7})
    with pytest.raises(ValueError, match="Conv2d, not the final nn.Linear"):
        wrap_classifier(resnet, "torchvision:resnet18", MEAN, STD, head="conv1")
    with pytest.raises(ValueError, match="do not fit an untrained torchvision:resnet34"):  # wrong arch name
        wrap_classifier(resnet, "torchvision:resnet34", MEAN, STD, network_kwargs={"num_classes": 7})


def test_a_linear_layer_that_is_not_last_is_refused():
    from torchvision.models import mobilenet_v3_small

    network = mobilenet_v3_small(num_classes=7).eval()  # classifier: Linear, Hardswish, Dropout, Linear
    assert wrap_classifier(network, "torchvision:mobilenet_v3_small", MEAN, STD,
                           network_kwargs={"num_classes": 7}).backbone.head_name == "classifier.3"
    with pytest.raises(ValueError, match="'classifier.0' is not the network's last operation"):
        wrap_classifier(network, "torchvision:mobilenet_v3_small", MEAN, STD, head="classifier.0",
                        network_kwargs={"num_classes": 7})


def test_fake_relu_is_refused_and_the_solver_runs(resnet):
    model = wrap_classifier(resnet, "torchvision:resnet18", MEAN, STD,
                            network_kwargs={"num_classes": 7})
    x = torch.rand(4, 3, 64, 64)
    with pytest.raises(ValueError, match="fake_relu=False"):
        model.representation(x, fake_relu=True)
    y = model.predict(x)
    adv = rr.pgd_attack(model, x, y, eps=2.0, steps=5, step_size=0.5)
    with torch.no_grad():
        before = nn.functional.cross_entropy(model(x), y)
        after = nn.functional.cross_entropy(model(adv), y)
    assert after > before and ((adv - x).flatten(1).norm(dim=1) <= 2.0 + 1e-4).all()


def test_avg_pool_variant_swaps_max_pooling():
    from torchvision.models import vgg11

    torch.manual_seed(0)
    network = vgg11(num_classes=3).eval()
    model = wrap_classifier(network, "torchvision:vgg11", MEAN, STD, avg_pool=True, network_kwargs={"num_classes": 3})
    pools = [type(m) for m in model.modules() if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d))]
    assert pools and all(p is nn.AvgPool2d for p in pools)
    with rr.networks.models.frozen(model):
        assert model(torch.rand(1, 3, 32, 32)).shape == (1, 3)
