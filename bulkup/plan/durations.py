"""Durations as users type them (``90s``, ``30m``, ``12h``, ``7d``, ``1d12h``) and as lines show them."""

from __future__ import annotations

import re
from datetime import timedelta

from bulkup.errors import UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGE = re.compile(r"(\d+)([smhdw])", re.ASCII)
MAX_DIGITS = 30  # far beyond any timedelta, and short of int()'s own limit
AGE_HELP = "a whole number and a unit s, m, h, d or w (e.g. 90s, 30m, 12h, 7d, 2w, 1d12h)"


def parse_age(text: str) -> timedelta:
    """``"30m"``, ``"12h"``, ``"7d"``, ``"2w"``, ``"1d12h"``, ``"0s"`` -> a timedelta.

    Raises UsageError (one line) for anything else, including a bare number: "7" could
    mean seconds or days, so the unit is required.
    """
    cleaned = text.strip().lower()
    shown = repr(text) if len(repr(text)) <= 42 else repr(text)[:39] + "..."  # one short line, escaped
    if not cleaned or _AGE.sub("", cleaned) != "":
        raise UsageError(f"invalid age {shown}: expected {AGE_HELP}")
    found = _AGE.findall(cleaned)
    if any(len(number.lstrip("0")) > MAX_DIGITS for number, _ in found):
        raise UsageError(f"invalid age {shown}: too large")
    try:
        return timedelta(seconds=sum(int(number) * _UNITS[unit] for number, unit in found))
    except OverflowError:
        raise UsageError(f"invalid age {shown}: too large") from None


def format_age(age: timedelta) -> str:
    """A short human age with its two largest units: ``9d 3h``, ``5h 12m``, ``4m 10s``, ``7s``."""
    seconds = max(int(age.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {seconds}s"
    return f"{seconds}s"
