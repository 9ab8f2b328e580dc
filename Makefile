# AI Analytics Hub: `make run` serves the app with a demo tenant; `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8501
API_PORT ?= 8000
export AIHUB_DEMO ?= 1

.PHONY: install run test lint browser benchmarks clean-data

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Hosts the demo's sources may reach; only for `make run` (the tests set their own).
RUN_ALLOWED_HOSTS ?= 127.0.0.1,localhost

# Starts the embedded PostgreSQL (unless AIHUB_DATABASE_URL is set), migrates, seeds the demo tenant, then
# serves the app with a background worker (queued and scheduled work), the REST API on API_PORT (8000;
# /api/v1/docs) and the demo orders API beside it.
run: export AIHUB_ALLOWED_HOSTS ?= $(RUN_ALLOWED_HOSTS)
# The demo's shop database lives on the hub's own server (embedded: reached by its socket in the data folder);
# sources may read it only because these two settings name it.
run: export AIHUB_HUB_SOURCE_DATABASES ?= aihub_demo_shop
run: export AIHUB_ALLOWED_SOCKET_DIRS ?= $(abspath $(or $(AIHUB_DATA_DIR),.aihub))
run: install
	$(BIN)/aihub demo
	@$(BIN)/aihub demo-api & API=$$!; $(BIN)/aihub worker & WORKER=$$!; \
	AIHUB_API_PORT=$(API_PORT) $(BIN)/aihub api & REST=$$!; \
	trap 'kill $$WORKER $$API $$REST 2>/dev/null; wait' EXIT INT TERM; \
	$(BIN)/streamlit run streamlit_app.py --server.port $(PORT)

# Headless Chromium from Debian's packages for the browser test (root installs it; others are told how).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "browser test needs Debian's chromium: sudo apt-get install chromium"; fi; }

# Gates: ruff (its default rules plus a complexity ceiling of 15, pyproject.toml) and import-linter (the layers
# in .importlinter: a new upward import fails). The import-cycle check is tests/core/test_import_cycles.py.
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: install browser lint
	$(BIN)/python -m pytest -q

benchmarks: install
	$(BIN)/python benchmarks/forecast_m4_weekly.py

clean-data:
	rm -rf .aihub
