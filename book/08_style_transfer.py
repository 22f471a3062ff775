# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Style transfer with robust networks
#
# Neural style transfer (Gatys et al., 2016) paints a *content* image in the manner of a *style* image by
# optimising the pixels of the result: its activations at a *content layer* should match the content image's,
# and the Gram matrices $G_l$ (channel co-activation statistics) of its activations at several *style layers*
# should match the style image's,
#
# $$\min_x \; w_s \sum_{l} \tfrac{1}{L} \|G_l(x) - G_l(x_s)\|^2 + w_c \|f_c(x) - f_c(x_c)\|^2 .$$
#
# It works remarkably well with VGG networks and poorly with ResNets unless tricks are added. Nakano's Distill
# discussion (2019) found that a **robust** ImageNet ResNet-50 works out of the box, and conjectured why: a
# standard network's features include non-robust ones, which the optimiser can match with patterns people do not
# see as style. The authors' response turned this into a measurable property of a layer $f$, its robustness
#
# $$R(f) = \frac{\mathbb{E}_{x_1}\left[\max_{\|x' - x_1\|_2 \le \varepsilon} \|f(x') - f(x_1)\|_2\right]}
# {\mathbb{E}_{x_1, x_2}\left[\|f(x_1) - f(x_2)\|_2\right]} ,$$
#
# how far an $\varepsilon$-ball can move the layer's output, relative to how far apart the layer puts two
# different images: the smaller, the more the layer's distances mean something. They found that VGG's early
# layers are almost as robust as a robust ResNet's, that single robust layers carry style where non-robust ones
# fail, and that the *style* network is what matters (a standard network can compute the content loss).
#
# The quick profile uses small ResNets trained on 32 px colour crops of the bundled photographs (robust: L2
# $\varepsilon$ = 1; telling photographs apart by their colours and textures is robust enough by itself that a
# standard network keeps about 60% of its accuracy at $\varepsilon$ = 0.5, so the robust one is trained at twice
# that) and runs them on whole photographs at 96 px: convolutional networks run on any image size.
# As in the discussion, the style layers are the outputs (after the ReLU) of every residual stage; the content
# layer is ResNet-50's 4th stage there, and the middle of the quick networks' three stages here (their last stage
# keeps too little of the layout at this image size). Both networks use the same code and settings: L-BFGS with a
# strong-Wolfe line search on the image's logits (so every image it tries is valid), started from the content
# image.

# %% tags=["parameters"]
profile = "quick"  # "quick" (CPU, colour photo crops) or "cifar10"
contents = None  # content photographs (bundled); None: the profile's (quick: chelsea, astronaut)
styles = None  # style images (bundled photographs and textures); None: immunohistochemistry, brick
size = None  # side of the square images, px; None: 96
style_weights = None  # the style-weight grid; None: 1e2, 1e3, 1e4, 1e5
style_weight = None  # the style weight of the main comparison; None: 1e4
steps = None  # L-BFGS iterations; None: the profile's (quick: 50)
content_stage = None  # index of the residual stage used as content layer; None: the profile's (quick: 1, cifar10: 3)
rf_images = None  # test images for R(f); None: 128
rf_eps = None  # L2 radius of R(f)'s inner maximisation; None: the profile's (quick: 0.5)
rf_steps = None  # solver steps of the inner maximisation; None: 10
seed = None  # which test images for R(f), and the held-out judge networks; None: 0

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

import rrhelpers as rr
from rrhelpers.book import panels, plots

cfg, P, models, test_set, _ = rr.chapter_kit("style_transfer", globals())
setup = rr.StyleSetup.for_photos(models["robust"], cfg.contents, cfg.styles, size=cfg.size,
                                 content_stage=cfg.content_stage, steps=cfg.steps)

# %% [markdown]
# ## The style weight, for both networks
#
# The first content and style image, for every style weight of the grid (the content weight is 1). The printed
# losses are each network's own, in its own units, so they cannot be compared across networks; the held-out
# judge of the claim check can.

# %%
for name, m in models.items():
    print(f"{name}: {getattr(cfg, name)}, test accuracy {m.metadata.get('test_accuracy')}")
print(setup.describe())
first = (cfg.contents[0], cfg.styles[0])
grid = {(name, w): setup.transfer(m, *first, w) for name, m in models.items() for w in cfg.style_weights}
weight_labels = [f"style weight {w:g}" for w in cfg.style_weights]
panels.Panel.of({key: r.image for key, r in grid.items()}, column_labels=weight_labels).figure(
    f"{first[0]} in the style of {first[1]}", 1.9)
plt.show()
for (name, w), result in grid.items():
    print(f"{name:8s} style weight {w:8g}: style loss {result.style_loss.item():.3g}, "
          f"content loss {result.content_loss.item():.3g}")

# %% [markdown]
# ## Every content and style image
#
# At the chosen style weight, with the same code and settings for both networks.

# %%
results = setup.transfer_pairs(models, cfg.style_weight)
for c in cfg.contents:
    panels.style_panel(setup, results, c).figure(size=1.9)
    plt.show()

# %% [markdown]
# ## High frequencies
#
# The Distill discussion saw fine checkerboards and high-frequency noise in a standard network's transfers that a
# robust network's lacked. We measure it as the share of an image's spectral power above half the Nyquist frequency
# (`rrhelpers.optimization.style.high_frequency_share`, each channel's mean removed), for every transfer beside its
# content and style image. The excess is the transfer's share minus the larger of the two sources' shares: what the
# optimisation added that neither image had.

# %%
hf_table = pd.DataFrame(rr.high_frequency_table(setup.images, results))
display(hf_table.round(4))
hf_excess = {name: hf_table[f"{name} excess"].to_numpy() for name in models}
print(f"mean excess high-frequency share: robust {hf_excess['robust'].mean():+.4f}, "
      f"standard {hf_excess['standard'].mean():+.4f}; robust below standard in "
      f"{int((hf_excess['robust'] < hf_excess['standard']).sum())} of {len(hf_table)} pairs")

# %% [markdown]
# ## How robust is each layer? R(f)
#
# The inner maximisation is the package's one solver (L2 ball of radius $\varepsilon$, random start, best
# iterate), so the numerator is a lower bound, as for any attack; the denominator averages random pairs of test
# images. The bars show 95% bootstrap intervals over images.

# %%
rf_x = rr.sample(test_set, cfg.rf_images, seed=cfg.seed)[0].to(P.device)
rf = {name: rr.layer_robustness(m, rf_x, setup.layers, cfg.rf_eps, cfg.rf_steps, step_size=cfg.rf_eps,
                                seed=cfg.seed) for name, m in models.items()}
plots.rf_bars(rf, f"layer robustness, eps = {cfg.rf_eps:g} ({cfg.rf_images} test images)")
plt.show()
print(rr.rf_table(rf))

# %% [markdown]
# ## One style layer at a time
#
# Style transfer with a single style layer, labelled with that layer's R(f): the response's test of whether the
# robust layers are the ones that carry style.

# %%
single = {(name, layer): setup.transfer(m, *first, cfg.style_weight, style_layers=[layer]).image
          for name, m in models.items() for layer in setup.layers}
panels.layer_panel(single, rf).figure(size=2.0)
plt.show()

# %% [markdown]
# ## Swapping the content network
#
# The robust network computes the style loss and the standard network the content loss, and the other way round.
# If the style network is what matters, each swapped result should look like the result of its style network.

# %%
swapped = {f"style {a},\ncontent {b}": setup.transfer(models[a], *first, cfg.style_weight, content_model=models[b])
           for a, b in (("robust", "standard"), ("standard", "robust"))}
plots.image_row({"all robust": results[("robust", *first)], **{label: r.image for label, r in swapped.items()},
                 "all standard": results[("standard", *first)]}, size=2.0)
plt.show()

# %% [markdown]
# ## Pick a content image, a style and a network
#
# Precomputed above, so this also works in the static book.

# %%
display(panels.transfer_picker(setup, results))

# %% [markdown]
# ## Any bundled image, any weight (live)
#
# With a running kernel: any bundled photograph or texture as content or style.

# %%
display(panels.transfer_view(setup, models, cfg.style_weights, weight=cfg.style_weight, content=first[0],
                             style=first[1]))

# %% [markdown]
# ## Claim check
#
# 1. **Robust layers are more robust.** R(f) of the robust network's deepest style layer is below the standard
#    network's: both are measured on the same test images and pairs, so the comparison is paired, and the lower end of
#    the 95% bootstrap interval of the difference (standard minus robust, each replicate resampling the images once
#    for both networks: `rr.rf_difference`) must be above zero. This is asserted; the other layers are printed. The
#    discussion itself found early layers of a standard VGG almost as robust as a robust ResNet's, and so do we: at
#    quick scale the first stage's intervals were apart for some retrained pairs of networks and overlapped or even
#    reversed for others, while the deepest stage separated for every pair we trained on one machine. On another (the
#    same recipes, other floating-point sums), the deepest stage's two intervals touched (0.131 [0.121, 0.141] against
#    0.150 [0.138, 0.163]) while the first two stages were far apart; the paired interval of the deepest difference
#    was [0.009, 0.031].
# 2. **Does the robust network transfer more style?** Each network's own style loss is no fair judge: it is what
#    each one optimised, in its own features. We judge every result with *held-out* networks that took no part in
#    either transfer: three randomly initialised networks of the same architecture (fixed seeds). Gram matrices
#    of random convolutional features are a known texture descriptor (Ustyuzhaninov et al., 2017), sensitive to a
#    style's colours and local patterns and to none of the trained networks' features. The measure is the judges'
#    style distance of the result divided by that of the untouched content image (1: no style transferred,
#    0: the style's statistics reached), at the chosen style weight and averaged over all content/style pairs.
#    Equal weights are not equal strengths (a robust network's features move less per pixel, by design), so the
#    style-weight grid is also shown as a trade-off: style distance against how far the pixels moved. Each point of
#    that figure is one style weight (its label); of two curves, the lower one bought more style for the same change.
#
#    This second comparison is printed, not asserted. In our runs of the quick profile's small 32 px-trained
#    networks, whose standard network is itself fairly robust (see the R(f) table and its accuracy under attack),
#    the held-out judges found no consistent difference: which network came closer changed from pair to pair and
#    with the content layer. The verdict line below is computed from this run's numbers. The discussion's effect
#    was shown for ImageNet ResNet-50s, where the standard network's layers are far less robust than here.
# 3. **High frequencies.** The table above: both networks' transfers carry far more power above half the Nyquist
#    frequency than their content and style images (an excess share of about 0.24-0.36), and which network adds
#    less changed from one retrained pair of networks to the next (the robust one in 2, 1 and 3 of the 4 pairs).
#    At quick scale the discussion's observation does not appear, so it is printed, not asserted.

# %%
judges = rr.untrained_judges(models["robust"], seed=cfg.seed)
held_out = rr.relative_style_distances(judges, setup.images, results)
trade_off = {name: rr.style_trade_off(judges, [grid[(name, w)].image for w in cfg.style_weights],
                                      setup.contents[first[0]], setup.styles[first[1]]) for name in models}
plots.annotated_curves(trade_off, [f"{w:g}" for w in cfg.style_weights],
                       xlabel="RMS pixel change from the content image",
                       ylabel="held-out style distance\n(1 = content image)",
                       title=f"style-weight trade-off: {first[0]} / {first[1]}")
plt.show()

difference = {rr.stage_name(layer): rr.rf_difference(rf["robust"][layer], rf["standard"][layer], seed=cfg.seed)
              for layer in setup.layers}
for s, (value, (lo, hi)) in difference.items():
    print(f"R(f) {s}: standard - robust {value:+.4f}, paired 95% interval [{lo:+.4f}, {hi:+.4f}]")
print(rr.held_out_summary(held_out, setup.pairs))
rr.check_claim("layer_robustness.deepest_difference_lower_bound", difference[rr.stage_name(setup.layers[-1])][1][0],
               at_least=0.0,
               why="the robust network's deepest style layer should have a lower R(f) than the standard one's "
                   "(paired 95% interval of the difference above zero)")
