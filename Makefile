# Two commands on a fresh machine: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint bench bench-memory bench-sweeps bench-freshness chaos openapi clean

# The service, then the tools beside it (devtools/pyproject.toml says why a second project).
$(STAMP): pyproject.toml devtools/pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/pip install --quiet -c constraints.txt -e ./devtools
	touch $(STAMP)

## demo: embedded Postgres + generated PICSWeb data + OneFile simulator + the service, then enrol and sync
demo: $(STAMP)
	$(BIN)/onefile-sync-dev demo

## lint: ruff (lint + format check), mypy strict, and the layers' import contracts
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## test: the whole suite, as CI runs it (TEST_DATABASE_URL picks a server, else an embedded one)
test: lint
	$(BIN)/pytest

## openapi: regenerate openapi/openapi.json from the app
openapi: $(STAMP)
	$(BIN)/onefile-sync-dev openapi openapi/openapi.json

clean:
	rm -rf $(VENV) .pgdata .pytest_cache .mypy_cache .ruff_cache

## bench: the performance figures of issue 5 (1,000 learners, compressed quota; about 8 minutes)
bench: $(STAMP)
	$(BIN)/onefile-sync-dev bench

## bench-memory: the same plus peak RSS over an exchange of 100,000 learners and RSS over
## 10 full sweeps of 5,000 learners in one service process (longer)
bench-memory: $(STAMP)
	$(BIN)/onefile-sync-dev bench --memory-learners 100000 --sweeps 10

## bench-freshness: issue 12: OneFile-to-PICSWeb delay with a sync every 15 min (compressed),
## and the calls a day of each cadence on an unchanged centre of 1,000 and 10,000 (~25 min)
bench-freshness: $(STAMP)
	$(BIN)/onefile-sync-dev bench --freshness

## bench-sweeps: only the 10 sweeps: RSS after each, growth from the second to the last (~5 min)
bench-sweeps: $(STAMP)
	$(BIN)/onefile-sync-dev bench --sweeps 10 --sweeps-only

## chaos: full-size reliability runs (20 kills, OneFile faults, Postgres outage, two replicas 20 times under load, hand-over by kill and freeze; ~25 min)
chaos: $(STAMP)
	$(BIN)/onefile-sync-dev chaos
