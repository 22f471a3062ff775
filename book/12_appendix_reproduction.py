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
# # Appendix: the paper against this book
#
# The paper works with ResNet-50s on 224 px Restricted ImageNet and ImageNet images; the quick profile that this
# book is built with works with small ResNets on 28 px digits and 32 px photo crops, on a CPU. This page puts the
# two side by side, from the package itself: the published models' reported accuracies (`rr.PUBLISHED`) next to
# the accuracies measured for the book's models when they were trained (their metadata), and the paper's
# optimisation settings (the `restricted_imagenet` profile) next to the quick profile's, with the factor that
# relates their step sizes. Each chapter's own claim check prints what it measured, and whether it passed.

# %% tags=["parameters"]
profile = "quick"  # the profile the book was built with, compared against the paper's ("restricted_imagenet")
paper_profile = "restricted_imagenet"

# %%
from IPython.display import Image, display

import rrhelpers as rr
from rrhelpers.book import report, reproduction

P, paper = rr.get_profile(profile), rr.get_profile(paper_profile)

# %% [markdown]
# ## Accuracy: the published models and the book's
#
# The published numbers are those their authors report (MadryLab's `robustness` README; torchvision's weight
# metadata): accuracy in percent under an L2 (or L-infinity) PGD attack of the given radius. The book's numbers
# are measured on the held-out test split when each model is made (PGD-20 at the listed radii).

# %%
reported = reproduction.reported_accuracies()
display(reproduction.accuracy_table(reported, decimals=2))

# %%
style = rr.chapter_settings(profile, "style_transfer")
measured = reproduction.measured_accuracies([P.standard, P.robust, style.standard, style.robust])
display(reproduction.accuracy_table(measured, decimals=1))

# %% [markdown]
# The pattern the paper relies on holds in both tables: the robust model gives up some clean accuracy and keeps
# much more accuracy under attack at its training radius, while the standard model's accuracy collapses there.
# The check below asserts it for the book's models at the radius chapter 2 checks (`check_eps`; quick: 1.5, below
# the quick robust model's training radius of 2.5, which buys a stronger prior at the price of accuracy at 2.5).

# %%
train_eps = f"{rr.chapter_settings(profile, 'robust_training').check_eps:g}"  # the radius chapter 2 checks
book = reproduction.clean_and_attacked(measured, standard=P.standard, robust=P.robust, eps=train_eps)
madry = reproduction.clean_and_attacked(reported, standard="madry-cifar10-l2-0", robust="madry-cifar10-l2-0.5",
                                        eps="0.5")
display(reproduction.side_by_side({"paper's CIFAR-10 ResNet-50, eps 0.5": madry,
                                   f"book ({profile}), eps {train_eps}": book}).round(2))
gap, paper_gap = reproduction.attack_costs(book), reproduction.attack_costs(madry)
print(f"book: the attack at eps {train_eps} costs the standard model {gap['standard']:.1f} points and the robust "
      f"model {gap['robust']:.1f} (paper's CIFAR-10 models at 0.5: {paper_gap['standard']:.1f} and "
      f"{paper_gap['robust']:.1f})")
assert book["robust"][1] > book["standard"][1] + 30, "the robust model should keep far more accuracy under attack"
assert gap["robust"] < gap["standard"] / 2, "the attack should cost the robust model much less than the standard one"

# %% [markdown]
# ## Optimisation settings: the paper's and the quick profile's
#
# An unconstrained normalised-gradient step of size $s$ moves an image by $s$ in L2 norm, so the same relative
# change on an image with fewer pixels needs a smaller step: the quick profile scales the paper's step sizes by
# about $\sqrt{d_{\text{quick}} / d_{\text{paper}}}$, with $d$ the number of pixel values. The table lists the
# settings each chapter takes from the two profiles (the paper's are those of its Appendix A).

# %%
scale = rr.step_scale(P.dataset, paper.dataset)
print(f"sqrt(d_{P.dataset} / d_{paper.dataset}) = sqrt({rr.pixel_values(P.dataset)} / "
      f"{rr.pixel_values(paper.dataset)}) = {scale:.3f}")
ratios = reproduction.constant_step_ratios(profile, paper_profile)
print(f"constant step sizes, ratios book/paper: {sorted({round(r, 3) for r in ratios})} "
      f"(sqrt of the pixel ratio: {scale:.3f})")
display(reproduction.settings_table(profile, paper_profile))
assert all(scale / 1.6 <= r <= scale * 4.5 for r in ratios), "step sizes should follow the pixel scaling"

# %% [markdown]
# Where they differ by more than the scaling: the quick inversions and interpolations run 1,000 and 500 steps, not
# 10,000 (a CPU budget). To converge in a tenth of the paper's steps, the quick inversions (chapter 3) and class
# pictures (chapter 4) start with a step of 1 and 0.5 and decay it to zero on a cosine (`step_schedule`), where
# the paper keeps a constant step of 1 for 10,000 steps; chapter 3 shows the convergence curves. The rule above is
# checked on the constant step sizes only.

# %% [markdown]
# ## Your model: the perceptual alignment report
#
# The chapters measure the paper's claims on the book's own pair of models. The same measures, with the same
# settings and judge, apply to any classifier that `rr.load_model` or `rr.wrap_classifier` gives: a zoo name, a
# published checkpoint, a local file, a wrapped torchvision or timm network. One command writes them side by side
# on a self-contained page (figures embedded, no network), with the figures as PNG and the numbers, with 95%
# confidence intervals, as JSON:
#
# ```bash
# python -m rrhelpers report quick-standard quick-robust my_model.safetensors --dataset mnist5k --out report/
# python -m rrhelpers report ... --quick      # fewer images and steps: about 2 minutes for two quick models on 2 cores
# ```
#
# Each score is also placed on the scale of the profile's own standard (0) and robust (1) models, measured the same way:
# a number to quote. Below, the report of the book's quick pair with the `--quick` settings (the function behind the
# command: `rrhelpers.book.report.alignment_report`); its page is written to `reports/` in the package's cache folder
# (`$RRHELPERS_CACHE`, else `~/.cache/rrhelpers`).
# Under the scores, three of its figures: accuracy against the attack's radius (dotted: the radius of the APGD score),
# the inversions (the targets, then each model's from noise and from other test images) and each model's class
# pictures, one per class.

# %%
report_dir = rr.cache.cache_dir() / "reports" / f"{P.name}-pair"
numbers = report.alignment_report([P.standard, P.robust], dataset=P.dataset, out=report_dir, settings=report.QUICK,
                                  force=True)
print(f"report page: <cache>/reports/{report_dir.name}/index.html ({numbers['seconds']:.0f} s)")
print("\n".join(numbers["summary_lines"]))
display(report.scores_table(numbers).round(3))
for row in ("accuracy", "inversion", "class_visualization"):
    display(Image(filename=str(report_dir / f"{row}.png")))
