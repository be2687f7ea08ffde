# comms — the two commands that matter on a fresh machine are `make issue` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JS := tests/js
JS_STAMP := $(JS)/node_modules/.installed
ISSUE ?=
ROOT ?= .

.DEFAULT_GOAL := help

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(JS_STAMP): $(JS)/package.json $(JS)/package-lock.json
	npm ci --prefix $(JS) --no-audit --no-fund --loglevel=error
	touch $@

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.PHONY: install
install: $(STAMP) ## Create .venv and install comms with its test tools

.PHONY: issue
issue: $(STAMP) ## Build the upcoming issue of the sample content (ISSUE=2027-1 for a given one)
	$(BIN)/comms build $(ISSUE) --root $(ROOT)

.PHONY: check
check: $(STAMP) ## Check the sample content
	$(BIN)/comms check --root $(ROOT)

.PHONY: test
test: $(STAMP) $(JS_STAMP) ## Run the tests
	$(BIN)/pytest

.PHONY: lint
lint: $(STAMP) ## Run ruff
	$(BIN)/ruff check comms tests bench

.PHONY: bench
bench: $(STAMP) ## Time builds and sends beside their anchors (BENCH_FLAGS=--json for JSON lines)
	@# Postfix's smtp-sink and smtp-source (Debian package postfix), for the send figures only
	@# (package lists first: a fresh machine has none). Only the scripts' own lines reach
	@# stdout, so that `make bench BENCH_FLAGS=--json > run.jsonl` holds JSON lines alone.
	@test -x /usr/sbin/smtp-sink || command -v smtp-sink >/dev/null || \
	  ((apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix) \
	     >/dev/null 2>&1 || \
	   echo "postfix not installed: the send figures use aiosmtpd and no smtp-source anchor" >&2)
	@$(BIN)/python bench/bench_build.py $(BENCH_FLAGS)
	@$(BIN)/python bench/bench_size.py $(BENCH_FLAGS)
	@$(BIN)/python bench/bench_send.py $(BENCH_FLAGS)
	@$(BIN)/python bench/bench_dkim.py $(BENCH_FLAGS)
	@$(BIN)/python bench/bench_inbox.py $(BENCH_FLAGS)
	@$(BIN)/python bench/bench_invite.py $(BENCH_FLAGS)
	@$(BIN)/python bench/bench_web.py $(BENCH_FLAGS)

.PHONY: daily
daily: $(STAMP) ## Read the mailboxes, then send what is due today (for a daily cron entry)
	-$(BIN)/comms inbox --if-configured --root $(ROOT)
	$(BIN)/comms due --run --confirm --root $(ROOT)

.PHONY: clean
clean: ## Remove the build output
	rm -rf build
