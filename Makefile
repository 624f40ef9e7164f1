# Two commands a new user needs: `make run` and `make test`. Both install what they need.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
# A fresh clone never reuses incremental state: CI builds without it (half the disk).
ifdef CI
export CARGO_INCREMENTAL := 0
endif
VENV := .venv
PYTHON := $(VENV)/bin/python
REQUIREMENTS := integration-tests/python/requirements.txt
GATEWAY_BIN := $(CURDIR)/target/debug/caldav-gateway

.PHONY: help run test unit golden integration jmap imap imap-contract build lint fmt bench bench-memory microbench soak fuzz fuzz-short deploy-check

help:
	@echo "make run    start the gateway on the embedded store (data in ./data)"
	@echo "make test   run every test: unit, golden, contract, a short fuzz, deploy files and integration"
	@echo "make unit | fuzz-short | deploy-check | integration | jmap | imap-contract | imap | golden | lint | fmt | bench | microbench | soak"
	@echo "make fuzz   every fuzz target for FUZZ_SECONDS (default 60) each; see fuzz/README.md"

# The demo user (config demo.enabled) only here: its password is printed to this terminal.
run:
	$(CARGO) build --release -p gateway
	GATEWAY__DEMO__ENABLED=true ./target/release/caldav-gateway serve

test: unit fuzz-short deploy-check imap-contract integration jmap

# Every parser of client bytes under libFuzzer (cargo-fuzz on stable via RUSTC_BOOTSTRAP;
# fuzz/run.sh installs cargo-fuzz when missing). A crash fails the run and leaves its input in
# fuzz/artifacts/<target>/; fuzz/README.md says how to keep it as a regression fixture.
FUZZ_SECONDS ?= 60
FUZZ_SHORT_SECONDS ?= 15
fuzz:
	CARGO=$(CARGO) FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh

# The bounded step of `make test`: each target for FUZZ_SHORT_SECONDS.
fuzz-short:
	CARGO=$(CARGO) FUZZ_SECONDS=$(FUZZ_SHORT_SECONDS) fuzz/run.sh

# Unit, golden-fixture and store-contract tests of every crate (nextest when installed, else
# cargo test), then the doc tests, which nextest does not run.
unit:
	if $(CARGO) nextest --version >/dev/null 2>&1; then \
	  $(CARGO) nextest run --workspace --locked --no-fail-fast; \
	  $(CARGO) test --workspace --locked --doc; \
	else \
	  $(CARGO) test --workspace --locked --no-fail-fast; \
	fi

# Rewrites the golden .response/.expected files from the current output; review the diff.
golden:
	UPDATE_GOLDEN=1 $(CARGO) test --locked -p dav -p gateway

build:
	$(CARGO) build --locked -p gateway

# The real binary over real TLS, driven by real clients (python caldav, requests, httpx).
# Last in `make test`, so pytest's summary line closes the output.
integration: build $(VENV)/.installed
	command -v litmus >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q litmus; }
	CALDAV_GATEWAY_BIN=$(GATEWAY_BIN) $(PYTHON) -m pytest -q -rfE -p no:cacheprovider integration-tests/python

# The JMAP backend against a real Cyrus IMAP 3.6 (Debian's packages, installed when missing)
# on 127.0.0.1: the backend contract suite, then the whole integration suite again through
# the gateway. Cyrus is stopped by PID whatever the outcome.
CYRUS_DIR := $(CURDIR)/integration-tests/.work/cyrus
CYRUS := python3 integration-tests/cyrus/cyrus.py
jmap: build $(VENV)/.installed
	command -v litmus >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q litmus; }
	if [ -f $(CYRUS_DIR)/pid ]; then $(CYRUS) stop $(CYRUS_DIR); fi
	rm -rf $(CYRUS_DIR)
	$(CYRUS) start $(CYRUS_DIR) --smtp 0 --relay $(CURDIR)/$(PYTHON) >/dev/null
	status=0; set -a; . $(CYRUS_DIR)/env; set +a; \
	if $(CARGO) nextest --version >/dev/null 2>&1; then \
	  $(CARGO) nextest run -p store-jmap --features cyrus-tests --locked --no-fail-fast || status=$$?; \
	else \
	  $(CARGO) test -p store-jmap --features cyrus-tests --locked --no-fail-fast || status=$$?; \
	fi; \
	CALDAV_TEST_BACKEND=jmap CALDAV_GATEWAY_BIN=$(GATEWAY_BIN) $(PYTHON) -m pytest -q -rfE -p no:cacheprovider integration-tests/python || status=$$?; \
	$(CYRUS) stop $(CYRUS_DIR); \
	exit $$status

# The IMAP backend against a private Dovecot 2.3 (Debian's packages unpacked, not installed:
# dovecot-imapd conflicts with cyrus-imapd) and a private Cyrus IMAP 3.6 (cyrus.py), both on
# 127.0.0.1 and stopped by PID whatever the outcome. `imap-contract` (in `make test`): the
# backend contract suite on Cyrus, then on Dovecot over plain text, IMAPS and STARTTLS with the
# restart and misbehaving-server tests. `imap`: that, then the integration suite through the
# gateway on Dovecot; not in `make test` until it passes on IMAP (issue 13).
DOVECOT_DIR := $(CURDIR)/integration-tests/.work/dovecot
DOVECOT := python3 integration-tests/dovecot/dovecot.py
CYRUS_IMAP_DIR := $(CURDIR)/integration-tests/.work/cyrus-imap
imap-contract:
	if [ -f $(DOVECOT_DIR)/pid ]; then $(DOVECOT) stop $(DOVECOT_DIR); fi
	if [ -f $(CYRUS_IMAP_DIR)/pid ]; then $(CYRUS) stop $(CYRUS_IMAP_DIR); fi
	rm -rf $(DOVECOT_DIR) $(CYRUS_IMAP_DIR)
	$(CYRUS) start $(CYRUS_IMAP_DIR) >/dev/null
	status=0; (set -a; . $(CYRUS_IMAP_DIR)/env; set +a; \
	  IMAP_TEST_SERVER=cyrus $(CARGO) test -p store-imap --features imap-server-tests --locked --test contract) || status=$$?; \
	$(CYRUS) stop $(CYRUS_IMAP_DIR); \
	$(DOVECOT) start $(DOVECOT_DIR) >/dev/null || exit 1; \
	set -a; . $(DOVECOT_DIR)/env; set +a; \
	$(CARGO) test -p store-imap --features imap-server-tests --locked --no-fail-fast || status=$$?; \
	DOVECOT_IMAP_URL=$$DOVECOT_IMAPS_URL $(CARGO) test -p store-imap --features imap-server-tests --locked --test contract || status=$$?; \
	DOVECOT_STARTTLS=1 $(CARGO) test -p store-imap --features imap-server-tests --locked --test contract || status=$$?; \
	$(DOVECOT) stop $(DOVECOT_DIR); \
	exit $$status

imap: imap-contract build $(VENV)/.installed
	if [ -f $(DOVECOT_DIR)/pid ]; then $(DOVECOT) stop $(DOVECOT_DIR); fi
	rm -rf $(DOVECOT_DIR)
	$(DOVECOT) start $(DOVECOT_DIR) >/dev/null
	status=0; set -a; . $(DOVECOT_DIR)/env; set +a; \
	CALDAV_TEST_BACKEND=imap CALDAV_GATEWAY_BIN=$(GATEWAY_BIN) $(PYTHON) -m pytest -q -rfE -p no:cacheprovider integration-tests/python || status=$$?; \
	$(DOVECOT) stop $(DOVECOT_DIR); \
	exit $$status

# Every file in deploy/ against a validator: hadolint (Dockerfile), `docker build --check` when a
# Docker daemon runs, docker-compose config, kubernetes-validate --strict, nginx -t, haproxy -c,
# systemd-analyze verify, named-checkzone on `caldav-gateway dns`; then nginx and HAProxy run with
# the shipped configs in front of the gateway on 127.0.0.1 and answer PROPFINDs (stopped by PID).
# Debian's packages are installed when missing, the PyPI tools into .venv-deploy.
DEPLOY_VENV := .venv-deploy
deploy-check: build $(DEPLOY_VENV)/.installed
	deploy/check/install-tools.sh
	CALDAV_GATEWAY_BIN=$(GATEWAY_BIN) $(DEPLOY_VENV)/bin/python -m pytest -q -rsfE -p no:cacheprovider deploy/check

$(DEPLOY_VENV)/.installed: deploy/check/requirements.txt
	python3 -m venv $(DEPLOY_VENV) 2>/dev/null || { rm -rf $(DEPLOY_VENV); apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv && python3 -m venv $(DEPLOY_VENV); }
	$(DEPLOY_VENV)/bin/pip install -q --disable-pip-version-check -r deploy/check/requirements.txt
	touch $@

# Python 3 from the machine; Debian's python3-venv is installed only when venv is missing.
$(VENV)/.installed: $(REQUIREMENTS)
	python3 -m venv $(VENV) 2>/dev/null || { rm -rf $(VENV); apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv && python3 -m venv $(VENV); }
	$(VENV)/bin/pip install -q --disable-pip-version-check -r $(REQUIREMENTS)
	touch $@

# Not part of `make test`: the gateway (release build) on its embedded store and on JMAP in
# front of a private Cyrus, Cyrus's own CalDAV (a second private Cyrus), Xandikos and Radicale
# (PyPI, pinned in integration-tests/bench/requirements.txt) and a static ceiling
# (crates/bench-ceiling: the embedded gateway's answers replayed from memory), all on
# 127.0.0.1, loaded with the same events, driven by wrk with cells interleaved across servers:
# req/s, p50/p99, server CPU per request, RSS, JMAP requests per client request, ratios
# (integration-tests/bench/compare.py; numbers in BENCHMARKS.md). Knobs (environment or make
# variables):
#   BENCH_SIZES=1000,10000,50000   events per run (plus one task per ten events)
#   BENCH_CLIENTS=1,8,32           concurrent connections per cell
#   BENCH_SECONDS=5                seconds per cell
#   BENCH_PEERS=gateway,gateway-jmap,cyrus,xandikos,radicale,ceiling
#   BENCH_WORKLOADS=poll,sync-initial,sync-changes,listing,multiget,month,vtodo,get,put-new,put-update
#   BENCH_TIMEOUT=30               seconds a single request may take before its cell is marked
#   BENCH_ARGS=--record            also put the tables into BENCHMARKS.md as its newest section
#   BENCH_LOAD_TIMEOUT=1800        seconds a server may take to load through PUT, else it is
#                                  left out of that size (the report says so)
# Results: integration-tests/.work/bench-compare.{json,md}; the total run time is printed. On
# the busy 2-core machine of 2026-11-29 each of 1,000 and 10,000 events took about 25 minutes,
# loading included; through PUT the JMAP gateway took 2 objects a second there, so at 10,000
# and more it is left out unless the machine is quiet or BENCH_LOAD_TIMEOUT is raised.
# run.py (gateway against Radicale) and jmap.py (raw JMAP call next to the gateway's) still
# run on their own with the venv's python.
BENCH_VENV := .venv-bench
BENCH_ARGS ?=
bench: $(BENCH_VENV)/.installed
	command -v wrk >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; }
	command -v git >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q git; }
	$(CARGO) build --release --locked -p gateway -p bench-ceiling
	$(BENCH_VENV)/bin/python integration-tests/bench/compare.py $(BENCH_ARGS)

# Not part of `make test`: the embedded gateway's resident memory at start, after
# BENCH_MEMORY_MINUTES (10) of reads by BENCH_MEMORY_CLIENTS (32) connections on
# BENCH_MEMORY_EVENTS (10,000) events, and after BENCH_MEMORY_IDLE_SECONDS (60) idle
# (integration-tests/bench/memory.py; figures in BENCHMARKS.md).
bench-memory: $(BENCH_VENV)/.installed
	command -v wrk >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; }
	$(CARGO) build --release --locked -p gateway
	$(BENCH_VENV)/bin/python integration-tests/bench/memory.py

$(BENCH_VENV)/.installed: integration-tests/bench/requirements.txt
	python3 -m venv $(BENCH_VENV) 2>/dev/null || { rm -rf $(BENCH_VENV); apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv && python3 -m venv $(BENCH_VENV); }
	$(BENCH_VENV)/bin/pip install -q --disable-pip-version-check -r integration-tests/bench/requirements.txt
	touch $@

# Not part of `make test`: criterion micro-benchmarks of the hot paths in the crates that own
# them (PROPFIND parse, multistatus write, iCalendar validation, parse/write, recurrence
# expansion, a month calendar-query over 1,000 events); about a minute. Medians land in
# target/criterion/<group>/<bench>/new/estimates.json; numbers in BENCHMARKS.md. For a
# before/after: MICROBENCH_ARGS="--save-baseline before", then "--baseline before".
MICROBENCH_ARGS ?=
microbench:
	$(CARGO) bench -p dav -p calendar --bench '*' --locked -- $(MICROBENCH_ARGS)

# Not part of `make test`: SOAK_CLIENTS clients poll and write for SOAK_MINUTES minutes on the
# embedded store, then on the JMAP backend (a private Cyrus, stopped by PID whatever the
# outcome); errors by kind, RSS at start and end, p50/p99 per minute land in
# integration-tests/.work/soak-*.json (figures in docs/security.md).
SOAK_CLIENTS ?= 20
SOAK_MINUTES ?= 5
SOAK_CYRUS_DIR := $(CURDIR)/integration-tests/.work/cyrus-soak
soak: build $(VENV)/.installed
	status=0; CALDAV_GATEWAY_BIN=$(GATEWAY_BIN) $(PYTHON) integration-tests/soak/soak.py --backend embedded \
	  --clients $(SOAK_CLIENTS) --minutes $(SOAK_MINUTES) --out integration-tests/.work/soak-embedded.json || status=$$?; \
	if [ -f $(SOAK_CYRUS_DIR)/pid ]; then $(CYRUS) stop $(SOAK_CYRUS_DIR); fi; \
	rm -rf $(SOAK_CYRUS_DIR); \
	$(CYRUS) start $(SOAK_CYRUS_DIR) >/dev/null; \
	set -a; . $(SOAK_CYRUS_DIR)/env; set +a; \
	CALDAV_GATEWAY_BIN=$(GATEWAY_BIN) $(PYTHON) integration-tests/soak/soak.py --backend jmap \
	  --clients $(SOAK_CLIENTS) --minutes $(SOAK_MINUTES) --out integration-tests/.work/soak-jmap.json || status=$$?; \
	$(CYRUS) stop $(SOAK_CYRUS_DIR); \
	exit $$status

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all
