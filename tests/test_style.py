"""Chapter 8 helpers: hooks, Gram matrices, style transfer, and the layer robustness R(f) on known answers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from rrhelpers.optimization.layer_robustness import LayerDistance, layer_robustness, rf_difference
from rrhelpers.optimization.activations import LayerFeatures, stage_layers
from rrhelpers.optimization.style import (
    StyleSetup,
    content_loss,
    gram_matrix,
    high_frequency_share,
    style_distance,
    style_loss,
    style_transfer,
)
from rrhelpers.validation import InputError

from .conftest import tiny_model


def _images(n: int, c: int, h: int, w: int, seed: int, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def _no_hooks(module: nn.Module) -> bool:
    return all(len(m._forward_hooks) == 0 for m in module.modules())


# ---------------------------------------------------------------- LayerFeatures


def test_layer_features_match_direct_computation_and_remove_hooks():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 1))
    x = _images(2, 3, 6, 6, seed=1)
    with LayerFeatures(net, ["0", "1"]) as feats:
        out = feats(x)
        assert list(out) == ["0", "1"]
        torch.testing.assert_close(out["0"], net[0](x))
        torch.testing.assert_close(out["1"], net[0](x).relu())
        assert not _no_hooks(net)
    assert _no_hooks(net)


def test_layer_features_resolve_resnet_stage_to_its_output():
    model = tiny_model(in_channels=3)
    x = _images(2, 3, 8, 8, seed=2)
    assert stage_layers(model) == ["backbone.stages.0", "backbone.stages.1"]
    bb = model.backbone
    stem = torch.relu(bb.bn1(bb.conv1(model.normalizer(x))))
    stage0 = bb.stages[0][0](stem)
    with torch.no_grad(), LayerFeatures(model, stage_layers(model)) as feats:
        out = feats(x)
    torch.testing.assert_close(out["backbone.stages.0"], stage0.detach())
    torch.testing.assert_close(out["backbone.stages.1"], bb.stages[1][0](stage0).detach())


def test_layer_features_unknown_name_lists_available_names():
    model = tiny_model(in_channels=3)
    pattern = r"unknown layer name.*'backbone.stage9'.*available layers:.*backbone\.stages\.0"
    with pytest.raises(ValueError, match=pattern):
        LayerFeatures(model, ["backbone.stage9"])
    assert _no_hooks(model)


# ---------------------------------------------------------------- Gram matrices and losses


def test_gram_matrix_hand_computation():
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)  # C=2 channels, H=1, W=2
    expected = torch.tensor([[1 * 1 + 2 * 2, 1 * 3 + 2 * 4], [3 * 1 + 4 * 2, 3 * 3 + 4 * 4]]) / (2 * 1 * 2)
    torch.testing.assert_close(gram_matrix(f), expected.view(1, 2, 2))


def test_gram_matrix_is_invariant_to_spatial_tiling():
    f = torch.randn(3, 5, 4, 3, generator=torch.Generator().manual_seed(0))
    tiled = f.repeat(1, 1, 2, 3)  # the same statistics on a 6x larger map
    torch.testing.assert_close(gram_matrix(tiled), gram_matrix(f))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        gram_matrix(f[0])


def test_style_loss_zero_for_the_style_image_and_positive_otherwise():
    model = tiny_model(in_channels=3)
    style, other = _images(1, 3, 12, 12, seed=3), _images(2, 3, 8, 10, seed=4)
    layers = stage_layers(model)
    with torch.no_grad(), LayerFeatures(model, layers) as feats:
        targets = {k: gram_matrix(v) for k, v in feats(style).items()}
        own = style_loss(feats(style), targets)
        others = style_loss(feats(other), targets, {layers[0]: 1.0, layers[1]: 0.5})
    assert own.shape == (1,) and float(own) == pytest.approx(0.0, abs=1e-12)
    assert others.shape == (2,) and bool((others > 0).all())


def test_content_loss_is_per_example_mse():
    a, b = torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4)
    b[1] = 2.0
    torch.testing.assert_close(content_loss(a, b), torch.tensor([0.0, 4.0]))
    with pytest.raises(ValueError, match="same size"):
        content_loss(a, torch.zeros(2, 3, 5, 4))


# ---------------------------------------------------------------- style transfer


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_style_transfer_lowers_the_loss_and_stays_in_range(optimizer):
    model = tiny_model(in_channels=3)
    content, style = _images(2, 3, 12, 12, seed=5), _images(1, 3, 20, 16, seed=6)  # different sizes
    result = style_transfer(
        model, content, style, stage_layers(model), "backbone.stages.1",
        style_weight=1e3, steps=15, optimizer=optimizer,
    )
    hist = result.history["total"]
    evaluations = (16, 16) if optimizer == "adam" else (2, 2 * 15 + 1)  # L-BFGS: line search, early stop
    assert evaluations[0] <= len(hist) <= evaluations[1] and all(math.isfinite(v) for v in hist)
    assert hist[-1] < 0.5 * hist[0]
    assert result.image.shape == content.shape
    assert float(result.image.min()) >= 0.0 and float(result.image.max()) <= 1.0
    assert result.style_loss.shape == (2,) and result.content_loss.shape == (2,)
    # the reported losses are those of the returned image
    with torch.no_grad(), LayerFeatures(model, stage_layers(model)) as feats:
        targets = {k: gram_matrix(v) for k, v in feats(style).items()}
        weights = {k: 0.5 for k in targets}
        torch.testing.assert_close(result.style_loss, style_loss(feats(result.image), targets, weights))


def test_style_transfer_single_image_and_noise_init_are_deterministic():
    model = tiny_model(in_channels=3)
    content, style = _images(1, 3, 10, 10, seed=7)[0], _images(1, 3, 14, 14, seed=8)[0]
    kwargs = dict(style_weight=1e3, steps=5, init="noise", optimizer="adam")
    a = style_transfer(model, content, style, ["backbone.stages.0"], "backbone.stages.1", seed=1, **kwargs)
    b = style_transfer(model, content, style, ["backbone.stages.0"], "backbone.stages.1", seed=1, **kwargs)
    c = style_transfer(model, content, style, ["backbone.stages.0"], "backbone.stages.1", seed=2, **kwargs)
    assert a.image.shape == content.shape
    torch.testing.assert_close(a.image, b.image)
    assert not torch.allclose(a.image, c.image)


def test_style_transfer_uses_the_content_model():
    model, other = tiny_model(in_channels=3, seed=0), tiny_model(in_channels=3, seed=1)
    content, style = _images(1, 3, 12, 12, seed=9), _images(1, 3, 12, 12, seed=10)
    kwargs = dict(style_weight=1e3, steps=8, init="noise")
    same = style_transfer(model, content, style, stage_layers(model), "backbone.stages.1", **kwargs)
    swapped = style_transfer(
        model, content, style, stage_layers(model), "backbone.stages.1", content_model=other, **kwargs
    )
    assert not torch.allclose(same.image, swapped.image, atol=1e-4)

    def closs(net, image):
        with torch.no_grad(), LayerFeatures(net, ["backbone.stages.1"]) as feats:
            return content_loss(feats(image)["backbone.stages.1"], feats(content)["backbone.stages.1"])

    torch.testing.assert_close(swapped.content_loss, closs(other, swapped.image))
    assert not torch.allclose(swapped.content_loss, closs(model, swapped.image))


def test_style_transfer_restores_modes_and_leaves_models_untouched():
    model, other = tiny_model(in_channels=3, seed=0).train(), tiny_model(in_channels=3, seed=1).train()
    running = model.backbone.bn1.running_mean.clone()
    content, style = _images(1, 3, 8, 8, seed=11), _images(1, 3, 8, 8, seed=12)
    style_transfer(model, content, style, stage_layers(model), "backbone.stages.1", style_weight=1.0, steps=2,
                   content_model=other)
    assert model.training and other.training
    assert all(m.training for m in model.modules())
    torch.testing.assert_close(model.backbone.bn1.running_mean, running)  # ran in eval mode: no BN update
    assert all(p.grad is None for p in model.parameters())
    assert _no_hooks(model) and _no_hooks(other)


def test_style_transfer_clear_errors():
    model = tiny_model(in_channels=3)
    content, style = _images(1, 3, 8, 8, seed=13), _images(1, 3, 8, 8, seed=14)
    with pytest.raises(ValueError, match=r"unknown layer.*available layers"):
        style_transfer(model, content, style, ["backbone.nope"], "backbone.stages.1", style_weight=1.0, steps=1)
    with pytest.raises(ValueError, match=r"unknown layer.*'conv9'"):
        style_transfer(model, content, style, stage_layers(model), "conv9", style_weight=1.0, steps=1)
    assert _no_hooks(model)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        style_transfer(model, content * 255, style, stage_layers(model), "backbone.stages.1", style_weight=1.0, steps=1)
    with pytest.raises(InputError, match="channel"):
        style_transfer(model, content[:, :1], style[:, :1], stage_layers(model), "backbone.stages.1",
                       style_weight=1.0, steps=1)
    with pytest.raises(InputError, match="channel"):
        style_transfer(nn.Conv2d(3, 2, 1), content, style[:, :2], ["weight_free"], "x", style_weight=1.0, steps=1)
    with pytest.raises(InputError, match="1 image or one per content image"):
        style_transfer(model, content.expand(3, -1, -1, -1), style.expand(2, -1, -1, -1), stage_layers(model),
                       "backbone.stages.1", style_weight=1.0, steps=1)
    with pytest.raises(ValueError, match="optimizer"):
        style_transfer(model, content, style, stage_layers(model), "backbone.stages.1", style_weight=1.0, steps=1,
                       optimizer="sgd")


# ---------------------------------------------------------------- layer robustness R(f)


class LinearNet(nn.Module):
    """conv: a 1x1 convolution W (operator norm sigma_max(W)); lin: B applied to the flattened conv output."""

    def __init__(self, w: torch.Tensor, b: torch.Tensor):
        super().__init__()
        self.conv = nn.Conv2d(w.shape[1], w.shape[0], 1, bias=True)
        self.lin = nn.Linear(b.shape[1], b.shape[0])
        with torch.no_grad():
            self.conv.weight.copy_(w[:, :, None, None])
            self.lin.weight.copy_(b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(self.conv(x).flatten(1))


def _matrix(singular_values: list[float], cols: int, seed: int) -> torch.Tensor:
    """A matrix with the given singular values and random singular vectors."""
    g = torch.Generator().manual_seed(seed)
    k = len(singular_values)
    u = torch.linalg.qr(torch.randn(k, k, generator=g))[0]
    v = torch.linalg.qr(torch.randn(cols, cols, generator=g))[0][:k]
    return u @ torch.diag(torch.tensor(singular_values)) @ v


C, H, W = 3, 4, 4
EPS = 0.05  # images in [0.3, 0.7]: the 0.05-ball never reaches the [0, 1] clamp


@pytest.fixture(scope="module")
def linear_net():
    w = _matrix([2.0, 1.0, 0.3], C, seed=0)  # 3x3 (C_out = C_in = 3)
    b = _matrix([3.0, 1.5, 1.0, 0.5, 0.2], C * H * W, seed=1)  # 5 x 48
    net = LinearNet(w, b)
    full = torch.func.jacrev(lambda x: net(x.view(1, C, H, W))[0])(torch.zeros(C * H * W))  # the map x -> lin(x)
    return net, {"conv": 2.0, "lin": float(torch.linalg.matrix_norm(full.detach(), ord=2))}


def test_layer_robustness_matches_the_top_singular_value(linear_net):
    net, sigma = linear_net
    images = _images(16, C, H, W, seed=20, lo=0.3, hi=0.7)
    res = layer_robustness(net, images, ["conv", "lin"], eps=EPS, steps=20, step_size=EPS)
    for layer in ("conv", "lin"):
        r = res[layer]
        assert r.n_images == 16 and r.n_pairs == 160 and r.numerator_values.shape == (16,)
        torch.testing.assert_close(r.numerator_values, torch.full((16,), EPS * sigma[layer]), rtol=1e-3, atol=0)
        assert r.numerator == pytest.approx(EPS * sigma[layer], rel=1e-3)
        # denominator: the mean pair distance, recomputed independently from the reported pairs
        a, b = images[r.pairs[:, 0]], images[r.pairs[:, 1]]
        assert bool((r.pairs[:, 0] != r.pairs[:, 1]).all())
        with torch.no_grad(), LayerFeatures(net, [layer]) as feats:
            dist = (feats(a)[layer] - feats(b)[layer]).flatten(1).norm(dim=1)
        assert r.denominator == pytest.approx(float(dist.mean()), rel=1e-5)
        assert r.ratio == pytest.approx(EPS * sigma[layer] / float(dist.mean()), rel=1e-3)
        assert r.ci[0] < r.ratio < r.ci[1]


def test_layer_robustness_default_step_is_a_lower_bound(linear_net):
    net, sigma = linear_net
    images = _images(8, C, H, W, seed=21, lo=0.3, hi=0.7)
    r = layer_robustness(net, images, "lin", eps=EPS, steps=30)["lin"]
    assert bool((r.numerator_values <= EPS * sigma["lin"] * (1 + 1e-4)).all())
    assert r.numerator > 0.95 * EPS * sigma["lin"]


def test_layer_robustness_ci_shrinks_with_more_images_and_covers_the_truth(linear_net):
    net, sigma = linear_net
    # the true ratio: numerator eps*sigma, denominator E||f(x1) - f(x2)|| from a large sample of pairs
    big = _images(40_000, C, H, W, seed=22, lo=0.3, hi=0.7)
    with torch.no_grad():
        true_den = float((net(big[:20_000]) - net(big[20_000:])).norm(dim=1).mean())
    truth = EPS * sigma["lin"] / true_den
    widths, covered = {}, 0
    for seed in range(20):
        images = _images(24, C, H, W, seed=100 + seed, lo=0.3, hi=0.7)
        r = layer_robustness(net, images, "lin", eps=EPS, steps=5, step_size=EPS, seed=seed, n_boot=400)["lin"]
        covered += r.ci[0] <= truth <= r.ci[1]
    assert covered >= 16  # nominal 95%: fewer than 16 of 20 would be very unlikely
    for n in (8, 128):
        images = _images(n, C, H, W, seed=23, lo=0.3, hi=0.7)
        r = layer_robustness(net, images, "lin", eps=EPS, steps=5, step_size=EPS)["lin"]
        assert r.ci[0] <= r.ratio <= r.ci[1]
        widths[n] = r.ci[1] - r.ci[0]
    assert widths[128] < 0.5 * widths[8]
    assert widths[128] > 0


def test_rf_difference_is_paired_and_needs_the_same_images(linear_net):
    net, _ = linear_net
    w, b = _matrix([2.0, 1.0, 0.3], C, seed=0), _matrix([3.3, 1.5, 1.0, 0.5, 0.2], C * H * W, seed=1)
    other_net = LinearNet(w, b)  # the same directions, a larger top singular value in the last layer
    images = _images(32, C, H, W, seed=25, lo=0.3, hi=0.7)
    first, second = (layer_robustness(m, images, "lin", eps=EPS, steps=5, step_size=EPS, seed=4)["lin"]
                     for m in (net, other_net))
    diff, (lo, hi) = rf_difference(first, second, seed=4)
    assert diff == pytest.approx(second.ratio - first.ratio) and diff > 0
    assert 0 < lo < diff < hi
    # both ratios come from the same images: the interval of their difference is much narrower than the two
    # intervals side by side, which here overlap
    assert second.ci[0] < first.ci[1]
    assert hi - lo < 0.5 * min(first.ci[1] - first.ci[0], second.ci[1] - second.ci[0])
    fewer = layer_robustness(net, images[:16], "lin", eps=EPS, steps=5, step_size=EPS, seed=4)["lin"]
    with pytest.raises(ValueError, match="same images"):
        rf_difference(first, fewer)


def test_layer_robustness_is_reproducible_and_per_layer(linear_net):
    model = tiny_model(in_channels=3, width=4)
    images = _images(6, 3, 8, 8, seed=24)
    layers = stage_layers(model)
    both = layer_robustness(model, images, layers, eps=0.5, steps=3, seed=3, batch_size=4)
    again = layer_robustness(model, images, layers, eps=0.5, steps=3, seed=3, batch_size=4)
    alone = layer_robustness(model, images, layers[1], eps=0.5, steps=3, seed=3, batch_size=4)
    for layer in layers:
        assert both[layer].ratio == again[layer].ratio and both[layer].ci == again[layer].ci
        assert both[layer].ratio > 0 and math.isfinite(both[layer].ratio)
    assert alone[layers[1]].ratio == both[layers[1]].ratio
    assert _no_hooks(model)


def test_layer_robustness_clear_errors(linear_net):
    net, _ = linear_net
    images = _images(4, C, H, W, seed=25, lo=0.3, hi=0.7)
    for eps in (0.0, -1.0, math.nan):
        with pytest.raises(ValueError, match="eps must be"):
            layer_robustness(net, images, "lin", eps=eps, steps=2)
    with pytest.raises(ValueError, match=r"unknown layer.*'fc'.*available layers: conv, lin"):
        layer_robustness(net, images, ["conv", "fc"], eps=EPS, steps=2)
    with pytest.raises(InputError, match="at least 2 images"):
        layer_robustness(net, images[:1], "lin", eps=EPS, steps=2)
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        layer_robustness(net, images * 2, "lin", eps=EPS, steps=2)
    with pytest.raises(ValueError, match="steps"):
        layer_robustness(net, images, "lin", eps=EPS, steps=0)
    with pytest.raises(ValueError, match=r"unknown layer.*'fc'"):
        LayerDistance(net, "fc", torch.zeros(1, 1))(images)


def test_style_distance_is_zero_for_the_style_itself_and_matches_style_loss():
    model = tiny_model(in_channels=3)
    style, images = _images(1, 3, 16, 16, seed=9), _images(3, 3, 12, 12, seed=10)
    layers = stage_layers(model)
    assert float(style_distance(model, style, style).abs().max()) < 1e-12
    distance = style_distance(model, images, style)
    assert distance.shape == (3,) and bool((distance > 0).all())
    with torch.no_grad(), LayerFeatures(model, layers) as feats:
        targets = {k: gram_matrix(v) for k, v in feats(style).items()}
        expected = style_loss(feats(images), targets, {k: 1.0 / len(layers) for k in layers})
    torch.testing.assert_close(distance, expected)


def test_high_frequency_share_tells_a_checkerboard_from_a_smooth_image():
    i, j = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    checkerboard = ((i + j) % 2).float().expand(3, 32, 32)
    smooth = (0.5 + 0.4 * torch.sin(2 * torch.pi * i / 32)).float().expand(3, 32, 32)
    shares = high_frequency_share(torch.stack([checkerboard, smooth, torch.full((3, 32, 32), 0.5)]))
    assert shares[0] > 0.99 and shares[1] < 0.01 and shares[2] == 0
    noisy = (smooth + 0.05 * torch.randn(3, 32, 32, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    assert shares[1] < high_frequency_share(noisy)[0] < shares[0]
    with pytest.raises(ValueError, match="Nyquist"):
        high_frequency_share(smooth, cutoff=0)


def test_minimize_smooth_refuses_bad_settings_clearly():
    from rrhelpers.optimization.objectives import PixelDistance
    from rrhelpers.optimization.smooth import minimize_smooth

    x0 = _images(2, 1, 4, 4, seed=30)
    term = {"pixels": PixelDistance(torch.zeros_like(x0))}
    for settings, message in (({"steps": -1}, "steps must be"), ({"steps": 2, "optimizer": "sgd"}, "optimizer must"),
                              ({"steps": 2, "lr": 0.0}, "lr must")):
        with pytest.raises(ValueError, match=message):
            minimize_smooth(term, x0, **settings)
    with pytest.raises(ValueError, match="at least one term"):
        minimize_smooth({}, x0, steps=2)
    with pytest.raises(ValueError, match="'total' names the sum"):
        minimize_smooth({"total": term["pixels"]}, x0, steps=2)
    x, history = minimize_smooth(term, x0, steps=5, optimizer="adam", lr=0.1)
    assert (x.sum() < x0.sum()) and len(history["pixels"]) == len(history["total"]) == 5


def test_untrained_judges_are_seeded_and_the_relative_distance_runs_from_content_to_style():
    from rrhelpers.optimization.style import relative_style_distance, untrained_judges

    model = tiny_model(in_channels=3)
    judges = untrained_judges(model, 2, seed=5)
    again = untrained_judges(model, 2, seed=5)
    assert len(judges) == 2 and judges[0].config == model.config
    assert all(torch.equal(a, b) for a, b in zip(judges[1].state_dict().values(), again[1].state_dict().values()))
    assert not torch.equal(judges[0].head.weight, judges[1].head.weight)
    content, style = _images(1, 3, 16, 16, seed=40), _images(1, 3, 16, 16, seed=41, lo=0.4, hi=0.6)
    assert relative_style_distance(judges, content, content, style) == pytest.approx(1.0)
    assert relative_style_distance(judges, style, content, style) == pytest.approx(0.0, abs=1e-6)


# ---------------------------------------------------------------- the chapter's set-up and measures


def _setup(model: nn.Module) -> StyleSetup:
    return StyleSetup.for_photos(model, ["chelsea"], ["brick", "grass"], size=16, content_stage=1, steps=2)


def test_style_setup_transfers_every_pair_with_one_set_of_settings():
    model = tiny_model(in_channels=3)
    setup = _setup(model)
    assert setup.layers == ("backbone.stages.0", "backbone.stages.1") and setup.content_layer == "backbone.stages.1"
    assert setup.describe() == "style layers: ['stages.0', 'stages.1'] | content layer: stages.1"
    assert setup.pairs == [("chelsea", "brick"), ("chelsea", "grass")]
    assert list(setup.images) == ["chelsea", "brick", "grass"]
    assert setup.image("brick") is setup.styles["brick"] and setup.image("astronaut").shape == (1, 3, 16, 16)
    transfers = setup.transfer_pairs({"a": model, "b": tiny_model(in_channels=3, seed=1)}, 10.0)
    assert list(transfers) == [("a", "chelsea", "brick"), ("a", "chelsea", "grass"), ("b", "chelsea", "brick"),
                               ("b", "chelsea", "grass")]
    direct = style_transfer(model, setup.contents["chelsea"], setup.styles["grass"], list(setup.layers),
                            setup.content_layer, style_weight=10.0, steps=2)
    torch.testing.assert_close(transfers[("a", "chelsea", "grass")], direct.image)
    assert not torch.equal(transfers[("a", "chelsea", "grass")], transfers[("b", "chelsea", "grass")])


def test_high_frequency_table_gives_each_transfer_its_excess_over_the_larger_source():
    from rrhelpers.optimization.style import high_frequency_table

    i, j = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
    checkerboard = ((i + j) % 2).float().expand(1, 3, 16, 16)
    smooth = (0.5 + 0.4 * torch.sin(2 * torch.pi * i / 16)).float().expand(1, 3, 16, 16)
    half = 0.5 * checkerboard + 0.5 * smooth
    rows = high_frequency_table({"c": smooth, "s": half}, {("robust", "c", "s"): checkerboard,
                                                           ("standard", "c", "s"): smooth})
    share = {name: float(high_frequency_share(x)) for name, x in (("smooth", smooth), ("half", half),
                                                                   ("checkerboard", checkerboard))}
    assert rows == [{"content": "c", "style": "s", "content share": share["smooth"], "style share": share["half"],
                     "robust share": share["checkerboard"], "standard share": share["smooth"],
                     "robust excess": share["checkerboard"] - share["half"],
                     "standard excess": share["smooth"] - share["half"]}]
    assert rows[0]["robust excess"] > 0 > rows[0]["standard excess"]


def test_held_out_distances_trade_off_and_summary():
    from rrhelpers.optimization.style import (held_out_summary, relative_style_distances, style_trade_off,
                                              untrained_judges)

    judges = untrained_judges(tiny_model(in_channels=3), 2, seed=3)
    content, style = _images(1, 3, 16, 16, seed=50), _images(1, 3, 16, 16, seed=51, lo=0.4, hi=0.6)
    distances = relative_style_distances(judges, {"c": content, "s": style},
                                         {("robust", "c", "s"): style, ("standard", "c", "s"): content})
    assert list(distances) == ["robust", "standard"]
    assert distances["robust"].tolist() == [pytest.approx(0.0, abs=1e-6)]
    assert distances["standard"].tolist() == [pytest.approx(1.0)]
    (moved_content, at_content), (moved_style, at_style) = style_trade_off(judges, [content, style], content, style)
    assert moved_content == 0.0 and at_content == pytest.approx(1.0)
    assert moved_style == pytest.approx(float((style - content).pow(2).mean().sqrt())) and at_style < 1e-6
    summary = held_out_summary({"robust": torch.tensor([0.2, 0.9]), "standard": torch.tensor([0.5, 0.4])},
                               [("c", "s"), ("c", "t")])
    assert summary.splitlines() == [
        "robust  : held-out style distance 0.550 (per pair: c/s 0.200, c/t 0.900)",
        "standard: held-out style distance 0.450 (per pair: c/s 0.500, c/t 0.400)",
        "verdict: the standard network's results are closer to the styles on average (robust closer in 1 of 2 pairs)"]


def test_rf_table_prints_a_row_per_layer_and_a_column_per_network():
    from rrhelpers.optimization.layer_robustness import LayerRobustness, rf_table

    def rf(ratio: float, layer: str) -> LayerRobustness:
        return LayerRobustness(layer, ratio, ratio, 1.0, 2, 2, (ratio - 0.01, ratio + 0.02), 0.9, 0.5,
                               torch.zeros(2), torch.zeros(2), torch.zeros(2, 2))

    layers = ["backbone.stages.0", "backbone.stages.1"]
    table = rf_table({"robust": {layer: rf(0.1 * (k + 1), layer) for k, layer in enumerate(layers)},
                      "standard": {layer: rf(0.5, layer) for layer in layers}})
    assert table.splitlines() == [
        "layer      robust R(f) [90% CI]       standard R(f) [90% CI]",
        "stages.0   0.100 [0.090, 0.120]       0.500 [0.490, 0.520]",
        "stages.1   0.200 [0.190, 0.220]       0.500 [0.490, 0.520]"]
