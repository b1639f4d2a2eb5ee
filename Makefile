# Quick start: `make run` (set up, then run the nightly job on the shipped samples) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
DAGSTER_PORT ?= 3000
# The report server builds its Launchpad links from it (reports/serve.py).
export DAGSTER_PORT

.PHONY: setup run test test-fast dev serve postgres lint validate clean-data help browser approve bench parse prune rebuild \
	backfill replay docs

help:
	@echo "make run       set up .venv if needed, then run the nightly job on the shipped samples (no network)"
	@echo "make test      the whole test suite (what CI runs)"
	@echo "make test-fast parsers, checks, report and in-process jobs: no browser, service or command processes"
	@echo "make dev       Dagster UI (webserver + daemon) on http://127.0.0.1:$(DAGSTER_PORT), reports on :$(REPORTS_PORT)"
	@echo "make serve     the always-on service: PostgreSQL, code server, webserver, daemon, reports (Ctrl-C stops)"
	@echo "make approve BY=<name> VERSION=<report_version>  publish the approved tables (DRY_RUN=<dir> to rehearse)"
	@echo "make rebuild VERSION=<report_version>  rebuild a version from the raw archive and check every byte (OUT=<dir>)"
	@echo "make backfill  load past real releases (FOLDER=<dir>, default data/releases) into the archive and vintages"
	@echo "make replay    live past nights again (RELEASES=<dir> FROM= TO=; AGAINST=<git ref> to diff; SERVICE=1)"
	@echo "make prune     remove old unpublished versions, raw files and Dagster runs nothing needs (DRY_RUN=1 lists; KEEP_DAYS=)"
	@echo "make bench     benchmark at three scales (prints a table, writes bench-results.json)"
	@echo "make parse SOURCE=<name> FILE=<path or URL>  read one file through a source's parser (API=<format>)"
	@echo "make validate  load and check the Dagster definitions"
	@echo "make lint      ruff"
	@echo "make docs      regenerate the settings table in docs/operations.md from resources/settings.py"

# The pinned dependencies, then the project itself in editable mode (no dependencies: the lock has them all). uv,
# pinned in the lock and installed first with the venv's own pip, installs the lock in about 7 s where pip took 18-29 s
# (it downloads and unpacks in parallel); compiled to bytecode as pip does, because this machine sets
# PYTHONDONTWRITEBYTECODE and every process would otherwise compile what it imports, every time. uv reads no pip.conf:
# where it cannot reach the package index, pip installs the same lock, saying so.
UV := $(VENV)/bin/uv
$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$$(grep '^uv==' requirements.lock)" && \
	  $(UV) pip install --quiet --python $(PY) --compile-bytecode -r requirements.lock && \
	  $(UV) pip install --quiet --python $(PY) --no-deps -e . || { \
	  echo "uv could not install requirements.lock (above): installing it with pip instead, which is slower"; \
	  $(PY) -m pip install --quiet -r requirements.lock && $(PY) -m pip install --quiet --no-deps -e .; }
	touch $@

$(DAGSTER_HOME)/dagster.yaml: config/dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp config/dagster.yaml $@

setup: $(VENV)/.installed $(DAGSTER_HOME)/dagster.yaml

run: setup
	$(PY) -m pipelines.commands.run

# The browser tests drive Debian's chromium (never a downloaded browser); install it when it is missing.
browser:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# The service's tests and `make serve` run Debian's PostgreSQL server; install it when it is missing (not needed when
# DAGSTER_PG_HOST points at an existing server).
postgres:
	@test -n "$(DAGSTER_PG_HOST)" || command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing Debian postgresql for make serve and its tests"; \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql >/dev/null; }

test: setup browser postgres
	$(PY) -m pytest

# The quick loop while changing parsers, checks or the report: what needs no browser, PostgreSQL or fresh process of
# the project's commands (those run in `make test`).
test-fast: setup
	$(PY) -m pytest -m "not browser and not service and not commands"

# The report server (127.0.0.1:$(REPORTS_PORT)) makes the report link on the cases_report asset page clickable.
REPORTS_PORT ?= 3001
export REPORTS_PORT
# exec: make passes its own SIGTERM to the command itself, which stops every part (pipelines/commands/dev.py).
dev: setup
	exec $(PY) -m pipelines.commands.dev

# The always-on service (docs/operations.md, "Running as a service"): PostgreSQL-backed Dagster, each part its own process on
# 127.0.0.1 (pipelines/service.py). Its Dagster home is SERVICE_HOME, apart from make dev's SQLite one.
SERVICE_HOME ?= $(CURDIR)/.dagster_service
export SERVICE_HOME
serve: setup postgres
	@$(PY) -m pipelines.service

# The same approval the Launchpad takes: make approve BY="Ana Analyst" VERSION=<report_version> [DRY_RUN=<dir>]
# It prints one message; VERBOSE=1 adds Dagster's step log and any stack trace.
# A name left unquoted (make approve BY=Nina Newcomer ...) would reach make as BY=Nina and a goal "Newcomer": make
# would publish as "Nina", then fail on the goal. Any other goal beside approve stops everything before it starts.
ifneq ($(filter approve,$(MAKECMDGOALS)),)
ifneq ($(filter-out approve,$(MAKECMDGOALS)),)
$(error make approve does not know "$(filter-out approve,$(MAKECMDGOALS))": a name or value with a space must be quoted, e.g. make approve BY="Nina Newcomer" VERSION=<report_version>. Nothing was sent)
endif
endif
approve: setup
	@test -n "$(BY)" -a -n "$(VERSION)" || { echo 'usage: make approve BY="<your name>" VERSION=<report_version> [DRY_RUN=<dir>]'; exit 2; }
	@# BY and VERSION reach the command through the environment (make exports command-line variables): a quote in a
	@# name cannot break the command line.
	@$(PY) -m pipelines.commands.approve --by "$$BY" --version "$$VERSION" $(if $(DRY_RUN),--dry-run "$(DRY_RUN)") $(if $(filter 1 true yes,$(VERBOSE)),--verbose)

# Rebuild a report version from the raw archive alone and prove it byte for byte (docs/operations.md, "Provenance"). Ends with
# `report_version: <v>`; exit 1 names the file and row that differ, or the raw file that is missing or changed.
rebuild: setup
	@test -n "$(VERSION)" || { echo 'usage: make rebuild VERSION=<report_version> [OUT=<folder>]'; exit 2; }
	@$(PY) -m pipelines.commands.rebuild --version "$(VERSION)" $(if $(OUT),--out "$(OUT)")

# Past real releases into the raw archive and the vintages, oldest first (docs/operations.md, "Provenance, rebuilds and revisions").
FOLDER ?= data/releases
backfill: setup
	@$(PY) -m pipelines.commands.backfill "$(FOLDER)"

# Live the nights of a folder of past releases again, through the nightly job and a rehearsed approval, each night
# (docs/operations.md, "Replaying past nights"). Ends with `replay: <nights.csv>`; AGAINST=<git ref> also replays them
# with that code and exits 1 when a published byte differs.
RELEASES ?= data/releases
replay: setup
	@$(PY) -m pipelines.commands.replay "$(RELEASES)" $(if $(FROM),--from "$(FROM)") $(if $(TO),--to "$(TO)") \
	  $(if $(AGAINST),--against "$(AGAINST)") $(if $(filter 1 true yes,$(SERVICE)),--service)

# Remove what neither a published version nor the next night needs, saying what (docs/operations.md, "Retention").
# DRY_RUN=1 lists it only; KEEP_DAYS=<n> overrides PRUNE_KEEP_DAYS.
prune: setup
	@$(PY) -m pipelines.commands.prune $(if $(KEEP_DAYS),--keep-days "$(KEEP_DAYS)") $(if $(filter 1 true yes,$(DRY_RUN)),--dry-run)

validate: setup
	$(VENV)/bin/dagster definitions validate -w workspace.yaml

# Try a file a publisher released through a source's parser, touching nothing stored (docs/analyst.md, "Trying a new file").
# FILE is handed over in single quotes, so names with spaces can be quoted inside it with double quotes.
parse: setup
	@$(if $(and $(SOURCE),$(FILE)),true,echo 'usage: make parse SOURCE=<source> FILE=<path or URL> [API=<format>]'; exit 2)
	@$(PY) -m pipelines.commands.parse "$(SOURCE)" '$(FILE)' $(if $(API),--api "$(API)")

# Figures, not tests: prints a table and writes bench-results.json (docs/development.md, "Performance").
bench: setup
	$(PY) -m bench.run

lint: setup
	$(VENV)/bin/ruff check .

# Generated parts of the docs (tests/resources/test_settings.py fails while they are out of date).
docs: setup
	$(PY) -m pipelines.commands.docs

clean-data:
	rm -rf storage
