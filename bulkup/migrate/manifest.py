"""Manifests: one object per line (JSON Lines or CSV), read and written as streams.

Formats are specified in manifests/README.md; manifests/schema.json is the JSON Schema of
one line. Nothing here holds a whole manifest in memory.
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Callable, Iterator

from bulkup.plan.checksums import ALGORITHMS
from bulkup.errors import UsageError
from bulkup.plan.s3url import parse_s3_url
from bulkup.plan.filters import NO_FILTERS, Filters, Selection
from bulkup.plan import attributes
from bulkup.plan.files import Skip
from bulkup.plan.walk import walk_tree

# Per-object attributes a line may give: field -> (ObjectSettings field, check and normal form).
LINE_ATTRIBUTES: dict[str, tuple[str, Callable[[str], str]]] = {
    "cache_control": ("cache_control", lambda v: attributes.header_value("cache_control", v)),
    "content_encoding": ("content_encoding", lambda v: attributes.header_value("content_encoding", v)),
    "content_disposition": ("content_disposition", lambda v: attributes.header_value("content_disposition", v)),
    "content_language": ("content_language", lambda v: attributes.header_value("content_language", v)),
    "expires": ("expires", lambda v: attributes.http_date("expires", v)),
    "tags": ("tagging", attributes.tagging),
    "acl": ("acl", lambda v: attributes.choice("acl", v, attributes.CANNED_ACLS)),
}
FIELDS = ("source", "destination", "size", "mtime", "checksum", "content_type", "metadata",
          "storage_class", "node", *LINE_ATTRIBUTES)
REQUIRED = ("source", "destination")


class ManifestError(UsageError):
    """A line that is not a valid manifest entry; the message names file and line."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class ManifestEntry:
    """One object to upload, as a manifest line states it."""

    line: int
    source: str                          # absolute, or relative to the manifest's folder
    bucket: str
    key: str
    size: int | None = None
    mtime: float | None = None           # seconds since the epoch
    checksum: tuple[str, str] | None = None     # (algorithm, base64 value)
    content_type: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()
    storage_class: str | None = None
    node: str | None = None              # send from this node only (its data is local there)
    attributes: tuple[tuple[str, str], ...] = ()     # (ObjectSettings field, value), see LINE_ATTRIBUTES


def read_manifest(path: str, on_error: Callable[[ManifestError], None] | None = None
                  ) -> Iterator[ManifestEntry]:
    """Entries of a .jsonl/.ndjson or .csv manifest, in order.

    A bad line raises ManifestError, or, given ``on_error``, is passed to it and skipped.
    """
    base = os.path.dirname(os.path.abspath(path))
    try:
        f = open(path, newline="", encoding="utf-8")
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
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            yield number, ManifestError(f"{path}:{number}: not valid JSON ({exc.msg})", number)
            continue
        if not isinstance(row, dict):
            yield number, ManifestError(f"{path}:{number}: expected a JSON object", number)
            continue
        yield number, row


def _csv_rows(f: IO[str], path: str) -> Iterator[tuple[int, dict]]:
    reader = csv.reader(f)
    header = next(reader, None)
    if header is None:
        return
    unknown = [name for name in header if name not in FIELDS]
    if unknown:
        raise ManifestError(f"{path}:1: unknown column {unknown[0]!r} (columns: {', '.join(FIELDS)})")
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            yield reader.line_num, ManifestError(
                f"{path}:{reader.line_num}: {len(row)} fields, header has {len(header)}", reader.line_num)
            continue
        yield reader.line_num, {k: v for k, v in zip(header, row) if v != ""}


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
        raise ManifestError(f"{where}: unknown field {unknown[0]!r} (fields: {', '.join(FIELDS)})")
    for name in REQUIRED:
        if not isinstance(row.get(name), str) or not row[name]:
            raise ManifestError(f"{where}: missing {name!r}")
    try:
        dest = parse_s3_url(row["destination"])
    except UsageError as exc:
        raise ManifestError(f"{where}: {exc}") from None
    if dest.is_prefix:
        raise ManifestError(f"{where}: destination {row['destination']!r} names no object key")
    return ManifestEntry(
        line=line, source=os.path.join(base, row["source"]), bucket=dest.bucket, key=dest.key,
        size=_integer(row.get("size"), where, "size"), mtime=_mtime(row.get("mtime"), where),
        checksum=_checksum(row.get("checksum"), where), content_type=_text(row, "content_type", where),
        metadata=_metadata(row.get("metadata"), where), storage_class=_text(row, "storage_class", where),
        node=_node(row, where), attributes=_line_attributes(row, where))


def _line_attributes(row: dict, where: str) -> tuple[tuple[str, str], ...]:
    found = []
    for name, (setting, check) in LINE_ATTRIBUTES.items():
        value = _text(row, name, where)
        if value is None:
            continue
        try:
            found.append((setting, check(value)))
        except ValueError as exc:
            raise ManifestError(f"{where}: {str(exc).lstrip('-')}") from None
    return tuple(found)


def _node(row: dict, where: str) -> str | None:
    node = _text(row, "node", where)
    if node is not None and row.get("size") is None:
        raise ManifestError(f"{where}: a line pinned to a node must state the file's size "
                            "(the file may be readable only on that node)")
    return node


def _integer(value: object, where: str, name: str) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ManifestError(f"{where}: {name} must be a whole number, not {value!r}") from None
    if number < 0:
        raise ManifestError(f"{where}: {name} cannot be negative")
    return number


def _mtime(value: object, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        pass
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ManifestError(f"{where}: mtime must be epoch seconds or ISO 8601, not {value!r}") from None


def _checksum(value: object, where: str) -> tuple[str, str] | None:
    if value is None:
        return None
    algorithm, sep, encoded = str(value).partition(":")
    if not sep or algorithm not in ALGORITHMS or algorithm == "none" or not encoded:
        raise ManifestError(f"{where}: checksum must be ALGORITHM:BASE64 with algorithm one of "
                            "crc64nvme, crc32c, crc32, md5")
    return algorithm, encoded


def _metadata(value: object, where: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ManifestError(f"{where}: metadata must be a JSON object") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                              for k, v in value.items()):
        raise ManifestError(f"{where}: metadata must be an object of strings")
    for key, text in value.items():
        if not (key + text).isascii() or not (key + text).isprintable():
            raise ManifestError(f"{where}: metadata {key!r} must be printable ASCII")
    return tuple(sorted(value.items()))


def _text(row: dict, name: str, where: str) -> str | None:
    value = row.get(name)
    if value is not None and not isinstance(value, str):
        raise ManifestError(f"{where}: {name} must be a string")
    return value


def write_manifest(root: str, destination: str, out: IO[str], follow_symlinks: bool = True,
                   filters: Filters = NO_FILTERS) -> tuple[int, list[Skip], int]:
    """Stream a JSON Lines manifest of the tree under ``root`` to ``out`` (of the files
    ``filters`` admit, as ``bulkup put`` selects them).

    Returns the number of lines written, what was skipped (with reasons) and how many files
    the filters left out.
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
        out.write(json.dumps({"source": os.path.abspath(f.path),
                              "destination": f"s3://{dest.bucket}/{f.key}", "size": f.size,
                              "mtime": f.mtime_ns / 1e9}, ensure_ascii=False) + "\n")
        count += 1
    return count, skipped, selection.excluded
