"""Walking a directory tree into (file, key) pairs, in the order S3 lists keys.

Rules (the AWS CLI's, made safe to delete by):
- Symbolic links are followed unless ``follow_symlinks`` is False. A directory is walked
  once per path that reaches it: one reached by two paths (a link to a sibling) is
  uploaded under both, as ``aws s3 cp --recursive`` does. A loop is only a link to one of
  the directories it is in: those are told apart by (device, inode) of the directories on
  the current path, not of every directory seen.
- Every entry that is not uploaded, and is not left out by the filters, is a ``Skip`` naming
  it and why: a read that failed (permission, an entry that vanished, I/O), an entry no
  object can be made of (a FIFO, a socket, a device, a broken link, a loop, a name that is
  not UTF-8, a key too long, a file too large), or a link not followed as asked. None stops
  the walk, and none raises.
- Keys come in S3's order (by UTF-8 bytes, which is Python's order of code points):
  siblings sorted by name, a directory by its name followed by ``/``, so every key below
  ``d/`` sorts together. ``sync`` merges the walk with a listing holding neither in memory.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator

from bulkup.errors import UsageError
from bulkup.plan.files import Skip, SkipKind, SourceFile, shown
from bulkup.plan.filters import Selection
from bulkup.plan.parts import MAX_OBJECT_SIZE
from bulkup.plan.s3url import check_key

NOT_UTF8 = "its name is not valid UTF-8 (no S3 key can name it)"
NOT_FOLLOWED = "symbolic link (not followed)"
BROKEN_LINK = "broken symbolic link"


def walk_tree(
    root: str, key_prefix: str, follow_symlinks: bool, skips: list[Skip], selection: Selection | None = None
) -> Iterator[SourceFile]:
    """The regular files below ``root`` in S3's key order, as they are found (streamed).

    Keys are ``key_prefix`` + the path relative to ``root``; what cannot be uploaded is
    appended to ``skips``; files ``selection`` does not admit (by that relative path) are
    left out, and counted there."""
    return _Walker(key_prefix, follow_symlinks, skips, selection).tree(root)


def kind_name(mode: int) -> str:
    """What a file that is neither regular nor a directory is, in words."""
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a regular file"


class _Walker:
    def __init__(self, key_prefix: str, follow: bool, skips: list[Skip], selection: Selection | None) -> None:
        self.key_prefix = key_prefix
        self.follow = follow
        self.skips = skips
        self.selection = selection
        self.ancestors: dict[tuple[int, int], str] = {}  # the directories on the current path

    def tree(self, root: str) -> Iterator[SourceFile]:
        try:
            top = os.stat(root)
        except OSError as exc:
            self._failed(root, "", exc)
            return
        self.ancestors[(top.st_dev, top.st_ino)] = root
        yield from self._directory(root, "")

    def _directory(self, path: str, rel: str) -> Iterator[SourceFile]:
        """The files below the directory at ``path`` (``rel``: its path below the root, with
        a trailing ``/``, or ``""``)."""
        try:
            with os.scandir(path) as listing:
                entries = list(listing)
        except OSError as exc:
            self._failed(path, _parent(rel), exc)
            return
        ordered = []
        for entry in entries:
            if not _is_utf8(entry.name):
                self._skip(entry.path, rel, NOT_UTF8, SkipKind.ENTRY)
                continue
            try:
                if entry.is_symlink() and not self.follow:
                    self._skip(entry.path, rel, NOT_FOLLOWED, SkipKind.CHOSEN, rel + entry.name)
                    continue
                is_dir = entry.is_dir(follow_symlinks=self.follow)
            except OSError as exc:
                self._failed(entry.path, rel, exc, entry.is_symlink())
                continue
            ordered.append((entry.name + "/" if is_dir else entry.name, is_dir, entry))
        ordered.sort(key=lambda item: item[0])
        for _, is_dir, entry in ordered:
            if is_dir:
                yield from self._subdirectory(entry, rel)
            elif (found := self._file(entry, rel)) is not None:
                yield found

    def _subdirectory(self, entry: os.DirEntry[str], rel: str) -> Iterator[SourceFile]:
        try:
            st = entry.stat(follow_symlinks=self.follow)
        except OSError as exc:
            self._failed(entry.path, rel, exc)
            return
        identity = (st.st_dev, st.st_ino)
        if identity in self.ancestors:
            self._skip(
                entry.path,
                rel,
                f"symbolic link loop (it leads back to {shown(self.ancestors[identity])})",
                SkipKind.ENTRY,
            )
            return
        self.ancestors[identity] = entry.path
        try:
            yield from self._directory(entry.path, f"{rel}{entry.name}/")
        finally:
            del self.ancestors[identity]

    def _file(self, entry: os.DirEntry[str], rel: str) -> SourceFile | None:
        child = rel + entry.name
        if self.selection is not None and not self.selection.admits(child):
            return None
        try:
            st = entry.stat(follow_symlinks=self.follow)
        except OSError as exc:
            self._failed(entry.path, rel, exc, entry.is_symlink())
            return None
        if not stat.S_ISREG(st.st_mode):
            self._skip(entry.path, rel, kind_name(st.st_mode), SkipKind.ENTRY)
            return None
        if not os.access(entry.path, os.R_OK):
            self._skip(entry.path, rel, "permission denied", SkipKind.ERROR)
            return None
        key = self.key_prefix + child
        why = unfit(key, st.st_size)
        if why is not None:
            self._skip(entry.path, rel, why, SkipKind.ENTRY)
            return None
        return SourceFile.found(entry.path, key, st)

    def _failed(self, path: str, rel: str, exc: OSError, link: bool = False) -> None:
        """Note an entry that could not be looked at (``link``: it is a symbolic link)."""
        if link and exc.errno in (errno.ENOENT, errno.ENOTDIR):
            self._skip(path, rel, BROKEN_LINK, SkipKind.ENTRY)
        elif exc.errno == errno.ELOOP:
            self._skip(path, rel, "symbolic link loop (too many levels of links)", SkipKind.ENTRY)
        elif isinstance(exc, FileNotFoundError):
            self._skip(path, rel, "vanished while the tree was read", SkipKind.ERROR)
        elif isinstance(exc, PermissionError):
            self._skip(path, rel, "permission denied", SkipKind.ERROR)
        else:
            self._skip(path, rel, (exc.strerror or str(exc)).lower(), SkipKind.ERROR)

    def _skip(self, path: str, rel: str, reason: str, kind: SkipKind, child: str | None = None) -> None:
        """Note an entry passed over, unless the filters leave it (``child``) out anyway."""
        if child is not None and self.selection is not None and not self.selection.filters.admits(child):
            return
        self.skips.append(Skip(shown(path), reason, rel, kind))


def unfit(key: str, size: int) -> str | None:
    """Why a file of ``size`` bytes cannot be the object ``key`` (None: it can)."""
    try:
        check_key(key)
    except UsageError as exc:
        return str(exc)
    if size > MAX_OBJECT_SIZE:
        return f"{size:,} bytes is more than S3's largest object (10,000 parts of 5 GiB, 48.8 TiB)"
    return None


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _parent(rel: str) -> str:
    """The directory a directory (``a/b/``) is in (``a/``)."""
    return rel[: rel.rstrip("/").rfind("/") + 1] if rel else ""
