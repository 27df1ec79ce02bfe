# Developer entry points. `make` (or `make help`) lists the targets; `make ci` is exactly what CI
# runs (.ci/run calls the same targets). Every target runs from the repository root.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

CARGO ?= cargo

# Database services the integration tests use. Tests skip a backend whose service is down unless
# REQUIRE_SERVICES=1 (set by .ci/run). Override on the command line or in the environment.
TEST_POSTGRES_DSN ?= postgres://postgres@127.0.0.1:5432/test
TEST_MYSQL_DSN ?= mysql://root@127.0.0.1:3306/test
TEST_REDIS_DSN ?= redis://127.0.0.1:6379
export TEST_POSTGRES_DSN TEST_MYSQL_DSN TEST_REDIS_DSN

# Browser of the admin UI's end-to-end tests (Debian's package; never downloaded by npm).
CHROMIUM ?= /usr/bin/chromium

# Placeholder key for --check-config only: the binaries refuse to validate without AUTH_KEY.
CHECK_CONFIG_AUTH_KEY := check-config-placeholder-a1b2c3d4e5f6

# Runs apt-get as root, through sudo otherwise.
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
APT_INSTALL := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends

.PHONY: help deps ui-deps ui ui-test bench-deps build release run run-preflight upgrade test fmt lint check-config bench bench-failover bench-logging bench-admin soak fuzz ci

help: ## List the targets (default)
	@echo "Usage: make <target>"
	@echo
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{ printf "  %-14s %s\n", $$1, $$2 }'

deps: ## Install what the build and tests need on Debian (cmake for pingora's libz-ng-sys, curl for the docs examples, promtool for the metrics check, python3-venv for schemathesis, python3-yaml for the docker/ checks, tinyproxy/microsocks/stunnel4 for the outbound proxy tests), if missing
	@missing=""; \
	command -v cmake >/dev/null 2>&1 || missing="$$missing cmake"; \
	command -v curl >/dev/null 2>&1 || missing="$$missing curl ca-certificates"; \
	command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	python3 -c 'import yaml' >/dev/null 2>&1 || missing="$$missing python3-yaml"; \
	command -v tinyproxy >/dev/null 2>&1 || missing="$$missing tinyproxy"; \
	command -v microsocks >/dev/null 2>&1 || missing="$$missing microsocks"; \
	command -v stunnel4 >/dev/null 2>&1 || missing="$$missing stunnel4"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  $(APT_INSTALL) $$missing || { $(SUDO) apt-get update && $(APT_INSTALL) $$missing; }; \
	fi

ui-deps: ## Check Node.js (>= 20.19) and install the admin UI's npm packages from its lock file (npm ci, when the lock changed)
	@node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a < 20 || (a === 20 && b < 19)) { console.error("admin-ui needs Node.js >= 20.19 (found " + process.version + ")"); process.exit(1) }' \
	  || { echo "install Node.js 20.19 or newer (with npm) to build the admin UI" >&2; exit 1; }
	@if [ ! -f admin-ui/node_modules/.package-lock.json ] || [ admin-ui/package-lock.json -nt admin-ui/node_modules/.package-lock.json ]; then \
	  echo "+ npm ci (admin-ui)"; cd admin-ui && npm ci --no-audit --no-fund; \
	fi

ui: ui-deps ## Typecheck and build the admin UI into admin-ui/dist (served by gateway-admin at /)
	cd admin-ui && npm run build

ui-test: ui ## Admin UI tests: Vitest, then the browser tests in Debian's Chromium against a real gateway (target/debug)
	cd admin-ui && npm test
	@missing=""; \
	command -v $(CHROMIUM) >/dev/null 2>&1 || missing="$$missing chromium"; \
	[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || missing="$$missing fonts-noto-color-emoji"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  $(APT_INSTALL) $$missing || { $(SUDO) apt-get update && $(APT_INSTALL) $$missing; }; \
	fi
	$(CARGO) build --workspace --all-targets
	cd admin-ui && CHROMIUM=$(CHROMIUM) npm run e2e

bench-deps: ## Install what `make bench` needs on Debian (wrk, nginx-light), if missing
	@missing=""; \
	command -v wrk >/dev/null 2>&1 || missing="$$missing wrk"; \
	command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$$missing nginx-light"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  $(APT_INSTALL) $$missing || { $(SUDO) apt-get update && $(APT_INSTALL) $$missing; }; \
	fi

build: deps ## Debug build of the whole workspace
	$(CARGO) build --workspace

release: deps ## Optimised build of the whole workspace (target/release)
	$(CARGO) build --workspace --release

run: run-preflight deps ui release ## Start gateway-admin + gateway-proxy from target/release (needs AUTH_KEY; ARGS=... passed to both); Ctrl-C stops both
	scripts/run.sh $(ARGS)

upgrade: release ## Upgrade the proxy started by `make run` in place, without dropping a request (PORT if not 3001; see docs/cluster.md)
	scripts/upgrade.sh

# Fails fast when AUTH_KEY is missing, before the release build.
run-preflight:
	@scripts/run.sh --preflight $(ARGS)

test: deps ## Run every test (set NEXTEST=1 to use cargo-nextest), 20 process-group SIGTERM stops of `make run` (scripts/test-run-stop.sh), schemathesis on the admin API, then the admin UI's tests; DB services via TEST_*_DSN
	@if [ -n "$${NEXTEST:-}" ] && $(CARGO) nextest --version >/dev/null 2>&1; then \
	  echo "+ $(CARGO) nextest run --workspace && $(CARGO) test --workspace --doc"; \
	  $(CARGO) nextest run --workspace && $(CARGO) test --workspace --doc; \
	else \
	  echo "+ $(CARGO) test --workspace"; \
	  $(CARGO) test --workspace; \
	fi
	scripts/test-run-stop.sh
	CARGO=$(CARGO) scripts/schemathesis.sh
	$(MAKE) ui-test

fmt: ## Format all code
	$(CARGO) fmt --all

lint: deps ## Check formatting, run clippy and build the docs, with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps

check-config: build ## Validate every shipped config/*.toml with gateway-proxy --check-config, and docker/ statically (scripts/check-docker.py)
	@for f in config/*.toml; do \
	  echo "+ gateway-proxy --check-config --config $$f"; \
	  AUTH_KEY=$(CHECK_CONFIG_AUTH_KEY) target/debug/gateway-proxy --check-config --config "$$f"; \
	done
	scripts/check-docker.py

fuzz: deps ## Fuzz the parsers (cargo-fuzz, nightly) for FUZZ_SECONDS each (default 60; FUZZ_TARGETS to pick)
	scripts/fuzz.sh

bench: deps bench-deps ## Load benchmark: mock upstream direct vs nginx vs gateway (scripts/bench.sh; RUNS, DURATION, CONNECTIONS, TARGETS)
	scripts/bench.sh

bench-admin: deps ## Admin API at scale: 1M-key import, list, export, clear on SQLite, PostgreSQL, MySQL (benches/results/admin-scale.md)
	scripts/bench-admin.sh

bench-failover: deps bench-deps ## Failover benchmark: 4 healthy keys vs 1 of 4 answering 429 (benches/results/failover.md)
	TARGETS="gateway-4 gateway-429" RESULTS=benches/results/failover.md scripts/bench.sh

bench-logging: deps bench-deps ## Request logging on vs off: the same gateway, a group with logging off (benches/results/logging.md)
	TARGETS="gateway gateway-nolog" RESULTS=benches/results/logging.md scripts/bench.sh

bench-limits: deps bench-deps ## Rate limits counting vs none: the same gateway, a group under limits that never refuse (benches/results/limits.md)
	TARGETS="gateway gateway-limited" RESULTS=benches/results/limits.md scripts/bench.sh

soak: deps bench-deps ## Memory soak: a fixed RATE (1000 req/s, 10 % streams, 5 % upstream faults) for DURATION (30m); proxy RSS must stay flat after WARMUP (scripts/soak.sh; benches/results/soak.md)
	scripts/soak.sh

ci: ## Exactly what CI runs: lint, check-config, test
	$(MAKE) lint
	$(MAKE) check-config
	$(MAKE) test
