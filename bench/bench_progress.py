"""What the progress machinery costs: its CPU per object against a real upload's.

The coordinator's side of progress is replayed without a network: the events a run of
N small files (default 1,000,000) over 16 workers produces (a start, 16 worker rows, a
bytes event per worker every 0.1 s, one object_done per file) go through each display,
timed with the process CPU clock. The rich dashboard's frames are timed apart (16 worker
rows and large objects on screen) and charged at its 4 frames a second over the run's
length. The reference is a real `bulkup put` of small files to the local server, whose
client CPU per object (whole process tree) this figure is a share of.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time

from bench.lib.results import append_section
from bench.lib.treeusage import measure
from bulkup.display import PlainProgress, ProgressSink
from bulkup.plan.results import ObjectResult
from bulkup.transport.messages import WorkerReady
from devtools.s3server import DevServer

WORKERS = 16


def replay(sink: ProgressSink, objects: int, run_seconds: float) -> float:
    """CPU seconds ``sink`` spends on the events of a run of ``objects`` small files."""
    bytes_events = int(run_seconds * 10 * WORKERS)
    every = max(1, objects // max(1, bytes_events))
    result = ObjectResult(
        key="prefix/some/key/file-000000.bin",
        path="/data/file-000000.bin",
        size=4096,
        etag='"0123456789abcdef0123456789abcdef"',
        checksum="AAAAAAAAAAA=",
    )
    started = time.process_time()
    sink.start(objects, objects * 4096)
    for worker in range(WORKERS):
        sink.worker_ready(
            WorkerReady(worker=worker, pid=1000 + worker, engine="sendfile", engine_label="kTLS+sendfile", reason=""), 2
        )
    for i in range(objects):
        if i % every == 0:
            sink.bytes_sent(i % WORKERS, 4096 * every)
        sink.object_done(result)
    return time.process_time() - started


def frame_cost(frames: int = 200) -> float:
    """CPU seconds of one dashboard frame with 16 workers and large objects on screen."""
    from rich.console import Console

    from bulkup.display.dashboard import RichDashboard

    dashboard = RichDashboard(Console(file=io.StringIO(), force_terminal=True, width=120))
    state = dashboard.state
    state.start(1_000_000, 1 << 40, time.monotonic())
    for worker in range(WORKERS):
        state.worker_ready(worker, 1000 + worker, "kTLS+io_uring", 2)
    for i in range(8):
        state.object_started(f"datasets/large/object-{i:04d}.bin", 1 << 30, 128)
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    started = time.process_time()
    for _ in range(frames):
        console.print(dashboard.frame())
    return (time.process_time() - started) / frames


def real_cpu_per_object(work: str, files: int) -> tuple[float, float]:
    """(client CPU-s per object, wall-s per object) of `bulkup put` of 4 KiB files."""
    tree = os.path.join(work, "tree")
    os.makedirs(tree, exist_ok=True)
    for i in range(files):
        with open(os.path.join(tree, f"f{i:06d}"), "wb") as f:
            f.write(os.urandom(4096))
    with DevServer() as server:
        server.client().create_bucket(Bucket="bench-progress")
        usage = measure(
            [
                sys.executable,
                "-m",
                "bulkup",
                "put",
                tree,
                "s3://bench-progress/",
                "--endpoint-url",
                server.https_url,
                "--progress",
                "none",
            ],
            {**os.environ, **server.env()},
        )
    if usage.returncode != 0:
        raise SystemExit(f"put failed: {usage.output[-500:]}")
    return usage.cpu / files, usage.wall / files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=5_000, help="files in the real reference run")
    parser.add_argument("--print-only", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bulkup-bench-") as work:
        cpu_per_object, wall_per_object = real_cpu_per_object(work, args.files)
    run_seconds = wall_per_object * args.objects
    frame = frame_cost()
    from rich.console import Console

    from bulkup.display.dashboard import REFRESH_PER_SECOND, RichDashboard
    from bulkup.display.jsonlines import JsonLinesProgress

    devnull = open(os.devnull, "w")
    sinks = {
        "rich dashboard": RichDashboard(Console(file=devnull, force_terminal=True, width=120)),
        "json lines": JsonLinesProgress(devnull),
        "plain": PlainProgress(devnull),
        "none (counters only)": ProgressSink(),
    }
    rows = []
    for name, sink in sinks.items():
        sink._live = _NoLive() if name == "rich dashboard" else None  # frames are charged apart
        cpu = replay(sink, args.objects, run_seconds)
        if name == "rich dashboard":
            cpu += frame * REFRESH_PER_SECOND * run_seconds
        total = cpu_per_object * args.objects
        rows.append(f"| {name} | {cpu:.2f} | {cpu / args.objects * 1e6:.1f} | {cpu / total:.2%} |")
    lines = [
        "",
        f"## Progress machinery: {args.objects:,} small files, {WORKERS} workers",
        "",
        f"Reference: `bulkup put` of {args.files:,} files of 4 KiB here cost "
        f"{cpu_per_object * 1e6:.0f} µs of client CPU per object ({1 / wall_per_object:,.0f} "
        f"objects/s), so {args.objects:,} objects cost {cpu_per_object * args.objects:,.0f} CPU-s "
        f"over about {run_seconds:,.0f} s. A dashboard frame with {WORKERS} worker rows costs "
        f"{frame * 1e3:.2f} ms, drawn {REFRESH_PER_SECOND} times a second.",
        "",
        "| display | CPU-s | µs per object | share of the upload's CPU |",
        "|---|---:|---:|---:|",
        *rows,
    ]
    append_section(lines, args.print_only)


class _NoLive:
    """Stands in for rich's Live so the replay times events alone."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def refresh(self) -> None: ...


if __name__ == "__main__":
    main()
