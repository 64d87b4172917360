"""Behind a corporate proxy: the workers go through it exactly where boto3 does (a real
tinyproxy on loopback, with credentials), and never show its password."""

import os
import re
import shutil
import socket
import subprocess

import pytest
from conftest import assert_same_bytes, keys_in, run_bulkup, wait_for, write_random_file

from devtools.timescale import scaled

MiB = 1024 * 1024
USER, PASSWORD = "bulkupuser", "proxy-password-never-shown-4f1d"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("tinyproxy") is None and not os.environ.get("CI"),
        reason="tinyproxy is not installed (make test installs it)",
    ),
]


@pytest.fixture(scope="module")
def tinyproxy(tmp_path_factory):
    work = tmp_path_factory.mktemp("tinyproxy")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = work / "tinyproxy.log"
    conf = work / "tinyproxy.conf"
    conf.write_text(
        f'Port {port}\nListen 127.0.0.1\nTimeout {round(scaled(120))}\nLogFile "{log}"\nLogLevel Info\n'
        f"MaxClients 100\nAllow 127.0.0.1\nBasicAuth {USER} {PASSWORD}\nDisableViaHeader Yes\n"
    )
    proc = subprocess.Popen(["tinyproxy", "-d", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: accepting(port), timeout=10, what="tinyproxy to listen")
    proxy = type("Tinyproxy", (), {"url": f"http://{USER}:{PASSWORD}@127.0.0.1:{port}", "log": log})
    yield proxy
    proc.terminate()
    proc.wait(timeout=scaled(10))


def accepting(port: int) -> bool:
    """Whether something listens on 127.0.0.1:``port``."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=scaled(1)).close()
    except OSError:
        return False
    return True


def requests_through(proxy, since: int) -> list[str]:
    """The request lines the proxy logged after the first ``since`` bytes of its log."""
    text = proxy.log.read_text(errors="replace")[since:]
    return re.findall(r"Request \(file descriptor \d+\): (\S+ \S+)", text)


def data(tmp_path) -> str:
    write_random_file(tmp_path / "t" / "big.bin", 11 * MiB)
    for i in range(20):
        write_random_file(tmp_path / "t" / f"s{i:02d}.txt", 500 + i)
    return str(tmp_path / "t")


def test_workers_tunnel_through_the_https_proxy_boto3_uses(s3server, s3, bucket, tmp_path, tinyproxy):
    since = tinyproxy.log.stat().st_size
    src = data(tmp_path)
    proc = run_bulkup(
        "put",
        src,
        f"s3://{bucket}/",
        "--endpoint-url",
        s3server.https_url,
        "--workers",
        "2",
        "--connections",
        "2",
        "--part-size",
        "5MiB",
        "--debug",
        env={**s3server.env(), "HTTPS_PROXY": tinyproxy.url},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    tunnels = [r for r in requests_through(tinyproxy, since) if r.startswith("CONNECT")]
    assert len(tunnels) >= 5  # boto3's, and one per worker connection (2 x 2)
    assert len(keys_in(s3, bucket)) == 21
    assert_same_bytes(s3, bucket, "big.bin", os.path.join(src, "big.bin"))
    assert PASSWORD not in proc.stdout + proc.stderr


def test_an_http_endpoint_goes_through_the_http_proxy_in_absolute_form(s3server, s3, bucket, tmp_path, tinyproxy):
    since = tinyproxy.log.stat().st_size
    src = data(tmp_path)
    proc = run_bulkup(
        "put",
        src,
        f"s3://{bucket}/",
        "--endpoint-url",
        s3server.http_url,
        "--workers",
        "2",
        "--part-size",
        "5MiB",
        env={**s3server.env(), "HTTP_PROXY": tinyproxy.url},
    )
    assert proc.returncode == 0, proc.stderr
    puts = [r for r in requests_through(tinyproxy, since) if r.startswith("PUT http://")]
    assert len(puts) >= 21 + 2  # every object and part (and bulkup's question to the store)
    assert len(keys_in(s3, bucket)) == 21


def test_no_proxy_hosts_go_direct_for_workers_as_for_boto3(s3server, s3, bucket, tmp_path, tinyproxy):
    since = tinyproxy.log.stat().st_size
    proc = run_bulkup(
        "put",
        data(tmp_path),
        f"s3://{bucket}/",
        "--endpoint-url",
        s3server.https_url,
        env={**s3server.env(), "HTTPS_PROXY": tinyproxy.url, "NO_PROXY": "127.0.0.1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert requests_through(tinyproxy, since) == []
    assert len(keys_in(s3, bucket)) == 21
