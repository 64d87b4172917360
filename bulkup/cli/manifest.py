"""``bulkup manifest``: a JSON Lines manifest of a directory tree, for ``bulkup migrate``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import IO

from bulkup.cli.arguments import options_from
from bulkup.cli.common import warn_skipped
from bulkup.errors import BulkupError
from bulkup.migrate.manifest import OutputFailed, replaced_when_done, write_manifest
from bulkup.options import ManifestOptions, UploadOptions
from bulkup.options.resolve import resolve_filters
from bulkup.plan.filters import Filters


def run(args: argparse.Namespace) -> int:
    """``bulkup manifest``: the manifest, then one line of what was written."""
    options = options_from(args, UploadOptions)
    output = options_from(args, ManifestOptions).output
    filters = resolve_filters(options.filters)
    if output in (None, "-"):
        found = _manifest_to_stdout(args, options.follow_symlinks, filters)
    else:
        found = _manifest_to_file(args, output, options.follow_symlinks, filters)
    if found is None:
        return 130  # interrupted, and said so
    count, skipped, excluded = found
    warn_skipped(skipped)
    left_out = f" ({excluded:,} files excluded by filters)" if excluded else ""
    print(f"bulkup: {count} entries written{left_out}", file=sys.stderr)
    return 2 if skipped else 0


def _manifest_to_file(args: argparse.Namespace, path: str, follow: bool, filters: Filters) -> tuple | None:
    """The manifest into ``--output``, put in place only once complete (None: interrupted)."""
    kept = f"{path} is as it was" if os.path.exists(path) else f"no {path} was written"
    try:
        with replaced_when_done(path) as out:
            return write_manifest(args.directory, args.destination, out, follow, filters, _own_files(out, path))
    except OutputFailed as exc:
        raise BulkupError(
            f"cannot write the manifest ({path}): {exc.reason.lower()}: {kept}; "
            "free space on its disk (or choose another -o) and run again"
        ) from None
    except KeyboardInterrupt:
        print(f"bulkup: interrupted: {kept}", file=sys.stderr)
        return None


def _manifest_to_stdout(args: argparse.Namespace, follow: bool, filters: Filters) -> tuple | None:
    """The manifest on standard output, a line at a time, so that a failure can say how far
    it got (None: interrupted)."""
    out = _Lines(sys.stdout)
    try:
        return write_manifest(args.directory, args.destination, out, follow, filters, _own_files(sys.stdout))
    except OutputFailed as exc:
        raise BulkupError(
            f"cannot write the manifest (standard output): {exc.reason.lower()}: the output is "
            f"INCOMPLETE, it stopped after {out.lines:,} lines; run again, with -o FILE "
            "(a failure leaves no partial file)"
        ) from None
    except KeyboardInterrupt:
        print(
            f"bulkup: interrupted: the manifest on standard output is INCOMPLETE, it stopped after {out.lines:,} lines",
            file=sys.stderr,
        )
        return None


class _Lines:
    """Writes text to a stream unbuffered (UTF-8, straight to its file descriptor where it has
    one), counting the lines written in full: a failure knows exactly where it stopped."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.lines = 0
        try:
            stream.flush()
            self.fd: int | None = stream.fileno()
        except (OSError, ValueError):  # a stream of no file (in-process callers)
            self.fd = None

    def write(self, text: str) -> int:
        if self.fd is None:
            self.stream.write(text)
        else:
            data = memoryview(text.encode("utf-8"))
            while data:
                data = data[os.write(self.fd, data) :]
        self.lines += text.count("\n")
        return len(text)


def _own_files(out: IO[str], path: str | None = None) -> frozenset[tuple[int, int]]:
    """(device, inode) of the manifest's own output (and the file it replaces), which a tree
    that holds them must not list."""
    found = set()
    for stat_of in (lambda: os.fstat(out.fileno()), lambda: os.stat(path or "")):
        try:
            st = stat_of()
        except (OSError, TypeError, ValueError):
            continue
        found.add((st.st_dev, st.st_ino))
    return frozenset(found)
