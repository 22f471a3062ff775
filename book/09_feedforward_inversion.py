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
# # Feedforward inversion of classifiers
#
# Chapter 3 inverted a representation by optimisation: thousands of gradient steps per image. Teterwak et al.
# (ICML 2021) instead *train* a network to do it: a generator, conditioned on nothing but a frozen classifier's
# **logits** (plus noise), learns to reproduce the classifier's input. A classifier could in principle discard
# everything but the class; what the generator manages to reconstruct shows how much else the logits keep. Their
# generator is a BigGAN whose class embedding is replaced by the logits, trained with a pixel loss, a feature
# (perceptual) loss computed with the classifier itself and an adversarial loss. With a robust ImageNet classifier
# the reconstructions were close enough to the originals to pass at a glance; with a standard one much less so.
#
# `rrhelpers` scales that model to the profile: conditional batch normalisation driven by the standardised logits
# and the noise in every upsampling block, a projection discriminator with spectral normalisation for the optional
# adversarial loss, and a feature loss over every residual stage of the frozen classifier. The quick profile trains
# one generator per classifier on the 4,000 MNIST training digits with the same budget (a few minutes on a CPU,
# cached like the models), and checks what the 10 logits keep.
#
# The quick profile trains both generators with the pixel loss alone. The feature loss is each classifier's own,
# so it is a different loss for the two generators, and the standard classifier's features react to faint pixel
# changes that the robust one's ignore (chapter 1): for the standard generator it acts as a second, stricter pixel
# loss on the background. With the feature loss at weight 0.1 (seed-0 models, 500 held-out digits), the robust
# generator's digits were still closer in mean squared error (0.032 against 0.037), but they sat on a faint gray
# haze, and SSIM, which punishes that haze, favoured the standard generator (0.50 against 0.61; at weight 1:
# 0.46 against 0.60). With the pixel loss alone both generators have the same objective and differ only in the
# logits they decode, which is the comparison this chapter is about (set `feature_weight` to bring the feature
# loss back).

# %% tags=["parameters"]
profile = "quick"  # "quick" (CPU, MNIST-5k) or "cifar10"
epochs = None  # inverter training epochs; None: the profile's (quick: 4)
adversarial_weight = None  # weight of the adversarial (hinge) loss, 0 = no discriminator; None: the profile's (quick: 0)
feature_weight = None  # weight of the classifier-feature loss; None: the profile's (quick: 0, pixel loss only)
images = None  # test images shown and inverted iteratively; None: 12
claim_images = None  # held-out images for the quality numbers; None: 500
iterative_steps = None  # steps of iterative inversion (eq. 5); None: chapter 3's (quick: 1000)
shift = None  # pixels by which images are shifted to test what the logits keep of position; None: 3
seed = None  # which test images; None: 0

# %%
import matplotlib.pyplot as plt
from IPython.display import display

import rrhelpers as rr
from rrhelpers.book import panels, plots, widgets

cfg, P, models, test_set, _ = rr.chapter_kit("feedforward_inversion", globals())
inverters = rr.chapter_inverters(cfg)
shown, shown_labels = rr.sample(test_set, cfg.images, seed=cfg.seed)  # the same random order for both
held_out, held_out_labels = rr.sample(test_set, cfg.claim_images, seed=cfg.seed)

# %% [markdown]
# ## Training
#
# Both generators see the same images in the same order with the same noise; only the classifier whose logits
# condition them differs. The curves are the training losses per epoch (pixel: mean squared error; where
# `feature_weight` is above 0, feature: the classifier-feature loss, on each classifier's own features, so the two
# are not comparable with each other).

# %%
plots.loss_curves({name: inverter.metadata["history"] for name, inverter in inverters.items()}, ("pixel", "feature"))
plt.show()
for name, inverter in inverters.items():
    print(f"{name:8s}: {inverter.training_summary()}")

# %% [markdown]
# ## Reconstructions of held-out digits
#
# Rows: the test images; their reconstructions from each classifier's logits in one forward pass; and, for
# comparison, chapter 3's iterative inversion (eq. 5) of each classifier's *representation* from noise, with
# chapter 3's settings.

# %%
iterative_cfg = rr.chapter_settings(profile, "inversion", steps=iterative_steps)  # chapter 3's inversion
iterative = {name: rr.timed_per_image(lambda x: rr.invert_from_noise(
                 model, x, iterative_cfg, seed=cfg.seed, desc=f"{name}, iterative").x, shown)
             for name, model in models.items()}  # each model's inversions, and the seconds they took per image
feedforward = {name: inverters[name].reconstruct(model, shown).cpu() for name, model in models.items()}
compared = panels.Panel([shown, *feedforward.values(), *(timed.output for timed in iterative.values())],
                        ["original"] + [f"{n}\n{kind}" for kind in ("feedforward", "iterative") for n in models],
                        [f"image {i}\nlabel {test_set.classes[c]}" for i, c in enumerate(shown_labels.tolist())])
compared.show(size=1.2)

# %% [markdown]
# Ten logits are enough to redraw a digit in its own hand: slant, width and stroke weight survive in both
# classifiers' logits (which says something about how little a 10-way classifier must throw away). Trained on the
# pixel error alone, both generators draw soft digits (a squared error averages over the stroke positions it cannot
# pin down), and at this size their rows are hard to tell apart by eye; the claim check below measures the
# difference on 500 held-out digits. The iterative inversions use chapter 3's settings (quick: faint noise on a
# dark ground, a thousand steps with a decaying step) and work on the 512-d representation, not on the logits: the
# robust model's are sharp digits, the standard model's broken fragments, as in chapter 3.

# %% [markdown]
# ## Out-of-distribution images
#
# The photographs and textures were never seen by the classifiers or the generators. The generators can only
# answer with digits; what they keep of each photograph is what the logits keep of it.

# %%
ood, ood_names = rr.out_of_distribution(shown.shape[1], shown.shape[-1])
panels.reconstruction_panel(inverters, models, ood, ood_names).show(size=1.3)

# %% [markdown]
# ## What survives in the logits: position and brightness
#
# Shift each image sideways by a few pixels, or halve its brightness, and reconstruct it. If the logits keep
# where the digit is, the reconstruction moves with it; the numbers are the mean horizontal displacement of the
# reconstruction's centre of mass, and the mean brightness of the reconstruction relative to the unchanged image's.

# %%
for name, model in models.items():
    kept = rr.what_survives(inverters[name], model, held_out[:100], cfg.shift)
    print(f"{name:8s}: images shifted by -{cfg.shift}/+{cfg.shift} px -> reconstructions move "
          f"{kept['moves left']:+.2f}/{kept['moves right']:+.2f} px; "
          f"half brightness -> reconstruction brightness x{kept['brightness']:.2f}")
panels.probe_panel(inverters, models, held_out[:1], cfg.shift).show(size=1.3)

# %% [markdown]
# Neither classifier's logits say where the digit is: the reconstructions stay centred, whichever way the digit
# was moved (the classifiers were trained with random shifts, and global pooling removes position). Brightness
# survives in part, and about equally in both classifiers' logits: a digit at half brightness comes back dimmer,
# but not half as bright (the factors are printed above).

# %% [markdown]
# ## Manipulating the logits
#
# The generator decodes any vector, so the logits can be edited before decoding: scaled (more or less confident),
# or moved a fraction $t$ of the way towards the mean logits of another class,
# $\ell' = \ell + t\,(\bar\ell_k - \ell)$. Each column of the figure is one scale (rows "scaled": x1 is the image's
# own logits, x0 all-zero logits) and one fraction (rows "towards": $t=0$ is the image's own logits, $t=1$ the other
# class's mean).

# %%
source, goal = int(shown_labels[0]), (int(shown_labels[0]) + 1) % len(test_set.classes)  # goal: the next class
panels.logit_edit_panel(inverters, models, shown[:1], rr.load_dataset(P.dataset, "train"), goal).show(
    f"a '{test_set.classes[source]}': logits scaled, and moved towards class '{test_set.classes[goal]}'", size=1.3)

# %% [markdown]
# ## Correctly and wrongly classified images
#
# For the test images each classifier gets wrong, does the reconstruction show the true digit or the predicted
# one? A pixel-space 5-nearest-neighbour classifier (which knows neither network) reads the reconstructions.

# %%
judge = rr.content_judge(P, "knn")
for name, model in models.items():
    wrong = rr.reconstructed_mistakes(inverters[name], model, *test_set.tensors(), judge)
    print(f"{name:8s}: {len(wrong.labels)} of {len(test_set)} test images misclassified; their reconstructions "
          f"read as the predicted class {wrong.read_as_predicted:.0%}, as the true class {wrong.read_as_true:.0%}")
    if len(wrong.labels):
        panels.mistakes_panel(wrong).show(f"{name}: misclassified (true -> predicted)", size=1.2)

# %% [markdown]
# Where the robust classifier errs, its reconstructions show what it believed it saw (read as the predicted class)
# more often than the true digit, the pattern Teterwak et al. report: 54%, 42% and 56% against 17%, 35% and 24% for
# quick models trained from three seeds. The standard classifier's reconstructions of its errors went either way
# (predicted 35-43%, true 33-47%). Each classifier gets only 17-26 of 1,000 test digits wrong, so these shares are
# noisy; they are printed above, not asserted.

# %% [markdown]
# ## Pick an image
#
# Each page shows one test image with its feedforward and iterative reconstructions (precomputed, so the picker
# works in the static book too).

# %%
display(widgets.picker(compared.column_pages(size=1.8), description="image"))

# %% [markdown]
# ## Claim checks
#
# **Quality.** On held-out test images, reconstructions from the robust classifier's logits are closer to the
# originals than those from the standard classifier's, in pixels and in structure:
#
# - the mean squared pixel error is lower, with a 95% bootstrap confidence interval of the per-image difference
#   above zero, and the robust reconstruction is the closer one for at least `min_closer_share` of the images
#   (quick: 0.55);
# - SSIM (a structural, perceptual similarity index) is higher, again with the 95% interval of the per-image
#   difference above zero, and the robust reconstructions' mean SSIM is at least `min_robust_ssim` (quick: 0.5).
#
# The label read back by the nearest-neighbour judge is printed beside them. Each comparison line gives the mean
# per-image difference, its 95% bootstrap interval in brackets and the share of images on which the robust
# reconstruction is the better one.
#
# **Speed.** One forward pass of the classifier and of the generator per image against the iterative inversion
# above, timed in this run on this machine: the feedforward inverter must be at least 100 times faster per image.

# %%
measured = {name: rr.reconstruction_quality(inverters[name].reconstruct(model, held_out).cpu(), held_out,
                                            held_out_labels, judge) for name, model in models.items()}
for name, values in measured.items():
    print(f"{name:8s} ({len(held_out)} images): pixel MSE {values['mse'].mean():.4f}, "
          f"SSIM {values['ssim'].mean():.3f}, label read back {values['read_back'].mean():.1%}")
mse = rr.paired_difference(measured["standard"]["mse"], measured["robust"]["mse"], seed=cfg.seed)
print(f"standard - robust MSE per image: {mse.summary('.4f')}; robust closer on {mse.share:.0%} of images")
ssim = rr.paired_difference(measured["robust"]["ssim"], measured["standard"]["ssim"], seed=cfg.seed)
print(f"robust - standard SSIM per image: {ssim.summary('+.3f')}; robust higher on {ssim.share:.0%} of images")

speedup = {}
for name, model in models.items():
    fast = rr.timed_per_image(lambda x: inverters[name].reconstruct(model, x), held_out.to(P.device), warm_up=8)
    speedup[name] = iterative[name].seconds_per_image / fast.seconds_per_image
    print(f"{name:8s}: feedforward {fast.seconds_per_image * 1e3:.3f} ms/image, iterative ({iterative_cfg.steps} "
          f"steps) {iterative[name].seconds_per_image * 1e3:.0f} ms/image: {speedup[name]:.0f}x faster")

rr.check_claim("quality.mse_difference_ci_low", mse.low, at_least=0.0,
               why="reconstructions from the robust logits should be closer to the originals beyond sampling noise")
rr.check_claim_where_set("quality.robust_closer_share", mse.share, at_least=cfg.min_closer_share,
                         why="the robust reconstruction should be the closer one for most held-out images")
rr.check_claim("quality.ssim_difference_ci_low", ssim.low, at_least=0.0,
               why="reconstructions from the robust logits should be structurally closer to the originals")
rr.check_claim_where_set("quality.robust_ssim", float(measured["robust"]["ssim"].mean()), at_least=cfg.min_robust_ssim,
                         why="reconstructions from the robust logits should keep the digits' structure")
rr.check_claim("speed.smallest_speedup", min(speedup.values()), at_least=cfg.min_speedup,
               why=f"the feedforward inverter should be at least {cfg.min_speedup:g}x faster per image")
