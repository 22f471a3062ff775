#!/usr/bin/env bash
# Does the book run on a GPU without surprises? One CUDA device, no dataset, no download, about 8 minutes:
#   1. the training CLI's preset cifar10-l2-fast (bf16, channels_last) for a few hundred steps on random
#      CIFAR-shaped images: its throughput and the projected time of the whole run;
#   2. benchmarks/speed.py on CUDA: the PGD comparison with the peers that are installed, and the fraction of the
#      bf16 dense peak that a ResNet-50 PGD step at 224 px reaches;
#   3. every quick-profile chapter, executed with papermill, with the models (trained on first use) on CUDA.
# The short measurements come first, so that a machine lent for a few minutes reports them even if the chapters
# do not finish.
# Usage, from anywhere:  bash benchmarks/gpu_check.sh [OUT]   (default OUT: _build/gpu_check; PY picks the Python,
# by default .venv/bin/python where it exists, else python3)
# The quick models are trained into OUT/cache, so the CPU cache is neither used nor touched. Exit status non-zero if
# a chapter fails or a step stops.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
OUT=${1:-_build/gpu_check}
STEPS=${GPU_CHECK_STEPS:-300}
mkdir -p "$OUT"
export RRHELPERS_CACHE="$OUT/cache"
"$PY" -c "
import torch
if not torch.cuda.is_available():
    raise SystemExit('gpu_check: torch sees no CUDA device; run it on a machine with a GPU')
print('gpu_check:', torch.cuda.get_device_name(), '| torch', torch.__version__)"

started=$SECONDS
lap() { echo "gpu_check: $1 took $((SECONDS - started)) s"; started=$SECONDS; }

echo "== 1/3 training CLI, preset cifar10-l2-fast, $STEPS steps on synthetic CIFAR-shaped images"
"$PY" -m rrhelpers train --preset cifar10-l2-fast --synthetic --dry-run "$STEPS" --no-progress --out "$OUT/fast"
lap "the preset's dry run"

echo "== 2/3 PGD against the peers, and a ResNet-50 PGD step at 224 px against the bf16 dense peak"
"$PY" benchmarks/speed.py --gpu-peak --train-images 0 --preset "" --json "$OUT/speed-cuda.json"
lap "the speed benchmark"

echo "== 3/3 every quick chapter, models on CUDA"
"$PY" -m tools.run_chapters --output "$OUT/chapters" --no-progress
lap "the chapters"
