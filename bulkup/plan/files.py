"""What a run knows of a local file: where it goes, what it was when looked at, and what
was passed over instead of being uploaded."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass

from bulkup.plan.pickling import PickledAsValues

_WHAT_DIFFERS = {
    "device": "the file it names (another file system)",
    "inode": "the file it names (replaced)",
    "size": "its size",
    "mtime_ns": "its modification time",
    "ctime_ns": "its status change time",
}


@dataclass(frozen=True, kw_only=True)
class FileIdentity(PickledAsValues):
    """What a file was when looked at: a change in any known field means other bytes may be
    there. Rewriting a file in place, even keeping its size and mtime, moves its ctime (which
    no user can set back); replacing it changes its inode.

    ``None`` is unknown (a file only another node can read: its size comes from the
    manifest, the rest from the node's first look)."""

    size: int
    mtime_ns: int | None = None
    ctime_ns: int | None = None
    inode: int | None = None
    device: int | None = None

    @classmethod
    def of(cls, st: os.stat_result) -> FileIdentity:
        return cls(size=st.st_size, mtime_ns=st.st_mtime_ns, ctime_ns=st.st_ctime_ns, inode=st.st_ino, device=st.st_dev)

    def differs_from(self, seen: FileIdentity) -> str | None:
        """What differs in ``seen`` from every field known here (None: nothing)."""
        if self == seen:  # the usual answer, at the cost of one comparison
            return None
        for name, words in _WHAT_DIFFERS.items():
            mine, theirs = getattr(self, name), getattr(seen, name)
            if mine is not None and theirs is not None and mine != theirs:
                return words
        return None


@dataclass(frozen=True, kw_only=True)
class SourceFile:
    """A regular file to upload and where it goes."""

    path: str
    key: str
    size: int
    mtime_ns: int  # 0: not known (a file only its node can read)
    ctime_ns: int | None = None
    inode: int | None = None
    device: int | None = None

    @classmethod
    def found(cls, path: str, key: str, st: os.stat_result) -> SourceFile:
        """The file at ``path`` as ``st`` shows it."""
        return cls(
            path=path,
            key=key,
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            ctime_ns=st.st_ctime_ns,
            inode=st.st_ino,
            device=st.st_dev,
        )

    @property
    def identity(self) -> FileIdentity:
        return FileIdentity(
            size=self.size, mtime_ns=self.mtime_ns or None, ctime_ns=self.ctime_ns, inode=self.inode, device=self.device
        )


class SkipKind(enum.Enum):
    """Why an entry was passed over, which decides what ``sync --delete`` may still delete."""

    ERROR = "error"  # reading failed (permission, vanished, I/O): nothing is deleted at all
    ENTRY = "entry"  # no object can be made of it (FIFO, loop, not UTF-8...): nothing under its directory
    CHOSEN = "chosen"  # passed over as asked (a link not followed): its own key is kept


@dataclass(frozen=True)
class Skip:
    """An entry of a tree that is not uploaded, and why (a warning names each one).

    ``directory`` is the directory it was found in, relative to the tree's root (``""``, or
    ``"a/b/"``); ``kind`` says what that means for ``sync --delete``."""

    path: str
    reason: str
    directory: str = ""
    kind: SkipKind = SkipKind.ENTRY


def shown(path: str) -> str:
    """A path as a line can show it: bytes that are not UTF-8 escaped (``caf\\xe9``)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")
