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
    peak_pss_anon: int = 0  # bytes, anonymous memory with each page shared between processes split
    # among them (Pss_Anon): what the tree takes from the machine. Summed RssAnon counts a
    # page a forked worker shares with its parent once per process.


def _children(pid: int) -> list[int]:
    kids = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids += [int(p) for p in f.read().split()]
        except OSError:
            pass
    return kids


def _tree_memory(root: int) -> tuple[int, int, int]:
    """(resident, anonymous resident, proportional anonymous) bytes summed over the tree."""
    rss = anon = pss_anon = 0
    stack = [root]
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            rss += int(fields["VmRSS"].split()[0]) * 1024
            own = int(fields["RssAnon"].split()[0]) * 1024
            anon += own
            pss_anon += _pss_anon(pid, own)
            stack += _children(pid)
        except (OSError, ValueError, KeyError):
            pass
    return rss, anon, pss_anon


def _pss_anon(pid: int, otherwise: int) -> int:
    """The process's Pss_Anon in bytes (``otherwise`` where the kernel does not give it)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss_Anon:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return otherwise


def measure(cmd: list[str], env: dict[str, str] | None = None) -> Usage:
    """Run ``cmd`` to completion, sampling the tree's memory every 50 ms."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = peak_anon = peak_pss_anon = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_anon, peak_pss_anon
        while not done.is_set():
            rss, anon, pss_anon = _tree_memory(proc.pid)
            peak, peak_anon, peak_pss_anon = max(peak, rss), max(peak_anon, anon), max(peak_pss_anon, pss_anon)
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = proc.communicate()
    done.set()
    sampler.join()
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Usage(wall, cpu, peak, peak_anon, proc.returncode, output, peak_pss_anon)
