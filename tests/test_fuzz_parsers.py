"""Fuzzing the command line's value parsers: every size, rate, duration and number option
takes any text and gives a value in range or one line saying why not (exit 2), never a
traceback."""

import string
from datetime import timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bulkup.cli.arguments import options_from
from bulkup.cli.main import build_parser
from bulkup.errors import UsageError
from bulkup.options import UploadOptions
from bulkup.options.resolve import validate
from bulkup.plan.durations import parse_age
from bulkup.plan.parts import MAX_SIZE, parse_rate, parse_size

FUZZ = settings(max_examples=300, deadline=None)
OPTIONS = [
    "--part-size",
    "--multipart-threshold",
    "--expected-size",
    "--min-rate",
    "--bwlimit",
    "--target-throughput",
    "--retry-deadline",
    "--workers",
    "--connections",
]

# Text that looks like a number, a unit or both, and anything at all.
numberish = st.text(string.digits + ".-+eE_ " + "kmgtKMGTiIbB/sp" + "naif", max_size=12)
values = (
    numberish
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "inf",
            "nan",
            "-inf",
            "1e400",
            "-5M",
            "0",
            "-0",
            "1e308t",
            "9" * 5000,
            "5.5.5M",
            "١٠",
            "100Mbps",
            "infbit",
            "nanbit",
            "-8bit",
            "0s",
            "1d12h",
            "99999999999w",
            "9" * 40 + "s",
            "\n5\n",
        ]
    )
)


def one_line_or_value(argv: list[str]):
    """Parse ``argv`` and check its options as a run would: the options, or the line a user
    sees (argparse's usage error, or validate's UsageError)."""
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        [line] = str(exc).splitlines()
        assert exc.exit_code == 2 and line.startswith("bulkup: error: "), line
        return line
    options = options_from(args, UploadOptions)
    try:
        validate(options)
    except UsageError as exc:
        assert "\n" not in str(exc) and exc.exit_code == 2
        return str(exc)
    return options


@FUZZ
@given(option=st.sampled_from(OPTIONS), value=values)
@example(option="--part-size", value="inf")
@example(option="--bwlimit", value="infbit")
@example(option="--expected-size", value="-1")
@example(option="--workers", value="0")
def test_any_value_of_any_number_option_is_taken_or_refused_in_one_line(option, value):
    one_line_or_value(["put", "f", "s3://bucket/", f"{option}={value}"])


@pytest.mark.parametrize("option", OPTIONS)
@pytest.mark.parametrize("value", ["nan", "inf", "-1", "-5M"])
def test_nan_infinite_and_negative_values_are_refused_naming_the_option(option, value):
    line = one_line_or_value(["put", "f", "s3://bucket/", option, value])
    assert isinstance(line, str) and option in line


@pytest.mark.parametrize("option", ["--workers", "--connections"])
@pytest.mark.parametrize("value", ["0", "-2"])
def test_no_workers_or_connections_is_refused(option, value):
    assert (
        one_line_or_value(["put", "f", "s3://bucket/", option, value])
        == f"{option} must be at least 1, not {int(value)}"
    )


@FUZZ
@given(text=values)
def test_a_size_is_whole_bytes_in_range_or_a_value_error(text):
    try:
        size = parse_size(text)
    except ValueError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 200
        return
    assert isinstance(size, int) and 0 <= size <= MAX_SIZE


@FUZZ
@given(text=values)
def test_a_rate_is_whole_bytes_a_second_in_range_or_a_value_error(text):
    try:
        rate = parse_rate(text)
    except ValueError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 200
        return
    assert isinstance(rate, int) and 0 <= rate <= MAX_SIZE


@FUZZ
@given(number=st.integers(0, 2**70), unit=st.sampled_from(["", "k", "M", "GiB", "tb", "KiB"]))
def test_a_whole_number_with_a_unit_is_that_many_bytes_or_too_large(number, unit):
    scale = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[unit[:1].lower()]
    try:
        size = parse_size(f"{number}{unit}")
    except ValueError as exc:
        assert "too large" in str(exc) and number * scale > MAX_SIZE
        return
    assert size == number * scale


def test_bits_per_second_are_bits_and_bytes_per_second_are_bytes():
    assert parse_rate("100Mbps") == parse_rate("100Mbit") == 12_500_000
    assert parse_rate("100MBps") == parse_rate("100MB/s") == 100 * 2**20


@FUZZ
@given(text=values)
def test_a_duration_is_a_timedelta_or_a_usage_error(text):
    try:
        age = parse_age(text)
    except UsageError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 200
        return
    assert isinstance(age, timedelta) and age >= timedelta(0)
