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

# Trust & safety notification catalogs: the .po sources are in git, the compiled .mo are not
# (git-ignored): `make install` (so `make test` and `make run`) compiles any that are missing
# or older than their .po. `catalogs-extract` / `catalogs-update` after changing message ids;
# see docs/how-to/trust-safety-notifications.md.
LOCALE_DIR   := sheen/notifications/locale
CATALOGS_PO  := $(wildcard $(LOCALE_DIR)/*/LC_MESSAGES/messages.po)
CATALOGS_MO  := $(CATALOGS_PO:.po=.mo)
.PHONY: catalogs catalogs-extract catalogs-update
catalogs: $(CATALOGS_MO)

# After the catalog variables: make expands a rule's prerequisites as it reads the line.
install: $(STAMP) $(CATALOGS_MO)

$(LOCALE_DIR)/%/LC_MESSAGES/messages.mo: $(LOCALE_DIR)/%/LC_MESSAGES/messages.po | $(STAMP)
	$(BIN)/pybabel compile --statistics -D messages -d $(LOCALE_DIR) -l $*

catalogs-extract: $(STAMP)
	$(BIN)/pybabel extract -F sheen/notifications/babel.cfg -k N_ -k NP_:1,2 \
		--no-default-keywords --sort-output --omit-header -o $(LOCALE_DIR)/messages.pot sheen/notifications

catalogs-update: catalogs-extract
	$(BIN)/pybabel update -i $(LOCALE_DIR)/messages.pot -D messages -d $(LOCALE_DIR) \
		--no-fuzzy-matching --omit-header --width 100

# System tools the tests need (promtool and prometheus, headless Chromium, a compose
# implementation), from Debian's packages when missing.
tools:
	@scripts/install-promtool.sh
	@scripts/install-amtool.sh
	@scripts/install-chromium.sh
	@scripts/install-compose.sh
	@scripts/install-rabbitmq.sh

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
