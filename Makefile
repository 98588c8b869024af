# The two set-up commands: `make demo` and `make test`. Both work on a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
IMAGES ?=
HOME_DIR ?= demo-home
HOST ?= 127.0.0.1
PORT ?= 8000
# A plain `torch` would pull a multi-GB CUDA build; 2.13.0 is the CPU build.
TORCH := torch==2.13.0

.PHONY: demo test install dev lint typecheck pytest serve clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/python scripts/demo.py --home $(HOME_DIR) --host $(HOST) --port $(PORT) $(if $(IMAGES),--images $(IMAGES),)

lint: install
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/python -m pytest -q

test: lint typecheck pytest

clean:
	rm -rf $(VENV) $(HOME_DIR)
