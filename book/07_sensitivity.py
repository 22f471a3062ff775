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
# # Sensitivity: what was the model looking at?
#
# Past the representation, a classifier is linear: logit $c$ is $\sum_i R(x)_i W_{ic}$ (plus a bias). As for any
# linear classifier, the coordinates that contribute most to the predicted class $c$ are
#
# $$\text{top-}k \; \{ R(x)_i \cdot W_{ic} \;:\; i \} \qquad (8)$$
#
# and Section 5.3 of the paper makes them visible by *accentuating* them: the feature-addition solver of chapter 5
# raises their sum inside an L2 ball around the image (Appendix A.6: $\varepsilon$ = 40, 60 steps of size 1 on
# 224 px images; quick profile: $\varepsilon$ = 3, 60 steps of 0.1 on 28 px digits). For a robust model, the
# accentuated image shows what the prediction was most sensitive to, for correct and for wrong predictions. The
# plain input gradient (chapter 2) is shown beside it: a component-level map, where eq. 8 gives a feature-level
# one. As the blog warns, both are local: sensitivity is not causation.

# %% tags=["parameters"]
profile = "quick"  # "quick" (CPU, MNIST-5k) or "cifar10"
images = None  # correctly and (up to as many) misclassified test images shown; None: the profile's (quick: 6)
k = None  # number of top-weighted coordinates accentuated; None: 5
eps = None  # L2 radius of the accentuation; None: the profile's (quick: 3.0)
steps = None  # solver steps; None: 60
step_size = None  # L2 step size; None: the profile's (quick: 0.1)
claim_images = None  # random test images of the claim check; None: 40
seed = None  # which test images, and the random coordinates of the claim check; None: 0

# %%
import matplotlib.pyplot as plt
import torch
from IPython.display import display
from ipywidgets import BoundedIntText

import rrhelpers as rr
from rrhelpers.book import panels, widgets

cfg, P, models, test_set, g = rr.chapter_kit(
    profile, "sensitivity", images=images, k=k, eps=eps, steps=steps, step_size=step_size, claim_images=claim_images,
    seed=seed)
test_x, test_y = rr.sample(test_set, P.pool)  # all of it, or the profile's pool
wrong_ids, right_ids = rr.shuffled_by_correctness(models["robust"], test_x, test_y, generator=g)
print(f"the robust model misclassifies {len(wrong_ids)} of {len(test_y)} test images; "
      f"shown: {wrong_ids[:cfg.images].tolist()} (wrong), {right_ids[:cfg.images].tolist()} (right)")

# %% [markdown]
# ## Accentuating the top-weighted features
#
# For each image: the original, the robust model's accentuation of its top-$k$ coordinates for the class it
# predicted, the change, the robust model's input gradient (for the predicted class's loss), and the standard
# model's accentuation of *its* top-$k$ coordinates for the class *it* predicted.

# %%
shown = {}
for title, ids in (("misclassified by the robust model", wrong_ids[:cfg.images]),
                   ("correctly classified", right_ids[:cfg.images])):
    if len(ids) == 0:
        print(f"no test image of this pool is {title}")
        continue
    shown[title] = panels.sensitivity_panel(models, test_x[ids], test_y[ids], ids.tolist(), test_set.classes,
                                            k=cfg.k, steps=cfg.steps, step_size=cfg.step_size, eps=cfg.eps)
    shown[title].figure(title)
    plt.show()

# %% [markdown]
# At this budget (the paper's, scaled to the digits) the robust model's edits are small, and they sit on the
# strokes (the |change| row), where they thin, extend or bridge a stroke towards the class the model predicted
# (compare with the column labels). The input gradient points at the same strokes, pixel by pixel. The
# standard model's accentuations add faint stripes to the background: its top-weighted features are not visible
# patterns, so accentuating them says little about why it decided.
#
# ## Pick a misclassified image
#
# Precomputed for the misclassified images above, so this works in the static book too.

# %%
if "misclassified by the robust model" in shown:
    display(widgets.picker(shown["misclassified by the robust model"].column_pages(),
                           description="misclassified image"))

# %% [markdown]
# ## Any test image (live)
#
# With a running kernel, pick any test image and any $k$.

# %%
def render_sensitivity(image: int, top: int) -> bytes:
    return panels.sensitivity_panel(models, test_x[image : image + 1], test_y[image : image + 1], [image],
                                    test_set.classes, k=top, steps=cfg.steps, step_size=cfg.step_size,
                                    eps=cfg.eps).page(0)


display(widgets.live_view({
    "image": BoundedIntText(value=int(wrong_ids[0]) if len(wrong_ids) else 0, min=0, max=len(test_x) - 1,
                            description="test image"),
    "top": BoundedIntText(value=cfg.k, min=1, max=models["robust"].num_features, description="k"),
}, render_sensitivity))

# %% [markdown]
# ## Claim check
#
# Eq. 8 picks the coordinates that carry the decision. If it does, accentuating them must raise the predicted
# class's logit more than accentuating $k$ *random* coordinates with the same budget ($\varepsilon$, steps, step
# size). On `claim_images` random test images we compare the logit gains, image by image, for both models; for
# the robust model the top-$k$ gain must be larger on average and for at least 75% of the images.

# %%
claim_ids = torch.randperm(len(test_x), generator=g)[: cfg.claim_images]
gains = {name: rr.accentuation_gains(m, test_x[claim_ids], cfg.k, cfg.steps, cfg.step_size, cfg.eps, generator=g)
         for name, m in models.items()}
for name, (top_gain, random_gain) in gains.items():
    print(f"{name:8s}: predicted-class logit gain, top-{cfg.k} {top_gain.mean():+.2f} vs random {cfg.k} "
          f"{random_gain.mean():+.2f}; top larger for {(top_gain > random_gain).float().mean():.0%} of "
          f"{len(claim_ids)} images")
top_gain, random_gain = gains["robust"]
rr.check_claim("logit_gain.top_minus_random", (top_gain.mean() - random_gain.mean()).item(), at_least=0.0,
               why="accentuating eq. 8's coordinates should raise the logit more")
rr.check_claim("top_wins", (top_gain > random_gain).float().mean().item(), at_least=cfg.min_top_wins,
               why="eq. 8's coordinates should win for most images")
