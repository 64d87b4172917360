"""Where the benchmarks' files are: scripts run by path, results, peers and generated data."""

from __future__ import annotations

import os

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPOSITORY = os.path.dirname(BENCH)
RESULTS = os.path.join(BENCH, "results")
LATEST_MD = os.path.join(RESULTS, "latest.md")
# The peers' own virtualenv, as ``make bench`` installs it (the AWS CLI pins its own botocore).
PEERS = os.path.join(REPOSITORY, ".cache", "bench-peers", "bin")
BENCH_DATA = os.path.join(REPOSITORY, ".cache", "bench-data")
# Scripts run as processes of their own, by path: no import from this package.
RUN_BOTO3 = os.path.join(BENCH, "run_boto3.py")
FLOOR_UPLOAD = os.path.join(BENCH, "floor_upload.py")
