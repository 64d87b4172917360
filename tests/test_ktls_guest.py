"""kTLS for real: boot a kernel that has it (once per run) and run tests/guest/ inside it.

The host kernel may have no kTLS, so the guest is Debian's generic kernel, unpacked by
tests/guest_prepare.sh (run by `make test`), booted by virtme-ng under qemu's software
emulation with the host's root shared read-only. The guest runs its own S3 server on its
loopback. In CI (CI=true) a guest that cannot boot is a failure; elsewhere a skip that
says what is missing.
"""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from devtools import guest as devguest

pytestmark = pytest.mark.slow  # end to end through processes and servers

GUEST_TESTS = 6  # tests/guest/test_ktls.py: 4 data paths x TLS versions, 2 memory


@pytest.fixture(scope="module")
def guest_results(tmp_path_factory):
    reason = devguest.missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"kTLS guest cannot boot: {reason}")
        pytest.skip(f"kTLS guest cannot boot: {reason}")
    out = tmp_path_factory.mktemp("guest")
    run = devguest.run(
        f"BULKUP_GUEST=1 {sys.executable} -u -m pytest tests/guest -q -rA "
        f"-p no:cacheprovider --junitxml={out}/junit.xml",
        rwdir=out,
    )
    return run, _junit_outcomes(out / "junit.xml")


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
    run, outcomes = guest_results
    tail = "\n".join(run.output.splitlines()[-60:])
    assert outcomes, f"the guest ran no test (vng exit {run.returncode}):\n{tail}"
    not_passed = {name: o for name, o in outcomes.items() if o != "passed"}
    assert not not_passed, f"{not_passed}\n{tail}"
    assert len(outcomes) == GUEST_TESTS, sorted(outcomes)
