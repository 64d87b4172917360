"""Reading an option's text: each parser returns the value or raises ``ValueError`` with one
line that says what was expected (the command line and the profile mapping share them)."""

from __future__ import annotations

import math
import re
from urllib.parse import urlsplit

from bulkup.errors import BulkupError
from bulkup.plan.durations import parse_age
from bulkup.plan.parts import parse_rate, parse_size

__all__ = ["count", "duration", "endpoint", "gbps", "key_value", "parse_rate", "parse_size", "printable"]


def duration(text: str) -> float:
    """A duration such as 5m, in seconds."""
    try:
        return parse_age(text).total_seconds()
    except BulkupError as exc:
        raise ValueError(str(exc).replace("invalid age", "invalid duration")) from None


def endpoint(text: str) -> str:
    """An endpoint's URL, http(s)://host[:port][/path]."""
    try:
        parts = urlsplit(text)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 0) >= 0
    except ValueError:  # a bracket left open, a port that is not a number
        valid = False
    if not valid or not text.isprintable() or " " in text:
        raise ValueError(f"not an endpoint URL: {text[:60]!r} (try https://s3.example.com or http://127.0.0.1:9000)")
    return text


def count(text: str) -> int:
    """A whole number such as 8 (its range is checked with the other options)."""
    found = re.fullmatch(r"\s*[+-]?(\d+)\s*", text, re.ASCII)
    if not found:
        raise ValueError(f"not a whole number: {text[:40]!r} (try 8)")
    if len(found[1].lstrip("0")) > 18:
        raise ValueError(f"too large a number: {text[:40]!r}")
    return int(text)


def gbps(text: str) -> float:
    """Gbit/s as a plain number such as 25 or 2.5."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"not a number of Gbit/s: {text[:40]!r} (try 25)")
    return value


def key_value(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` (user metadata)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"{text!r}: expected KEY=VALUE")
    return key, value


def printable(text: str) -> str:
    """Text that can travel in a header: printable ASCII."""
    if not text.isascii() or not text.isprintable():
        raise ValueError(f"{text!r}: must be printable ASCII")
    return text
