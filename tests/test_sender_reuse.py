"""A sender keeps one connection per endpoint, whether a part's endpoint is the very object
the last part came with or an equal copy (each batch of tasks is unpickled anew), and the
head it signs for a PutObject is the one it always sent."""

from bulkup.transport.engines.userspace import UserspaceEngine
from bulkup.transport.filebody import FileBody, FileRange
from bulkup.transport.http1 import Response
from bulkup.transport.messages import PartTask, WorkerConfig
from bulkup.transport.request import BucketEndpoint, CredentialSet, RequestSigner
from bulkup.transport.sender import PartSender

CREDENTIALS = CredentialSet("AKID", "SECRET", "TOKEN")


def _sender() -> PartSender:
    config = WorkerConfig(region="us-east-1", credentials=CREDENTIALS, retry_deadline=0)
    return PartSender(0, config, RequestSigner(CREDENTIALS, "us-east-1"), UserspaceEngine(), lambda n: None)


def test_equal_endpoints_share_a_connection_and_others_do_not():
    sender = _sender()
    first = BucketEndpoint.from_url("https://127.0.0.1:8443/bucket")
    copy = BucketEndpoint.from_url("https://127.0.0.1:8443/bucket")
    other = BucketEndpoint.from_url("https://127.0.0.1:8443/other")
    conn = sender._connection(first)
    assert sender._connection(first) is conn
    assert sender._connection(copy) is conn
    assert sender._connection(other) is not conn
    assert sender._connection(first) is conn  # after another endpoint, the first's again
    assert sender._connection(copy) is conn
    assert len(sender._connections) == 2


def test_a_connection_made_after_a_cut_is_cut_too():
    sender = _sender()
    first = BucketEndpoint.from_url("https://127.0.0.1:8443/bucket")
    sender._connection(first)
    sender.cut()
    later = sender._connection(BucketEndpoint.from_url("https://127.0.0.1:8443/other"))
    assert later._cut


class _Recorded:
    """A connection that is open and answers every part with 200 and its checksum's echo."""

    is_open = True
    serial = "0-1"
    requests_sent = 1
    tls = True
    ktls_rx = False

    def __init__(self) -> None:
        self.heads: list = []

    def exchange(self, head, body, engine, progress, min_rate):
        self.heads.append(head)
        return Response(200, {"etag": '"e"', "x-amz-checksum-crc64nvme": "AAAAAAAAAAA="}, b"")


def test_a_put_objects_head_carries_the_headers_it_always_did(tmp_path, monkeypatch):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 16384)
    endpoint = BucketEndpoint.from_url("https://bucket.s3.eu-west-3.amazonaws.com/", region="eu-west-3")
    sender = _sender()
    monkeypatch.setattr(sender, "_engine_for", lambda conn: sender.engine)
    conn = sender._connections[endpoint] = _Recorded()
    task = PartTask(
        task_id=1,
        endpoint=endpoint,
        key="dir/a b.bin",
        source=FileRange(path=str(path), offset=0, length=16384),
        checksum_algorithm="crc64nvme",
        headers=(("Content-Type", "application/octet-stream"), ("x-amz-meta-mtime", "1700000000")),
        checksum="AAAAAAAAAAA=",
    )
    with FileBody(task.source) as body:
        for _ in range(2):
            sent = sender._attempt(task, body, task.checksum)
            assert sent.echoed and sent.etag == '"e"'
    head = conn.heads[-1]
    assert head.method == "PUT" and head.target == "/dir/a%20b.bin"
    assert [name for name, _ in head.headers] == [
        "Host",
        "Content-Type",
        "x-amz-meta-mtime",
        "Content-Length",
        "x-amz-checksum-crc64nvme",
        "X-Amz-Date",
        "X-Amz-Content-SHA256",
        "X-Amz-Security-Token",
        "Authorization",
    ]
    headers = dict(head.headers)
    assert headers["Host"] == "bucket.s3.eu-west-3.amazonaws.com"
    assert headers["Content-Length"] == "16384"
    assert "/eu-west-3/s3/aws4_request" in headers["Authorization"]
    signed = headers["Authorization"].split("SignedHeaders=")[1].split(",")[0]
    assert signed == (
        "content-length;content-type;host;x-amz-checksum-crc64nvme;x-amz-content-sha256;"
        "x-amz-date;x-amz-meta-mtime;x-amz-security-token"
    )
