"""What coordinator and workers say to each other: small, picklable, keyword-only.

Tasks carry descriptors (which byte range of which file, where to send it) and never file
bytes. "path" is always a file; the way bytes travelled is a ``data_path`` (e.g.
``kTLS+io_uring``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bulkup.plan.files import FileIdentity
from bulkup.plan.pickling import PickledAsValues
from bulkup.transport.filebody import FileRange
from bulkup.transport.request import BucketEndpoint, CredentialSet


@dataclass(frozen=True, kw_only=True)
class WorkerConfig:
    """Everything a worker needs to start sending."""

    region: str
    credentials: CredentialSet | None = field(repr=False)  # None only in a Ray actor's constructor
    engine: str = "userspace"  # an engine's name; "auto" only where a node chooses (Ray)
    engine_reason: str = ""
    connections: int = 1
    verify_tls: bool = True
    ca_bundle: str | None = None
    timeout: float = 60.0  # seconds: each send and receive, and a request's base deadline
    min_rate: float = 256 * 1024  # bytes/s: a request's deadline grows with its body at this
    proxy_environment: dict[str, str] = field(default_factory=dict, repr=False)  # the driver's *_proxy
    retry_deadline: float = 300.0  # s: a part is retried this long while the store refuses it
    tls_max_version: str | None = None  # "1.2" or "1.3"; None: the best both sides speak
    rate: float | None = None  # bytes/s: this worker's share of --bwlimit (None: no limit)
    request_rate: float | None = None  # requests/s: its share of the run's rate (None: no limit yet)


@dataclass(frozen=True, kw_only=True)
class WorkerStart:
    """The first message a local worker receives: who it is and how to send."""

    worker: int
    config: WorkerConfig
    tls_endpoint: bool


@dataclass(frozen=True, kw_only=True)
class PartTask(PickledAsValues):
    """Send ``source`` (a byte range of a file) to ``key`` as one PutObject or UploadPart."""

    task_id: int
    endpoint: BucketEndpoint
    key: str
    source: FileRange
    checksum_algorithm: str  # crc64nvme, crc32c, crc32, md5 or none
    upload_id: str | None = None  # None: a single PutObject
    part_number: int | None = None
    headers: tuple[tuple[str, str], ...] = ()  # object headers (PutObject only)
    checksum: str | None = None  # a known value to send instead of computing one
    etag_is_md5: bool = False  # the store's ETag is the body's MD5 here: compare them


@dataclass(frozen=True, kw_only=True)
class NewCredentials:
    """Refreshed credentials for all future requests."""

    credentials: CredentialSet = field(repr=False)


@dataclass(frozen=True, kw_only=True)
class NewRate:
    """The worker's share of the run's bandwidth limit, bytes/s (None: no limit)."""

    bytes_per_second: float | None


@dataclass(frozen=True, kw_only=True)
class NewRequestRate:
    """The worker's share of the run's request rate, requests/s (None: no limit): the store
    asked the run to slow down, or lets it speed up again."""

    requests_per_second: float | None


@dataclass(frozen=True, kw_only=True)
class WorkerReady:
    """A worker is up: the engine it runs and why."""

    worker: int
    pid: int
    engine: str
    engine_label: str
    reason: str
    node: str = ""  # the machine it runs on, when there are several (Ray)


@dataclass(frozen=True, kw_only=True)
class PartDone(PickledAsValues):
    """The server accepted a part; what Complete needs and how it was sent."""

    task_id: int
    etag: str
    checksum: str | None  # base64, as sent and verified by the server
    worker: int
    pid: int
    connection: str
    request_on_connection: int
    attempts: int
    data_path: str = ""  # e.g. "kTLS+sendfile"
    fallback: str | None = None  # why the connection fell back from the chosen engine
    ktls_rx: bool = False  # the kernel also decrypted this connection's responses
    echoed: bool = False  # the store echoed the flexible checksum it verified
    source_seen: FileIdentity | None = None  # the file as the worker found it
    tls: str | None = None  # e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384", on a connection's first request


@dataclass(frozen=True, kw_only=True)
class PartError:
    """A part the worker gave up on."""

    task_id: int
    message: str
    fatal: bool  # no other upload can succeed either (credentials, TLS, bucket)
    code: str = ""


@dataclass(frozen=True, kw_only=True)
class PartRetrying:
    """A part failed transiently and will be sent again after a backoff."""

    worker: int
    task_id: int
    attempt: int  # the attempt that failed
    reason: str
    throttled: bool = False  # the store asked to slow down, failed or was unreachable: the run slows


@dataclass(frozen=True, kw_only=True)
class BytesSent(PickledAsValues):
    """Progress: bytes handed to the kernel since the last report."""

    worker: int
    nbytes: int
