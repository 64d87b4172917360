"""Help like the tools people know: every command's options in groups, in the same order,
and examples at the end."""

import subprocess
import sys

import pytest

from bulkup.cli.commands import COMMANDS

GROUPS = ["what to send:", "where to:", "object attributes:", "integrity:", "speed:", "output:"]


def help_of(*argv: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "bulkup", *argv, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("command", [c.name for c in COMMANDS])
def test_every_command_ends_its_help_with_examples_of_itself(command):
    text = help_of(command)
    examples = text.split("examples:\n", 1)[1].splitlines()
    assert examples and all(f"bulkup {command}" in line for line in examples if line.strip())


def test_put_shows_its_options_in_groups_in_the_order_people_look_for_them():
    text = help_of("put")
    where = [text.index(group) for group in GROUPS]
    assert where == sorted(where)


def test_bulkup_help_lists_the_commands_and_ends_with_examples():
    text = help_of()
    assert "commands:" in text and all(f"    {c.name} " in text for c in COMMANDS)
    assert "examples:\n  bulkup put " in text
