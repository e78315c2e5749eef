# argocd-chaos: every target installs what it uses, so a fresh machine needs only Python, Go and make.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CLUSTER ?= embedded
ARGOCD_VERSION ?=
# A git checkout of argo-cd to build and test instead of a release (v3.3 to v3.5 build this way only).
ARGOCD_SOURCE ?=
KEEP_CLUSTER ?= never
REPORTS ?= reports
PYTEST_ARGS ?=
# Scenarios run side by side on one cluster (pytest-xdist workers). Nearly all of a scenario's time is
# the controller's own timers, so 4 workers fit 2 cores and stay well inside the controller's default
# 10 operation / 20 status processors; JOBS=1 runs serially. Tests are handed out one at a time in the
# order harness/_scenario/schedule.py gives them (longest first, a quick one behind each of the first
# JOBS, exclusive ones last): `--maxschedchunk 1` keeps pytest-xdist from queueing more behind C5.
JOBS ?= 4
XDIST := $(if $(filter 1,$(JOBS)),-p no:xdist,-n $(JOBS) --dist load --maxschedchunk 1)
# Argo CD v3.6 needs Go 1.27; the go command fetches this toolchain from the module proxy once.
export GOTOOLCHAIN ?= go1.27.3
export CGO_ENABLED := 0

ARGOCD_FLAG := $(if $(ARGOCD_VERSION),--argocd-version $(ARGOCD_VERSION),) $(if $(ARGOCD_SOURCE),--argocd-source $(ARGOCD_SOURCE),)

.PHONY: help
help:
	@echo "make chaos   run the claim suites on the default cluster and write the report to $(REPORTS)/"
	@echo "make test    the project's own tests: lint, types, unit tests, the embedded-cluster e2e tests"
	@echo "make matrix  run the claim suites on several Argo CD releases and write $(REPORTS)/matrix.md"
	@echo "make test-kind  the claim suites on kind from locally built images, compared with the embedded run"
	@echo "make incidents  replay the known hook bugs of incidents/ on ARGOCD_VERSIONS; table in $(REPORTS)/incidents.md"
	@echo "make bench-boot  five warm boots of the embedded cluster: median and per-step seconds"
	@echo "options: CLUSTER=embedded|kind|existing ARGOCD_VERSION=v3.6.1 ARGOCD_SOURCE=DIR KEEP_CLUSTER=never|on-failure|always JOBS=4"

$(BIN)/argocd-chaos: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python >= 3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

.PHONY: venv
venv: $(BIN)/argocd-chaos

.PHONY: deps
deps:
	@missing=""; for b in $(if $(filter embedded,$(CLUSTER)),redis-server,) git; do \
	  command -v $$b >/dev/null || missing="$$missing $$b"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing from Debian packages"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null; \
	  else \
	    echo "error:$$missing not installed and cannot install (not root or no apt-get); run: sudo apt-get install -y$$missing" >&2; exit 1; \
	  fi; \
	fi
	@command -v go >/dev/null || { echo "error: Go not found on PATH; install Go >= 1.26 (https://go.dev/dl/)" >&2; exit 1; }

# Only the project's own tests use these: busybox runs the translated kind hook commands for real, and
# Debian's Docker engine (docker.io) runs them, and a containerised API server, in real containers.
# tests/docker/ starts dockerd for its session and stops it after; nothing here starts a daemon.
# Debian's Chromium renders the claims page in tests/report/test_claims_page_browser.py.
TEST_PACKAGES := busybox:busybox-static dockerd:docker.io chromium:chromium
.PHONY: test-deps
test-deps:
	@missing=""; for pair in $(TEST_PACKAGES); do \
	  command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing from Debian packages"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null; \
	  else echo "warning:$$missing not installed; the tests that need them will be skipped" >&2; fi; \
	fi

.PHONY: build
build: venv deps
	$(BIN)/argocd-chaos build $(ARGOCD_FLAG)

.PHONY: lint-workflows
lint-workflows:
	@command -v shellcheck >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing shellcheck from Debian packages"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null; \
	  else \
	    echo "warning: shellcheck not installed, run: blocks are not shell-checked; run: sudo apt-get install -y shellcheck" >&2; \
	  fi; }
	tools/actionlint.sh

.PHONY: lint
lint: venv lint-workflows
	$(BIN)/ruff check harness tests suites tools
	$(BIN)/mypy

.PHONY: unit
unit: venv
	$(BIN)/pytest tests -m "not cluster" $(PYTEST_ARGS)

.PHONY: test
test: venv deps test-deps lint build
	$(BIN)/pytest tests suites --cluster embedded $(ARGOCD_FLAG) $(XDIST) $(PYTEST_ARGS)

# The claim suites on a real kind cluster made from local images, for machines with no registry:
# `argocd-chaos images build` (Debian packages + Go modules, cached), the suites with real hook
# containers into $(KIND_REPORTS)/, then the ledger compared with the embedded one ($(EMBEDDED_REPORTS),
# made first by `make chaos` when missing). Not part of `make test`: a cold image build takes tens of
# minutes on 2 cores. Debian's dockerd is started for the run (tools/with_docker_engine.py) and stopped.
KIND_PACKAGES := dockerd:docker.io mmdebstrap:mmdebstrap jq:jq gcc:gcc
KIND_CLUSTER_NAME ?= argocd-chaos-kind
KIND_REPORTS ?= $(REPORTS)/kind
EMBEDDED_REPORTS ?= $(REPORTS)
.PHONY: kind-deps
kind-deps:
	@missing=""; for pair in $(KIND_PACKAGES); do \
	  command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing$$missing from Debian packages"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing >/dev/null; \
	  else echo "error:$$missing not installed; run: sudo apt-get install -y$$missing" >&2; exit 1; fi; \
	fi

.PHONY: images
images: venv deps kind-deps build
	$(BIN)/python tools/with_docker_engine.py -- $(BIN)/argocd-chaos images build $(ARGOCD_FLAG)

.PHONY: test-kind
test-kind: venv deps kind-deps build
	@test -f $(EMBEDDED_REPORTS)/claims.json || $(MAKE) --no-print-directory chaos REPORTS=$(EMBEDDED_REPORTS)
	$(BIN)/python tools/with_docker_engine.py -- $(MAKE) --no-print-directory kind-suites

# (run by test-kind inside a Docker engine) The kind cluster is kept after the kind pass, so that the
# existing provider (KIND_EXISTING=1, the default) runs the suites on it through its kubeconfig
# context; it is deleted at the end unless KEEP_CLUSTER=always.
KIND_EXISTING ?= 1
.PHONY: kind-suites
kind-suites:
	$(BIN)/argocd-chaos images build $(ARGOCD_FLAG)
	mkdir -p $(KIND_REPORTS)
	kind=$$($(BIN)/argocd-chaos images build $(ARGOCD_FLAG) --print kind); \
	$(BIN)/pytest suites --cluster kind --kind-local-images --cluster-name $(KIND_CLUSTER_NAME) $(ARGOCD_FLAG) \
	  --keep-cluster always -p no:xdist --reports-dir $(KIND_REPORTS) \
	  --junitxml $(KIND_REPORTS)/junit.xml $(PYTEST_ARGS) || status=$$?; \
	$(BIN)/argocd-chaos claims --reports $(KIND_REPORTS) --compare $(EMBEDDED_REPORTS) || status=$${status:-1}; \
	if [ "$(KIND_EXISTING)" = 1 ] && $$kind get clusters | grep -qx "$(KIND_CLUSTER_NAME)"; then \
	  mkdir -p $(KIND_REPORTS)/existing; kc=$$(mktemp); \
	  $$kind get kubeconfig --name $(KIND_CLUSTER_NAME) > $$kc; \
	  gw=$$($(BIN)/python -c 'from harness._cluster.kind.docker_network import network_gateway; print(network_gateway("kind"))'); \
	  KUBECONFIG=$$kc $(BIN)/pytest suites --cluster existing --context kind-$(KIND_CLUSTER_NAME) --allow-global-config \
	    --webhook-host $$gw \
	    -p no:xdist --reports-dir $(KIND_REPORTS)/existing --junitxml $(KIND_REPORTS)/existing/junit.xml \
	    $(PYTEST_ARGS) || status=$${status:-1}; \
	  $(BIN)/argocd-chaos claims --reports $(KIND_REPORTS)/existing --compare $(KIND_REPORTS) || status=$${status:-1}; \
	  rm -f $$kc; \
	fi; \
	if [ "$(KEEP_CLUSTER)" != always ]; then $$kind delete cluster --name $(KIND_CLUSTER_NAME); \
	  $(BIN)/python -c 'import shutil, sys; from harness._paths import state_root; shutil.rmtree(state_root() / ("kind." + sys.argv[1]), ignore_errors=True)' $(KIND_CLUSTER_NAME); fi; \
	exit $${status:-0}

# Warm boots of the embedded cluster: per-run wall time, per-step figures, median/min/max.
BOOT_RUNS ?= 5
BOOT_CLUSTER ?= bench-boot
.PHONY: bench-boot
bench-boot: venv deps build
	$(BIN)/python tools/bench_boot.py --runs $(BOOT_RUNS) --name $(BOOT_CLUSTER) $(ARGOCD_FLAG)

.PHONY: chaos
chaos: venv deps allure-cli $(if $(filter embedded,$(CLUSTER)),build,)
	mkdir -p $(REPORTS)
	$(BIN)/pytest suites --cluster $(CLUSTER) $(ARGOCD_FLAG) --keep-cluster $(KEEP_CLUSTER) \
	  $(if $(filter embedded,$(CLUSTER)),$(XDIST),-p no:xdist) \
	  --reports-dir $(REPORTS) --alluredir $(REPORTS)/allure-results --clean-alluredir \
	  --junitxml $(REPORTS)/junit.xml $(PYTEST_ARGS) || status=$$?; \
	$(BIN)/argocd-chaos claims --reports $(REPORTS) || true; \
	test -f $(REPORTS)/claims.html && echo "claims page: $(REPORTS)/claims.html (open it in a browser)"; \
	if [ -x $(ALLURE) ]; then \
	  $(ALLURE) generate $(REPORTS)/allure-results -o $(REPORTS)/allure-report \
	    $$(test -f $(REPORTS)/allure-results/allurerc.json && echo -c $(REPORTS)/allure-results/allurerc.json) >/dev/null \
	  && echo "HTML report: $(REPORTS)/allure-report/index.html"; \
	else echo "Allure results in $(REPORTS)/allure-results (no Node.js/npm here, so no HTML report)"; fi; \
	exit $${status:-0}

# The claims matrix: the claim suites once per release, each into $(REPORTS)/<release>/, then
# matrix.json and matrix.md over all of them. The default is the newest patch of each minor that
# builds from the module proxy alone (v3.3 to v3.5 build from a source checkout: ARGOCD_SOURCES).
ARGOCD_VERSIONS ?= v2.12.6 v2.13.9 v2.14.21 v3.0.23 v3.1.16 v3.2.11 v3.6.1
ARGOCD_SOURCES ?=
MATRIX_CLUSTER_NAME ?= argocd-chaos-matrix
.PHONY: matrix
matrix: venv deps
	@[ -n "$(strip $(ARGOCD_VERSIONS) $(ARGOCD_SOURCES))" ] || { echo "error: give ARGOCD_VERSIONS or ARGOCD_SOURCES" >&2; exit 2; }
	mkdir -p $(REPORTS)
	status=0; \
	for target in $(addprefix version:,$(ARGOCD_VERSIONS)) $(addprefix source:,$(ARGOCD_SOURCES)); do \
	  kind=$${target%%:*}; value=$${target#*:}; \
	  if [ $$kind = version ]; then flag="--argocd-version $$value"; else flag="--argocd-source $$value"; fi; \
	  release=$$($(BIN)/argocd-chaos build $$flag --print release) || { status=1; continue; }; \
	  echo "== Argo CD $$release: claim suites into $(REPORTS)/$$release"; \
	  $(BIN)/pytest suites --cluster embedded $$flag --cluster-name $(MATRIX_CLUSTER_NAME) --keep-cluster never \
	    $(XDIST) --reports-dir $(REPORTS)/$$release --junitxml $(REPORTS)/$$release/junit.xml \
	    $(PYTEST_ARGS) || status=1; \
	done; \
	$(BIN)/argocd-chaos claims --matrix $(REPORTS) || status=1; \
	exit $$status

# The catalogue of known upstream hook bugs (incidents/): every entry replayed once per release, each
# release on one cluster, then $(REPORTS)/incidents.md and .json over every release in $(REPORTS)/incidents/.
# An entry's expectations describe the bug, so "reproduced" means the release still has it.
INCIDENTS_CLUSTER_NAME ?= argocd-chaos-incidents
.PHONY: incidents
incidents: venv deps
	@[ -n "$(strip $(ARGOCD_VERSIONS))" ] || { echo "error: give ARGOCD_VERSIONS" >&2; exit 2; }
	mkdir -p $(REPORTS)
	status=0; \
	for version in $(ARGOCD_VERSIONS); do \
	  echo "== Argo CD $$version: the incident catalogue into $(REPORTS)/incidents/"; \
	  $(BIN)/argocd-chaos build --argocd-version $$version >/dev/null || { status=1; continue; }; \
	  $(BIN)/argocd-chaos incidents --argocd-version $$version --cluster-name $(INCIDENTS_CLUSTER_NAME) \
	    --reports $(REPORTS) >/dev/null || status=1; \
	done; \
	$(BIN)/argocd-chaos incidents --table-only --reports $(REPORTS) || status=1; \
	exit $$status

# The Allure 3 report generator, from the npm registry into a project-local folder; skipped
# (results only) where npm is missing.
ALLURE_VERSION ?= 3.18.0
ALLURE := .tools/node_modules/.bin/allure
.PHONY: allure-cli
allure-cli:
	@if [ ! -x $(ALLURE) ] && command -v npm >/dev/null; then \
	  echo "installing the Allure report generator (npm allure@$(ALLURE_VERSION)) into .tools/"; \
	  mkdir -p .tools && npm install --prefix .tools --no-audit --no-fund --silent allure@$(ALLURE_VERSION) \
	  || echo "warning: could not install allure from npm; the report stays as raw results" >&2; \
	fi

.PHONY: clean
clean:
	rm -rf $(REPORTS) .pytest_cache .mypy_cache .ruff_cache
