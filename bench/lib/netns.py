"""Network namespaces for a thread: move the calling thread into one, and back."""

from __future__ import annotations

import contextlib
import ctypes
import os

CLONE_NEWNET = 0x40000000


def setns(name: str) -> None:
    """Move the calling thread into network namespace ``name`` (a name from ``ip netns``, or a
    path such as /proc/thread-self/ns/net). Sockets it then creates, threads it starts and
    processes it spawns belong to that namespace; other threads stay where they are."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(name if name.startswith("/") else f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {name}: {os.strerror(err)}")
    finally:
        os.close(fd)


@contextlib.contextmanager
def inside(name: str):
    """Run the with-block's calling thread in network namespace ``name``, then move it back."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        setns(name)
        try:
            yield
        finally:
            setns(f"/proc/self/fd/{home}")
    finally:
        os.close(home)
