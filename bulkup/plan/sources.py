"""Turning SRC arguments into (file, object key) pairs, deliberately about odd files.

Rules:
- A file SRC goes to ``prefix + basename`` (or to the exact key when the destination
  names one object).
- A directory SRC is walked; keys are paths relative to it, with ``/`` separators.
- Symlinks are followed by default (as the AWS CLI does), with loop detection;
  ``follow_symlinks=False`` skips them. Broken links, FIFOs, sockets and devices inside a
  tree are skipped with a warning; given directly as SRC they are an error.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import Iterator

from bulkup.errors import SourceError
from bulkup.plan.parts import MAX_OBJECT_SIZE
from bulkup.plan.filters import NO_FILTERS, Filters, Selection
from bulkup.plan.s3url import S3Url, check_key


@dataclass(frozen=True, kw_only=True)
class FileIdentity:
    """What a file was when looked at: a change in any known field means other bytes.

    ``None`` is unknown (a file only another node can read: its size comes from the
    manifest, the rest from the node's first look)."""

    size: int
    mtime_ns: int | None = None
    ctime_ns: int | None = None
    inode: int | None = None

    @classmethod
    def of(cls, st: os.stat_result) -> "FileIdentity":
        return cls(size=st.st_size, mtime_ns=st.st_mtime_ns, ctime_ns=st.st_ctime_ns, inode=st.st_ino)

    def differs_from(self, seen: "FileIdentity") -> str | None:
        """What differs in ``seen`` from every field known here (None: nothing)."""
        for name in ("size", "mtime_ns", "ctime_ns", "inode"):
            mine, theirs = getattr(self, name), getattr(seen, name)
            if mine is not None and theirs is not None and mine != theirs:
                return {"size": "its size", "mtime_ns": "its modification time",
                        "ctime_ns": "its status change time", "inode": "the file it names (replaced)"}[name]
        return None


@dataclass(frozen=True, kw_only=True)
class SourceFile:
    """A regular file to upload and where it goes."""

    path: str
    key: str
    size: int
    mtime_ns: int                  # 0: not known (a file only its node can read)
    ctime_ns: int | None = None
    inode: int | None = None

    @property
    def identity(self) -> FileIdentity:
        return FileIdentity(size=self.size, mtime_ns=self.mtime_ns or None, ctime_ns=self.ctime_ns,
                            inode=self.inode)


@dataclass
class Collected:
    """The files found, and what was passed over with the reason."""

    files: list[SourceFile] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    excluded: int = 0                   # files left out by --exclude / --include


def collect_sources(sources: list[str], dest: S3Url, follow_symlinks: bool = True,
                    filters: Filters = NO_FILTERS) -> Collected:
    """Resolve every SRC, failing early (before any upload) on unusable input; ``filters``
    select among a tree's files by their path below it (a file given directly, by its name)."""
    if not sources:
        raise SourceError("no source given")
    if not dest.is_prefix and len(sources) > 1:
        raise SourceError(f"{len(sources)} sources but {dest} names a single object "
                          "(end the destination with '/' to upload under it)")
    found = Collected()
    selection = Selection(filters)
    for src in sources:
        st = _stat_source(src, follow_symlinks)
        if stat.S_ISDIR(st.st_mode):
            if not dest.is_prefix:
                raise SourceError(f"{src}: is a directory, but {dest} names a single object "
                                  "(end the destination with '/' to upload the tree under it)")
            found.files.extend(walk_tree(src, dest.key, follow_symlinks, found.skipped, selection))
        elif stat.S_ISREG(st.st_mode):
            name = os.path.basename(os.path.normpath(src))
            if not selection.admits(name):
                continue
            _check_readable(src)
            key = dest.key + name if dest.is_prefix else dest.key
            found.files.append(_source_file(src, key, st))
        else:
            raise SourceError(f"{src}: not a regular file or directory ({_kind(st.st_mode)})")
    _check_unique_keys(found.files)
    found.excluded = selection.excluded
    return found


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


def walk_tree(root: str, key_prefix: str, follow_symlinks: bool, skipped: list[tuple[str, str]],
              selection: Selection | None = None) -> Iterator[SourceFile]:
    """The regular files below ``root``, in name order, as they are found (streamed).

    Keys are ``key_prefix`` + the path relative to ``root``; what cannot be uploaded is
    appended to ``skipped`` with the reason; files ``selection`` does not admit (by that
    relative path) are left out, and counted there.
    """
    seen_dirs: set[tuple[int, int]] = set()
    passed_over = _PassedOver(skipped, selection.filters if selection else NO_FILTERS)
    for path, rel in _walk_entries(root, "", follow_symlinks, seen_dirs, passed_over):
        if selection is not None and not selection.admits(rel):
            continue
        try:
            st = os.stat(path, follow_symlinks=follow_symlinks)
        except FileNotFoundError:
            skipped.append((path, "broken symbolic link"))
            continue
        except OSError as exc:
            skipped.append((path, exc.strerror or str(exc)))
            continue
        if not os.access(path, os.R_OK):
            skipped.append((path, "permission denied"))
            continue
        yield _source_file(path, key_prefix + rel, st)


class _PassedOver:
    """Where a walk notes what it cannot upload, but not what the filters leave out anyway."""

    def __init__(self, skipped: list[tuple[str, str]], filters: Filters) -> None:
        self.skipped, self.filters = skipped, filters

    def append(self, entry: tuple[str, str], rel: str | None = None) -> None:
        if rel is None or self.filters.admits(rel):
            self.skipped.append(entry)


def _walk_entries(directory: str, rel: str, follow: bool, seen: set[tuple[int, int]],
                  skipped: _PassedOver) -> Iterator[tuple[str, str]]:
    st = os.stat(directory)
    if (st.st_dev, st.st_ino) in seen:
        skipped.append((directory, "symbolic link loop"))
        return
    seen.add((st.st_dev, st.st_ino))
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except PermissionError:
        skipped.append((directory, "permission denied"))
        return
    for entry in entries:
        child_rel = rel + entry.name
        if entry.is_symlink() and not follow:
            skipped.append((entry.path, "symbolic link (not followed)"), child_rel)
        elif entry.is_dir(follow_symlinks=follow):
            yield from _walk_entries(entry.path, child_rel + "/", follow, seen, skipped)
        elif entry.is_file(follow_symlinks=follow):
            yield entry.path, child_rel
        elif entry.is_symlink() and not os.path.exists(entry.path):
            skipped.append((entry.path, "broken symbolic link"), child_rel)
        else:
            mode = entry.stat(follow_symlinks=follow).st_mode
            skipped.append((entry.path, _kind(mode)), child_rel)


def _source_file(path: str, key: str, st: os.stat_result) -> SourceFile:
    try:
        check_key(key)
    except Exception as exc:
        raise SourceError(f"{path}: {exc}") from None
    if st.st_size > MAX_OBJECT_SIZE:
        raise SourceError(f"{path}: {st.st_size:,} bytes is more than S3's largest object "
                          "(10,000 parts of 5 GiB, 48.8 TiB)")
    return SourceFile(path=path, key=key, size=st.st_size, mtime_ns=st.st_mtime_ns,
                      ctime_ns=st.st_ctime_ns, inode=st.st_ino)


def _check_unique_keys(files: list[SourceFile]) -> None:
    seen: dict[str, str] = {}
    for f in files:
        if f.key in seen:
            raise SourceError(f"{f.path} and {seen[f.key]} would both upload to key {f.key!r}")
        seen[f.key] = f.path


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"
