# Two entry points (see README): `make demo` and `make test`. Each sets up .venv on its own.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(PYTHON) -m uv

# Debian packages the live-path tests use: an RTSP server (GStreamer), ffmpeg, an MQTT broker, chromium.
APT_PACKAGES := ffmpeg mosquitto python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp \
                gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test setup setup-dev lint system-deps web-bundle docs docs-serve

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

system-deps:
	@dpkg -s $(APT_PACKAGES) >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES); }

test: setup-dev system-deps
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# The documentation site (MkDocs Material) into site/; `make test` builds it too, with --strict (tests/test_docs.py).
docs: setup-dev
	$(BIN)/mkdocs build --strict

docs-serve: setup-dev
	$(BIN)/mkdocs serve

# The web editor's CodeMirror bundle (committed as package data, so pip users need no node).
WEB_FRONTEND := argus/cli/serve/frontend
web-bundle:
	cd $(WEB_FRONTEND) && npm ci --no-audit --no-fund && npm run build
	@ls -l argus/cli/serve/static/editor.bundle.js
