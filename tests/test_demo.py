"""`make demo` as a newcomer meets it: the command it runs is shown, the upload lands and is
verified, and no sample data is left behind unless asked to keep it."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # a real server and a real upload

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def demo(cwd, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = ROOT
    return subprocess.run(
        [sys.executable, "-m", "devtools.demo", "--size-gib", "0.005", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )


def test_the_demo_shows_the_command_it_runs_verifies_and_leaves_nothing(tmp_path):
    proc = demo(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    commands = [line for line in proc.stdout.splitlines() if line.startswith("$ ")]
    assert commands[0].split()[1].endswith("bulkup") and commands[0].split()[2:4] == ["put", ".demo/data"]
    assert "Demo OK: every byte verified by the server." in proc.stdout
    assert "nothing is left behind" in proc.stdout and os.listdir(tmp_path) == []


def test_the_demo_keeps_its_data_when_asked_and_says_where(tmp_path):
    proc = demo(tmp_path, "--keep")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "of sample data in .demo/data (remove with: rm -rf .demo/data)" in proc.stdout
    assert os.listdir(tmp_path / ".demo" / "data")
