"""``--progress tqdm``: an overall bar and one bar per large object in flight (tqdm)."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol, TextIO

from tqdm import tqdm

from bulkup.display.plain import PlainProgress
from bulkup.display.sink import ProgressSink
from bulkup.display.text import notice_line

if TYPE_CHECKING:
    from bulkup.plan.results import ObjectResult, PartRecord, UploadResult

UPDATE_INTERVAL = 0.2  # seconds between bar updates, whatever the event rate
MAX_OBJECT_BARS = 4


class _Bar(Protocol):
    """The part of a tqdm bar this display uses (tqdm ships no types)."""

    n: float

    def update(self, n: float = 1) -> object: ...
    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None: ...
    def refresh(self) -> object: ...
    def close(self) -> None: ...


class TqdmProgress(ProgressSink):
    """Plain tqdm bars, for people who prefer them and for notebooks."""

    def __init__(self, out: TextIO = sys.stderr) -> None:
        super().__init__()
        self.out = out
        self._overall: _Bar | None = None
        self._bars: dict[str, _Bar] = {}
        self._last = 0.0

    def show_notice(self, text: str, warning: bool) -> None:
        tqdm.write(notice_line(text, warning), file=self.out)

    def start(self, objects: int, total_bytes: int | None) -> None:
        super().start(objects, total_bytes)
        self._overall = tqdm(
            total=total_bytes,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc="bulkup",
            file=self.out,
            dynamic_ncols=True,
            mininterval=UPDATE_INTERVAL,
        )

    def bytes_sent(self, worker: int, nbytes: int) -> None:
        super().bytes_sent(worker, nbytes)
        self._update()

    def object_started(self, key: str, size: int, parts: int) -> None:
        super().object_started(key, size, parts)
        if len(self._bars) < MAX_OBJECT_BARS:
            self._bars[key] = tqdm(
                total=size,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=_short(key),
                leave=False,
                file=self.out,
                position=len(self._bars) + 1,
                dynamic_ncols=True,
            )

    def part_done(self, key: str, length: int, part: PartRecord) -> None:
        super().part_done(key, length, part)
        self._update()

    def object_done(self, result: ObjectResult) -> None:
        super().object_done(result)
        self._close_bar(result.key)
        self._update()

    def object_failed(self, result: ObjectResult) -> None:
        super().object_failed(result)
        self._close_bar(result.key)
        tqdm.write(f"bulkup: failed: {result.key}: {result.error}", file=self.out)

    def worker_lost(self, worker: int, why: str) -> None:
        super().worker_lost(worker, why)
        tqdm.write(f"bulkup: worker {worker} died ({why}); its parts go to the others", file=self.out)

    def finish(
        self, result: UploadResult, extra: dict[str, str] | None = None, fields: Mapping[str, object] | None = None
    ) -> None:
        for key in list(self._bars):
            self._close_bar(key)
        if self._overall is not None:
            self._overall.n = self.state.bytes_progress
            self._overall.close()
        PlainProgress(self.out, periodic=False).print_summary(result, self.state, extra)

    def close(self) -> None:
        for key in list(self._bars):
            self._close_bar(key)
        if self._overall is not None:
            self._overall.close()

    def _update(self) -> None:
        now = time.monotonic()
        if self._overall is None or now - self._last < UPDATE_INTERVAL:
            return
        self._last = now
        state = self.state
        self._overall.n = state.bytes_progress
        self._overall.set_postfix_str(
            f"{state.objects_finished}/{state.objects_total} objects"
            + (f", {state.objects_failed} failed" if state.objects_failed else ""),
            refresh=False,
        )
        self._overall.refresh()
        for key, bar in self._bars.items():
            large = state.large.get(key)
            if large is not None:
                bar.n = large.bytes_shown
                bar.set_postfix_str(f"{large.parts_done}/{large.parts} parts", refresh=False)
                bar.refresh()

    def _close_bar(self, key: str) -> None:
        bar = self._bars.pop(key, None)
        if bar is not None:
            bar.close()


def _short(key: str, width: int = 30) -> str:
    return key if len(key) <= width else "…" + key[-(width - 1) :]
