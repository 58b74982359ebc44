# sclib: two commands do everything on a fresh machine.
#   make figures   run every numbered notebook headlessly (papermill) into figures/
#   make test      unit tests and the notebooks under nbval (what CI runs)
# Both set up .venv first when it is missing or older than pyproject.toml.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.sclib-installed
PROFILE ?= quick
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYTHONHASHSEED := 0
# the kernel of this .venv comes first, whatever kernels a user has installed elsewhere
export JUPYTER_PATH := $(CURDIR)/$(VENV)/share/jupyter

.PHONY: setup test unit browser figures lab lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (sclib)" >/dev/null
	touch $(STAMP)

# notebooks 02-04 and 07 run once, in tests/test_figure_notebooks.py (papermill, then their numbers
# are checked); nbval runs the other notebooks
test: setup
	$(PY) -m pytest sclib tests notebooks --nbval-lax --nbval-current-env -p no:cacheprovider \
		--ignore-glob='notebooks/0[2347]_*.ipynb' --durations=20

unit: setup
	$(PY) -m pytest sclib tests -m "not slow" -p no:cacheprovider

browser: setup
	.ci/browser-deps
	$(PY) -m pytest tests/browser -m browser -p no:cacheprovider -s

figures: setup
	$(PY) -m sclib.notebooks --profile $(PROFILE)

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

lint: setup
	$(VENV)/bin/ruff check sclib tests bench notebooks
	$(VENV)/bin/ruff format --check sclib tests bench notebooks

# NeuroSurgeon 0.1.0 (the closest peer toolkit) is an optional dev dependency of the bench only
bench: setup
	$(PY) -m pip install --quiet --no-deps neurosurgeon==0.1.0
	$(PY) bench/masks.py $(BENCH_ARGS)
	$(PY) bench/step_formats.py
	$(PY) bench/flops.py
	$(PY) bench/throughput.py

# The grid as jobs (python -m sclib.grid): what a profile costs, running it, collecting it.
#   make plan PROFILE=full
#   make grid PROFILE=quick RUN_ARGS="--executor local --workers 2"
#   make grid PROFILE=full GRID_ARGS="--cache-dir /shared/sclib" \
#        RUN_ARGS="--executor slurm --partition gpu --gpus-per-job 1 --max-parallel 32 --time-min 240"
#   make collect PROFILE=full GRID_ARGS="--cache-dir /shared/sclib"  # -> data/results/full/runs.csv
.PHONY: plan grid collect readme-tables slurm-up
GRID_ARGS ?=
RUN_ARGS ?=

plan: setup
	$(PY) -m sclib.grid plan --profile $(PROFILE) $(GRID_ARGS)

grid: setup
	$(PY) -m sclib.grid run --profile $(PROFILE) $(GRID_ARGS) $(RUN_ARGS)

collect: setup
	$(PY) -m sclib.grid collect --profile $(PROFILE) $(GRID_ARGS)

# the README's blocks computed from data/results/standard/runs.csv (tests fail when stale)
readme-tables: setup
	$(PY) -m sclib.stats.agreement
	$(PY) -m sclib.stats.standard_summary

# a one-node SLURM on this machine (Debian/Ubuntu; sudo), for tests/test_slurm.py and trying
# `make grid RUN_ARGS="--executor slurm"` on a laptop
slurm-up:
	scripts/slurm-up

clean:
	rm -rf build .pytest_cache .ruff_cache
