"""Run a command and measure it as a whole process tree: wall, CPU (user+sys), peak RSS."""

from __future__ import annotations

import os
import resource
import subprocess
import threading
import time
from dataclasses import dataclass


@dataclass
class Usage:
    wall: float
    cpu: float  # user + system seconds of the command and all its descendants
    peak_rss: int  # bytes, the tree's summed resident memory at its largest sample
    peak_anon: int  # bytes, the same for private (anonymous) memory: mapped file pages excluded
    returncode: int
    output: str


def _children(pid: int) -> list[int]:
    kids = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids += [int(p) for p in f.read().split()]
        except OSError:
            pass
    return kids


def _tree_memory(root: int) -> tuple[int, int]:
    """(resident, anonymous resident) bytes summed over the tree."""
    rss = anon = 0
    stack = [root]
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            rss += int(fields["VmRSS"].split()[0]) * 1024
            anon += int(fields["RssAnon"].split()[0]) * 1024
            stack += _children(pid)
        except (OSError, ValueError, KeyError):
            pass
    return rss, anon


def measure(cmd: list[str], env: dict[str, str] | None = None) -> Usage:
    """Run ``cmd`` to completion, sampling the tree's memory every 50 ms."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = peak_anon = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_anon
        while not done.is_set():
            rss, anon = _tree_memory(proc.pid)
            peak, peak_anon = max(peak, rss), max(peak_anon, anon)
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = proc.communicate()
    done.set()
    sampler.join()
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Usage(wall, cpu, peak, peak_anon, proc.returncode, output)
