# syncgate: `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements.installed
export PYTHONPATH := $(CURDIR)/include

.DEFAULT_GOAL := help
.PHONY: help venv demo stop airflow test test-unit test-dags test-integration bench lint typecheck expectation-types clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

venv: $(STAMP) ## Create .venv and install the pinned requirements (runtime + dev tools)

demo: $(STAMP) ## Run the demo: embedded PostgreSQL + seeded ERP + Airflow UI + every flow once (Ctrl-C stops)
	bash scripts/demo.sh

stop: ## Stop everything `make demo` started
	bash scripts/demo.sh stop

airflow: ## The Airflow CLI against the running demo, from any shell: make airflow ARGS="dags list"
	bash scripts/airflow.sh $(ARGS)

test: $(STAMP) ## Run the whole test suite (starts its own PostgreSQL)
	$(BIN)/python -m pytest

test-unit: $(STAMP) ## Unit tier only (no services)
	$(BIN)/python -m pytest -m unit

test-dags: $(STAMP) ## DAG tier only (DagBag integrity and policy)
	$(BIN)/python -m pytest -m dags

test-integration: $(STAMP) ## Integration tier only (real PostgreSQL, Airflow dag.test)
	$(BIN)/python -m pytest -m integration

bench: $(STAMP) ## Benchmark a 2M-row sync against a binary COPY pipe (other cases: make bench BENCH_ARGS="--case monitor|ui|http|two_way|latency|fixed_cost")
	$(BIN)/python -m bench.run $(BENCH_ARGS)

lint: $(STAMP) ## ruff lint + format check
	$(BIN)/ruff check include dags plugins tests bench
	$(BIN)/ruff format --check include dags plugins tests bench

typecheck: $(STAMP) ## mypy on the engine package
	$(BIN)/mypy

expectation-types: $(STAMP) ## Refresh the GX expectation types known to spec validation
	$(BIN)/python -m syncgate.spec.refresh_expectation_types

datadocs-assets: $(STAMP) ## Re-vendor the browser assets of GX Data Docs from the npm registry (after a GX upgrade)
	$(BIN)/python scripts/vendor_datadocs_assets.py

clean: stop ## Remove local state (.syncgate: clusters, landing area, reports, Airflow home)
	-bash scripts/pg_cluster.sh destroy .syncgate/pg
	-bash scripts/pg_cluster.sh destroy .syncgate/pg-test
	rm -rf .syncgate
