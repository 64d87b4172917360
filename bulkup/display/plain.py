"""``--progress plain``: a status line every few seconds, failures as they happen, a text
summary; no terminal control sequences (for logs and pipes). And the summary-only and the
quiet displays."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, TextIO

from bulkup.display.sink import ProgressSink
from bulkup.display.state import ProgressState
from bulkup.display.text import notice_line, status_line, summary_lines

if TYPE_CHECKING:
    from bulkup.plan.results import ObjectResult, UploadResult


class PlainProgress(ProgressSink):
    """A status line every few seconds, failures as they happen, a text summary; no terminal
    control sequences (for logs and pipes)."""

    def __init__(self, out: TextIO = sys.stderr, interval: float = 5.0, periodic: bool = True) -> None:
        super().__init__()
        self.out, self.interval, self.periodic = out, interval, periodic
        self._last = time.monotonic()

    def show_notice(self, text: str, warning: bool) -> None:
        self._print(notice_line(text, warning))

    def bytes_sent(self, worker: int, nbytes: int) -> None:
        super().bytes_sent(worker, nbytes)
        self._maybe_print()

    def object_done(self, result: ObjectResult) -> None:
        super().object_done(result)
        self._maybe_print()

    def object_failed(self, result: ObjectResult) -> None:
        super().object_failed(result)
        self._print(f"bulkup: failed: {result.key}: {result.error}")

    def object_restarted(self, key: str, reason: str) -> None:
        super().object_restarted(key, reason)
        self._print(f"bulkup: starting {key} over: {reason}")

    def worker_lost(self, worker: int, why: str) -> None:
        super().worker_lost(worker, why)
        self._print(f"bulkup: worker {worker} died ({why}); its parts go to the others")

    def finish(
        self, result: UploadResult, extra: dict[str, str] | None = None, fields: Mapping[str, object] | None = None
    ) -> None:
        super().finish(result, extra, fields)
        self.print_summary(result, self.state, extra)

    def print_summary(self, result: UploadResult, state: ProgressState, extra: dict[str, str] | None = None) -> None:
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


class SummaryOnlyProgress(PlainProgress):
    """Errors and the summary only (``--progress none``, ``--quiet``)."""

    def __init__(self, out: TextIO = sys.stderr) -> None:
        super().__init__(out, periodic=False)

    def show_notice(self, text: str, warning: bool) -> None:
        if warning:
            super().show_notice(text, warning)


class QuietProgress(SummaryOnlyProgress):
    """Nothing unless something fails (``--quiet``, ``--only-show-errors``): warnings and
    failures as they happen, and no summary."""

    def print_summary(self, result: UploadResult, state: ProgressState, extra: dict[str, str] | None = None) -> None:
        pass
