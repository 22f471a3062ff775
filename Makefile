# The three commands of the README. PYTHON picks the interpreter that creates the virtual environment.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup book test bench-peers bench bench-time

setup:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -c constraints.txt -e ".[book,test]"
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(PY) -c "import rrhelpers, torchvision.ops; print('rrhelpers', rrhelpers.__version__, 'installed')"
	bash tools/setup_system.sh
	$(PY) -m tools.vendor_js

book:
	$(PY) -m tools.build_book

test:
	$(PY) -m pytest

# On demand, not part of CI: the speed benchmark against torchattacks and MadryLab robustness (benchmarks/README.md).
bench-peers:
	$(PY) -m pip install --quiet --no-deps --target .bench-peers -r benchmarks/peers.txt

bench: bench-peers
	$(PY) benchmarks/speed.py --peers .bench-peers --json benchmarks/results/speed-$$($(PY) -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')").json
	$(PY) benchmarks/layouts.py --json benchmarks/results/layouts-cpu.json

# On demand (about an hour on 2 cores): wall time to a robust model, MadryLab robustness' loop against rrhelpers'
bench-time: bench-peers
	$(PY) benchmarks/time_to_robustness.py --peers .bench-peers --json benchmarks/results/time-to-robustness-$$($(PY) -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')").json
