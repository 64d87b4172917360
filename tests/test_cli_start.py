"""The command line starts light: help, version and Tab completion are built from the
declarations alone, and load neither boto3 nor awscrt nor any command's code (what a user
would otherwise wait for on every keystroke of Tab). Measured in modules imported (Python's
own -X importtime list), never in time."""

import os
import subprocess
import sys

import pytest

HEAVY = ("boto3", "botocore", "awscrt", "bulkup.ops", "bulkup.control", "bulkup.cli.put", "bulkup.cli.sync")


def heavy_modules_loaded(*argv: str, env: dict[str, str] | None = None) -> list[str]:
    """The heavy modules ``bulkup ARGV`` imported."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bulkup", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    lines = [line for line in proc.stderr.splitlines() if line.startswith("import time:")]
    assert lines, proc.stderr
    imported = {line.rsplit("|", 1)[1].strip() for line in lines}
    return sorted(m for m in imported if m.startswith(HEAVY))


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["put", "--help"], ["sync", "--help"]])
def test_help_and_version_load_no_client_library_and_no_command(argv):
    assert heavy_modules_loaded(*argv) == []


def test_tab_completion_loads_no_client_library(tmp_path):
    out = tmp_path / "words"
    line = "bulkup put --che"
    env = {
        "_ARGCOMPLETE": "1",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
    }
    assert heavy_modules_loaded(env=env) == []
    assert "--checksum" in out.read_text()


def test_a_command_that_runs_loads_its_code():
    """The check above can fail: running a command does load what it needs."""
    assert "bulkup.ops.put" in heavy_modules_loaded("put", "/nonexistent", "s3://bucket/")


def test_every_declared_command_names_a_function_that_exists():
    from bulkup.cli.commands import COMMANDS

    assert all(callable(command.handler()) for command in COMMANDS)
