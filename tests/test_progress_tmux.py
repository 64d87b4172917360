"""The dashboard as a person sees it: bulkup put in a real terminal (tmux), read off the screen."""

import os
import re
import shlex
import shutil
import subprocess
import sys
import time

import pytest
from conftest import expected_data_path, keys_in, write_random_file

from devtools.timescale import scaled

MiB = 1024 * 1024
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("tmux") is None and not os.environ.get("CI"),
        reason="tmux is not installed (make test installs it)",
    ),
]


def screen(session: str) -> str:
    return subprocess.run(
        ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True, check=True
    ).stdout


def wait_for_screen(session: str, pattern: str, timeout: float = 120) -> str:
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = screen(session)
        if re.search(pattern, text):
            return text
        time.sleep(0.1)
    raise AssertionError(f"never saw {pattern!r} on the screen:\n{screen(session)}")


@pytest.fixture
def terminal(tmp_path):
    session = f"bulkup-test-{os.getpid()}"
    subprocess.run(["tmux", "-L", session, "kill-server"], capture_output=True)
    yield session
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


@pytest.mark.parametrize("width", [80, 200])
def test_dashboard_shows_progress_mid_run_and_the_summary_at_the_end(s3server, s3, bucket, tmp_path, terminal, width):
    data = tmp_path / "data"
    for i in range(2):
        write_random_file(data / f"large{i}.bin", 300 * MiB, seed=i + 1)
    for i in range(100):
        write_random_file(data / "small" / f"{i}.txt", 2000, seed=100 + i)
    script = tmp_path / "run.sh"
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in s3server.env().items())
    script.write_text(
        exports + f"{shlex.quote(sys.executable)} -m bulkup put {shlex.quote(str(data))} "
        f"s3://{bucket}/ --endpoint-url {s3server.https_url} --workers 2 --connections 2 "
        "--part-size 8MiB\n"
        "echo EXIT=$?; sleep 600\n"
    )
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", terminal, "-x", str(width), "-y", "40", f"bash {shlex.quote(str(script))}"],
        check=True,
    )
    engine = re.escape(expected_data_path("https")[:22])
    mid = wait_for_screen(
        terminal,
        r"large objects in flight[\s\S]*\d+/38 parts[\s\S]*workers[\s\S]*"
        rf"{engine}\s+(on|off)\s+2\s+[\d.]+ [KMG]?i?B/s",
    )
    percent = int(re.search(r"(\d+)%", mid).group(1))
    assert 0 <= percent < 100
    assert re.search(r"\d+/102 objects · [\d.]+ [KMG]?i?B/s · ETA", mid)
    assert re.search(r"[\d.]+ [KMG]?i?B/300[\d.]* MiB\s+\d+/38 parts", mid)  # a large object's bar: its bytes
    assert re.search(r"workers\s*\n\s*#\s+pid\s+engine\s+kTLS\s+conns\s+rate", mid)
    assert re.search(rf"{engine}\s+(on|off)\s+2\s+[\d.]+ [KMG]?i?B/s", mid)
    assert max(len(line) for line in mid.splitlines()) <= width
    end = wait_for_screen(terminal, r"EXIT=\d+")
    assert "EXIT=0" in end
    assert "bulkup summary" in end and "102 uploaded, 0 failed" in end
    assert re.search(r"throughput .* average, .* peak", end)
    assert len(keys_in(s3, bucket)) == 102
