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
# # Feature manipulation
#
# If a coordinate of a robust representation stands for a human-meaningful feature (chapter 4), raising that
# coordinate in an existing image should *add* the feature to the image. Section 5.2 of the paper does this with a
# clipped version of the visualisation objective:
#
# $$\max_{\delta} \; \begin{cases} R(x+\delta)_i & \text{if } R(x+\delta)_i < \max_{j \ne i} R(x+\delta)_j \\
# 0 & \text{otherwise} \end{cases} \qquad (7)$$
#
# Coordinate $i$ is raised by gradient steps until it is the largest coordinate of the representation, and no
# further: the objective drops to 0 and its gradient vanishes, so the solver stops changing the image
# (`rr.ClippedCoordinate`, run with the last iterate returned). The feature is added with as little change as the
# model allows, and the rest of the image is left alone. The features appear gradually over the iterations
# (Appendix B.4.2), so stopping earlier gives a fainter feature.
#
# The images are drawn at random from the test set, not picked by hand, and their indices are printed. Half of
# the coordinates are *chosen*: for a few classes, the coordinate with the largest weight in the robust model's
# final layer. The other half are random. The standard model gets the same indices, but they are its own
# coordinates, unrelated to the robust model's.

# %% tags=["parameters"]
profile = "quick"  # "quick" (CPU, MNIST-5k) or "cifar10"
images = None  # random test images the features are added to; None: the profile's (quick: 8)
coordinates = None  # coordinates added, half chosen (class-indicative), half random; None: 6
steps = None  # solver steps of eq. 7 (and of the unconstrained maximiser it is compared with); None: 300
step_size = None  # L2 step size; None: the profile's (quick: 0.1)
snapshot_every = None  # the progressive addition is recorded every k steps; None: 25
seed = None  # which test images and random coordinates; None: 0

# %%
import matplotlib.pyplot as plt
import torch
from IPython.display import display

import rrhelpers as rr
from rrhelpers.book import panels

cfg, P, models, test_set, g = rr.chapter_kit("feature_manipulation", globals())
test_x, test_y = rr.sample(test_set, P.pool)  # all of it, or the profile's pool

# %% [markdown]
# ## Adding features to random images
#
# Every coordinate is added to every image, in one batch per model (`rr.add_features`). The solver's callback
# records the iterates every `snapshot_every` steps for the progressive view below.

# %%
picked = torch.randperm(len(test_x), generator=g)[: cfg.images]
coords, kinds = rr.choose_coordinates(models["robust"], cfg.coordinates, g, test_set.classes)
print("test images (indices):", picked.tolist())
print("coordinates:", coords)
additions = rr.add_features(models, test_x[picked], coords, steps=cfg.steps, step_size=cfg.step_size,
                            snapshot_every=cfg.snapshot_every, progress=True)
for name in models:
    panels.additions_panel(additions, name, [f"+ {i}: {k}" for i, k in zip(coords, kinds)]).figure(
        f"{name} model: one feature added to each random test image", 1.2)
    plt.show()

# %% [markdown]
# Read a row: the robust model adds the same kind of pen stroke for the same coordinate whichever digit it starts
# from (a vertical bar at the left edge, a bar across the top), drawn into the digit. The standard model's
# additions are textures, stripes and dotted gratings that fill whole regions. The change from the original
# (brighter: larger) shows where each model drew:

# %%
shown = [f"test image {i}" for i in picked.tolist()]
panels.change_panel(additions.sources, {name: additions.grid(name)[0] for name in models}, shown).figure(
    f"coordinate {coords[0]} ({kinds[0]})", 1.2)
plt.show()

# %% [markdown]
# ## Progressive addition (Appendix B.4.2)
#
# The iterates of eq. 7, every `snapshot_every` steps, for the first image: the feature grows gradually until the
# coordinate is the largest one, and the image then stops changing.

# %%
rows = {f"+ {i}": ("robust", additions.index(c, 0)) for c, i in enumerate(coords)}
panels.iterates_panel(additions, rows).figure(f"robust model, test image {int(picked[0])}: iterates of eq. 7", 0.95)
plt.show()

# %% [markdown]
# ## Pick a coordinate and an image
#
# Every combination above is precomputed, so this picker also works in the static book: it shows the progressive
# addition for both models.

# %%
display(panels.addition_picker(additions, [f"{i} ({k})" for i, k in zip(coords, kinds)], shown))

# %% [markdown]
# ## Add any coordinate to any test image (live)
#
# With a running kernel, choose any coordinate of the representation and any test image: the solver runs again.

# %%
display(panels.addition_live(models, test_x, start_coordinate=coords[0], start_image=int(picked[0]), steps=cfg.steps,
                             step_size=cfg.step_size))

# %% [markdown]
# ## What the quick models do not show
#
# The paper's additions are small, local edits. The quick robust model's are not quite. With the seed-0 models
# (the printout below has this build's numbers), the class-chosen coordinates became the largest in every
# addition, the random ones in about a fifth (a third with twice the steps). The additions that stopped had moved
# about 5.5 in L2 from their source, where a test digit's own norm is about 9.3, and the judge still recognised
# the source in about half of them. Making one of 512 coordinates the largest, against the digit's own features,
# takes a change nearly as large as the digit. So the claims below are comparisons that hold for models
# retrained from three seeds (robust against standard, clipped against unclipped), not the absolute shares the
# paper's figures suggest (most additions succeed, most sources survive); `docs/claims_by_seed.md` lists the
# budgets and the other representation that were tried.
#
# ## Claim check
#
# The paper: eq. 7 introduces "individual high-level features while preserving images' original content". Three
# measured consequences:
#
# 1. **Features can be added one at a time.** Within the step budget, coordinate $i$ becomes the largest
#    coordinate of $R(x)$ more often for the robust model than for the standard one, in which raising one
#    coordinate drags others up with it.
# 2. **Stopping preserves the content.** The same solver without the clipping (eq. 4 from the same image, same
#    budget) paints the feature over everything. A judge that knows neither network, a 5-nearest-neighbour
#    classifier on the raw training pixels (the ImageNet profiles: VGG-19), must recognise the source digit in the
#    robust model's additions more often than in those unconstrained maximisers. (Where the clip never triggers,
#    the two solutions coincide.)
# 3. For the robust additions that stopped, we print how far they moved from the source and how far they are
#    from the maximiser.

# %%
maximiser = rr.visualize(models["robust"], *additions.batch, cfg.steps, cfg.step_size, progress=True,
                         desc="unconstrained maximiser").x.cpu()
success = {name: additions.success(name, [kind != "random" for kind in kinds]) for name in models}
kept = rr.source_kept(rr.content_judge(P), additions.added["robust"], maximiser, additions.per_addition(test_y[picked]))
for name in models:
    print(f"{name:8s}: {success[name]}")
print(f"robust: {kept}")
print(f"robust, additions that stopped: {additions.distances('robust', maximiser, test_x)}")
rr.check_claim("largest.robust_minus_standard", success["robust"].share - success["standard"].share, at_least=0.0,
               why="robust features should be easier to add one at a time")
rr.check_claim("source_kept.added_minus_maximiser", kept.advantage, at_least=0.0,
               why="stopping at eq. 7's clip should preserve the source's content")
