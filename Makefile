# Two-command set-up: `make demo` (train, classify and score the shipped demo records) and `make test`
# (lint, format check, Dockerfile lint, unit tests). Both create the virtual environment .venv when needed.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

# Python used to create the venv: python3.11 when present, else python3 (3.11 or newer).
PYTHON ?= $(shell command -v python3.11 2> /dev/null || command -v python3)
VENV ?= .venv
VPY := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.requirements.stamp
DEV_STAMP := $(VENV)/.requirements-dev.stamp

DEMO_DATA ?= data/sample
DEMO_DIR ?= work/demo
DEMO_MODEL_SIZE ?= tiny
# A few short epochs (128 training windows each): well under a minute on a 2-core CPU.
DEMO_EPOCHS ?= 4
DEMO_EPOCH_WINDOWS ?= 128
DEMO_SEED ?= 0
DEMO_DEVICE ?= auto
# Signal cache of the training script, kept under work/ (its default is ~/.cache/ecg12).
DEMO_CACHE ?= work/cache

IMAGE ?= ecg12
BASE_IMAGE ?=
# cuda (PyPI's torch with its CUDA libraries) or cpu (PyTorch's CPU build): docs/docker.md.
TORCH ?= cuda
DOCKER ?= docker

.PHONY: help venv venv-dev demo test test-fast lint format docs-options gpu-check docker-build clean distclean

help:
	@echo "make demo          train a tiny model on $(DEMO_DATA)/train, classify $(DEMO_DATA)/test, score: $(DEMO_DIR)/"
	@echo "make test          ruff check, ruff format --check, hadolint, pytest"
	@echo "make test-fast     pytest without the slow tests (under a minute on 2 cores: the edit-test loop)"
	@echo "make lint          ruff check, ruff format --check, hadolint"
	@echo "make format        ruff format and ruff check --fix"
	@echo "make docs-options  regenerate docs/options.md from every command's --help"
	@echo "make gpu-check     train, resume, cross-validate, classify and score on a CUDA GPU, with numbers (gpu_check.py)"
	@echo "make docker-build  docker build -t $(IMAGE) . (TORCH=cpu for the CPU image; IMAGE=..., BASE_IMAGE=...)"
	@echo "make clean         remove $(DEMO_DIR), $(DEMO_CACHE), work/ci and caches; make distclean also removes $(VENV)"

# The venv is (re)installed whenever a requirements file is newer than its stamp.
$(RUNTIME_STAMP): requirements.txt
	@test -x "$(VPY)" || { echo "creating $(VENV) with $(PYTHON)"; "$(PYTHON)" -m venv "$(VENV)"; }
	"$(VPY)" -m pip install -r requirements.txt
	touch "$@"

$(DEV_STAMP): $(RUNTIME_STAMP) requirements-dev.txt
	"$(VPY)" -m pip install -r requirements-dev.txt
	touch "$@"

venv: $(RUNTIME_STAMP)

venv-dev: $(DEV_STAMP)

demo: $(RUNTIME_STAMP)
	rm -rf "$(DEMO_DIR)"
	mkdir -p "$(DEMO_DIR)"
	"$(VPY)" train_model.py "$(DEMO_DATA)/train" "$(DEMO_DIR)/model" --model-size $(DEMO_MODEL_SIZE) \
		--epochs $(DEMO_EPOCHS) --epoch-windows $(DEMO_EPOCH_WINDOWS) --seed $(DEMO_SEED) --device $(DEMO_DEVICE) --cache-dir "$(DEMO_CACHE)"
	"$(VPY)" driver.py "$(DEMO_DIR)/model" "$(DEMO_DATA)/test" "$(DEMO_DIR)/outputs"
	"$(VPY)" evaluate_model.py "$(DEMO_DATA)/test" "$(DEMO_DIR)/outputs" "$(DEMO_DIR)/scores.csv" \
		"$(DEMO_DIR)/class_scores.csv"
	@echo
	@echo "Scores of the demo model on $(DEMO_DATA)/test ($(DEMO_DIR)/scores.csv):"
	@cat "$(DEMO_DIR)/scores.csv"
	@echo
	@echo "Per-class scores: $(DEMO_DIR)/class_scores.csv; model: $(DEMO_DIR)/model; outputs: $(DEMO_DIR)/outputs"

lint: $(DEV_STAMP)
	"$(VENV)/bin/ruff" check .
	"$(VENV)/bin/ruff" format --check .
	"$(VENV)/bin/hadolint" --failure-threshold error Dockerfile

test: lint
	"$(VENV)/bin/pytest"

test-fast: $(DEV_STAMP)
	"$(VENV)/bin/pytest" -m "not slow"

format: $(DEV_STAMP)
	"$(VENV)/bin/ruff" format .
	"$(VENV)/bin/ruff" check --fix .

# docs/options.md is every command's --help: regenerate it after adding or changing an option (tests/test_docs.py).
docs-options: $(RUNTIME_STAMP)
	"$(VPY)" -m ecg12.docs

# On a CUDA machine: the whole product on the GPU in a few minutes (says so and succeeds where there is no CUDA).
gpu-check: $(RUNTIME_STAMP)
	"$(VPY)" gpu_check.py

docker-build:
	$(DOCKER) build $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) --build-arg TORCH=$(TORCH) -t $(IMAGE) .

clean:
	rm -rf "$(DEMO_DIR)" "$(DEMO_CACHE)" work/ci .pytest_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf "$(VENV)"
