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
# # Feature visualisation
#
# What does a single coordinate of the representation respond to? Section 4.1 of the paper answers with the
# simplest possible method: start from a seed $x_0$ and climb the coordinate's gradient,
#
# $$\max_{\delta} \; R(x_0 + \delta)_i \qquad (4)$$
#
# with normalised gradient steps and no regulariser (Appendix A.4: $\varepsilon$ = 1000, 200 steps of size 1). For
# a robust model a consistent, human-meaningful pattern appears whatever the seed, and it matches the test images
# that activate the coordinate most (Figures 3 and 4). For a standard model the same procedure gives
# high-frequency patterns; readable pictures need priors added at visualisation time (jitter, scaling, rotation:
# Olah et al., 2017), which are no longer faithful to the model (long version, Figures 7 and 8).

# %% tags=["parameters"]
profile = "quick"  # "quick" (CPU, MNIST-5k) or "cifar10"
coordinates = None  # coordinates visualised: half chosen (most class-indicative), half random; None: 6 (quick)
seeds = None  # seeds per coordinate: noise, gray, then test images; None: 4
steps = None  # solver steps; None: 200
step_size = None  # L2 step size; None: the profile's (quick: 0.1)
top = None  # most / least activating test images shown per coordinate; None: 4
regularised_steps = None  # steps of the regularised (jittered) visualisation; None: 400
classes = None  # classes drawn, evenly spaced over all of them; None: 10 (all of the quick profile's)
class_seeds = None  # seeds per class for the class pictures; None: the profile's (quick: 5)
class_eps = None  # L2 radius of the class pictures around their dark seeds; None: the profile's (quick: 10)
class_steps = None  # steps of the class pictures; None: the profile's (quick: 200, from size 0.5 decaying to zero)
seed = None  # random coordinates and seed images; None: 0

# %%
from IPython.display import display

import rrhelpers as rr
from rrhelpers.book import panels, widgets

cfg, P, models, test_set, g = rr.chapter_kit("feature_visualization", globals())
test_x, test_y = rr.sample(test_set, P.pool)  # all of it, or the profile's pool

# %% [markdown]
# ## Which coordinates
#
# Half the coordinates are *chosen*: for a few classes $c$, the coordinate with the largest weight $W_{ic}$ in the
# robust model's final linear layer. The other half are drawn at random. (Coordinates of the two models are
# unrelated, so each model's visualisations are of its own coordinates with the same indices.)

# %%
coords, kinds = rr.choose_coordinates(models["robust"], cfg.coordinates, g, test_set.classes)
print("coordinates:", coords)

# %% [markdown]
# ## Maximising coordinates from several seeds
#
# Seeds: noise around gray, plain gray, then random test images. Every seed is used for every coordinate, so each
# row shows one coordinate and each column one seed.

# %%
seed_images = rr.coordinate_seeds(test_x, cfg.seeds, generator=g, seed=cfg.seed)
grids = {name: rr.visualize_coordinates(m, seed_images, coords, cfg.steps, cfg.step_size, progress=True, desc=name)
         for name, m in models.items()}
for name in models:
    panels.coordinate_panel(seed_images, grids[name], coords, kinds).show(
        f"{name} model: maximising single coordinates", 1.3)

# %% [markdown]
# ## Most and least activating test images (Figure 4)
#
# One figure per model, one row per coordinate: the model's visualisation from noise (the first seed above), then
# the `top` test images with the largest values of that coordinate ("most") and the `top` with the smallest
# ("least"). For the robust model, the visualisation shows what the top images share.

# %%
features = {name: rr.representations(m, test_x).cpu() for name, m in models.items()}
for name in models:
    panels.extremes_panel(grids[name], features[name], test_x, coords, cfg.top).show(f"{name} model", 1.1)

# %% [markdown]
# ## A regularised visualisation of the standard model
#
# To get pictures out of a standard model, visualisation methods add priors: here every step evaluates the
# objective on a randomly shifted, scaled and rotated copy of the image (transformation robustness). The pictures
# improve, but they are now a property of the model *and* of the prior.

# %%
noise = rr.noise_seeds((len(coords), *seed_images.shape[1:]), seed=cfg.seed)
regularised = rr.visualize_jittered(models["standard"], noise, coords, cfg.regularised_steps, cfg.step_size,
                                    seed=cfg.seed, progress=True, desc="regularised").x.cpu()
panels.regularised_panel(grids, regularised, coords).show(size=1.3)

# %% [markdown]
# ## What does the model think a digit looks like?
#
# The same solver maximising a class logit instead of a coordinate, from a dark seed with a little noise, inside an
# L2 ball (quick profile: radius `class_eps` = 10, 200 steps from size 0.5 decaying to zero on a cosine). The
# robust model draws most digits as a person would write them; the standard model mostly fills the ball with
# stripes. (For the class 1, both pictures stay nearly dark: a dark image is already much like a thin 1.)

# %%
shown_classes = rr.evenly_spaced_classes(len(test_set.classes), cfg.classes)
wanted = shown_classes.repeat(cfg.class_seeds)
class_images = rr.class_pictures(models, wanted, test_x.shape[1:], generator=g, progress=True, **cfg.class_budget)
panels.class_panel(class_images, shown_classes, test_set.classes).show(size=1.2)

# %% [markdown]
# ## Pick a coordinate
#
# Choose a coordinate to see its visualisations from every seed and its most activating test images, for both
# models (precomputed, so this works in the static book too).

# %%
display(widgets.picker(panels.coordinate_pages(grids, features, test_x, coords, kinds, cfg.top),
                       description="coordinate"))

# %% [markdown]
# ## Claim check
#
# The claim at this scale: **the robust model's pictures carry their meaning**. The class pictures above must be
# recognisable as their class by a judge that knows nothing of either network (the profile's judge, as in
# chapter 3: quick profile `quick-judge-robust`, ImageNet profiles VGG-19; raw-pixel 5-nearest neighbours are
# reported beside it): at least `min_recognised` of the robust model's, and (where the profile sets
# `min_recognised_gap`) at least that much more than of the standard model's.
#
# The quick profile asserts no gap. At radius 10 even the standard MNIST model paints strokes that the robust
# judge often reads as the class (the paper's standard ImageNet models cannot: their pictures are textures): with
# the quick models retrained from three seeds (`python -m tools.seed_sweep --seeds 0 1 2 --chapters
# 04_feature_visualization`) the robust model's pictures (three per class then) were recognised 0.97 / 0.90 /
# 0.97 and the standard model's 0.63 / 0.63 / 0.83, a gap as small as 0.13. The seed-0 recipe trained on another
# machine (different CPU, so different weights) gave 0.83 and 0.63 with three pictures per class, 0.90 and 0.62
# with five. The gap is printed below; the robust share is asserted at 0.80, over five pictures per class, so that
# one picture moves the share by 0.02. Other radii do not open the gap: on the seed-0 models, 0.98 / 0.60 at 10,
# 0.90 / 0.46 at 15, 0.80 / 0.42 at 25, and at 4 neither model's pictures are recognised (0.34 / 0.36). A pair with
# a globally pooled representation separates them (0.94 / 0.30) but its inversions in chapter 3 stop looking like
# their targets; `docs/claims_by_seed.md` has these measurements.
#
# We also measure, and print without asserting, a per-coordinate version of the paper's Figure 4: with $d_i$ =
# (mean of coordinate $i$'s top-`top` test images) - (mean of all test images), the cosine between the change the
# solver made, $x_{vis} - x_0$, and $d_i$. In the quick profile this is small and not reliably larger for the robust
# model: the coordinates of its 2x2-pooled 512-d representation are local detectors (a quarter of the image each),
# and from a gray seed the solver paints their pattern over the whole quadrant, which matches the average of the
# top images only loosely. The paper's ImageNet models show the correspondence far more clearly.

# %%
align = {name: rr.top_image_alignment(seed_images, grids[name], coords, features[name], test_x, cfg.top).mean().item()
         for name in models}
judges = rr.content_judges(P)
verdicts = {name: rr.recognised(judges, class_images[name], wanted) for name in models}
for name in models:
    print(f"{name:8s}: of {len(wanted)} class pictures the judges recognise {rr.recognised_text(verdicts[name])}; "
          f"cosine(change, top-image direction) {align[name]:.3f} (not asserted)")
robust, standard = verdicts["robust"][P.judge], verdicts["standard"][P.judge]
rr.check_claim("class_pictures.robust_recognised", robust, at_least=cfg.min_recognised,
               why="the robust model's class pictures should show their class")
rr.check_claim_where_set("class_pictures.recognised_gap", robust - standard, at_least=cfg.min_recognised_gap,
                         why="the standard model's class pictures should show it far less often")
