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
# # Inverting representations
#
# If a representation is aligned with human perception, images with (almost) the same representation should look
# alike. Section 4.2 of the paper tests this directly: starting from a seed $x_0$, find an image whose
# representation matches that of a target,
#
# $$\min_{\delta} \; \|R(x_0 + \delta) - R(x_{targ})\|_2 \qquad (5)$$
#
# with normalised gradient steps and no constraint besides the image range (the paper's Appendix A.5: $\varepsilon$ =
# 1000, 10,000 steps of size 1 on 224 px images; the quick profile: 1,000 steps on 28 px digits, starting at size 1
# and decaying to zero on a cosine, so that the solver settles instead of circling the minimum one step away). No
# image prior is added: whatever the result looks like is what the model's representation encodes. For a robust model the inversions resemble their
# targets, even for targets from outside the training distribution; for a standard model they are textures that
# share the target's representation without sharing its content.

# %% tags=["parameters"]
profile = "quick"  # "quick" (CPU, MNIST-5k) or "cifar10"
images = None  # number of test targets (random test images); None: the profile's (quick: 30)
steps = None  # solver steps; None: the profile's (quick: 1000)
step_size = None  # first L2 step size; None: the profile's (quick: 1.0)
step_schedule = None  # "cosine" or "linear" decay to zero, or "constant"; None: the profile's (quick: cosine)
noise_mean = None  # seeds: noise_mean + noise_std * N(0, 1); None: the profile's (quick: 0.1, near the dark
#                   background of MNIST digits; photographs: 0.5, gray)
noise_std = None  # None: 0.05
seed = None  # which test images are targets and seeds; None: 0

# %%
import matplotlib.pyplot as plt
import torch
from IPython.display import display

import rrhelpers as rr
from rrhelpers.book import panels, plots, widgets

cfg, P, models, test_set, _ = rr.chapter_kit("inversion", globals())
problems = rr.inversion_problems(test_set, cfg)  # (targets, seeds) by setting: from noise, from images, out of dist.
(targets, _), (_, other_images), (ood, _) = problems.pairs.values()
target_labels, ood_names = problems.labels["from noise"], problems.ood_names

# %% [markdown]
# ## In-distribution targets, from noise and from other images
#
# Rows: the targets; their inversions through each model starting from Gaussian noise (quick profile: faint noise on
# the dark background of the digits, mean 0.1; photographs: around gray); and starting
# from *another* test image (the paper's Figure 5), which the solver has to turn into the target.

# %%
solved = {name: rr.invert_together(m, problems.pairs, cfg.steps, cfg.step_size, step_schedule=cfg.step_schedule,
                                   progress=True, desc=name) for name, m in models.items()}
from_noise, from_images, from_noise_ood = ({name: solved[name][p] for name in models} for p in problems.pairs)
shown = slice(0, 12)
plots.image_grid(
    [targets[shown], from_noise["robust"].x.cpu()[shown], from_noise["standard"].x.cpu()[shown], other_images[shown],
     from_images["robust"].x.cpu()[shown], from_images["standard"].x.cpu()[shown]],
    ["target", "robust\n(from noise)", "standard\n(from noise)", "seed image", "robust\n(from image)",
     "standard\n(from image)"], size=1.4)
plt.show()

# %% [markdown]
# From noise, the robust model draws the target digit: its strokes, in place, on a dark background with a little
# speckle, close to a written digit. The standard model stalls further from its target's representation (the
# convergence plot below) with broken, smeared stroke fragments and bright specks around them; at this scale its
# 2x2-pooled representation still records roughly where the strokes are, so the digit can often be made out
# through them. From another image, the robust model redraws the seed into the target; the standard model's
# results are noisier, with strokes of the seed left over in several.
#
# ## Convergence
#
# The relative representation error $\|R(x) - R(x_{targ})\|_2 / \|R(x_{targ})\|_2$ per step, averaged over the
# targets. The step size decays to zero, so the curves flatten where the solver has settled. The final errors (mean
# and median per model) are printed with the claim check below.

# %%
plots.solver_curves({label: {name: r.history for name, r in results.items()} for label, results in
                     (("from noise", from_noise), ("from images", from_images))}, "relative representation error",
                    "Inversion (eq. 5) converging")
plt.show()

# %% [markdown]
# ## Out-of-distribution targets
#
# The bundled photographs and textures (converted to the model's input format) were never seen in training. The
# robust model's inversions keep some of their coarse layout of light and dark (the photographer, the rows of
# coins), drawn in saturated black-and-white speckle: a digit network has only seen white strokes on black. The
# standard model's keep mid-tones and, for some targets and some trainings, as much of the layout. At this scale
# the out-of-distribution contrast of the paper's Figure 4 is not there: the SSIM to these targets, printed with
# the claim check, is low for both models and varies in sign between retrainings (0.16 against 0.14, 0.15 against
# 0.09, 0.13 against 0.32 on three seeds), so nothing is asserted about it.

# %%
plots.image_grid([ood, from_noise_ood["robust"].x.cpu(), from_noise_ood["standard"].x.cpu()],
                 ["target", "robust", "standard"], col_labels=ood_names, size=1.4)
plt.show()

# %% [markdown]
# ## Pick a target
#
# Choose a target (the first 12) to see its inversions from noise by both models. (The results are precomputed
# above, so the picker also works in the static HTML book.)

# %%
inverted = panels.Panel(
    [torch.cat([targets[shown], ood])] + [torch.cat([from_noise[name].x[shown], from_noise_ood[name].x]).cpu()
                                          for name in ("robust", "standard")],
    ["target", "robust inversion", "standard inversion"],
    [f"test image {i} (label {test_set.classes[int(c)]})" for i, c in enumerate(target_labels[shown])]
    + [f"{n} (out of distribution)" for n in ood_names])
display(widgets.picker(inverted.column_pages(2.2), description="target"))

# %% [markdown]
# ## Claim check
#
# The claim: **robust inversions show their target's content, standard ones do not**, from noise (Figures 3 and 5 of
# the paper) as well as from another image. It is judged by measures that know neither network: whether an
# inversion shows its target's digit, by the profile's judge (quick profile: `quick-judge-robust`, a narrower,
# globally pooled ResNet trained with other seeds; the ImageNet profiles: VGG-19) and by raw-pixel 5-nearest
# neighbours on the training set; and how much it resembles the target itself, by SSIM (structural similarity,
# Wang et al. 2004) and the pixel distance. (A standard classifier makes a poor judge of standard inversions: their
# textures carry the non-robust features that standard networks share, so it is fooled by them.)
#
# The thresholds are the profile's. From noise and from images, the profile's judge recognises at least
# `min_recognised` of the robust inversions, and the median one reaches a relative representation error of at most
# `max_relative_error` (the median: a few targets stay much further from their goal, up to 0.4, and how many varies
# between trainings, so the mean is printed, not asserted). From noise, the robust inversions reach a mean SSIM of
# at least `min_ssim`, at least `min_ssim_gap` above the standard model's; where the profile sets
# `min_recognised_gap`, the `gap_judge` must recognise that many more robust than standard inversions. The quick
# profile asserts no recognition gap: its standard model's fragments keep where the strokes are (above), and over
# six trainings (three seeds, each with two convolution memory layouts) the pixel judge's gap ranged from 0.13 to
# 0.47 and the robust judge's from 0.03 to 0.23, so both are printed. What varied less is how far the standard
# inversions are from the picture itself: an SSIM well below the robust inversions'.
#
# Retrained from three seeds (`python -m tools.seed_sweep --seeds 0 1 2 --chapters 03_inversion`), the robust
# model's inversions from noise were recognised 0.93 / 1.00 / 1.00 by the robust judge, reached a median relative
# error of 0.054 / 0.018 / 0.016 (mean 0.082 / 0.055 / 0.039; from images, median 0.081 / 0.016 / 0.013) and an
# SSIM of 0.56 / 0.59 / 0.62, against the standard model's 0.27 / 0.34 / 0.31 (gaps 0.29 / 0.26 / 0.31). The same
# seed-0 recipe trained on another machine (an AMD EPYC; floating-point sums differ between CPUs, so the weights
# do too) gave a standard model that kept 24% of its test digits under PGD-20 at radius 1.5, against 15% on the
# first: its inversions were closer to the targets (SSIM 0.39 against the robust 0.54, a gap of 0.145), the robust
# judge recognised 0.90, median error 0.057. Trained on a GPU (one H200, `benchmarks/gpu_check.sh`), the gap was
# 0.101 (robust 0.52, standard 0.42), the robust judge recognised 0.97 and the median error was 0.046. The SSIM gap
# is asserted at 0.1, at or below every training we measured: the GPU's sits on the threshold, so this is the claim
# a retraining is most likely to fail.

# %%
judges = rr.content_judges(P)
measured = {setting: rr.inversion_scores({name: solved[name][setting] for name in models}, goals,
                                         problems.labels[setting], judges)
            for setting, (goals, _) in problems.pairs.items()}
rows = {f"{setting}, {name}": values for setting, by_model in measured.items() for name, values in by_model.items()}
noise_scores = measured["from noise"]
rows["from noise, robust - standard"] = {k: v - noise_scores["standard"][k] for k, v in noise_scores["robust"].items()}
display(plots.number_table(rows, "inversions: L2 pixel distance, SSIM and relative representation error (mean, "
                                 "median) to the target; share recognised by each judge", "{:.3f}"))
for setting in ("from noise", "from images"):
    key = setting.replace(" ", "_")
    rr.check_claim(f"{key}.robust_recognised", measured[setting]["robust"][P.judge], at_least=cfg.min_recognised,
                   why=f"robust inversions {setting} should show their target's digit")
    rr.check_claim(f"{key}.robust_median_error", measured[setting]["robust"]["median error"],
                   at_most=cfg.max_relative_error, why=f"robust inversions {setting} should converge")
gap_judge = cfg.gap_judge or P.judge
rr.check_claim_where_set("from_noise.recognised_gap", rows["from noise, robust - standard"][gap_judge],
                         at_least=cfg.min_recognised_gap, why=f"standard inversions from noise should show their "
                                                               f"target's content far less often (judge: {gap_judge})")
rr.check_claim_where_set("from_noise.robust_ssim", noise_scores["robust"]["ssim"], at_least=cfg.min_ssim,
                         why="robust inversions from noise should resemble their target pixel by pixel")
rr.check_claim_where_set("from_noise.ssim_gap", rows["from noise, robust - standard"]["ssim"],
                         at_least=cfg.min_ssim_gap, why="standard inversions from noise should resemble their target "
                                                        "far less")
