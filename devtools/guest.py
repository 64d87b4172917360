"""Booting a kernel that has kTLS, for the tests and benchmarks (development tooling).

The guest is Debian's generic kernel image, unpacked (never installed) by
``tests/guest_prepare.sh`` into ``.cache/guest-kernel``, booted once by virtme-ng under qemu's
software emulation with the host's root shared read-only and ``rwdir`` shared writable.
Timings inside are meaningless for performance: the guest is for correctness.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNEL_DIR = ROOT / ".cache" / "guest-kernel"
BIN = Path(sys.executable).parent


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


def run(command: str, rwdir: Path, memory: str = "3G", timeout: float = 1800) -> GuestRun:
    """Boot the guest, run ``command`` (a shell line, run from the project root), power off."""
    inside = f"cd {ROOT} && PYTHONDONTWRITEBYTECODE=1 {command}"
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
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout, env=env, cwd=ROOT
    )
    return GuestRun(proc.returncode, proc.stdout)
