"""``--progress json``: one JSON object per line on stdout, for CI logs and other tools.

Events (field ``event``), each with ``time`` (seconds since the run started):

- ``notice``: ``text``, ``warning`` (e.g. which checksum the store verifies; also on stderr)
- ``start``: ``objects``, ``bytes`` (what this run will upload)
- ``worker``: ``worker``, ``pid``, ``engine``, ``connections``, and ``node`` (Ray runs)
- ``object_started``: ``key``, ``bytes``, ``parts`` (multipart uploads)
- ``object_done``: ``key``, ``bytes``, ``parts``, ``etag``, ``checksum``, ``verification``
  (how the store verified it: ``server: crc64nvme full-object``, ``server: md5 per part``,
  ``unverified (store ignores checksums)``, ...)
- ``part_retried``: ``key``, ``part`` (null: a single PUT), ``attempt``, ``worker``, ``reason``
- ``object_restarted``: ``key``, ``reason`` (its file changed, or its upload vanished: all
  its parts are sent again)
- ``object_failed``: ``key``, ``bytes``, ``reason``
- ``object_skipped``: ``key``, ``bytes``, ``reason``
- ``worker_lost``: ``worker``, ``reason``
- ``entry_skipped`` (before the summary): ``path``, ``reason``, for each entry of a tree
  that was not uploaded (unreadable, vanished, a name that is not UTF-8, a link loop)
- ``error`` (instead of a summary, when the run cannot go on): ``message`` (the one line
  printed on stderr), ``exit_code``; ``interrupted`` likewise after Ctrl-C
- ``progress`` (every ``INTERVAL`` seconds): ``objects_done``, ``objects_failed``,
  ``objects_skipped``, ``objects_total``, ``bytes_sent``, ``bytes_done``, ``bytes_total``,
  ``rate`` (bytes/s, smoothed), ``eta`` (seconds or null), ``retrying``
- ``summary`` (last): ``objects_uploaded``, ``objects_failed``, ``objects_skipped`` (tree
  entries not uploaded, and objects already there under --skip-existing), ``bytes_uploaded``,
  ``seconds``, ``rate``, ``peak_rate``, ``retries``, ``parts``, ``workers`` (per worker:
  ``engine``, ``paths`` (parts per data path), ``fallback``, ``cpu_seconds``, ``peak_rss``
  (bytes), and ``node`` in Ray runs), ``nodes`` (Ray runs: per node ``workers``, ``paths``,
  ``parts``, ``bytes``, ``rate``), ``verification`` (objects by how the store verified them),
  ``workers_lost``, ``failures`` (``key``, ``reason``),
  and any extra fields of the command (a migration's totals). The same object is ``run``
  in ``--report`` files.

No secret, signature or URL query ever appears: keys, sizes, ETags, checksums and one-line
reasons only.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, TextIO

from bulkup.display.sink import ProgressSink
from bulkup.display.text import notice_line

if TYPE_CHECKING:
    from bulkup.plan.results import ObjectResult, UploadResult
    from bulkup.transport.messages import WorkerReady

INTERVAL = 1.0


class JsonLinesProgress(ProgressSink):
    def __init__(self, out: TextIO = sys.stdout) -> None:
        super().__init__()
        self.out: TextIO | None = out  # None once the reader went away
        self._last = 0.0

    def show_notice(self, text: str, warning: bool) -> None:
        """On stderr for people, and as a ``notice`` event for tools."""
        print(notice_line(text, warning), file=sys.stderr, flush=True)
        self._emit("notice", text=text, warning=warning)

    def start(self, objects: int, total_bytes: int | None) -> None:
        super().start(objects, total_bytes)
        self._last = self.state.started
        self._emit("start", objects=objects, bytes=total_bytes)

    def worker_ready(self, ready: WorkerReady, connections: int = 1) -> None:
        super().worker_ready(ready, connections)
        extra = {"node": ready.node} if ready.node else {}
        self._emit(
            "worker", worker=ready.worker, pid=ready.pid, engine=ready.engine_label, connections=connections, **extra
        )

    def bytes_sent(self, worker: int, nbytes: int) -> None:
        super().bytes_sent(worker, nbytes)
        self._maybe_totals()

    def object_started(self, key: str, size: int, parts: int) -> None:
        super().object_started(key, size, parts)
        self._emit("object_started", key=key, bytes=size, parts=parts)

    def part_retried(self, worker: int, key: str, part: int | None, attempt: int, reason: str) -> None:
        super().part_retried(worker, key, part, attempt, reason)
        self._emit("part_retried", key=key, part=part, attempt=attempt, worker=worker, reason=reason)

    def object_restarted(self, key: str, reason: str) -> None:
        super().object_restarted(key, reason)
        self._emit("object_restarted", key=key, reason=reason)

    def object_done(self, result: ObjectResult) -> None:
        super().object_done(result)
        self._emit(
            "object_done",
            key=result.key,
            bytes=result.size,
            parts=result.parts,
            etag=result.etag,
            checksum=result.checksum,
            verification=result.verification,
        )
        self._maybe_totals()

    def object_failed(self, result: ObjectResult) -> None:
        super().object_failed(result)
        self._emit("object_failed", key=result.key, bytes=result.size, reason=result.error)

    def object_skipped(self, key: str, size: int, reason: str) -> None:
        super().object_skipped(key, size, reason)
        self._emit("object_skipped", key=key, bytes=size, reason=reason)

    def worker_lost(self, worker: int, why: str) -> None:
        super().worker_lost(worker, why)
        self._emit("worker_lost", worker=worker, reason=why)

    def finish(
        self, result: UploadResult, extra: dict[str, str] | None = None, fields: Mapping[str, object] | None = None
    ) -> None:
        super().finish(result, extra, fields)
        for skip in result.skipped:
            self._emit("entry_skipped", path=skip.path, reason=skip.reason)
        self._totals()
        summary = result.summary(self.state.peak_rate)
        summary["objects_skipped"] = len(result.skipped) + self.state.objects_skipped
        self._emit("summary", **summary, **(fields or extra or {}))

    def _maybe_totals(self) -> None:
        now = time.monotonic()
        if now - self._last >= INTERVAL:
            self._last = now
            self._totals()

    def _totals(self) -> None:
        state = self.state
        state.tick(time.monotonic())
        eta = state.eta()
        self._emit(
            "progress",
            objects_done=state.objects_done,
            objects_failed=state.objects_failed,
            objects_skipped=state.objects_skipped,
            objects_total=state.objects_total,
            bytes_sent=state.bytes_sent,
            bytes_done=state.bytes_done,
            bytes_total=None if state.size_unknown else state.bytes_total,
            rate=round(state.rate),
            eta=None if eta is None else round(eta, 1),
            retrying=len(state.retrying),
        )

    def _emit(self, event: str, **fields: object) -> None:
        if self.out is None:
            return
        record = {"event": event, "time": round(time.monotonic() - self.state.started, 3), **fields}
        try:
            self.out.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.out.flush()
        except BrokenPipeError:
            # The reader went away (`| head`): the upload matters more than its log.
            self.out = None
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
