"""Bad option values and bulkup's own failures, as a user meets them on the command line: one
line naming the cause (exit 2 for bad usage, 1 for a failed run), never a traceback."""

import os
import subprocess
import sys

import pytest
from conftest import error_line, run_bulkup

from devtools.timescale import scaled


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("hello\n")
    return str(path)


def put(source, *options):
    """``bulkup put`` to an endpoint nothing listens on: a bad option stops it before any call."""
    return run_bulkup("put", source, "s3://bucket/", "--endpoint-url", "http://127.0.0.1:9", *options)


@pytest.mark.parametrize(
    "option,value,cause",
    [
        ("--part-size", "inf", "not a size: 'inf'"),
        ("--part-size", "nan", "not a size: 'nan'"),
        ("--part-size", "-5M", "a size cannot be negative: '-5M'"),
        ("--part-size", "1e400", "too large a size: '1e400'"),
        ("--multipart-threshold", "nan", "not a size: 'nan'"),
        ("--multipart-threshold", "-1", "a size cannot be negative: '-1'"),
        ("--expected-size", "inf", "not a size: 'inf'"),
        ("--expected-size", "-1", "a size cannot be negative: '-1'"),
        ("--expected-size", "100TiB", "--expected-size must be between 0 bytes and 48.8 TiB"),
        ("--min-rate", "nan", "not a rate: 'nan'"),
        ("--min-rate", "-1", "a rate cannot be negative: '-1'"),
        ("--bwlimit", "inf", "not a rate: 'inf'"),
        ("--bwlimit", "infbit", "not a rate: 'infbit'"),
        ("--bwlimit", "-20MiB/s", "a rate cannot be negative: '-20MiB/s'"),
        ("--target-throughput", "nan", "not a number of Gbit/s: 'nan'"),
        ("--target-throughput", "-1", "--target-throughput must be above 0"),
        ("--workers", "0", "--workers must be at least 1, not 0"),
        ("--workers", "1e3", "not a whole number: '1e3'"),
        ("--connections", "-1", "--connections must be at least 1, not -1"),
        ("--retry-deadline", "nan", "invalid duration 'nan'"),
    ],
)
def test_a_bad_number_is_one_line_naming_the_option_and_the_value(source, option, value, cause):
    line = error_line(put(source, option, value), 2)
    assert option in line and cause in line


def test_a_missing_argument_is_one_line_pointing_to_help():
    line = error_line(run_bulkup("put"), 2)
    assert "required: SRC" in line and "bulkup put --help" in line


def test_a_header_value_that_cannot_be_sent_is_refused_before_anything_is_sent(source):
    line = error_line(put(source, "--content-type", "text/plain\r\nX-Injected: 1"), 2)
    assert "--content-type" in line and "printable ASCII" in line


def test_a_date_past_the_last_one_is_one_line(source):
    line = error_line(put(source, "--expires", "9999-12-31T23:59:59-01:00"), 2)
    assert "--expires" in line and "out of range" in line


# A bug in bulkup (here: doctor's report raises) must still end in one line.
BROKEN = """
import sys
import bulkup.cli.doctor
import bulkup.cli.main as cli

def report(**kwargs):
    raise RuntimeError("a bug\\nover two lines")

bulkup.cli.doctor.report = report
sys.exit(cli.main())
"""


def run_broken(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-c", BROKEN, *args], env=env, capture_output=True, text=True, timeout=scaled(120)
    )


def test_an_unexpected_failure_is_one_line_that_says_to_rerun_with_debug():
    assert error_line(run_broken("doctor"), 1) == (
        "bulkup: error: internal error: RuntimeError: a bug over "
        "two lines (bulkup doctor): rerun with --debug for the details"
    )


def test_with_debug_an_unexpected_failure_shows_its_traceback():
    proc = run_broken("doctor", "--debug")
    assert proc.returncode == 1
    assert "Traceback (most recent call last)" in proc.stderr and "RuntimeError: a bug" in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("bulkup: error: internal error: RuntimeError: a bug")
