"""`bulkup doctor` tells which data path runs here and why, for people and for scripts."""
import json
from io import StringIO

from bulkup.kernel import ktls
from bulkup.doctor import diagnosis, render

from conftest import run_bulkup


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
    status = render({"10.0.3.1": diagnosis(), "10.0.3.7": {"error": "ModuleNotFoundError: No module named 'bulkup'"}},
                    as_json=False, out=out, cluster=True)
    assert status == 1
    assert "node 10.0.3.7: cannot diagnose: ModuleNotFoundError: No module named 'bulkup'" in out.getvalue()
    assert "node 10.0.3.1: https uploads use:" in out.getvalue()
