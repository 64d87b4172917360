"""Booting a kernel that has kTLS, for the tests and benchmarks (development tooling).

The guest is Debian's generic kernel image, unpacked (never installed) by
``tests/guest_prepare.sh`` into ``.cache/guest-kernel``, booted once by virtme-ng under qemu's
software emulation with the host's root shared read-only and ``rwdir`` shared writable.
Timings inside are meaningless for performance: the guest is for correctness. Its code runs
several times slower than the host's, so every wait inside it is scaled by that too.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from devtools.timescale import VARIABLE, scaled, time_scale

ROOT = Path(__file__).resolve().parents[1]
KERNEL_DIR = ROOT / ".cache" / "guest-kernel"
BIN = Path(sys.executable).parent
# How much slower code runs in the guest than on the host (qemu's software emulation, no
# KVM): the guest's waits (its S3 server's readiness, a test's deadlines) are scaled by this
# on top of the host's own time scale.
EMULATION_SLOWDOWN = 5.0
RUN_TIMEOUT = 1800.0  # seconds for a whole guest run, on a usual host


@dataclass
class GuestRun:
    returncode: int
    output: str


def kernel_image() -> str | None:
    kernels = sorted(glob.glob(str(KERNEL_DIR / "boot" / "vmlinuz-*-amd64")))
    return kernels[-1] if kernels else None


def missing() -> str | None:
    """What prevents booting the guest here, in words a user can act on (None: nothing)."""
    if kernel_image() is None:
        return f"no guest kernel in {KERNEL_DIR.relative_to(ROOT)}: run tests/guest_prepare.sh as root"
    if not (BIN / "vng").exists():
        return "virtme-ng is not installed: pip install 'bulkup[dev]'"
    for tool in ("qemu-system-x86_64", "busybox", "file", "depmod"):
        if not shutil.which(tool):
            return f"{tool} not found: apt-get install qemu-system-x86 kmod busybox-static udev file"
    return None


def guest_time_scale() -> float:
    """The time scale inside the guest: the host's, times the emulation's slowdown."""
    return time_scale() * EMULATION_SLOWDOWN


def run(command: str, rwdir: Path, memory: str = "3G", timeout: float = RUN_TIMEOUT) -> GuestRun:
    """Boot the guest, run ``command`` (a shell line, run from the project root), power off;
    ``timeout`` (seconds on a usual host) is scaled to this one."""
    inside = f"cd {ROOT} && PYTHONDONTWRITEBYTECODE=1 {VARIABLE}={guest_time_scale():g} {command}"
    argv = [
        str(BIN / "vng"),
        "--run",
        str(kernel_image()),
        "--disable-kvm",
        "--force-9p",
        "--append",
        "module_blacklist=kvm,kvm_amd,kvm_intel",
        "--memory",
        memory,
        "--cpus",
        "2",
        "--rwdir",
        str(rwdir),
        "--exec",
        inside,
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PATH"] = f"{BIN}:{env.get('PATH', '')}"
    # qemu reopens its stdout: it must be a pipe, never a regular file.
    proc = subprocess.run(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=scaled(timeout), env=env, cwd=ROOT
    )
    return GuestRun(proc.returncode, proc.stdout)
