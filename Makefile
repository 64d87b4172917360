# Everything installs itself into .venv: `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test bench install clean guest-kernel

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Start a local S3 server, upload a few GB of sample data with the live dashboard, verify.
demo: $(STAMP)
	$(PY) -m bulkup.demo

## Run the test suite against a real S3 server (started and stopped by the suite), including
## the kTLS tests inside a guest kernel (prepared here: Debian packages and kernel image).
test: $(STAMP) guest-kernel
	$(PY) -m pytest -q

guest-kernel:
	bash tests/guest_prepare.sh .cache/guest-kernel

## bulkup versus boto3 upload_file on the same server, then the migration bookkeeping costs
## (planning a million-line manifest, the journal's share) and the progress displays' cost;
## writes bench/results/latest.md.
bench: $(STAMP)
	$(PY) bench/bench_upload.py
	$(PY) bench/bench_migrate.py
	$(PY) bench/bench_progress.py

clean:
	rm -rf $(VENV) .demo .cache .pytest_cache build *.egg-info
