"""A newcomer who follows only the README's first screen: uploads a tree, sees it with
``bulkup ls``, interrupts a run and continues it with the command it prints, and reads clean
JSON. The commands are the README's own (this test fails if the README stops showing them)."""

import json
import pathlib
import shlex
import signal
import subprocess
import sys

import pytest
from conftest import keys_in, run_bulkup, wait_for, write_random_file

from devtools.faultproxy import FaultProxy
from devtools.timescale import scaled

pytestmark = pytest.mark.slow  # through the real command line and a server

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
KiB = 1024


def first_screen() -> str:
    """The README up to its section for developers."""
    return README.read_text().split("## For developers", 1)[0]


def test_the_first_screen_shows_the_commands_this_journey_runs():
    text = first_screen()
    for shown in ("pipx install .", "bulkup put ./photos s3://my-bucket/photos/", "bulkup ls s3://my-bucket/photos/"):
        assert shown in text, shown
    assert "--skip-existing" in text and "--progress json" in text


def test_a_newcomer_uploads_sees_interrupts_continues_and_reads_json(s3server, s3, bucket, tmp_path):
    photos = tmp_path / "photos"
    for i in range(12):
        write_random_file(photos / "2024" / f"{i:02}.jpg", 256 * KiB, seed=i)
    env = s3server.env()
    with FaultProxy(s3server.http_url) as proxy:
        endpoint = ["--endpoint-url", proxy.url]
        # put (interrupted midway), as the README shows it: two photos are stored, the others
        # wait at the proxy until Ctrl-C (however fast the machine: their uploads all start at once)
        proxy.hold(lambda method, target: method == "PUT" and not target.endswith(("/00.jpg", "/01.jpg")))
        argv = ["put", str(photos), f"s3://{bucket}/photos/", *endpoint]
        proc = subprocess.Popen([sys.executable, "-m", "bulkup", *argv], env=env, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: len(keys_in(s3, bucket)) >= 2, what="two photos stored")
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=scaled(120))
        assert proc.returncode == 130
        assert len(keys_in(s3, bucket)) == 2  # interrupted midway
        command = shlex.split(stderr.strip().splitlines()[-1].split("continue with: ", 1)[1])
        proxy.hold(lambda method, target: False)
        # the command it printed sends the rest
        rerun = run_bulkup(*command[1:], "--progress", "json", env=env)
        assert rerun.returncode == 0, rerun.stderr
        events = [json.loads(line) for line in rerun.stdout.splitlines()]  # every line is JSON
        assert events[-1]["event"] == "summary" and events[-1]["objects_failed"] == 0
        # and ls shows the whole tree
        listed = run_bulkup("ls", f"s3://{bucket}/photos/", "--recursive", "--summarize", *endpoint, env=env)
    assert listed.returncode == 0, listed.stderr
    assert "Total Objects: 12" in listed.stdout
    assert sorted(keys_in(s3, bucket)) == [f"photos/2024/{i:02}.jpg" for i in range(12)]
