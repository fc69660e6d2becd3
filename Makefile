# gdpr-vault — the two commands of the README, plus lint and benchmarks.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: run test test-sqlite test-postgres lint bench install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## make run: install, migrate, load demo data on first start (DEMO=0 skips), serve on :8000
run: $(STAMP)
	$(BIN)/gdpr-vault serve

## make test: the whole suite on SQLite, then the database tests again on PostgreSQL
test: $(STAMP)
	./scripts/run-tests

test-sqlite: $(STAMP)
	./scripts/run-tests sqlite

test-postgres: $(STAMP)
	./scripts/run-tests postgres

lint: $(STAMP)
	$(BIN)/ruff check gdpr_vault exporters tests benchmarks
	$(BIN)/ruff format --check gdpr_vault exporters tests benchmarks

bench: $(STAMP)
	./scripts/run-benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
