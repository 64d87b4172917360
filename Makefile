# Everything installs itself into .venv: `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast lint bench bench-quick bench-guest install clean guest-kernel

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

DEMO_STAMP := $(VENV)/.demo-installed

# The demo needs bulkup, its local S3 server and a CA maker: not the test and bench tooling.
$(DEMO_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --progress-bar on --upgrade pip
	$(PY) -m pip install --progress-bar on -e '.[demo]'
	touch $(DEMO_STAMP)

## Start a local S3 server, upload a few GB of sample data with the live dashboard, verify.
demo: $(DEMO_STAMP)
	$(PY) -m devtools.demo

## Run the test suite against a real S3 server (started and stopped by the suite), including
## the kTLS tests inside a guest kernel (prepared here: Debian packages and kernel image).
test: lint guest-kernel
	$(PY) -m pytest -q

## The unit tests only (no servers, no processes): the fast loop while editing.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

## ruff (lint and format), mypy (strict on plan/, control/, transport/, kernel/) and vulture
## (dead code; devtools/vulture_whitelist.py names what only a library or a string uses).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/vulture bulkup devtools bench tests devtools/vulture_whitelist.py --min-confidence 60 \
	    --ignore-decorators "@pytest.fixture,@given,@settings" \
	    --ignore-names "pytestmark,collect_ignore,pytest_*,do_*,log_message,handle_expect_100,protocol_version,quick_*"

guest-kernel:
	bash tests/guest_prepare.sh .cache/guest-kernel

PEERS       := .cache/bench-peers
PEERS_STAMP := $(PEERS)/.installed
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

$(PEERS_STAMP): bench/peers-requirements.txt
	$(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install --quiet --upgrade pip
	$(PEERS)/bin/python -m pip install --quiet -r bench/peers-requirements.txt
	touch $(PEERS_STAMP)

## bulkup against boto3 (s3transfer and CRT), the AWS CLI and rclone on a real server, a discard
## endpoint (nginx, HTTPS and HTTP) and an emulated slow link, with the floor; sync with nothing
## changed, uploads to a store that says slow down, and a newcomer's first 1, 10 and 100 small files,
## against rclone, aws-cli and s5cmd; then the migration bookkeeping and the progress displays' costs. Writes bench/results/latest.{md,png}.
bench: $(BENCH_STAMP) $(PEERS_STAMP)
	$(PY) -m bench.lib.bytecode  # bulkup compiled, as pip installs it
	$(PY) -m bench.compare
	$(PY) -m bench.bench_sync
	$(PY) -m bench.bench_throttle
	$(PY) -m bench.bench_start
	$(PY) -m bench.bench_migrate
	$(PY) -m bench.bench_progress
	$(PY) -m bench.bench_ray

## The same comparison on small data sets, in under 3 minutes.
bench-quick: $(BENCH_STAMP) $(PEERS_STAMP)
	$(PY) -m bench.lib.bytecode
	$(PY) -m bench.compare --quick
	$(PY) -m bench.bench_sync --quick
	$(PY) -m bench.bench_throttle --quick
	$(PY) -m bench.bench_start --quick

## bulkup's kTLS engines inside the emulated kTLS guest kernel (slow: shows they work, not speed).
bench-guest: $(STAMP) guest-kernel
	$(PY) -m bench.bench_upload --guest-only

clean:
	rm -rf $(VENV) .demo .cache .pytest_cache build *.egg-info
