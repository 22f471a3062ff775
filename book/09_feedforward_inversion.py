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
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display

import rrhelpers as rr
from rrhelpers.book import plots, widgets

cfg, P, models, test_set, g = rr.chapter_kit(
    profile, "feedforward_inversion", epochs=epochs, adversarial_weight=adversarial_weight,
    feature_weight=feature_weight, images=images, claim_images=claim_images, shift=shift, seed=seed)
iterative_cfg = rr.chapter_settings(profile, "inversion", steps=iterative_steps)  # chapter 3's inversion
inverter_config = rr.InverterConfig.from_settings(cfg)
inverters = {k: rr.load_inverter(getattr(P, k), inverter_config, device=P.device) for k in models}
train_set = rr.load_dataset(P.dataset, "train")

order = torch.randperm(len(test_set), generator=g)
shown, shown_labels = test_set.tensors(order[: cfg.images])
held_out, held_out_labels = test_set.tensors(order[: cfg.claim_images])

# %% [markdown]
# ## Training
#
# Both generators see the same images in the same order with the same noise; only the classifier whose logits
# condition them differs. The curves are the training losses per epoch (pixel: mean squared error; where
# `feature_weight` is above 0, feature: the classifier-feature loss, on each classifier's own features, so the two
# are not comparable with each other).

# %%
losses = [key for key in ("pixel", "feature") if key in inverters["robust"].metadata["history"][0]]
plots.loss_curves({name: inverter.metadata["history"] for name, inverter in inverters.items()}, losses)
plt.show()
for name, inverter in inverters.items():
    history = inverter.metadata["history"]
    print(f"{name:8s}: trained {len(history)} epochs in {sum(h['seconds'] for h in history):.0f} s; "
          f"final pixel loss {history[-1]['pixel']:.4f}")

# %% [markdown]
# ## Reconstructions of held-out digits
#
# Rows: the test images; their reconstructions from each classifier's logits in one forward pass; and, for
# comparison, chapter 3's iterative inversion (eq. 5) of each classifier's *representation* from noise, with
# chapter 3's settings.

# %%
reconstructions = {name: inverters[name].reconstruct(models[name], shown).cpu() for name in models}
noise = rr.noise_seeds(shown.shape, mean=iterative_cfg.noise_mean, std=iterative_cfg.noise_std, seed=cfg.seed)
iterative, iterative_seconds = {}, {}
for name, model in models.items():
    started = time.perf_counter()
    iterative[name] = rr.invert(model, shown, noise, iterative_cfg.steps, iterative_cfg.step_size,
                                step_schedule=iterative_cfg.step_schedule, desc=f"{name}, iterative").x.cpu()
    iterative_seconds[name] = time.perf_counter() - started
plots.image_grid([shown, reconstructions["robust"], reconstructions["standard"], iterative["robust"],
                  iterative["standard"]],
                 ["original", "robust\nfeedforward", "standard\nfeedforward", "robust\niterative",
                  "standard\niterative"], size=1.2)
plt.show()

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
ood_rows = [ood] + [inverters[name].reconstruct(models[name], ood).cpu() for name in models]
plots.image_grid(ood_rows, ["original", "robust", "standard"], col_labels=ood_names, size=1.3)
plt.show()

# %% [markdown]
# ## What survives in the logits: position and brightness
#
# Shift each image sideways by a few pixels, or halve its brightness, and reconstruct it. If the logits keep
# where the digit is, the reconstruction moves with it; the numbers are the mean horizontal displacement of the
# reconstruction's centre of mass, and the mean brightness of the reconstruction relative to the unchanged image's.

# %%
probe = held_out[:100]
variants = {f"shift {-cfg.shift:+d} px": rr.shift_horizontally(probe, -cfg.shift), "unchanged": probe,
            f"shift {cfg.shift:+d} px": rr.shift_horizontally(probe, cfg.shift), "half brightness": probe * 0.5}
survival = {}
for name in models:
    recon = {k: inverters[name].reconstruct(models[name], v).cpu() for k, v in variants.items()}
    base = recon["unchanged"]
    centre = rr.horizontal_centre(base)
    survival[name] = {side: (rr.horizontal_centre(recon[f"shift {dx:+d} px"]) - centre).mean().item()
                      for side, dx in (("moves left", -cfg.shift), ("moves right", cfg.shift))}
    survival[name]["brightness"] = (recon["half brightness"].mean() / base.mean()).item()
    print(f"{name:8s}: images shifted by -{cfg.shift}/+{cfg.shift} px -> reconstructions move "
          f"{survival[name]['moves left']:+.2f}/{survival[name]['moves right']:+.2f} px; "
          f"half brightness -> reconstruction brightness x{survival[name]['brightness']:.2f}")
example = torch.stack([v[0] for v in variants.values()])
plots.image_grid([example] + [inverters[n].reconstruct(models[n], example).cpu() for n in models],
                 ["input", "robust", "standard"], col_labels=list(variants), size=1.3)
plt.show()

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
# $\ell' = \ell + t\,(\bar\ell_k - \ell)$.

# %%
train_x, train_y = train_set.tensors()
source = shown[:1]
source_label = int(shown_labels[0])
goal_class = (source_label + 1) % len(test_set.classes)
scales = (0.0, 0.5, 1.0, 2.0, 4.0)
fractions = (0.0, 0.25, 0.5, 0.75, 1.0)
manipulated = []
for name, model in models.items():
    logits = rr.classifier_condition(model, source)
    class_mean = rr.classifier_condition(model, train_x[train_y == goal_class]).mean(0, keepdim=True)
    scaled = torch.cat([logits * s for s in scales])
    moved = torch.cat([logits + t * (class_mean - logits) for t in fractions])
    manipulated += [inverters[name](scaled).cpu(), inverters[name](moved).cpu()]
labels = [f"x{s:g} / t={t:g}" for s, t in zip(scales, fractions)]
plots.image_grid(manipulated, ["robust\nscaled", "robust\ntowards", "standard\nscaled", "standard\ntowards"],
                 col_labels=labels, size=1.3,
                 title=f"a '{test_set.classes[source_label]}': logits scaled, and moved towards class "
                       f"'{test_set.classes[goal_class]}'")
plt.show()

# %% [markdown]
# ## Correctly and wrongly classified images
#
# For the test images each classifier gets wrong, does the reconstruction show the true digit or the predicted
# one? A pixel-space 5-nearest-neighbour classifier (which knows neither network) reads the reconstructions.

# %%
all_x, all_y = test_set.tensors()
for name, model in models.items():
    predicted = model.predict(all_x).cpu()
    wrong = (predicted != all_y).nonzero()[:, 0]
    recon = inverters[name].reconstruct(model, all_x[wrong]).cpu()
    read = rr.knn_predict(train_x, train_y, recon)
    print(f"{name:8s}: {len(wrong)} of {len(all_y)} test images misclassified; their reconstructions read as the "
          f"predicted class {(read == predicted[wrong]).float().mean():.0%}, as the true class "
          f"{(read == all_y[wrong]).float().mean():.0%}")
    if len(wrong):
        k = min(8, len(wrong))
        plots.image_grid([all_x[wrong[:k]], recon[:k]], ["original", "reconstruction"],
                         col_labels=[f"{int(all_y[i])} -> {int(predicted[i])}" for i in wrong[:k]],
                         title=f"{name}: misclassified (true -> predicted)", size=1.2)
        plt.show()

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
pages = {}
for i in range(len(shown)):
    fig = plots.image_grid([torch.stack([shown[i], reconstructions["robust"][i], reconstructions["standard"][i],
                                         iterative["robust"][i], iterative["standard"][i]])],
                           col_labels=["original", "robust FF", "standard FF", "robust iterative",
                                       "standard iterative"], size=1.8)
    pages[f"test image {i} ({test_set.classes[int(shown_labels[i])]})"] = widgets.figure_png(fig)
display(widgets.picker(pages, description="image"))

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
# The label read back by the nearest-neighbour judge is printed beside them.
#
# **Speed.** One forward pass of the classifier and of the generator per image against the iterative inversion
# above, timed in this run on this machine: the feedforward inverter must be at least 100 times faster per image.

# %%
def quality(name: str) -> dict[str, np.ndarray]:
    recon = inverters[name].reconstruct(models[name], held_out).cpu()
    mse = ((recon - held_out) ** 2).flatten(1).mean(1).numpy()
    knn = (rr.knn_predict(train_x, train_y, recon) == held_out_labels).float().numpy()
    return {"mse": mse, "ssim": rr.ssim(recon, held_out).numpy(), "knn": knn}


measured = {name: quality(name) for name in models}
for name, values in measured.items():
    print(f"{name:8s} ({len(held_out)} images): pixel MSE {values['mse'].mean():.4f}, SSIM {values['ssim'].mean():.3f}, "
          f"label read back {values['knn'].mean():.1%}")
difference = measured["standard"]["mse"] - measured["robust"]["mse"]
low, high = rr.bootstrap_mean_ci(difference, seed=cfg.seed)
print(f"standard - robust MSE per image: {difference.mean():.4f} [95% CI {low:.4f}, {high:.4f}]; "
      f"robust closer on {(difference > 0).mean():.0%} of images")
ssim_gain = measured["robust"]["ssim"] - measured["standard"]["ssim"]
ssim_low, ssim_high = rr.bootstrap_mean_ci(ssim_gain, seed=cfg.seed)
print(f"robust - standard SSIM per image: {ssim_gain.mean():+.3f} [95% CI {ssim_low:+.3f}, {ssim_high:+.3f}]; "
      f"robust higher on {(ssim_gain > 0).mean():.0%} of images")

batch = held_out.to(P.device)
timings = {}
for name in models:
    inverters[name].reconstruct(models[name], batch[:8])  # warm-up
    started = time.perf_counter()
    inverters[name].reconstruct(models[name], batch).cpu()  # .cpu() waits for a GPU to finish
    timings[name] = (time.perf_counter() - started) / len(batch)
for name in models:
    per_image = iterative_seconds[name] / len(shown)
    print(f"{name:8s}: feedforward {timings[name] * 1e3:.3f} ms/image, iterative ({iterative_cfg.steps} steps) "
          f"{per_image * 1e3:.0f} ms/image: {per_image / timings[name]:.0f}x faster")

rr.check_claim("quality.mse_difference_ci_low", low, at_least=0.0,
               why="reconstructions from the robust logits should be closer to the originals beyond sampling noise")
if cfg.min_closer_share is not None:
    rr.check_claim("quality.robust_closer_share", float((difference > 0).mean()), at_least=cfg.min_closer_share,
                   why="the robust reconstruction should be the closer one for most held-out images")
rr.check_claim("quality.ssim_difference_ci_low", ssim_low, at_least=0.0,
               why="reconstructions from the robust logits should be structurally closer to the originals")
if cfg.min_robust_ssim is not None:
    rr.check_claim("quality.robust_ssim", float(measured["robust"]["ssim"].mean()), at_least=cfg.min_robust_ssim,
                   why="reconstructions from the robust logits should keep the digits' structure")
rr.check_claim("speed.smallest_speedup", min(iterative_seconds[n] / len(shown) / timings[n] for n in models),
               at_least=cfg.min_speedup,
               why=f"the feedforward inverter should be at least {cfg.min_speedup:g}x faster per image")
