"""Manifests: one object per line (JSON Lines or CSV), read and written as streams.

Formats are specified in manifests/README.md; manifests/schema.json is the JSON Schema of
one line. Nothing here holds a whole manifest in memory.
"""

from __future__ import annotations

import csv
import errno
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Protocol

from bulkup.errors import BulkupError, UsageError
from bulkup.plan.attributes import ATTRIBUTES
from bulkup.plan.checksums import ALGORITHMS
from bulkup.plan.files import Skip, shown
from bulkup.plan.filters import NO_FILTERS, Filters, Selection
from bulkup.plan.s3url import parse_s3_url
from bulkup.plan.walk import walk_tree

# Per-object attributes a line may give (plan.attributes), by the line's field.
LINE_ATTRIBUTES = {a.option: a for a in ATTRIBUTES if a.in_manifest}
FIELDS = ("source", "destination", "size", "mtime", "checksum", "content_type", "metadata", "node", *LINE_ATTRIBUTES)
REQUIRED = ("source", "destination")
HEADER_FIELDS = ("content_type",)  # sent as a header: printable ASCII
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8, escaped


class ManifestError(UsageError):
    """A line that is not a valid manifest entry; the message names file and line."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class ManifestEntry:
    """One object to upload, as a manifest line states it."""

    line: int
    source: str  # absolute, or relative to the manifest's folder
    bucket: str
    key: str
    size: int | None = None
    mtime: float | None = None  # seconds since the epoch
    checksum: tuple[str, str] | None = None  # (algorithm, base64 value)
    content_type: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()
    node: str | None = None  # send from this node only (its data is local there)
    attributes: tuple[tuple[str, str], ...] = ()  # (plan.attributes name, value), see LINE_ATTRIBUTES


def read_manifest(path: str, on_error: Callable[[ManifestError], None] | None = None) -> Iterator[ManifestEntry]:
    """Entries of a .jsonl/.ndjson or .csv manifest, in order.

    A bad line raises ManifestError, or, given ``on_error``, is passed to it and skipped.
    """
    base = os.path.dirname(os.path.abspath(path))
    try:
        f = open(path, newline="", encoding="utf-8-sig", errors="surrogateescape")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read manifest: {exc.strerror}") from None
    with f:
        rows = _csv_rows(f, path) if path.lower().endswith(".csv") else _jsonl_rows(f, path)
        for line, row in rows:
            try:
                if isinstance(row, ManifestError):
                    raise row
                yield parse_entry(row, line, base, path)
            except ManifestError as exc:
                if on_error is None:
                    raise
                on_error(exc)


def _jsonl_rows(f: IO[str], path: str) -> Iterator[tuple[int, dict | ManifestError]]:
    for number, text in enumerate(f, 1):
        if not text.strip():
            continue
        if _UNDECODABLE.search(text):
            yield number, ManifestError(f"{path}:{number}: not UTF-8 text", number)
            continue
        try:
            row = json.loads(text)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, or too deep or long
            why = exc.msg if isinstance(exc, json.JSONDecodeError) else "too deeply nested or too long"
            yield number, ManifestError(f"{path}:{number}: not valid JSON ({why})", number)
            continue
        if not isinstance(row, dict):
            yield number, ManifestError(f"{path}:{number}: expected a JSON object", number)
            continue
        yield number, row


def _csv_rows(f: IO[str], path: str) -> Iterator[tuple[int, dict | ManifestError]]:
    reader = csv.reader(f)
    header = _csv_header(reader, path)
    while header:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, ManifestError(f"{path}:{reader.line_num}: not valid CSV ({exc})", reader.line_num)
            continue
        if not any(cell.strip() for cell in row):
            continue
        if any(_UNDECODABLE.search(cell) for cell in row):
            yield reader.line_num, ManifestError(f"{path}:{reader.line_num}: not UTF-8 text", reader.line_num)
        elif len(row) != len(header):
            yield (
                reader.line_num,
                ManifestError(
                    f"{path}:{reader.line_num}: {len(row)} fields, header has {len(header)}", reader.line_num
                ),
            )
        else:
            yield reader.line_num, {k: v for k, v in zip(header, row, strict=False) if v != ""}


def _csv_header(reader, path: str) -> list[str]:
    """The header row's column names ([]: an empty file); ManifestError if it is not one."""
    try:
        header = next(reader)
    except StopIteration:
        return []
    except csv.Error as exc:
        raise ManifestError(f"{path}:1: not valid CSV ({exc})", 1) from None
    unknown = [name for name in header if name not in FIELDS]
    if unknown:
        raise ManifestError(f"{path}:1: unknown column {_shown(unknown[0])} (columns: {', '.join(FIELDS)})", 1)
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise ManifestError(
            f"{path}:1: no {missing[0]!r} column: the first line names the columns "
            f"({', '.join(REQUIRED)} and any of the others)",
            1,
        )
    twice = [name for name in header if header.count(name) > 1]
    if twice:
        raise ManifestError(f"{path}:1: column {twice[0]!r} is named twice", 1)
    return header


def parse_entry(row: dict, line: int, base: str, path: str = "manifest") -> ManifestEntry:
    """Validate one line's fields into an entry (no file system access)."""
    where = f"{path}:{line}"
    try:
        return _entry(row, line, base, where)
    except ManifestError as exc:
        exc.line = line
        raise


def _entry(row: dict, line: int, base: str, where: str) -> ManifestEntry:
    unknown = [name for name in row if name not in FIELDS]
    if unknown:
        raise ManifestError(f"{where}: unknown field {_shown(unknown[0])} (fields: {', '.join(FIELDS)})")
    for name in REQUIRED:
        if not isinstance(row.get(name), str) or not row[name]:
            raise ManifestError(f"{where}: missing {name!r}")
    _check_text(row, where)
    try:
        dest = parse_s3_url(row["destination"])
    except UsageError as exc:
        raise ManifestError(f"{where}: {exc}") from None
    if dest.is_prefix:
        raise ManifestError(f"{where}: destination {_shown(row['destination'])} names no object key")
    return ManifestEntry(
        line=line,
        source=os.path.join(base, row["source"]),
        bucket=dest.bucket,
        key=dest.key,
        size=_integer(row.get("size"), where, "size"),
        mtime=_mtime(row.get("mtime"), where),
        checksum=_checksum(row.get("checksum"), where),
        content_type=_text(row, "content_type", where),
        metadata=_metadata(row.get("metadata"), where),
        node=_node(row, where),
        attributes=_line_attributes(row, where),
    )


def _check_text(row: dict, where: str) -> None:
    """Every string of the line is Unicode that can be written out (no lone surrogates), the
    source names a path (no NUL), and header values are printable ASCII."""
    for name, value in row.items():
        if isinstance(value, str) and not _encodable(value):
            raise ManifestError(f"{where}: {name} is not valid Unicode text")
    if "\0" in row["source"]:
        raise ManifestError(f"{where}: source contains a NUL character")
    for name in HEADER_FIELDS:
        value = row.get(name)
        if isinstance(value, str) and not (value.isascii() and value.isprintable()):
            raise ManifestError(f"{where}: {name} {_shown(value)} must be printable ASCII")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(value: object, limit: int = 60) -> str:
    """``value`` as a message shows it (its repr), cut short if long."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _line_attributes(row: dict, where: str) -> tuple[tuple[str, str], ...]:
    found = []
    for name, attribute in LINE_ATTRIBUTES.items():
        value = _text(row, name, where)
        if value is None:
            continue
        try:
            found.append((attribute.name, attribute.check(name, value)))
        except ValueError as exc:
            raise ManifestError(f"{where}: {str(exc).lstrip('-')}") from None
        except OverflowError:  # a date that moves past year 9999 in UTC
            raise ManifestError(f"{where}: {name} {_shown(value)}: out of range") from None
    return tuple(found)


def _node(row: dict, where: str) -> str | None:
    node = _text(row, "node", where)
    if node is not None and row.get("size") is None:
        raise ManifestError(
            f"{where}: a line pinned to a node must state the file's size (the file may be readable only on that node)"
        )
    return node


def _integer(value: object, where: str, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    try:
        number = int(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
    except ValueError:
        number = None
    if number is None:
        raise ManifestError(f"{where}: {name} must be a whole number, not {_shown(value)}")
    if number < 0:
        raise ManifestError(f"{where}: {name} cannot be negative")
    return number


def _mtime(value: object, where: str) -> float | None:
    if value is None:
        return None
    seconds = _epoch_seconds(value)
    if seconds is None or not math.isfinite(seconds):
        raise ManifestError(f"{where}: mtime must be epoch seconds or ISO 8601, not {_shown(value)}")
    return seconds


def _epoch_seconds(value: object) -> float | None:
    """Seconds since the epoch from a number, a number's text or an ISO 8601 date (None: neither)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return float(value)
    except (ValueError, OverflowError):
        pass
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def _checksum(value: object, where: str) -> tuple[str, str] | None:
    if value is None:
        return None
    algorithm, sep, encoded = str(value).partition(":")
    if not sep or algorithm not in ALGORITHMS or algorithm == "none" or not encoded:
        raise ManifestError(
            f"{where}: checksum must be ALGORITHM:BASE64 with algorithm one of crc64nvme, crc32c, crc32, md5"
        )
    return algorithm, encoded


def _metadata(value: object, where: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise ManifestError(f"{where}: metadata must be a JSON object") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ManifestError(f"{where}: metadata must be an object of strings")
    for key, text in value.items():
        if not (key + text).isascii() or not (key + text).isprintable():
            raise ManifestError(f"{where}: metadata {_shown(key)} must be printable ASCII")
    return tuple(sorted(value.items()))


def _text(row: dict, name: str, where: str) -> str | None:
    value = row.get(name)
    if value is not None and not isinstance(value, str):
        raise ManifestError(f"{where}: {name} must be a string")
    return value


class OutputFailed(BulkupError):
    """The manifest's output could not be written; ``lines`` were written in full before."""

    def __init__(self, reason: str, lines: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.lines = lines


class TextOut(Protocol):
    """Where a manifest is written: anything that takes text."""

    def write(self, text: str, /) -> int: ...


def write_manifest(
    root: str,
    destination: str,
    out: TextOut,
    follow_symlinks: bool = True,
    filters: Filters = NO_FILTERS,
    leave_out: frozenset[tuple[int, int]] = frozenset(),
) -> tuple[int, list[Skip], int]:
    """Stream a JSON Lines manifest of the tree under ``root`` to ``out`` (of the files
    ``filters`` admit, as ``bulkup put`` selects them; not the files whose (device, inode) is
    in ``leave_out``: the manifest's own output).

    Returns the number of lines written, what was skipped (with reasons) and how many files
    the filters left out. OutputFailed (with the lines written) if ``out`` cannot be written.
    """
    dest = parse_s3_url(destination)
    if not dest.is_prefix:
        raise UsageError(f"{destination} must end with '/': it is the prefix for the tree")
    if not os.path.isdir(root):
        raise UsageError(f"{root}: not a directory")
    skipped: list[Skip] = []
    selection = Selection(filters)
    count = 0
    for f in walk_tree(root, dest.key, follow_symlinks, skipped, selection):
        if (f.device, f.inode) in leave_out:
            continue
        source = os.path.abspath(f.path)
        if not _encodable(source):
            skipped.append(Skip(shown(source), "its path is not UTF-8: a manifest cannot name it"))
            continue
        line = (
            json.dumps(
                {
                    "source": source,
                    "destination": f"s3://{dest.bucket}/{f.key}",
                    "size": f.size,
                    "mtime": f.mtime_ns / 1e9,
                },
                ensure_ascii=False,
            )
            + "\n"
        )
        try:
            out.write(line)
        except OSError as exc:
            raise OutputFailed(exc.strerror or str(exc), count) from None
        count += 1
    return count, skipped, selection.excluded


@contextmanager
def replaced_when_done(path: str) -> Iterator[IO[str]]:
    """A text file that becomes ``path`` only when the block ends without an exception: it is
    written beside ``path`` and renamed over it, so a failure leaves ``path`` as it was (or
    absent). UsageError if ``path`` cannot be written at all, OutputFailed if writing fails."""
    if os.path.isdir(path):
        raise UsageError(f"cannot write the manifest ({path}): it is a directory: give a file name")
    folder, name = os.path.split(os.path.abspath(path))
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=folder)
    except OSError as exc:
        todo = (
            "free space on its disk"
            if exc.errno in (errno.ENOSPC, errno.EDQUOT)
            else "give a path in an existing directory you can write to"
        )
        raise UsageError(f"cannot write the manifest ({path}): {(exc.strerror or str(exc)).lower()}: {todo}") from None
    try:
        os.fchmod(fd, _mode_for(path))
        with open(fd, "w", encoding="utf-8") as f:
            yield f
            _finish(f, temporary, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _finish(f: IO[str], temporary: str, path: str) -> None:
    """Make the written file durable and put it in place of ``path``."""
    try:
        f.flush()
        os.fsync(f.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        raise OutputFailed(exc.strerror or str(exc), 0) from None


def _mode_for(path: str) -> int:
    """The permissions ``path`` has, or a new file gets (0666 less the umask)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
