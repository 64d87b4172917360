"""Progress: the coordinator reports small events; sinks keep the numbers and render them.

Every sink shares one model (progress_state.ProgressState); displays draw it at their own
bounded pace, whatever the event rate. Choose one with ``make_progress``:
rich (dashboard.py), tqdm (tqdmprogress.py), json (jsonprogress.py), plain, quiet, none.
"""
from __future__ import annotations

import contextlib
import sys
import threading
import time
from typing import TYPE_CHECKING, TextIO

from .progress_state import ProgressState

if TYPE_CHECKING:
    from .messages import WorkerReady
    from .results import ObjectResult, PartRecord, UploadResult

CHOICES = ("auto", "rich", "tqdm", "json", "plain", "none")


class ProgressSink:
    """Receives the coordinator's events and keeps the numbers; shows nothing itself."""

    def __init__(self) -> None:
        self.state = ProgressState()
        # Held while the numbers change; a display drawing from another thread takes it too.
        self.lock: threading.Lock | contextlib.nullcontext = contextlib.nullcontext()

    def start(self, objects: int, total_bytes: int) -> None:
        with self.lock:
            self.state.start(objects, total_bytes, time.monotonic())

    def worker_ready(self, ready: "WorkerReady", connections: int = 1) -> None:
        with self.lock:
            self.state.worker_ready(ready.worker, ready.pid, ready.engine_label, connections, ready.node)

    def bytes_sent(self, worker: int, nbytes: int) -> None:
        with self.lock:
            self.state.add_sent(worker, nbytes)

    def object_started(self, key: str, size: int, parts: int) -> None:
        """A multipart upload began (or resumed)."""
        with self.lock:
            self.state.object_started(key, size, parts)

    def part_done(self, key: str, length: int, part: "PartRecord") -> None:
        with self.lock:
            self.state.part_done(key, part.part_number, length, part.worker, part.path)

    def part_retried(self, worker: int, key: str, part: int | None, attempt: int, reason: str) -> None:
        with self.lock:
            self.state.part_retried(key, part, reason)

    def object_done(self, result: "ObjectResult") -> None:
        with self.lock:
            self.state.object_done(result.key, result.size)

    def object_failed(self, result: "ObjectResult") -> None:
        with self.lock:
            self.state.object_failed(result.key, result.size, result.error or "")

    def object_skipped(self, key: str, size: int, reason: str) -> None:
        with self.lock:
            self.state.object_skipped(key, size)

    def worker_lost(self, worker: int, why: str) -> None:
        with self.lock:
            self.state.worker_lost(worker, why)

    def finish(self, result: "UploadResult", extra: dict[str, str] | None = None) -> None:
        """The run ended; ``extra`` adds lines to the summary (label -> text)."""
        with self.lock:
            self.state.tick(time.monotonic())

    def close(self) -> None:
        """The run was cut short (the caller reports why): stop drawing, no summary."""


class PlainProgress(ProgressSink):
    """A status line every few seconds, failures as they happen, a text summary; no terminal
    control sequences (for logs and pipes)."""

    def __init__(self, out: TextIO = sys.stderr, interval: float = 5.0, periodic: bool = True) -> None:
        super().__init__()
        self.out, self.interval, self.periodic = out, interval, periodic
        self._last = time.monotonic()

    def bytes_sent(self, worker: int, nbytes: int) -> None:
        super().bytes_sent(worker, nbytes)
        self._maybe_print()

    def object_done(self, result: "ObjectResult") -> None:
        super().object_done(result)
        self._maybe_print()

    def object_failed(self, result: "ObjectResult") -> None:
        super().object_failed(result)
        self._print(f"bulkup: failed: {result.key}: {result.error}")

    def worker_lost(self, worker: int, why: str) -> None:
        super().worker_lost(worker, why)
        self._print(f"bulkup: worker {worker} died ({why}); its parts go to the others")

    def finish(self, result: "UploadResult", extra: dict[str, str] | None = None) -> None:
        super().finish(result, extra)
        self.print_summary(result, self.state, extra)

    def print_summary(self, result: "UploadResult", state: ProgressState,
                      extra: dict[str, str] | None = None) -> None:
        for line in summary_lines(result, state, extra):
            self._print(line)

    def _maybe_print(self) -> None:
        now = time.monotonic()
        if self.periodic and now - self._last >= self.interval:
            self._last = now
            self.state.tick(now)
            self._print(status_line(self.state, now))

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)


class QuietProgress(PlainProgress):
    """Errors and the summary only."""

    def __init__(self, out: TextIO = sys.stderr) -> None:
        super().__init__(out, periodic=False)


def status_line(state: ProgressState, now: float) -> str:
    """One line: objects, bytes, percent, rate, ETA, and any failures or retries."""
    percent = 100 * state.bytes_progress / state.bytes_total if state.bytes_total else 100.0
    eta = state.eta()
    parts = [f"{state.objects_finished}/{state.objects_total} objects",
             f"{human_bytes(state.bytes_progress)}/{human_bytes(state.bytes_total)} ({percent:.0f}%)",
             f"{human_bytes(state.rate)}/s", f"ETA {format_seconds(eta)}" if eta is not None else "ETA -"]
    if state.objects_failed:
        parts.append(f"{state.objects_failed} failed")
    if state.retrying:
        parts.append(f"{len(state.retrying)} retrying")
    return ", ".join(parts)


def summary_lines(result: "UploadResult", state: ProgressState, extra: dict[str, str] | None) -> list[str]:
    """The plain-text summary: totals, throughput, workers, extra lines, failure count."""
    lines = [f"uploaded {result.uploaded_count} objects, {human_bytes(result.bytes_uploaded)} in "
             f"{result.seconds:.1f} s ({human_bytes(result.rate)}/s average, "
             f"{human_bytes(result.peak(state.peak_rate))}/s peak), {result.retries} retries"]
    lines += worker_lines(result)
    lines += [f"  {label}: {text}" for label, text in node_rows(result)]
    lines += [f"{label}: {text}" for label, text in (extra or {}).items()]
    if result.failed_count:
        lines.append(f"{result.failed_count} objects failed (each is listed above)")
    return lines


def worker_lines(result: "UploadResult") -> list[str]:
    """One line per worker: the data paths its parts took, and any fallback or death."""
    return [f"  {label}: {text}" for label, text in worker_rows(result)]


def worker_rows(result: "UploadResult") -> list[tuple[str, str]]:
    """(``worker N``, what its parts did) for each worker, then each worker that died."""
    fallbacks = result.fallbacks()
    rows = []
    for worker, paths in sorted(result.paths_by_worker().items()):
        used = ", ".join(f"{path} ({count} parts)" for path, count in sorted(paths.items()))
        note = f"; fell back: {fallbacks[worker]}" if worker in fallbacks else ""
        rows.append((_worker_label(result, worker), used + note))
    rows += [(_worker_label(result, w), f"died ({why}); its parts were sent by the others")
             for w, why in result.workers_lost]
    return rows


def _worker_label(result: "UploadResult", worker: int) -> str:
    node = result.nodes.get(worker)
    return f"worker {worker} on {node}" if node else f"worker {worker}"


def node_rows(result: "UploadResult") -> list[tuple[str, str]]:
    """(``node X``, its workers, paths, bytes and rate) for each node of a Ray run."""
    rows = []
    for node, entry in result.by_node().items():
        paths = ", ".join(sorted(entry["paths"])) or "no parts"
        workers = len(entry["workers"])
        rows.append((f"node {node}", f"{workers} worker{'s' * (workers != 1)}, {paths}: {entry['parts']} parts, "
                                     f"{human_bytes(entry['bytes'])} at {human_bytes(entry['rate'])}/s"))
    return rows


def make_progress(choice: str = "auto", quiet: bool = False) -> ProgressSink:
    """The sink for ``--progress CHOICE`` (auto: rich on a terminal, plain otherwise)."""
    if choice not in CHOICES:
        raise ValueError(f"unknown progress display {choice!r}")
    if choice == "json":
        from .jsonprogress import JsonLinesProgress
        return JsonLinesProgress()
    if quiet:
        return QuietProgress()
    if choice == "none":
        return QuietProgress()
    if choice == "auto":
        choice = "rich" if sys.stderr.isatty() else "plain"
    if choice == "rich":
        from .dashboard import RichDashboard
        return RichDashboard()
    if choice == "tqdm":
        from .tqdmprogress import TqdmProgress
        return TqdmProgress()
    return PlainProgress()


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def format_seconds(seconds: float) -> str:
    """3725 -> '1:02:05'."""
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
