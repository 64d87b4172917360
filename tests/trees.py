"""Random directory trees for property tests: directories, files, links (to siblings, to
ancestors, to nothing), FIFOs, unreadable entries and names that are not UTF-8."""

from __future__ import annotations

import os

from hypothesis import strategies as st

NAMES = st.sampled_from(["a", "b", "a-b", "a.b", "a0", "é", "z", "A"])
KINDS = ("dir", "file", "file", "link")
ODD_KINDS = ("fifo", "unreadable-file", "unreadable-dir", "not-utf8")


@st.composite
def trees(draw, odd: bool = False, max_steps: int = 14):
    """Steps (kind, relative path, link target) that ``build`` turns into a tree; ``odd``
    adds entries no object can be made of, or that cannot be read."""
    steps, dirs = [], [""]
    kinds = KINDS + (ODD_KINDS if odd else ())
    for _ in range(draw(st.integers(1, max_steps))):
        parent = draw(st.sampled_from(dirs))
        path = parent + draw(NAMES)
        kind = draw(st.sampled_from(kinds))
        target = None
        if kind == "link":
            target = draw(st.sampled_from([d.rstrip("/") or "." for d in dirs] + ["missing"]))
        steps.append((kind, path, target))
        if kind == "dir":
            dirs.append(path + "/")
    return steps


def build(root: str, steps) -> None:
    """Make the tree (a step whose place is taken, or under a link, is left out)."""
    for kind, path, target in steps:
        full = os.path.join(root, path)
        parent = os.path.dirname(full)
        if (
            os.path.lexists(full)
            or not os.path.isdir(parent)
            or os.path.islink(parent)
            or not os.access(parent, os.W_OK | os.X_OK)
            or _unreadable(parent)
        ):
            continue
        if kind == "dir":
            os.mkdir(full)
        elif kind == "file":
            touch(full, path.encode())
        elif kind == "link":
            os.symlink(os.path.relpath(os.path.join(root, target), parent), full)
        elif kind == "fifo":
            os.mkfifo(full)
        elif kind == "unreadable-file":
            touch(full, b"secret")
            os.chmod(full, 0)
        elif kind == "unreadable-dir":
            os.mkdir(full)
            touch(os.path.join(full, "inside"), b"hidden")
            os.chmod(full, 0)
        elif kind == "not-utf8":
            touch(os.path.join(os.fsencode(parent), os.fsencode(os.path.basename(full)) + b"\xff"), b"odd")


def touch(path, data: bytes = b"x") -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def _unreadable(path: str) -> bool:
    return (os.stat(path).st_mode & 0o777) == 0


def readable_again(root: str) -> None:
    """Give back every mode taken away (so the tree can be removed)."""
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            if not os.path.islink(path) and os.stat(path).st_mode & 0o777 == 0:
                os.chmod(path, 0o755)
