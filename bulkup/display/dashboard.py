"""The live terminal dashboard (rich): overall progress, large objects, workers, errors.

Drawn from the shared progress model by rich's own refresh thread at a fixed rate
(``REFRESH_PER_SECOND``), whatever the event rate; events only update the numbers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from bulkup.display.sink import ProgressSink
from bulkup.display.state import ProgressState
from bulkup.display.text import (
    format_seconds,
    human_bytes,
    node_rows,
    notice_line,
    slowed_words,
    throttle_text,
    verification_text,
    worker_rows,
)

if TYPE_CHECKING:
    from bulkup.plan.results import UploadResult

REFRESH_PER_SECOND = 4
MAX_LARGE_SHOWN = 6
ENGINE_WIDTH = 22
MAX_WORKER_ROWS_WITH_NODES = 16  # beyond this, a Ray run shows its nodes only


class RichDashboard(ProgressSink):
    """The default display on a terminal."""

    def __init__(self, console: Console | None = None) -> None:
        super().__init__()
        self.console = console or Console(stderr=True)
        self.lock = threading.Lock()  # rich's refresh thread draws under it
        self._live = Live(
            _Frame(self),
            console=self.console,
            refresh_per_second=REFRESH_PER_SECOND,
            transient=False,
            redirect_stdout=False,
            redirect_stderr=False,
        )

    def show_notice(self, text: str, warning: bool) -> None:
        self.console.print(
            notice_line(text, warning), markup=False, style="yellow" if warning else None, highlight=False
        )

    def start(self, objects: int, total_bytes: int | None) -> None:
        super().start(objects, total_bytes)
        self._live.start()

    def finish(
        self, result: UploadResult, extra: dict[str, str] | None = None, fields: Mapping[str, object] | None = None
    ) -> None:
        super().finish(result, extra, fields)
        self._live.refresh()
        self._live.stop()
        self.console.print(summary_table(result, self.state, extra))

    def close(self) -> None:
        self._live.stop()

    def frame(self) -> Group:
        with self.lock:
            self.state.tick(time.monotonic())
            return render(self.state, time.monotonic())


class _Frame:
    """What Live redraws: asks the dashboard for a fresh frame each time."""

    def __init__(self, dashboard: RichDashboard) -> None:
        self.dashboard = dashboard

    def __rich__(self) -> Group:
        return self.dashboard.frame()


def render(state: ProgressState, now: float) -> Group:
    """The dashboard for ``state``: fits 80 columns, uses the room it gets up to 200."""
    parts: list[RenderableType] = [_overall(state, now), _counters(state)]
    if state.large:
        parts.append(_large_objects(state))
    nodes = state.nodes()
    if nodes:
        parts.append(_nodes(nodes))
    if state.workers and (not nodes or len(state.workers) <= MAX_WORKER_ROWS_WITH_NODES):
        parts.append(_workers(state))
    if state.errors:
        parts.append(Text("\n".join(state.errors), style="red", overflow="ellipsis", no_wrap=True))
    return Group(*parts)


def _overall(state: ProgressState, now: float) -> Group:
    percent = 100 * state.bytes_progress / state.bytes_total if state.bytes_total else 100.0
    eta = state.eta()
    grid = Table.grid(expand=True, padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(ratio=1)
    grid.add_column(no_wrap=True, justify="right")
    if state.size_unknown:  # a stream: how much so far, of a total nobody knows yet
        grid.add_row(
            Text("bulkup", style="bold"),
            ProgressBar(total=None, pulse=True),
            f"{human_bytes(state.bytes_sent)} sent, size unknown",
        )
    else:
        grid.add_row(
            Text("bulkup", style="bold"),
            ProgressBar(total=max(state.bytes_total, 1), completed=state.bytes_progress),
            f"{percent:3.0f}%  {human_bytes(state.bytes_progress)} / {human_bytes(state.bytes_total)}",
        )
    limit = f" (limit {human_bytes(state.bandwidth_limit)}/s)" if state.bandwidth_limit else ""
    line = Text(
        f"{state.objects_finished:,}/{state.objects_total:,} objects · "
        f"{human_bytes(state.rate)}/s{limit} · ETA {format_seconds(eta) if eta is not None else '-'} · "
        f"elapsed {format_seconds(state.elapsed(now))}",
        no_wrap=True,
        overflow="ellipsis",
    )
    return Group(grid, line)


def _counters(state: ProgressState) -> Text:
    text = Text(overflow="ellipsis", no_wrap=True)
    text.append(f"done {state.objects_done:,}", style="green")
    text.append(" · ")
    text.append(f"failed {state.objects_failed:,}", style="red" if state.objects_failed else "")
    text.append(f" · retrying {len(state.retrying)} · skipped {state.objects_skipped:,} · retries {state.retries:,}")
    if state.slowdowns:
        text.append(" · ")
        text.append(slowed_words(state.slowdowns, state.request_rate), style="yellow")
    return text


def _large_objects(state: ProgressState) -> Table:
    table = Table(
        title="large objects in flight",
        title_justify="left",
        expand=True,
        box=None,
        show_header=False,
        padding=(0, 1),
        title_style="bold",
    )
    table.add_column(ratio=2, no_wrap=True, overflow="ellipsis")
    table.add_column(ratio=3)
    table.add_column(no_wrap=True, justify="right")
    shown = sorted(state.large.values(), key=lambda o: -o.bytes_shown / max(o.size, 1))[:MAX_LARGE_SHOWN]
    for obj in shown:
        table.add_row(
            obj.key,
            ProgressBar(total=max(obj.size, 1), completed=obj.bytes_shown),
            f"{human_bytes(obj.bytes_shown)}/{human_bytes(obj.size)}  {obj.parts_done}/{obj.parts} parts",
        )
    hidden = len(state.large) - len(shown)
    if hidden > 0:
        table.add_row(Text(f"... and {hidden} more", style="dim"), "", "")
    return table


def _nodes(nodes: list[tuple[str, int, str, float]]) -> Text:
    """One row per Ray node: live workers, data paths, summed rate."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("nodes\n", style="bold")
    for node, workers, engines, rate in nodes:
        noun = "worker " if workers == 1 else "workers"
        text.append(f" {node:<21} {workers:>3} {noun}  {human_bytes(rate) + '/s':>12}  {engines}\n")
    text.rstrip()
    return text


def _workers(state: ProgressState) -> Text:
    """Fixed-width rows as plain text: a rich Table costs ~50 µs a cell, and 16 workers
    redrawn 4 times a second would cost a few percent of a core."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("workers\n", style="bold")
    text.append(f" {'#':>3} {'pid':>7}  {'engine':<{ENGINE_WIDTH}} kTLS  conns        rate\n", style="dim")
    for row in sorted(state.workers.values(), key=lambda r: r.index):
        engine = row.engine if len(row.engine) <= ENGINE_WIDTH else row.engine[: ENGINE_WIDTH - 1] + "…"
        text.append(f" {row.index:>3} {row.pid:>7}  {engine:<{ENGINE_WIDTH}} ")
        text.append(f"{row.ktls:<4}", style={"on": "green", "off": "yellow"}.get(row.ktls, "dim"))
        text.append(f"  {row.connections:>5}  ")
        if row.alive:
            text.append(f"{human_bytes(row.rate) + '/s':>12}\n")
        else:
            text.append(f"{'died':>12}\n", style="red")
    text.rstrip()
    return text


def summary_table(result: UploadResult, state: ProgressState, extra: dict[str, str] | None) -> Table:
    """The final summary as a table: totals, throughput, engines, retries, failures."""
    table = Table(title="bulkup summary", title_justify="left", show_header=False, title_style="bold")
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row(
        "objects",
        f"{result.uploaded_count:,} uploaded, {result.failed_count:,} failed"
        + (f", {state.objects_skipped:,} skipped" if state.objects_skipped else ""),
    )
    table.add_row("bytes", human_bytes(result.bytes_uploaded))
    table.add_row("wall time", f"{result.seconds:.1f} s")
    table.add_row(
        "throughput", f"{human_bytes(result.rate)}/s average, {human_bytes(result.peak(state.peak_rate))}/s peak"
    )
    table.add_row("retries", f"{result.retries:,}")
    if result.slowdowns:
        table.add_row("slowed down", Text(throttle_text(result), style="yellow"))
    if result.verification:
        style = "yellow" if result.unverified_count else None
        table.add_row("verification", Text(verification_text(result), style=style or ""))
    for label, text in worker_rows(result):
        table.add_row(label, Text(text, style="yellow") if text.startswith("died") else text)
    for label, text in node_rows(result):
        table.add_row(label, text)
    for label, text in (extra or {}).items():
        table.add_row(label, text)
    for obj in result.failed[:10]:
        table.add_row(Text("failed", style="red"), f"{obj.key}: {obj.error}")
    if result.failed_count > 10:
        table.add_row(Text("failed", style="red"), f"... and {result.failed_count - 10} more")
    return table
