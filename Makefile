# The two commands that matter: `make run` (the fleet, embedded services by default)
# and `make test` (the whole suite on a fresh machine). See README.md.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install tools run test lint bench migrate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[embedded,dev]'
	touch $(STAMP)

install: $(STAMP)

# System tools the tests need (promtool and prometheus, headless Chromium, a compose
# implementation), from Debian's packages when missing.
tools:
	@scripts/install-promtool.sh
	@scripts/install-chromium.sh
	@scripts/install-compose.sh

run: install
	$(BIN)/sheen-ops dev

migrate: install
	$(BIN)/sheen-ops migrate

test: install tools
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# `make bench` runs every benchmark; `make bench BENCH="ping jobs"` some of them;
# `make bench BENCH_QUICK=1` a smoke run (fewer, smaller rounds). docs/benchmarks.md.
BENCH ?=
bench: install
	BENCH_QUICK=$(BENCH_QUICK) $(BIN)/python -m benchmarks.run $(BENCH)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
