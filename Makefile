# The two commands of the README:
#   make demo   - the main job on an embedded default (CPU, tiny offline model, generated videos)
#   make test   - the whole test suite, as CI runs it (installs what it needs first)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
VLLM_VENV ?= .venv-vllm

.PHONY: install install-vllm demo test test-fast test-e2e test-vllm lint typecheck bench clean

install:
	@bash scripts/install-env.sh

install-vllm:
	@bash scripts/install-vllm-env.sh

demo: install
	$(PY) -m rlt_tools.demo

# Full suite: lint, types, unit + property + e2e tests, then the vLLM engine tests in their own env.
test: install install-vllm lint typecheck
	$(PY) -m pytest -q -m "not vllm and not gpu"
	$(VLLM_VENV)/bin/python -m pytest -q -m vllm tests/vllm tests/recipes/test_predict_vllm.py

# Quick loop while developing: no e2e, no vLLM.
test-fast: install
	$(PY) -m pytest -q -m "not e2e and not vllm and not gpu" -x

test-e2e: install
	$(PY) -m pytest -q -m e2e

test-vllm: install-vllm
	$(VLLM_VENV)/bin/python -m pytest -q -m vllm tests/vllm tests/recipes/test_predict_vllm.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

bench: install
	$(PY) benchmarks/bench_rewards.py
	$(PY) benchmarks/bench_selection.py
	$(PY) benchmarks/bench_video.py

clean:
	rm -rf $(VENV) $(VLLM_VENV) .pytest_cache .mypy_cache .ruff_cache
