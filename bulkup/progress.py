"""Progress: the coordinator reports small events; sinks only render them at a bounded rate."""
from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from .results import ObjectResult, UploadResult
    from .messages import WorkerReady


class ProgressSink:
    """Receives progress events from the coordinator; this base shows nothing."""

    def start(self, objects: int, total_bytes: int) -> None: ...
    def worker_ready(self, ready: "WorkerReady") -> None: ...
    def bytes_sent(self, nbytes: int) -> None: ...
    def object_done(self, result: "ObjectResult") -> None: ...
    def object_failed(self, result: "ObjectResult") -> None: ...
    def worker_lost(self, worker: int, why: str) -> None: ...
    def finish(self, result: "UploadResult") -> None: ...


QuietProgress = ProgressSink


class PlainProgress(QuietProgress):
    """A status line every few seconds, no terminal control sequences (for logs and pipes)."""

    def __init__(self, out: TextIO = sys.stderr, interval: float = 5.0) -> None:
        self.out, self.interval = out, interval
        self.objects = self.total_bytes = self.sent = self.done = self.failed = 0
        self._started = self._last = time.monotonic()

    def start(self, objects: int, total_bytes: int) -> None:
        self.objects, self.total_bytes = objects, total_bytes
        self._started = self._last = time.monotonic()

    def bytes_sent(self, nbytes: int) -> None:
        self.sent += nbytes
        self._maybe_print()

    def object_done(self, result: "ObjectResult") -> None:
        self.done += 1
        self._maybe_print()

    def object_failed(self, result: "ObjectResult") -> None:
        self.failed += 1
        print(f"failed: s3 key {result.key!r}: {result.error}", file=self.out, flush=True)

    def worker_lost(self, worker: int, why: str) -> None:
        print(f"worker {worker} died ({why}); its parts go to the others", file=self.out, flush=True)

    def _maybe_print(self) -> None:
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            rate = self.sent / max(now - self._started, 1e-9)
            print(f"{self.done}/{self.objects} objects, {human_bytes(self.sent)}/"
                  f"{human_bytes(self.total_bytes)}, {human_bytes(rate)}/s", file=self.out, flush=True)


class RichProgress(QuietProgress):
    """A live rich bar: bytes, objects, rate and ETA (redrawn at most 10 times a second)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                                   TimeRemainingColumn, TransferSpeedColumn)
        self.console = Console(stderr=True)
        self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                  DownloadColumn(binary_units=True), TransferSpeedColumn(),
                                  TextColumn("{task.fields[objects]}"), TimeRemainingColumn(),
                                  console=self.console, refresh_per_second=10)
        self._task = None
        self.objects = self.done = self.failed = 0
        self.total_bytes = 0

    def start(self, objects: int, total_bytes: int) -> None:
        self.objects, self.total_bytes = objects, total_bytes
        self._progress.start()
        self._task = self._progress.add_task("upload", total=max(total_bytes, 1),
                                             objects=self._objects_text())

    def worker_ready(self, ready: "WorkerReady") -> None:
        self._progress.console.print(f"worker {ready.worker} (pid {ready.pid}): {ready.engine_label}",
                                     style="dim")

    def bytes_sent(self, nbytes: int) -> None:
        self._progress.update(self._task, advance=nbytes)

    def object_done(self, result: "ObjectResult") -> None:
        self.done += 1
        self._progress.update(self._task, objects=self._objects_text())

    def object_failed(self, result: "ObjectResult") -> None:
        self.failed += 1
        self._progress.console.print(f"[red]failed[/red] {result.key}: {result.error}", markup=True,
                                     highlight=False)
        self._progress.update(self._task, objects=self._objects_text())

    def worker_lost(self, worker: int, why: str) -> None:
        self._progress.console.print(f"[yellow]worker {worker} died[/yellow] ({why}); its parts "
                                     "go to the others", markup=True, highlight=False)

    def finish(self, result: "UploadResult") -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=result.bytes_uploaded)
        self._progress.stop()

    def _objects_text(self) -> str:
        failed = f", {self.failed} failed" if self.failed else ""
        return f"{self.done}/{self.objects} objects{failed}"


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
