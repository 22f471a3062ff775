# The three commands of the README. PYTHON picks the interpreter that creates the virtual environment.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup book test

setup:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -c constraints.txt -e ".[book,test]"
	$(PY) -c "import rrhelpers, torchvision.ops; print('rrhelpers', rrhelpers.__version__, 'installed')"
	bash tools/setup_system.sh
	$(PY) -m tools.vendor_js

book:
	$(PY) -m tools.build_book

test:
	$(PY) -m pytest
