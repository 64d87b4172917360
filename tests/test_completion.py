"""Tab completion (argcomplete): what a shell gets for a partial command line."""

import os
import subprocess
import sys

from devtools.timescale import scaled


def completions(line: str, tmp_path) -> list[str]:
    out = tmp_path / "completions"
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_SHELL": "bash",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
    }
    subprocess.run([sys.executable, "-m", "bulkup"], env=env, check=True, timeout=scaled(60))
    return sorted(word.strip() for word in out.read_text().split("\013") if word.strip())


def test_commands_complete(tmp_path):
    assert completions("bulkup m", tmp_path) == ["manifest", "migrate"]


def test_a_commands_options_complete(tmp_path):
    assert completions("bulkup put --object-lock-", tmp_path) == [
        "--object-lock-legal-hold",
        "--object-lock-mode",
        "--object-lock-retain-until",
    ]


def test_choices_complete(tmp_path):
    assert completions("bulkup put --acl bucket-owner-", tmp_path) == ["bucket-owner-full-control", "bucket-owner-read"]
