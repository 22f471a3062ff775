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
# # Appendix: speed against the peers
#
# The book's optimisations all run through one solver and one training loop, so their speed matters. The
# benchmark `benchmarks/speed.py` (run on demand with `make bench`, never in CI) measures, in one run on one
# machine, with the same model, batch, radius, step size and number of steps:
#
# - L2 PGD with `rrhelpers.pgd_attack`, torchattacks' `PGDL2` and MadryLab robustness' `Attacker`, none with a
#   random start, so the three must also reach the same loss (the *final loss* column);
# - one epoch of adversarial training with `rrhelpers.train` and with MadryLab robustness' training loop
#   (torchattacks has none);
# - the throughput of the `cifar10-l2-fast` training preset and the time a whole run would take at that rate;
# - on a GPU, the fraction of the bf16 dense peak that a ResNet-50 PGD step at 224 px reaches.
#
# This page shows every result file in `benchmarks/results/`, as measured: the machine, date and settings are
# part of each file. Speed-ups are the peer's time divided by rrhelpers' time.
#
# Where rrhelpers is faster, it is because of what it runs, not of its loop: for the length of each attack or solver
# call it folds every BatchNorm into the convolution before it (the model is frozen, so each BatchNorm is a fixed
# affine map per channel) and, on a CPU, stores those weights channels-last (`rrhelpers.fusion`). The rows marked
# *folded model* hand the peers that same folded model: their loops then run as fast as rrhelpers' (which also
# evaluates the last iterate, to return the best one), so a user of either library can have the gain by hand.

# %% tags=["parameters"]
profile = "quick"  # unused here: the page shows stored measurements
results = "../benchmarks/results"  # folder of JSON files written by benchmarks/speed.py

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

files = sorted(Path(results).glob("*.json"))
print(f"{len(files)} result file(s) in {Path(results).resolve()}")
measured = {f.stem: json.loads(f.read_text()) for f in files}

# %%
for name, run in measured.items():
    machine = run["machine"]
    print(f"{name}: {run['date']}, {machine['device']} ({machine['threads']} threads), torch {machine['torch']}, "
          f"{run['settings']['arch']}, batch {run['settings']['batch']}, {run['settings']['steps']} PGD steps, "
          f"eps {run['settings']['eps']}")
    tables = [("attack", ["library", "seconds", "image_steps_per_s", "rrhelpers_speedup", "final_loss"]),
              ("training", ["library", "seconds", "images_per_s", "rrhelpers_speedup"])]
    for key, columns in tables:
        if key in run:
            frame = pd.DataFrame(run[key])
            print(frame["benchmark"].iloc[0])
            display(frame[columns].round(4))
    for key in ("preset", "gpu_peak"):
        if key in run:
            display(pd.Series({k: v for k, v in run[key].items() if k != "preset"}, name=key).to_frame())

# %% [markdown]
# The same attack numbers as a chart: image-steps per second (images in the batch times PGD steps, per second of
# wall time), higher is faster.

# %%
if measured:
    fig, axes = plt.subplots(1, len(measured), figsize=(5 * len(measured), 3), squeeze=False)
    for ax, (name, run) in zip(axes[0], measured.items()):
        frame = pd.DataFrame(run["attack"])
        ax.barh(frame["library"], frame["image_steps_per_s"], color="tab:blue")
        ax.set(xlabel="image-steps per second", title=f"{name}: {run['machine']['device']}")
    fig.tight_layout()
    plt.show()
