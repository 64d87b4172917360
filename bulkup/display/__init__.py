"""Progress displays: sinks of the coordinator's events that render one shared model.

Choose one with ``make_progress``: rich (``dashboard``), tqdm (``tqdmbars``), json
(``jsonlines``), plain (``plain``), or the summary only. The rich and tqdm displays are
imported only when chosen (they cost tens of milliseconds to import).
"""

from __future__ import annotations

import sys

from bulkup.display.plain import PlainProgress, QuietProgress, SummaryOnlyProgress
from bulkup.display.sink import ProgressSink
from bulkup.display.text import format_seconds, human_bytes

CHOICES = ("auto", "rich", "tqdm", "json", "plain", "none")


def make_progress(choice: str = "auto", quiet: bool = False) -> ProgressSink:
    """The sink for ``--progress CHOICE`` (auto: rich on a terminal, plain otherwise); with
    ``quiet``, only what failed (json lines are output, not chatter: quiet leaves them)."""
    if choice not in CHOICES:
        raise ValueError(f"unknown progress display {choice!r}")
    if choice == "json":
        from bulkup.display.jsonlines import JsonLinesProgress

        return JsonLinesProgress()
    if quiet:
        return QuietProgress()
    if choice == "none":
        return SummaryOnlyProgress()
    if choice == "auto":
        choice = "rich" if sys.stderr.isatty() else "plain"
    if choice == "rich":
        from bulkup.display.dashboard import RichDashboard

        return RichDashboard()
    if choice == "tqdm":
        from bulkup.display.tqdmbars import TqdmProgress

        return TqdmProgress()
    return PlainProgress()


__all__ = [
    "CHOICES",
    "ProgressSink",
    "PlainProgress",
    "QuietProgress",
    "SummaryOnlyProgress",
    "make_progress",
    "human_bytes",
    "format_seconds",
]
