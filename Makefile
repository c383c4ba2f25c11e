# Two entry points (see README): `make demo` and `make test`. Each sets up .venv on its own.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(PYTHON) -m uv

.PHONY: demo test setup setup-dev lint

$(BIN)/python:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check uv
	$(UV) venv --quiet --python 3.11 $(VENV)

setup: $(BIN)/python
	$(UV) pip install --quiet --python $(BIN)/python -e '.[export,openvino]'

setup-dev: $(BIN)/python
	$(UV) pip install --quiet --python $(BIN)/python -e '.[dev]'

demo: setup
	$(BIN)/python run.py run

lint: setup-dev
	$(BIN)/ruff check .

test: setup-dev
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q
