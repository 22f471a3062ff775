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
import torch
from IPython.display import display
from ipywidgets import Dropdown

import rrhelpers as rr
from rrhelpers.book import plots, widgets
from rrhelpers.data import PHOTO_NAMES, TEXTURE_NAMES

cfg = rr.chapter_settings(profile, "style_transfer", contents=contents, styles=styles, size=size,
                          style_weights=style_weights, style_weight=style_weight, steps=steps,
                          content_stage=content_stage, rf_images=rf_images, rf_eps=rf_eps, rf_steps=rf_steps,
                          seed=seed)
P = cfg.profile
models = {"robust": rr.load_model(cfg.robust, device=P.device),
          "standard": rr.load_model(cfg.standard, device=P.device)}
layers = rr.stage_layers(models["robust"])
content_layer = layers[cfg.content_stage]
short = [layer.removeprefix("backbone.") for layer in layers]
content_images = {name: rr.photo_tensor(name, cfg.size).to(P.device) for name in cfg.contents}
style_images = {name: rr.photo_tensor(name, cfg.size).to(P.device) for name in cfg.styles}
for name, m in models.items():
    print(f"{name}: {cfg.robust if name == 'robust' else cfg.standard}, test accuracy {m.metadata.get('test_accuracy')}")
print("style layers:", short, "| content layer:", content_layer.removeprefix("backbone."))


def transfer(model: rr.RobustModel, content: str, style: str, weight: float, style_layers=None,
             content_model=None) -> rr.StyleResult:
    """One style transfer with the chapter's settings (the same for every network)."""
    return rr.style_transfer(model, content_images[content], style_images[style], style_layers or layers,
                             content_layer, style_weight=weight, steps=cfg.steps, content_model=content_model)


# %% [markdown]
# ## The style weight, for both networks
#
# The first content and style image, for every style weight of the grid (the content weight is 1). The printed
# losses are each network's own, in its own units, so they cannot be compared across networks; the held-out
# judge of the claim check can.

# %%
first_content, first_style = cfg.contents[0], cfg.styles[0]
grid = {(name, w): transfer(m, first_content, first_style, w) for name, m in models.items() for w in cfg.style_weights}
plots.image_grid([torch.cat([grid[(name, w)].image for w in cfg.style_weights]) for name in models], list(models),
                 col_labels=[f"style weight {w:g}" for w in cfg.style_weights],
                 title=f"{first_content} in the style of {first_style}", size=1.9)
plt.show()
for (name, w), result in grid.items():
    print(f"{name:8s} style weight {w:8g}: style loss {result.style_loss.item():.3g}, "
          f"content loss {result.content_loss.item():.3g}")

# %% [markdown]
# ## Every content and style image
#
# At the chosen style weight, with the same code and settings for both networks.

# %%
results = {(name, c, s): transfer(m, c, s, cfg.style_weight)
           for name, m in models.items() for c in cfg.contents for s in cfg.styles}
for c in cfg.contents:
    rows = [torch.cat([content_images[c]] + [style_images[s] for s in cfg.styles])]
    rows += [torch.cat([content_images[c]] + [results[(name, c, s)].image for s in cfg.styles]) for name in models]
    plots.image_grid(rows, ["style images", "robust", "standard"], col_labels=["content"] + list(cfg.styles),
                     size=1.9)
    plt.show()

# %% [markdown]
# ## High frequencies
#
# The Distill discussion saw fine checkerboards and high-frequency noise in a standard network's transfers that a robust
# network's lacked. We measure it as the share of an image's spectral power above half the Nyquist frequency
# (`rrhelpers.optimization.style.high_frequency_share`, each channel's mean removed), for every transfer beside its
# content and style image. The excess is the transfer's share minus the larger of the two sources' shares: what the
# optimisation added that neither image had.

# %%
hf_source = {name: float(rr.high_frequency_share(image)) for name, image in {**content_images, **style_images}.items()}
hf = {key: float(rr.high_frequency_share(result.image)) for key, result in results.items()}
hf_table = pd.DataFrame([{"content": c, "style": s, "content share": hf_source[c], "style share": hf_source[s],
                          **{f"{name} share": hf[(name, c, s)] for name in models},
                          **{f"{name} excess": hf[(name, c, s)] - max(hf_source[c], hf_source[s]) for name in models}}
                         for c in cfg.contents for s in cfg.styles])
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
rf_x, _ = rr.sample(rr.load_dataset(rr.trained_on(models["robust"]), "test"), cfg.rf_images, seed=cfg.seed)
rf_x = rf_x.to(P.device)
rf = {name: rr.layer_robustness(m, rf_x, layers, cfg.rf_eps, cfg.rf_steps, step_size=cfg.rf_eps, seed=cfg.seed)
      for name, m in models.items()}
plots.grouped_bars(short, {name: [rf[name][layer].ratio for layer in layers] for name in models},
                   {name: [rf[name][layer].ci for layer in layers] for name in models},
                   ylabel="R(f)", title=f"layer robustness, eps = {cfg.rf_eps:g} ({cfg.rf_images} test images)")
plt.show()
print(f"{'layer':10s} {'robust R(f) [95% CI]':26s} standard R(f) [95% CI]")
for s, layer in zip(short, layers):
    r, st = rf["robust"][layer], rf["standard"][layer]
    print(f"{s:10s} {r.ratio:.3f} [{r.ci[0]:.3f}, {r.ci[1]:.3f}]       {st.ratio:.3f} [{st.ci[0]:.3f}, {st.ci[1]:.3f}]")

# %% [markdown]
# ## One style layer at a time
#
# Style transfer with a single style layer, labelled with that layer's R(f): the response's test of whether the
# robust layers are the ones that carry style.

# %%
single = {(name, layer): transfer(m, first_content, first_style, cfg.style_weight, style_layers=[layer])
          for name, m in models.items() for layer in layers}
plots.image_grid([torch.cat([single[(name, layer)].image for layer in layers]) for name in models],
                 [f"{name}\nR(f) = " + ", ".join(f"{rf[name][layer].ratio:.2f}" for layer in layers)
                  for name in models],
                 col_labels=[f"style from {s} only" for s in short], size=2.0)
plt.show()

# %% [markdown]
# ## Swapping the content network
#
# The robust network computes the style loss and the standard network the content loss, and the other way round.
# If the style network is what matters, each swapped result should look like the result of its style network.

# %%
swapped = {
    "style robust,\ncontent standard": transfer(models["robust"], first_content, first_style, cfg.style_weight,
                                                content_model=models["standard"]),
    "style standard,\ncontent robust": transfer(models["standard"], first_content, first_style, cfg.style_weight,
                                                content_model=models["robust"]),
}
plots.image_grid([torch.cat([results[("robust", first_content, first_style)].image]
                            + [r.image for r in swapped.values()]
                            + [results[("standard", first_content, first_style)].image])],
                 col_labels=["all robust", *swapped, "all standard"], size=2.0)
plt.show()

# %% [markdown]
# ## Pick a content image, a style and a network
#
# Precomputed above, so this also works in the static book.

# %%
pages = {}
for (name, c, s), result in results.items():
    fig = plots.image_grid([torch.cat([content_images[c], style_images[s], result.image])],
                           col_labels=["content", "style", f"{name} network"], size=2.2)
    pages[(c, s, name)] = widgets.figure_png(fig)
display(widgets.grid_picker(pages, ["content", "style", "network"]))

# %% [markdown]
# ## Any bundled image, any weight (live)
#
# With a running kernel: any bundled photograph or texture as content or style.

# %%
bundled = sorted(set(PHOTO_NAMES + TEXTURE_NAMES))


def render_transfer(content: str, style: str, network: str, weight: float) -> bytes:
    c, s = rr.photo_tensor(content, cfg.size).to(P.device), rr.photo_tensor(style, cfg.size).to(P.device)
    result = rr.style_transfer(models[network], c, s, layers, content_layer, style_weight=weight, steps=cfg.steps)
    fig = plots.image_grid([torch.cat([c, s, result.image])], col_labels=["content", "style", network], size=2.2)
    return widgets.figure_png(fig)


display(widgets.live_view({
    "content": Dropdown(options=bundled, value=first_content, description="content"),
    "style": Dropdown(options=bundled, value=first_style, description="style"),
    "network": Dropdown(options=list(models), value="robust", description="network"),
    "weight": Dropdown(options=list(cfg.style_weights), value=cfg.style_weight, description="style weight"),
}, render_transfer))

# %% [markdown]
# ## Claim check
#
# 1. **Robust layers are more robust.** R(f) of the robust network's deepest style layer is below the standard
#    network's: both are measured on the same test images and pairs, so the comparison is paired, and the lower
#    end of the 95% bootstrap interval of the difference (standard minus robust, each replicate resampling the
#    images once for both networks: `rr.rf_difference`) must be above zero. This
#    is asserted; the other layers are printed. The discussion itself found early layers of a standard VGG almost as robust as a
#    robust ResNet's, and so do we: at quick scale the first stage's intervals were apart for some retrained pairs
#    of networks and overlapped or even reversed for others, while the deepest stage separated for every pair we
#    trained on one machine. On another (the same recipes, other floating-point sums), the deepest stage's two
#    intervals touched (0.131 [0.121, 0.141] against 0.150 [0.138, 0.163]) while the first two stages were far
#    apart; the paired interval of the deepest difference was [0.009, 0.031].
# 2. **Does the robust network transfer more style?** Each network's own style loss is no fair judge: it is what
#    each one optimised, in its own features. We judge every result with *held-out* networks that took no part in
#    either transfer: three randomly initialised networks of the same architecture (fixed seeds). Gram matrices
#    of random convolutional features are a known texture descriptor (Ustyuzhaninov et al., 2017), sensitive to a
#    style's colours and local patterns and to none of the trained networks' features. The measure is the judges'
#    style distance of the result divided by that of the untouched content image (1: no style transferred,
#    0: the style's statistics reached), at the chosen style weight and averaged over all content/style pairs.
#    Equal weights are not equal strengths (a robust network's features move less per pixel, by design), so the
#    style-weight grid is also shown as a trade-off: style distance against how far the pixels moved.
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


def judged(image: torch.Tensor, content: str, style: str) -> float:
    return rr.relative_style_distance(judges, image, content_images[content], style_images[style])


pairs = [(c, s) for c in cfg.contents for s in cfg.styles]
held_out = {name: torch.tensor([judged(results[(name, c, s)].image, c, s) for c, s in pairs]) for name in models}
fig, ax = plt.subplots(figsize=(5, 3.5))
for name in models:
    moved = [float((grid[(name, w)].image - content_images[first_content]).pow(2).mean().sqrt())
             for w in cfg.style_weights]
    distance = [judged(grid[(name, w)].image, first_content, first_style) for w in cfg.style_weights]
    ax.plot(moved, distance, "o-", label=name)
    for w, xy in zip(cfg.style_weights, zip(moved, distance)):
        ax.annotate(f"{w:g}", xy, fontsize=7, textcoords="offset points", xytext=(3, 3))
ax.set(xlabel="RMS pixel change from the content image", ylabel="held-out style distance\n(1 = content image)",
       title=f"style-weight trade-off: {first_content} / {first_style}")
ax.legend()
plt.show()

difference = {s: rr.rf_difference(rf["robust"][layer], rf["standard"][layer], seed=cfg.seed)
              for s, layer in zip(short, layers)}
for s, (value, (lo, hi)) in difference.items():
    print(f"R(f) {s}: standard - robust {value:+.4f}, paired 95% interval [{lo:+.4f}, {hi:+.4f}]")
for name in models:
    per_pair = ", ".join(f"{c}/{s} {v:.3f}" for (c, s), v in zip(pairs, held_out[name].tolist()))
    print(f"{name:8s}: held-out style distance {held_out[name].mean():.3f} (per pair: {per_pair})")
closer = int((held_out["robust"] < held_out["standard"]).sum())
better = "robust" if held_out["robust"].mean() < held_out["standard"].mean() else "standard"
print(f"verdict: the {better} network's results are closer to the styles on average "
      f"(robust closer in {closer} of {len(pairs)} pairs)")
rr.check_claim("layer_robustness.deepest_difference_lower_bound", difference[short[-1]][1][0], at_least=0.0,
               why="the robust network's deepest style layer should have a lower R(f) than the standard one's "
                   "(paired 95% interval of the difference above zero)")
