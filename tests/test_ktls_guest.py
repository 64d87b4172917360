"""kTLS for real: boot a kernel that has it (once per run) and run tests/guest/ inside it.

The host kernel may have no kTLS, so the guest is Debian's generic kernel, unpacked by
tests/guest_prepare.sh (run by `make test`), booted by virtme-ng under qemu's software
emulation with the host's root shared read-only. The guest runs its own S3 server on its
loopback. In CI (CI=true) a guest that cannot boot is a failure; elsewhere a skip that
says what is missing.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
KERNEL_DIR = ROOT / ".cache" / "guest-kernel"
BIN = Path(sys.executable).parent
GUEST_TESTS = 7
BOOT_TIMEOUT = 1800


def _missing() -> str | None:
    kernels = sorted(glob.glob(str(KERNEL_DIR / "boot" / "vmlinuz-*-amd64")))
    if not kernels:
        return f"no guest kernel in {KERNEL_DIR.relative_to(ROOT)}: run tests/guest_prepare.sh as root"
    if not (BIN / "vng").exists():
        return "virtme-ng is not installed: pip install 'bulkup[dev]'"
    for tool in ("qemu-system-x86_64", "busybox", "file", "depmod"):
        if not shutil.which(tool):
            return f"{tool} not found: apt-get install qemu-system-x86 kmod busybox-static udev file"
    return None


@pytest.fixture(scope="module")
def guest_results(tmp_path_factory):
    reason = _missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"kTLS guest cannot boot: {reason}")
        pytest.skip(f"kTLS guest cannot boot: {reason}")
    kernel = sorted(glob.glob(str(KERNEL_DIR / "boot" / "vmlinuz-*-amd64")))[-1]
    out = tmp_path_factory.mktemp("guest")
    inside = (f"cd {ROOT} && BULKUP_GUEST=1 PYTHONDONTWRITEBYTECODE=1 {sys.executable} -u -m pytest "
              f"tests/guest -q -rA -p no:cacheprovider --junitxml={out}/junit.xml")
    command = [str(BIN / "vng"), "--run", kernel, "--disable-kvm", "--force-9p",
               "--append", "module_blacklist=kvm,kvm_amd,kvm_intel", "--memory", "3G",
               "--cpus", "2", "--rwdir", str(out), "--exec", inside]
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    env = {k: v for k, v in env.items() if not k.startswith("AWS_")}
    # qemu reopens its stdout: it must be a pipe, never a regular file.
    proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=BOOT_TIMEOUT, env=env, cwd=ROOT)
    return proc, _junit_outcomes(out / "junit.xml")


def _junit_outcomes(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    outcomes = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        skipped = case.find("skipped")
        name = case.get("name")
        if problem is not None:
            outcomes[name] = "failed: " + (problem.get("message") or "")[:500]
        elif skipped is not None:
            outcomes[name] = "skipped: " + (skipped.get("message") or "")
        else:
            outcomes[name] = "passed"
    return outcomes


def test_ktls_tests_pass_inside_a_kernel_with_ktls(guest_results):
    proc, outcomes = guest_results
    tail = "\n".join(proc.stdout.splitlines()[-60:])
    assert outcomes, f"the guest ran no test (vng exit {proc.returncode}):\n{tail}"
    not_passed = {name: o for name, o in outcomes.items() if o != "passed"}
    assert not not_passed, f"{not_passed}\n{tail}"
    assert len(outcomes) == GUEST_TESTS, sorted(outcomes)
