"""Turning SRC arguments into (file, object key) pairs, deliberately about odd files.

Rules:
- A file SRC goes to ``prefix + basename`` (or to the exact key when the destination
  names one object).
- A directory SRC is walked (``plan.walk``); keys are paths relative to it, with ``/``
  separators.
- Entries of a tree that cannot be uploaded are skipped with a warning (``Skip``); given
  directly as SRC they are an error, before anything is sent.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field

from bulkup.errors import SourceError
from bulkup.plan.files import Skip, SourceFile
from bulkup.plan.filters import NO_FILTERS, Filters, Selection
from bulkup.plan.s3url import S3Url
from bulkup.plan.walk import kind_name, unfit, walk_tree


@dataclass
class Collected:
    """The files found, and what was passed over with the reason."""

    files: list[SourceFile] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    excluded: int = 0  # files left out by --exclude / --include


def collect_sources(
    sources: list[str], dest: S3Url, follow_symlinks: bool = True, filters: Filters = NO_FILTERS
) -> Collected:
    """Resolve every SRC, failing early (before any upload) on unusable input; ``filters``
    select among a tree's files by their path below it (a file given directly, by its name)."""
    return Collecting(sources, dest, follow_symlinks, filters).rest()


class Collecting:
    """``collect_sources`` in two steps: the first few files (is this all there is?), then,
    if there are more, the rest."""

    def __init__(
        self, sources: list[str], dest: S3Url, follow_symlinks: bool = True, filters: Filters = NO_FILTERS
    ) -> None:
        self.found = Collected()
        self._selection = Selection(filters)
        self._files = iter_sources(sources, dest, follow_symlinks, self._selection, self.found.skipped)

    def at_most(self, count: int) -> Collected | None:
        """Every file, if there are no more than ``count`` (None: there are more)."""
        for found in self._files:
            self.found.files.append(found)
            if len(self.found.files) > count:
                return None
        self.found.excluded = self._selection.excluded
        return self.found

    def rest(self) -> Collected:
        """Every file (those found so far, and the rest)."""
        self.found.files.extend(self._files)
        self.found.excluded = self._selection.excluded
        return self.found


def surely_more_than(sources: list[str], count: int) -> bool:
    """Whether the sources plainly hold more than ``count`` files: the regular files the
    directories named hold at their top level, known from their listing alone (no stat),
    with the files named directly. A glance that chooses how to send (it can miss files
    deeper down, or count one the walk would skip), never what is sent."""
    seen = 0
    for src in sources:
        try:
            if not os.path.isdir(src):
                seen += os.path.isfile(src)
                continue
            with os.scandir(src) as listing:
                for entry in listing:
                    seen += entry.is_file(follow_symlinks=False)
                    if seen > count:
                        return True
        except OSError:
            continue  # the walk says what is wrong with it
    return seen > count


def iter_sources(
    sources: list[str], dest: S3Url, follow_symlinks: bool, selection: Selection, skipped: list[Skip]
) -> Iterator[SourceFile]:
    """The files of every SRC as they are found (streamed: a tree of millions holds no list);
    SourceError on a SRC that cannot be used, or on two files bound for one key."""
    if not sources:
        raise SourceError("no source given")
    if not dest.is_prefix and len(sources) > 1:
        raise SourceError(
            f"{len(sources)} sources but {dest} names a single object (end the destination with '/' to upload under it)"
        )
    keys: dict[str, str] | None = {} if len(sources) > 1 else None  # one tree's keys are unique
    for src in sources:
        for found in _one_source(src, dest, follow_symlinks, selection, skipped):
            if keys is not None:
                if found.key in keys:
                    raise SourceError(f"{found.path} and {keys[found.key]} would both upload to key {found.key!r}")
                keys[found.key] = found.path
            yield found


def _one_source(
    src: str, dest: S3Url, follow_symlinks: bool, selection: Selection, skipped: list[Skip]
) -> Iterator[SourceFile]:
    st = _stat_source(src, follow_symlinks)
    if stat.S_ISDIR(st.st_mode):
        if not dest.is_prefix:
            raise SourceError(
                f"{src}: is a directory, but {dest} names a single object "
                "(end the destination with '/' to upload the tree under it)"
            )
        yield from walk_tree(src, dest.key, follow_symlinks, skipped, selection)
    elif stat.S_ISREG(st.st_mode):
        name = os.path.basename(os.path.normpath(src))
        if not selection.admits(name):
            return
        _check_readable(src)
        key = dest.key + name if dest.is_prefix else dest.key
        if (why := unfit(key, st.st_size)) is not None:
            raise SourceError(f"{src}: {why}")
        yield SourceFile.found(src, key, st)
    else:
        raise SourceError(f"{src}: not a regular file or directory ({kind_name(st.st_mode)})")


def _stat_source(src: str, follow_symlinks: bool) -> os.stat_result:
    try:
        st = os.stat(src, follow_symlinks=follow_symlinks)
    except FileNotFoundError:
        if os.path.islink(src):
            raise SourceError(f"{src}: broken symbolic link") from None
        raise SourceError(f"{src}: no such file or directory") from None
    except PermissionError:
        raise SourceError(f"{src}: permission denied") from None
    except OSError as exc:
        raise SourceError(f"{src}: {exc.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        raise SourceError(f"{src}: is a symbolic link and symlinks are not followed")
    return st


def _check_readable(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except PermissionError:
        raise SourceError(f"{path}: permission denied (not readable)") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot open: {exc.strerror}") from None
    os.close(fd)
