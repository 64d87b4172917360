"""The progress sink: receives the coordinator's events and keeps the numbers.

Every display is a sink sharing one model (``bulkup.display.state.ProgressState``) and draws
it at its own bounded pace, whatever the event rate. A plain ``ProgressSink`` shows nothing.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from bulkup.display.state import ProgressState
from bulkup.display.text import human_bytes

log = logging.getLogger("bulkup")

if TYPE_CHECKING:
    from bulkup.plan.results import ObjectResult, PartRecord, UploadResult
    from bulkup.transport.messages import WorkerReady


class ProgressSink:
    """Receives the coordinator's events and keeps the numbers; shows nothing itself."""

    def __init__(self) -> None:
        self.state = ProgressState()
        # Held while the numbers change; a display drawing from another thread takes it too.
        self.lock: threading.Lock | contextlib.nullcontext[None] = contextlib.nullcontext()
        self._pending_notices: list[tuple[str, bool]] = []

    def notice(self, text: str, warning: bool = False) -> None:
        """One line the user should read once (what was chosen and why). Shown when the run
        starts: a run that ends before it (bad input) says one thing, its error."""
        if self.state.started:
            self.show_notice(text, warning)
        else:
            self._pending_notices.append((text, warning))

    def show_pending_notices(self) -> None:
        """Show the notices told before the run started (called once it has)."""
        pending, self._pending_notices = self._pending_notices, []
        for text, warning in pending:
            self.show_notice(text, warning)

    def show_notice(self, text: str, warning: bool) -> None:
        """How this display shows a notice; here: the log."""
        (log.warning if warning else log.info)(text)

    def limit_bandwidth(self, bytes_per_second: float) -> None:
        """The run keeps to this rate (--bwlimit): said once, and shown beside the rate."""
        with self.lock:
            self.state.bandwidth_limit = bytes_per_second
        self.notice(
            f"bandwidth: at most {human_bytes(bytes_per_second)}/s (--bwlimit), shared by every worker and connection"
        )

    def start(self, objects: int, total_bytes: int | None) -> None:
        with self.lock:
            self.state.start(objects, total_bytes, time.monotonic())

    def worker_ready(self, ready: WorkerReady, connections: int = 1) -> None:
        with self.lock:
            self.state.worker_ready(ready.worker, ready.pid, ready.engine_label, connections, ready.node)

    def bytes_sent(self, worker: int, nbytes: int) -> None:
        with self.lock:
            self.state.add_sent(worker, nbytes)

    def object_started(self, key: str, size: int, parts: int) -> None:
        """A multipart upload began (or resumed)."""
        with self.lock:
            self.state.object_started(key, size, parts)

    def object_sending(self, key: str, nbytes: int) -> None:
        """About ``nbytes`` of a multipart object's parts in flight have been sent (an
        estimate, for its bar)."""
        with self.lock:
            self.state.object_sending(key, nbytes)

    def part_done(self, key: str, length: int, part: PartRecord) -> None:
        with self.lock:
            self.state.part_done(key, part.part_number, length, part.worker, part.data_path)

    def part_retried(self, worker: int, key: str, part: int | None, attempt: int, reason: str) -> None:
        with self.lock:
            self.state.part_retried(key, part, reason)

    def object_restarted(self, key: str, reason: str) -> None:
        """An object starts over (its file changed, or its upload vanished)."""
        with self.lock:
            self.state.object_restarted(key, reason)

    def object_done(self, result: ObjectResult) -> None:
        with self.lock:
            self.state.object_done(result.key, result.size)

    def object_failed(self, result: ObjectResult) -> None:
        with self.lock:
            self.state.object_failed(result.key, result.size, result.error or "")

    def object_skipped(self, key: str, size: int, reason: str) -> None:
        with self.lock:
            self.state.object_skipped(key, size)

    def store_throttled(self) -> None:
        """The store asked the run to slow down, or could not be reached."""
        with self.lock:
            self.state.slowdowns += 1

    def rate_limited(self, requests_per_second: float | None) -> None:
        """The run keeps to this many requests a second (None: no limit)."""
        with self.lock:
            self.state.request_rate = requests_per_second

    def worker_lost(self, worker: int, why: str) -> None:
        with self.lock:
            self.state.worker_lost(worker, why)

    def finish(
        self, result: UploadResult, extra: dict[str, str] | None = None, fields: Mapping[str, object] | None = None
    ) -> None:
        """The run ended; ``extra`` adds lines to the summary (label -> text), ``fields`` the
        same as numbers, for displays that are read by programs."""
        with self.lock:
            self.state.tick(time.monotonic())

    def close(self) -> None:
        """The run was cut short (the caller reports why): stop drawing, no summary."""
