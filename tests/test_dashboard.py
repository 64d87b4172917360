"""The rich dashboard: readable at 80 and 200 columns, redrawn at a bounded rate."""

import io
import re
import time

import pytest
from rich.console import Console

from bulkup.display.dashboard import REFRESH_PER_SECOND, RichDashboard, render
from bulkup.display.state import ProgressState
from bulkup.plan.results import ObjectResult, PartRecord, UploadResult
from bulkup.transport.messages import WorkerReady
from devtools.timescale import scaled


def busy_state() -> ProgressState:
    state = ProgressState()
    state.start(2003, 3 << 30, now=0.0)
    for worker in range(4):
        state.worker_ready(worker, 1000 + worker, "user-space TLS", 2)
    state.object_started("datasets/2026/very/long/path/to/a/large/object/" + "x" * 80, 1 << 30, 128)
    state.object_started("short.bin", 64 << 20, 8)
    state.part_done("short.bin", 1, 8 << 20, worker=0, data_path="kTLS+sendfile")
    state.add_sent(1, 512 << 20)
    state.part_retried("short.bin", 2, "connection to 127.0.0.1:9000 failed: Connection reset by peer")
    state.object_failed("broken.bin", 10, "BadDigest: the checksum did not match")
    state.tick(2.0)
    return state


@pytest.mark.parametrize("width", [80, 200])
def test_every_line_fits_the_terminal(width):
    console = Console(width=width, record=True, file=io.StringIO(), force_terminal=True)
    console.print(render(busy_state(), now=2.0))
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= width
    text = "\n".join(lines)
    for expected in (
        "objects",
        "ETA",
        "large objects in flight",
        "1/8 parts",
        "workers",
        "kTLS+sendfile",
        "retrying 1",
        "failed 1",
        "BadDigest",
    ):
        assert expected in text, expected


def flood_of_events(seconds: float, until_frames: int | None = None) -> tuple[int, float, str]:
    """Feed a dashboard events as fast as possible for about ``seconds``, or until it has
    drawn ``until_frames`` frames: frames drawn meanwhile, the seconds it took, and what
    reached the terminal."""
    out = io.StringIO()
    dashboard = RichDashboard(Console(file=out, force_terminal=True, width=100))
    frames = 0
    original = dashboard.frame

    def counting_frame():
        nonlocal frames
        frames += 1
        return original()

    dashboard.frame = counting_frame
    dashboard.start(10_000_000, 10_000_000)
    dashboard.worker_ready(
        WorkerReady(worker=0, pid=1, engine="userspace", engine_label="user-space TLS", reason=""), 2
    )
    started = time.monotonic()
    i = 0
    while time.monotonic() - started < seconds and (until_frames is None or frames < until_frames):
        for _ in range(1000):
            i += 1
            dashboard.bytes_sent(0, 1)
            dashboard.object_done(ObjectResult(key=f"k{i}", path="/p", size=1))
    elapsed, drawn_meanwhile = time.monotonic() - started, frames
    dashboard.finish(UploadResult())
    return drawn_meanwhile, elapsed, out.getvalue()


def test_redraws_are_bounded_whatever_the_event_rate():
    frames, seconds, _ = flood_of_events(1.5)
    assert frames <= (seconds + 1) * REFRESH_PER_SECOND + 3


def test_the_dashboard_keeps_drawing_while_events_pour_in():
    frames, _, drawn = flood_of_events(scaled(60), until_frames=4)
    assert frames >= 4  # drawn while the events kept coming (rich's thread shares the GIL)
    counts = [int(n.replace(",", "")) for n in re.findall(r"([\d,]+)/10,000,000 objects", drawn)]
    assert len(counts) >= 2 and counts == sorted(counts) and counts[-1] > counts[0]


def test_summary_table_names_engines_retries_and_failures():
    console = Console(width=100, record=True, file=io.StringIO())
    dashboard = RichDashboard(console)
    dashboard.start(2, 20)
    result = UploadResult()
    result.add_part(
        PartRecord(
            key="a",
            part_number=None,
            worker=0,
            pid=1,
            connection="c1",
            request_on_connection=1,
            attempts=3,
            data_path="kTLS+io_uring",
        )
    )
    ok, bad = (
        ObjectResult(key="a", path="/a", size=10),
        ObjectResult(key="b", path="/b", size=10, error="AccessDenied: no"),
    )
    result.object_done(ok)
    result.object_failed(bad)
    result.seconds = 2.0
    dashboard.finish(result, {"migration": "1 of 2 objects done"})
    text = console.export_text()
    for expected in (
        "bulkup summary",
        "1 uploaded, 1 failed",
        "kTLS+io_uring (1 parts)",
        "AccessDenied: no",
        "migration",
        "peak",
    ):
        assert expected in text, expected
    assert re.search(r"retries\s+│\s+2\s+│", text)


@pytest.mark.parametrize("width", [80, 200])
def test_a_ray_run_shows_each_node_with_its_workers_and_rate(width):
    state = busy_state()
    for worker in range(4, 40):
        state.worker_ready(worker, 2000 + worker, "kTLS+io_uring", 2, node=f"10.0.0.{worker % 3 + 5}")
        state.add_sent(worker, 8 << 20)
    state.tick(3.0)
    console = Console(width=width, record=True, file=io.StringIO(), force_terminal=True)
    console.print(render(state, now=3.0))
    lines = console.export_text().splitlines()
    assert max(len(line) for line in lines) <= width
    node_rows = [line for line in lines if line.strip().startswith("10.0.0.")]
    assert len(node_rows) == 3
    assert all("12 workers" in row and "kTLS+io_uring" in row and "/s" in row for row in node_rows)
    assert not any(line.strip().startswith("39 ") for line in lines)  # 40 worker rows would not fit
