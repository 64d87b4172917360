"""The fault-injecting proxy the other tests put between bulkup and the S3 server."""

from __future__ import annotations

import hashlib
import http.client
import http.server
import os
import socket
import threading
import time

import botocore.exceptions
import pytest
from botocore.config import Config
from botocore.retries.standard import ExponentialBackoff

from devtools.faultproxy import SLOWDOWN_XML, FaultProxy, completes_upload, is_put_object, upload_part_of
from devtools.timescale import scaled, too_slow

MiB = 1 << 20


def proxied_client(s3server, proxy: FaultProxy, attempts: int = 10, read_timeout: float = 60):
    config = Config(
        read_timeout=scaled(read_timeout),
        retries={"mode": "standard", "total_max_attempts": attempts},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return s3server.session().client("s3", endpoint_url=proxy.url, region_name="us-east-1", config=config)


def body_of(client, bucket: str, key: str) -> bytes:
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def wait_until(condition, timeout: float = 10.0) -> None:
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, too_slow("timed out", timeout)
        time.sleep(0.01)


def raw_exchange(proxy: FaultProxy, request: bytes, half_close: bool = True) -> bytes:
    """Send ``request`` bytes on a fresh connection (then end it, if ``half_close``);
    everything received until EOF."""
    host, port = proxy.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=scaled(10)) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


class FakeUpstream(http.server.BaseHTTPRequestHandler):
    """Answers GETs with a chunked body, and refuses PUT bodies before they are sent."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece in (b"hello ", b"chunked ", b"world", b""):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))

    def handle_expect_100(self) -> bool:
        return True  # without sending 100 Continue

    def do_PUT(self) -> None:
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def fake_upstream():
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeUpstream) as server:
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        yield f"http://127.0.0.1:{server.server_address[1]}"
        server.shutdown()


def test_listens_on_loopback_only(s3server):
    with FaultProxy(s3server.http_url) as proxy:
        assert proxy.url.startswith("http://127.0.0.1:")
        assert proxy._listener.getsockname()[0] == "127.0.0.1"


def test_a_fault_free_proxy_passes_objects_through_intact(s3server, bucket):
    big = os.urandom(20 * MiB)
    with FaultProxy(s3server.http_url) as proxy:
        client = proxied_client(s3server, proxy)
        client.put_object(Bucket=bucket, Key="big", Body=big)
        client.put_object(Bucket=bucket, Key="small", Body=b"hello")
        assert client.head_object(Bucket=bucket, Key="big")["ContentLength"] == len(big)
        assert hashlib.sha256(body_of(client, bucket, "big")).digest() == hashlib.sha256(big).digest()
        assert body_of(client, bucket, "small") == b"hello"
        records = proxy.snapshot()
    assert [(r.method, r.outcome, r.status) for r in records] == [
        ("PUT", "forwarded", 200),
        ("PUT", "forwarded", 200),
        ("HEAD", "forwarded", 200),
        ("GET", "forwarded", 200),
        ("GET", "forwarded", 200),
    ]
    assert all(r.finished >= r.started for r in records)
    assert [is_put_object(r) for r in records] == [True, True, False, False, False]


def test_error_responses_from_upstream_pass_through(s3server, bucket):
    with FaultProxy(s3server.http_url) as proxy:
        client = proxied_client(s3server, proxy)
        with pytest.raises(client.exceptions.NoSuchKey):
            client.get_object(Bucket=bucket, Key="missing")
        assert [(r.outcome, r.status) for r in proxy.records] == [("forwarded", 404)]


@pytest.fixture
def quick_backoff(monkeypatch):
    """botocore backs off up to seconds after a SlowDown; keep its retries, but 20x faster."""
    delay_amount = ExponentialBackoff.delay_amount
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: delay_amount(self, context) / 20)


@pytest.mark.slow
def test_boto3_retries_through_resets_and_slowdowns(s3server, bucket, quick_backoff):
    bodies = {f"small/{i}": os.urandom(1000 + i) for i in range(30)}
    parts = [os.urandom(5 * MiB) for _ in range(3)]
    with FaultProxy(s3server.http_url, seed=7, reset_rate=0.2, slowdown_rate=0.3) as proxy:
        client = proxied_client(s3server, proxy)
        for key, body in bodies.items():
            client.put_object(Bucket=bucket, Key=key, Body=body)
        upload = client.create_multipart_upload(Bucket=bucket, Key="multi")["UploadId"]
        etags = [
            client.upload_part(Bucket=bucket, Key="multi", UploadId=upload, PartNumber=n, Body=part)["ETag"]
            for n, part in enumerate(parts, 1)
        ]
        client.complete_multipart_upload(
            Bucket=bucket,
            Key="multi",
            UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, 1)]},
        )
        records = proxy.snapshot()
    s3 = s3server.client()
    assert all(body_of(s3, bucket, key) == body for key, body in bodies.items())
    assert body_of(s3, bucket, "multi") == b"".join(parts)
    assert {"reset", "slowdown", "forwarded"} <= {r.outcome for r in records}
    assert {r.status for r in records if r.outcome == "slowdown"} == {503}
    assert {upload_part_of(r) for r in records if upload_part_of(r)} == {(f"/{bucket}/multi", n) for n in (1, 2, 3)}


def test_the_same_seed_gives_the_same_faults_for_the_same_requests(s3server, bucket):
    def outcomes(seed: int) -> list[str]:
        with FaultProxy(s3server.http_url, seed=seed, reset_rate=0.3, slowdown_rate=0.3) as proxy:
            client = proxied_client(s3server, proxy, attempts=1)
            for i in range(20):
                try:
                    client.put_object(Bucket=bucket, Key=f"k{i}", Body=os.urandom(2000))
                except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
                    pass
            return [r.outcome for r in proxy.records]

    first = outcomes(seed=3)
    assert len(first) == 20 and {"reset", "slowdown", "forwarded"} <= set(first)
    assert outcomes(seed=3) == first
    assert outcomes(seed=4) != first


def test_faults_apply_only_where_applies_to_says(s3server, bucket):
    with FaultProxy(s3server.http_url, reset_rate=1.0, applies_to=lambda method, target: method == "GET") as proxy:
        client = proxied_client(s3server, proxy, attempts=1)
        client.put_object(Bucket=bucket, Key="k", Body=b"x")
        with pytest.raises(botocore.exceptions.BotoCoreError):
            client.get_object(Bucket=bucket, Key="k")
        assert [r.outcome for r in proxy.records] == ["forwarded", "reset"]


def test_targets_stay_out_of_record_reprs(fake_upstream):
    with FaultProxy(fake_upstream) as proxy:
        raw_exchange(proxy, b"GET /b/k?X-Amz-Signature=s3cr3t HTTP/1.1\r\nHost: x\r\n\r\n")
        assert proxy.records[0].target.endswith("s3cr3t")
        assert "s3cr3t" not in repr(proxy.records)


def test_a_reset_is_a_tcp_rst(fake_upstream):
    with FaultProxy(fake_upstream, reset_rate=1.0) as proxy:
        with pytest.raises(ConnectionResetError):
            raw_exchange(proxy, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", half_close=False)
        wait_until(lambda: proxy.records and proxy.records[0].outcome == "reset")


def test_a_slowdown_is_an_s3_503_answered_after_reading_the_body(fake_upstream):
    with FaultProxy(fake_upstream, slowdown_rate=1.0) as proxy:
        answer = raw_exchange(
            proxy,
            b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
            b"GET /b/k HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        assert answer.count(b"HTTP/1.1 503 ") == 2  # the connection stayed usable
        assert answer.count(SLOWDOWN_XML) == 2
        assert b"Content-Type: application/xml" in answer
        assert f"Content-Length: {len(SLOWDOWN_XML)}".encode() in answer
        assert [(r.outcome, r.status) for r in proxy.records] == [("slowdown", 503)] * 2


def test_a_slowdown_does_not_wait_for_a_body_the_client_holds_back(fake_upstream):
    with FaultProxy(fake_upstream, slowdown_rate=1.0) as proxy:
        answer = raw_exchange(
            proxy, b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        assert answer.startswith(b"HTTP/1.1 503 ") and b"Connection: close" in answer


def test_a_client_closing_mid_body_is_recorded(fake_upstream):
    with FaultProxy(fake_upstream) as proxy:
        raw_exchange(proxy, b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        wait_until(lambda: proxy.records and proxy.records[0].finished is not None)
        assert proxy.records[0].outcome == "client-closed"


def test_hold_keeps_matching_requests_waiting_until_release(s3server, bucket):
    s3 = s3server.client()
    with FaultProxy(s3server.http_url) as proxy:
        client = proxied_client(s3server, proxy)
        upload = client.create_multipart_upload(Bucket=bucket, Key="held")["UploadId"]
        etag = client.upload_part(Bucket=bucket, Key="held", UploadId=upload, PartNumber=1, Body=b"part")["ETag"]
        proxy.hold(completes_upload)
        completing = threading.Thread(
            target=client.complete_multipart_upload,
            kwargs=dict(
                Bucket=bucket, Key="held", UploadId=upload, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}
            ),
        )
        completing.start()
        wait_until(lambda: proxy.held == 1)
        assert [r.method for r in proxy.in_flight()] == ["POST"]
        assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
        proxy.release()
        completing.join(timeout=scaled(10))
        assert proxy.held == 0 and proxy.in_flight() == []
    assert body_of(s3, bucket, "held") == b"part"


def test_close_frees_held_requests_promptly(s3server, bucket):
    proxy = FaultProxy(s3server.http_url)
    proxy.hold(lambda method, target: True)
    client = proxied_client(s3server, proxy, attempts=1, read_timeout=3600)  # only close() can end it
    errors = []

    def list_objects() -> None:
        try:
            client.list_objects_v2(Bucket=bucket)
        except botocore.exceptions.BotoCoreError as error:
            errors.append(error)

    listing = threading.Thread(target=list_objects)
    listing.start()
    wait_until(lambda: proxy.held == 1)
    proxy.close()
    listing.join(timeout=scaled(10))
    assert not listing.is_alive() and errors  # ended by the close, not by a client timeout
    assert not isinstance(errors[0], botocore.exceptions.ReadTimeoutError), errors
    assert [r.outcome for r in proxy.records] == ["client-closed"]


def test_body_rate_caps_the_upload_speed(s3server, bucket):
    body = os.urandom(2 * MiB)
    with FaultProxy(s3server.http_url, body_rate=4 * MiB) as proxy:
        client = proxied_client(s3server, proxy)
        started = time.monotonic()
        client.put_object(Bucket=bucket, Key="slow", Body=body)
        assert time.monotonic() - started >= 0.4
    assert body_of(s3server.client(), bucket, "slow") == body


def test_chunked_responses_are_relayed_on_a_kept_alive_connection(fake_upstream):
    with FaultProxy(fake_upstream) as proxy:
        connection = http.client.HTTPConnection(proxy.url.removeprefix("http://"), timeout=scaled(10))
        for _ in range(2):
            connection.request("GET", "/anything")
            assert connection.getresponse().read() == b"hello chunked world"
        connection.close()
        assert [(r.status, r.connection) for r in proxy.records] == [(200, 1), (200, 1)]


def test_an_upstream_refusal_reaches_a_client_awaiting_100_continue(fake_upstream):
    with FaultProxy(fake_upstream) as proxy:
        answer = raw_exchange(
            proxy, b"PUT /b/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        assert answer.startswith(b"HTTP/1.1 403 ") and b"Connection: close" in answer
        assert b" 100 " not in answer
        assert [(r.outcome, r.status) for r in proxy.records] == [("forwarded", 403)]


def test_writes_above_the_rate_are_answered_slowdown_and_reads_never(s3server, s3, bucket):
    with FaultProxy(s3server.http_url, write_rate=2) as proxy:
        client = proxied_client(s3server, proxy, attempts=1)
        refused = 0
        for i in range(60):  # as fast as one client writes: far above 2/s, on any machine
            try:
                client.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x")
            except botocore.exceptions.ClientError as exc:
                assert exc.response["Error"]["Code"] == "SlowDown"
                refused += 1
        for _ in range(30):
            client.head_bucket(Bucket=bucket)
        outcomes = [r.outcome for r in proxy.snapshot()]
    assert refused > 0 and outcomes.count("slowdown") == refused
    assert all(r.outcome == "forwarded" for r in proxy.snapshot() if r.method == "HEAD")


def test_an_outage_resets_every_request_until_it_ends(s3server, s3, bucket):
    with FaultProxy(s3server.http_url) as proxy:
        client = proxied_client(s3server, proxy, attempts=1)
        client.put_object(Bucket=bucket, Key="before", Body=b"x")
        proxy.outage(scaled(1.0), "reset")  # long enough for the next request to meet it
        with pytest.raises(botocore.exceptions.BotoCoreError):
            client.put_object(Bucket=bucket, Key="during", Body=b"x")
        wait_until(lambda: proxy.outage_mode() is None)
        client.put_object(Bucket=bucket, Key="after", Body=b"x")
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]) == ["after", "before"]


def test_a_stall_answers_nothing_until_it_ends_then_the_request_goes_on(s3server, s3, bucket):
    with FaultProxy(s3server.http_url) as proxy:
        client = proxied_client(s3server, proxy, attempts=1)
        proxy.outage(scaled(1.5), "stall")  # long enough for the request to meet it
        client.put_object(Bucket=bucket, Key="late", Body=b"x")
        assert proxy.outage_mode() is None  # answered only once it ended
    assert body_of(s3, bucket, "late") == b"x"
