# Gatehouse — the commands a developer needs. `make run` and `make test` first install whatever is missing;
# every install step checks the version already present and skips quickly (see .ci/install-tools).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

export PATH := $(HOME)/.cargo/bin:$(CURDIR)/.tools/node_modules/.bin:$(PATH)
# Playwright must never try to download a browser: the tests use Debian's Chromium.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

# Where `make run` listens; the release binary reads these as a deployment would.
SITE_ADDR ?= 127.0.0.1:3000
SITE_ROOT ?= target/site
# What `make run` and `make dev` advertise: APP_URL from the environment or .env, else http://localhost and
# SITE_ADDR's port. A host name, not an IP address: browsers refuse passkeys on an address. (Gatehouse sends a page
# opened at http://127.0.0.1:PORT to localhost.)
RUN_APP_URL = $(or $(APP_URL),$(shell sed -n 's/^APP_URL=//p' .env 2>/dev/null | tail -n 1),http://localhost:$(lastword $(subst :, ,$(SITE_ADDR))))

.PHONY: help tools browser servers fuzz-tools build test-build run run-pg dev test lint test-rust test-e2e test-api-fuzz screenshots bench bench-build bench-api profile

help: ## List the commands
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

tools: ## Install missing build tools: wasm32 target, cargo-leptos, wasm-bindgen CLI, wasm-opt, npm packages
	@.ci/install-tools build

browser: ## Install Debian's Chromium for the browser tests, if missing
	@.ci/install-tools browser

servers: ## Install Debian's nginx (the two-instance test's load balancer), if missing
	@.ci/install-tools servers

fuzz-tools: ## Install schemathesis (the API fuzzer) into .tools/venv, if missing
	@.ci/install-tools fuzz

build: tools ## Build the release site: server binary and WASM (precompressed) under target/
	cargo leptos build --release --precompress

run: build ## Build, then serve http://localhost:3000 (SQLite at data/gatehouse.db; Dev IdP if no provider is set; a mail inbox at http://127.0.0.1:1080 if no SMTP_URL)
	APP_URL=$(RUN_APP_URL) LEPTOS_SITE_ROOT=$(SITE_ROOT) LEPTOS_SITE_ADDR=$(SITE_ADDR) end2end/mail/with-maildev.sh end2end/idp/with-dev-idp.sh ./target/release/gatehouse

run-pg: build ## Like run, on PostgreSQL: database `gatehouse` on the local server (or a throwaway one, see .ci/postgres)
	admin=$$(.ci/postgres) && url=$${admin%/*}/gatehouse && \
	  { psql "$$admin" -tAc "SELECT 1 FROM pg_database WHERE datname = 'gatehouse'" | grep -q 1 || \
	    psql "$$admin" -qc "CREATE DATABASE gatehouse"; } && \
	  DATABASE_URL=$$url APP_URL=$(RUN_APP_URL) LEPTOS_SITE_ROOT=$(SITE_ROOT) LEPTOS_SITE_ADDR=$(SITE_ADDR) \
	  end2end/mail/with-maildev.sh end2end/idp/with-dev-idp.sh ./target/release/gatehouse

dev: tools ## Serve a debug build that rebuilds and reloads on every change (with the Dev IdP, as for run)
	APP_URL=$(RUN_APP_URL) end2end/mail/with-maildev.sh end2end/idp/with-dev-idp.sh cargo leptos watch

test: tools browser lint test-rust test-e2e test-api-fuzz ## Everything CI runs: formatting, clippy, Rust tests, Playwright, API fuzzing

lint: ## rustfmt, the layer check (tools/layers.py), and clippy for the server (ssr) and the browser (hydrate), warnings denied
	cargo fmt --check
	python3 tools/layers.py
	cargo clippy --features ssr --all-targets --locked -- -D warnings
	cargo clippy --features hydrate --lib --target wasm32-unknown-unknown --locked -- -D warnings

# In parallel: the render hang that once made this serial was leptos' process-wide route-list flag (see the
# README's "Known issues" and tests/api/render_hang.rs); the route list is now generated once per process.
test-rust: servers ## Rust unit and integration tests: on SQLite files, then again on PostgreSQL (PostgreSQL and Redis started if none answers)
	TEST_REDIS_URL=$$(.ci/redis) cargo test --features ssr --locked
	TEST_REDIS_URL=$$(.ci/redis) TEST_POSTGRES_URL=$$(.ci/postgres) cargo test --features ssr --locked --test api

# The browser tests and the fuzzer run the server binary the Rust tests built (target/debug/gatehouse: the same code,
# unoptimised but for password hashing) with the release site (the WebAssembly, CSS and scripts as people download
# them, precompressed): the server and its ~700 crates are compiled once for all of `make test`, not again in release
# (that took about 8 of its 22 minutes). `make run`, `make bench` and `make profile` build the release binary.
TEST_SERVER := target/debug/gatehouse
test-build: tools
	cargo test --features ssr --locked --no-run
	cargo leptos build --release --precompress --frontend-only

test-e2e: test-build browser ## Playwright in Chromium against the server the Rust tests built, the release site and the Dev IdP
	cd end2end && E2E_SERVER=../$(TEST_SERVER) npx playwright test

screenshots: build browser ## Retake docs/screenshots/*.png (the README's) with the Playwright suite
	cd end2end && UPDATE_SCREENSHOTS=1 npx playwright test -g screenshots

test-api-fuzz: test-build fuzz-tools ## schemathesis against /api/v1/openapi.json of the server the Rust tests built: no 5xx, no off-schema answer
	GATEHOUSE_BIN=$(TEST_SERVER) end2end/api-fuzz.sh

bench: build ## Gatehouse beside a bare axum hello (pinned cores, wrk): pages, API, sign-in, memory; writes bench/results.md
	bench/run.sh
	bench/runtime.sh

profile: build ## Where the CPU goes for one kind of request (KIND=healthz|home|login|dashboard|profile|api-pat|signin|pg-dashboard; default all): perf summaries in bench/profiles/
	bench/profile.sh $(KIND)

bench-api: build ## Quick look: throughput of GET /api/v1/me with a personal access token (wrk, unpinned)
	bench/api.sh

bench-build: tools ## Measure clean and incremental build times (~10 min; uses a throwaway target dir)
	bench/build-times.sh
