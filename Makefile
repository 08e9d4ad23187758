# livestream-operator: every workflow is a target here.
#   make up        whole system on a local kind cluster, streaming a demo
#   make test      every test tier (unit, chart, integration, media, e2e)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST := $(PY) -m pytest
export PYTHONPATH := $(CURDIR)/operator

.PHONY: help deps venv generate crd verify lint lint-shell lint-chart test test-unit test-chart test-integration test-media test-e2e \
        bench bench-e2e up down logs ps tools images node-image clean

help:
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

deps: ## install system packages (ffmpeg, GStreamer, Docker, build headers)
	bash hack/install-system-deps.sh

$(VENV)/.installed: pyproject.toml | deps
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -U pip
	$(PY) -m pip install -q -e '.[dev,media,gemini]'
	touch $@

venv: $(VENV)/.installed ## create .venv with the package and test tools

# What is generated, and from what: livestream_operator/generate.py.
generate: venv ## write the generated files: the CRD (crds/, the chart's copy), values.schema.json, README's settings table
	$(PY) -m livestream_operator generate

crd: generate ## the CRD from the API types (one of what `generate` writes)

verify: venv ## regenerate the generated files; fail, with the diff, if one was stale
	$(PY) -m livestream_operator generate --verify

lint: venv lint-shell verify ## generated files up to date, ruff (lint and format), mypy and shellcheck
	$(VENV)/bin/ruff check operator tests bench
	$(VENV)/bin/ruff format --check operator tests bench
	$(VENV)/bin/mypy

# Every shell script under hack/ and images/: the *.sh files and every file whose
# first line is a sh or bash shebang (images/kind-node/'s entrypoint, ...).
# Settings (following hack/lib.sh): .shellcheckrc.
lint-shell: ## shellcheck over every shell script in hack/ and images/
	@command -v shellcheck >/dev/null || bash hack/install-system-deps.sh build
	find hack images -type f \( -name '*.sh' -o -exec awk \
	    'NR == 1 { exit !/^#!.*[\/ ](ba|da)?sh([ \t]|$$)/ } END { if (NR == 0) exit 1 }' {} \; \) -print0 \
	  | LC_ALL=C sort -z | xargs -0 -r -t shellcheck

lint-chart: ## helm lint --strict
	PATH="$$(bash hack/build-tools.sh):$$PATH" helm lint --strict charts/livestream-operator

test: lint test-unit test-chart test-integration test-media test-e2e ## lint, then all test tiers

test-unit: venv ## pure core, models, receiver (aiohttp test client), wrapper
	$(PYTEST) tests/unit -q

test-chart: venv ## the chart as `helm template` renders it (no cluster): values schema, env, RBAC, CRD
	PATH="$$(bash hack/build-tools.sh helm):$$PATH" $(PYTEST) tests/chart -q

test-integration: venv ## against a real kube-apiserver + etcd (built by hack/build-k8s.sh)
	$(PYTEST) tests/integration -q

test-media: venv ## real MediaMTX, ffmpeg publishers, GStreamer worker, forwarder
	$(PYTEST) tests/media -q

test-e2e: venv ## on a kind cluster with the chart installed (brought up if needed)
	bash hack/e2e.sh

bench: venv ## benchmarks of the operator core and the media plane (prints figures)
	$(PY) bench/bench_core.py
	$(PY) bench/bench_media.py
	$(PY) bench/bench_processing.py
	$(PY) bench/bench_hooks.py
	$(PY) bench/bench_auth.py
	$(PY) bench/bench_recording.py
	$(PY) bench/bench_slates.py
	$(PY) bench/bench_destinations.py
	$(PY) bench/bench_input_loss.py

bench-e2e: venv ## publish -> LiveStream/worker/out latencies and capacity on kind
	$(PY) bench/bench_e2e.py

up: venv ## kind cluster + images + chart, then a demo stream through the NodePort
	bash hack/up.sh

down: ## delete the kind cluster
	bash hack/down.sh

logs: ## follow the operator, receiver and MediaMTX logs
	bash hack/logs.sh

ps: ## what runs: LiveStreams, Pods, MediaMTX paths
	bash hack/ps.sh

tools: ## kind, helm, kubectl (official downloads, else built; cached)
	bash hack/build-tools.sh

images: ## build the four project images (add ARGS=--load to load them into kind)
	bash hack/build-images.sh $(ARGS)

node-image: ## the kind node image (kindest/node when pullable, else assembled offline)
	bash hack/build-node-image.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
