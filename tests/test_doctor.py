"""`bulkup doctor` tells which data path runs here and why, for people and for scripts."""

import json
import pathlib
import sys
import tomllib
from io import StringIO

from conftest import run_bulkup, write_random_file
from packaging.requirements import Requirement

from bulkup.doctor import checks, diagnosis, render
from bulkup.kernel import ktls
from bulkup.transport.engines import choose_engine
from devtools.faultproxy import FaultProxy, is_probe


def test_doctor_json_names_the_engine_for_each_scheme_with_a_reason():
    proc = run_bulkup("doctor", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert set(report["chosen"]) == {"https", "http"}
    for pick in report["chosen"].values():
        assert pick["engine"] in report["engines"] and pick["reason"]
    names = {c["name"] for c in report["checks"]}
    assert {"kernel TLS (TLS ULP)", "OpenSSL kTLS", "pipe size limit"} <= names


def test_doctor_explains_missing_kernel_tls_with_the_fix():
    proc = run_bulkup("doctor")
    first = proc.stdout.splitlines()[0]
    if ktls.tls_ulp_available():
        assert first.startswith("https uploads use: kTLS+")
    else:
        assert first.startswith("https uploads use: user-space TLS")
        assert "modprobe tls" in proc.stdout


def test_a_node_that_cannot_be_diagnosed_is_named_with_its_reason_and_fails_the_check():
    out = StringIO()
    status = render(
        {"10.0.3.1": diagnosis(), "10.0.3.7": {"error": "ModuleNotFoundError: No module named 'bulkup'"}},
        as_json=False,
        out=out,
        cluster=True,
    )
    assert status == 1
    assert "node 10.0.3.7: cannot diagnose: ModuleNotFoundError: No module named 'bulkup'" in out.getvalue()
    assert "node 10.0.3.1: https uploads use:" in out.getvalue()


def test_off_linux_doctor_says_io_uring_and_kernel_tls_are_linux_only(monkeypatch):
    from bulkup.transport.engines import uring

    uring.probe.cache_clear()
    monkeypatch.setattr(sys, "platform", "darwin")
    try:
        found = {c.name: c for c in checks()}
        engine, reason = choose_engine("auto", tls=True)
    finally:
        monkeypatch.undo()
        uring.probe.cache_clear()
    assert "io_uring exists only in the Linux kernel (this is darwin)" in found["engine uring (http)"].detail
    assert not found["kernel TLS (TLS ULP)"].ok and "Linux feature" in found["kernel TLS (TLS ULP)"].detail
    assert (
        engine.name == "userspace"
        and "uring: needs kernel TLS for https: kernel TLS as bulkup uses it is a Linux feature" in reason
    )


def test_liburing_is_required_on_linux_only():
    project = tomllib.loads((pathlib.Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    uring = [Requirement(r) for r in project["project"]["dependencies"] if r.startswith("liburing")]
    assert len(uring) == 1 and uring[0].marker is not None
    assert uring[0].marker.evaluate({"sys_platform": "linux"})
    assert not uring[0].marker.evaluate({"sys_platform": "darwin"})
    assert not uring[0].marker.evaluate({"sys_platform": "win32"})


def test_doctor_asks_the_store_even_when_a_run_remembered_its_answer(s3server, bucket, tmp_path):
    env = {**s3server.env(), "BULKUP_CACHE_DIR": str(tmp_path / "cache")}
    path = write_random_file(tmp_path / "f.bin", 1000)
    with FaultProxy(s3server.http_url) as proxy:
        assert run_bulkup("put", path, f"s3://{bucket}/", "--endpoint-url", proxy.url, env=env).returncode == 0
        before = sum(is_probe(r.target) for r in proxy.records)
        proc = run_bulkup("doctor", "--endpoint-url", proxy.url, f"s3://{bucket}", env=env)
        asked = sum(is_probe(r.target) for r in proxy.records) - before
    assert proc.returncode == 0, proc.stderr
    assert asked > 0 and "crc64nvme: verified" in proc.stdout
