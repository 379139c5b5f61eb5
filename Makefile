# `make demo` sets everything up and runs the demo; `make test` runs the test suite.
VENV := .venv
STAMP := $(VENV)/.installed
BIN := $(VENV)/bin

.PHONY: setup demo test lint format clean

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $(STAMP)

setup: $(STAMP)
	@command -v espeak-ng >/dev/null && command -v flite >/dev/null \
		&& ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || bash scripts/setup.sh

demo: setup
	$(BIN)/rnnaudio sweep sweep=demo

test: setup
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check src tests bench

format: setup
	$(BIN)/ruff format src tests bench

clean:
	rm -rf outputs multirun mlartifacts mlflow.db data/cache
