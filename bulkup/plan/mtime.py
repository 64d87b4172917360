"""A file's modification time as object metadata (``x-amz-meta-mtime``), in rclone's form.

rclone writes decimal seconds since the epoch with up to nine fraction digits, trailing
zeros trimmed (``1746439200.5``, ``1746439200``, ``-86400.25`` for 1969-12-30 23:59:59.75);
``format_mtime`` writes exactly that, so either tool reads the other's objects as unchanged.
``parse_mtime`` reads it as a number (never as text: ``.5`` is ``.500000000``), and
``same_mtime`` compares at the precision both sides keep.
"""

from __future__ import annotations

import re

NS = 1_000_000_000
_NUMBER = re.compile(r"(-?)([0-9]{1,15})(?:\.([0-9]{1,9}))?")


def format_mtime(mtime_ns: int) -> str:
    """Seconds since the epoch, exact to the nanosecond, as rclone writes them: the sign and
    the magnitude apart (``divmod`` of a negative time would floor the seconds)."""
    sign = "-" if mtime_ns < 0 else ""
    seconds, nanos = divmod(abs(mtime_ns), NS)
    if not nanos:
        return f"{sign}{seconds}"
    return f"{sign}{seconds}.{nanos:09d}".rstrip("0")


def parse_mtime(text: str) -> int | None:
    """Nanoseconds since the epoch from rclone's form, bulkup's (nine digits, zeros kept) or a
    whole number of seconds; None for anything else (the object's time is used instead)."""
    match = _NUMBER.fullmatch(text.strip())
    if match is None:
        return None
    sign, whole, fraction = match.groups()
    nanos = int(whole) * NS + int((fraction or "").ljust(9, "0"))
    return -nanos if sign else nanos


def same_mtime(local_ns: int, remote_ns: int) -> bool:
    """Whether a file's mtime and a recorded one are the same moment, at the precision both
    keep: to the nanosecond, or to the second when the file's system keeps whole seconds
    only (its time has no fraction) and the record is any time within that second."""
    if local_ns == remote_ns:
        return True
    return local_ns % NS == 0 and remote_ns // NS * NS == local_ns
